"""BIDS physiology for the chest-strap RR intervals (``*_physio.tsv.gz`` + JSON sidecar).

BIDS stores continuous physiological recordings as a header-less, gzip-compressed TSV sampled at
one regular rate, described by a JSON sidecar (``SamplingFrequency``, ``StartTime`` relative to
the first sample of the data file it accompanies, ``Columns``). RR intervals are irregular, so
they are laid on a 1000 Hz grid (1 ms, finer than the 1/1024 s resolution of the Heart Rate
Service) as two columns:

* ``cardiac``: 1 at the sample of each detected beat (the end of each RR interval), else 0 -
  the BIDS "cardiac" trigger convention;
* ``rr_ms``: the most recent RR interval in milliseconds, held until the next beat (0 before the
  first beat).

Beat times are kept exactly in the beat list the sidecar names (``BeatTimesFile``): the TSV
written by the EDF+ export (``beat_time_s``, ``rr_ms``), so no precision is lost to the grid.
Reference: BIDS specification 1.9, "Physiological recordings" (modality-agnostic files).
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np

__all__ = ["PHYSIO_SFREQ", "write_bids_physio"]

#: Sampling rate of the physio grid in Hz (1 ms per sample).
PHYSIO_SFREQ = 1000.0


def write_bids_physio(
    eeg_file: str | Path,
    beat_time_s,
    rr_s,
    *,
    device: str | None = None,
    beat_times_file: str | None = None,
) -> tuple[Path, Path]:
    """Write the RR intervals beside a BIDS EEG file as ``recording-cardiac`` physiology.

    Parameters
    ----------
    eeg_file : path-like
        The BIDS EEG data file (``sub-X_ses-Y_task-Z_eeg.bdf``); the physio file takes its
        entities, and ``StartTime`` is measured from its first sample.
    beat_time_s : array, shape (n_beats,)
        Beat times in seconds from the EEG file's first sample (may be negative).
    rr_s : array, shape (n_beats,)
        The RR interval ending at each beat, in seconds.
    device : str | None
        Strap model for the sidecar's ``ManufacturersModelName``.
    beat_times_file : str | None
        Name of the exact beat list exported beside the dataset, recorded in the sidecar.

    Returns
    -------
    (Path, Path)
        The ``_physio.tsv.gz`` file and its ``_physio.json`` sidecar.
    """
    t = np.asarray(beat_time_s, dtype=np.float64)
    rr = np.asarray(rr_s, dtype=np.float64)
    if t.ndim != 1 or t.shape != rr.shape:
        raise ValueError(
            f"beat_time_s and rr_s must be 1D arrays of equal length, got {t.shape} and "
            f"{rr.shape}."
        )
    ok = np.isfinite(t) & np.isfinite(rr)
    t, rr = t[ok], rr[ok]
    eeg_file = Path(eeg_file)
    stem = eeg_file.name
    if not stem.endswith("_eeg" + "".join(eeg_file.suffixes)):
        raise ValueError(f"{eeg_file}: not a BIDS EEG data file name (..._eeg.<ext>).")
    base = stem[: -len("_eeg" + "".join(eeg_file.suffixes))]
    tsv = eeg_file.with_name(f"{base}_recording-cardiac_physio.tsv.gz")
    sidecar = eeg_file.with_name(f"{base}_recording-cardiac_physio.json")
    fs = PHYSIO_SFREQ
    if t.size:
        start = float(np.floor(min(0.0, t[0] - rr[0]) * fs) / fs)
        n = int(np.ceil((t[-1] - start) * fs)) + 1
    else:
        start, n = 0.0, 1
    cardiac = np.zeros(n, dtype=np.int8)
    k = np.clip(np.rint((t - start) * fs).astype(np.int64), 0, n - 1)
    cardiac[k] = 1
    # each interval is held from its beat's trigger sample until the next trigger
    last = np.searchsorted(k, np.arange(n), side="right") - 1
    rr_ms = np.where(last >= 0, rr[np.clip(last, 0, None)] * 1000.0, 0.0)
    lines = "\n".join(
        f"{c}\t{v:.3f}" for c, v in zip(cardiac.tolist(), rr_ms.tolist(), strict=True)
    )
    with gzip.open(tsv, "wt", compresslevel=6) as f:
        f.write(lines + "\n")
    meta = {
        "SamplingFrequency": fs,
        "StartTime": start,
        "Columns": ["cardiac", "rr_ms"],
        "cardiac": {
            "Description": "1 at the sample of each heart beat (end of an RR interval), else 0",
            "Units": "n/a",
        },
        "rr_ms": {
            "Description": "Most recent RR interval, held until the next beat (0 before the "
            "first)",
            "Units": "ms",
        },
        "Manufacturer": "n/a",
        "ManufacturersModelName": device or "n/a",
        "SoftwareFilters": "n/a",
    }
    if beat_times_file:
        meta["BeatTimesFile"] = beat_times_file
    sidecar.write_text(json.dumps(meta, indent=2) + "\n")
    return tsv, sidecar
