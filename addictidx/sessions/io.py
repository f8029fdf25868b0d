"""Recordings out: export a session as BDF (EEG), EDF+ (RR) and a beat-exact TSV.

Export (:func:`export_session`) writes, per session::

    <out>/<subject>_ses-<id>_eeg.bdf     EEG, 24-bit BDF+ (µV), phases/events/gaps as annotations
    <out>/<subject>_ses-<id>_rr.edf      EDF+: RR tachogram (ms) and HR (bpm) at 4 Hz for viewing,
                                         every beat as a ``beat rr_ms=...`` annotation, phases
    <out>/<subject>_ses-<id>_rr.tsv      every beat exactly: beat time (s), RR (ms)

through ``edfio`` (MNE's own EDF backend). Missing EEG samples (gaps) are written as 0 µV and
marked by a ``gap`` annotation, since EDF has no NaN. Optional BIDS output goes through
``mne-bids`` (:func:`write_bids`).

Reading these files (and other tools' recordings) is :func:`addictidx.readers.read_recording`;
it turns the ``gap``/``no_data`` annotations back into NaN samples and gap records.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import math
from pathlib import Path
from typing import Any

import numpy as np

from addictidx._core.errors import DataFormatError

__all__ = [
    "export_session",
    "write_bids",
    "RR_TACHOGRAM_SFREQ",
]

#: Sampling frequency of the RR tachogram and HR signals in the EDF+ export (Hz).
RR_TACHOGRAM_SFREQ = 4.0
EEG_PHYSICAL_RANGE = (-1000.0, 1000.0)  # the classic Muse's 12-bit range in µV


# -- export ------------------------------------------------------------------------------------
def _safe_name(code: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in code)


def _start(detail: dict) -> _dt.datetime:
    try:
        return _dt.datetime.strptime(detail["started_utc"], "%Y-%m-%dT%H:%M:%SZ")
    except (KeyError, TypeError, ValueError):
        return _dt.datetime(2000, 1, 1)


def _annotations(detail: dict, *, until_s: float) -> list[tuple[float, float | None, str]]:
    """Phases (with duration), events and safety events as (onset, duration, text)."""
    out: list[tuple[float, float | None, str]] = []
    for p in detail.get("phases", []):
        a = max(0.0, float(p["t_start_s"]))
        b = float(p["t_end_s"]) if p.get("t_end_s") is not None else until_s
        if a < until_s:
            out.append((a, max(0.0, min(b, until_s) - a), f"phase:{p['name']}"))
    for key in ("events", "safety_events"):
        for e in detail.get(key, []):
            if e["kind"] in ("phase", "research_probability"):  # not a time event
                continue
            t = max(0.0, float(e["t_s"]))
            if t <= until_s:
                label = e["detail"].get("label") if isinstance(e.get("detail"), dict) else None
                text = e["kind"] if label is None else f"{e['kind']}:{label}"
                out.append((t, None, ("safety:" if key == "safety_events" else "") + text))
    return sorted(out, key=lambda a: a[0])


def _gap_annotations(missing: np.ndarray, sfreq: float) -> list[tuple[float, float, str]]:
    if not missing.any():
        return []
    m = np.concatenate(([False], missing, [False])).astype(np.int8)
    starts = np.flatnonzero(np.diff(m) == 1)
    ends = np.flatnonzero(np.diff(m) == -1)
    return [(s / sfreq, (e - s) / sfreq, "gap") for s, e in zip(starts, ends)]


def _edf_annotations(items):
    """EDF+ annotations from ``(onset_s, duration_s | None, text)``, in time order.

    Sorted by onset then text only: a point event (duration ``None``) and a phase starting at
    the same instant must not be compared by duration (issue 17.1).
    """
    import edfio

    return [
        edfio.EdfAnnotation(round(a, 4), None if d is None else round(d, 4), t)
        for a, d, t in sorted(items, key=lambda x: (x[0], x[2]))
    ]


@contextlib.contextmanager
def staged_dir(final: Path):
    """A hidden folder beside ``final`` to write into; its files move into ``final`` only when
    the block ends without an error (each by an atomic rename), otherwise it is removed.

    So an export that fails half-way leaves nothing behind (issue 17.1).
    """
    import shutil
    import tempfile

    from addictidx.store.files import private_dir, restrict_tree

    final = Path(final)
    private_dir(final.parent)
    stage = Path(tempfile.mkdtemp(prefix=f".{final.name}.partial-", dir=final.parent))
    try:
        yield stage
        restrict_tree(stage)  # owner-only files (0600) and folders (0700), fsync-ed (issue 14)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    created = not final.exists()
    try:
        if created:
            stage.replace(final)
            return
        for item in sorted(stage.rglob("*")):
            if item.is_file():
                dest = final / item.relative_to(stage)
                dest.parent.mkdir(parents=True, exist_ok=True)
                item.replace(dest)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def export_session(
    store: Any,
    session_id: int,
    out_dir: str | Path,
    *,
    subject_label: str | None = None,
    anonymize_dates: bool = False,
    audit: bool = True,
) -> dict[str, Path]:
    """Export one stored session's raw recording as BDF + EDF+ (+ a beat-exact TSV).

    The files are plaintext (the raw files in the store are decrypted); the export is logged to
    the store's audit trail.

    Parameters
    ----------
    store : SessionStore
        The store holding the session.
    session_id : int
        The session.
    out_dir : path-like
        Destination directory (created).
    subject_label : str | None
        Name used for the subject in file names and the EDF patient field (default: the code;
        research exports pass a keyed hash).
    anonymize_dates : bool
        Write the EDF+ anonymous start date (1 Jan 1985) and 00:00:00 instead of the real ones.
    audit : bool
        Append an ``export`` entry to the audit log (callers that log one entry for a batch
        pass False).

    Returns
    -------
    paths : dict
        ``{"eeg_bdf": Path, "rr_edf": Path | None, "rr_tsv": Path | None}``.
    """
    from addictidx._core.errors import StoreError
    from addictidx.store.raw import read_raw

    detail = store.queries.session_detail(session_id)
    rec = store.queries.recording(session_id)
    if rec is None or not Path(rec["raw_dir"]).is_dir():
        raise StoreError(f"Session {session_id} has no raw recording to export.")
    raw = read_raw(rec["raw_dir"], keyring=store.keyring)
    final = Path(out_dir)
    with staged_dir(final) as stage:
        written = _write_export(stage, detail, raw, subject_label, anonymize_dates, session_id)
    paths = {k: (None if v is None else final / v.name) for k, v in written.items()}
    if audit:
        store.audit_event(
            "export",
            subject=detail["subject"],
            session=session_id,
            detail={
                "what": "recording",
                "files": sorted(k for k, v in paths.items() if v is not None),
            },
        )
    return paths


def _write_export(
    out: Path, detail: dict, raw, subject_label, anonymize_dates: bool, session_id: int
) -> dict[str, Path | None]:
    """Write one session's BDF, EDF+ and TSV into ``out`` (see :func:`export_session`)."""
    import edfio

    label = _safe_name(detail["subject"] if subject_label is None else subject_label)
    stem = f"{label}_ses-{session_id:04d}"
    start = _dt.datetime(1985, 1, 1) if anonymize_dates else _start(detail)
    # The recording starts at session time 0 = the first sample's time on the session clock.
    t_first = float(raw.eeg_times[0]) if raw.eeg_times.size else 0.0
    patient = edfio.Patient(code=label)
    recording = edfio.Recording(
        startdate=start.date(),
        equipment_code=_safe_name(
            "-".join(str(v) for v in detail.get("devices", {}).values()) or "X"
        ),
    )
    paths: dict[str, Path | None] = {"eeg_bdf": None, "rr_edf": None, "rr_tsv": None}

    if raw.eeg.shape[1]:
        sfreq = raw.sfreq
        n = raw.eeg.shape[1]
        n_pad = int(math.ceil(n / sfreq) * sfreq) - n  # whole 1-s data records
        missing = ~np.isfinite(raw.eeg).all(axis=0)
        data = np.where(np.isfinite(raw.eeg), raw.eeg, 0.0)
        data = np.clip(data, *EEG_PHYSICAL_RANGE)
        if n_pad:
            data = np.concatenate([data, np.zeros((data.shape[0], n_pad))], axis=1)
        dur = data.shape[1] / sfreq
        ann = [(a - t_first, d, t) for a, d, t in _annotations(detail, until_s=dur + t_first)]
        ann = [(max(a, 0.0), d, t) for a, d, t in ann]
        ann += _gap_annotations(missing, sfreq)
        if n_pad:
            ann.append((n / sfreq, n_pad / sfreq, "no_data"))
        signals = [
            edfio.BdfSignal(
                data[i],
                sfreq,
                label=ch,
                transducer_type="Muse dry electrode",
                physical_dimension="uV",
                physical_range=EEG_PHYSICAL_RANGE,
            )
            for i, ch in enumerate(raw.ch_names)
        ]
        bdf = edfio.Bdf(
            signals,
            patient=patient,
            recording=recording,
            starttime=start.time(),
            data_record_duration=1.0,
            annotations=_edf_annotations(ann),
        )
        p = out / f"{stem}_eeg.bdf"
        bdf.write(p)
        paths["eeg_bdf"] = p

    if raw.rr_s.size:
        t = raw.rr_times - t_first
        p = out / f"{stem}_rr.tsv"
        with open(p, "w") as f:
            f.write("beat_time_s\trr_ms\n")
            for ti, ri in zip(t, raw.rr_s):
                f.write(f"{ti:.4f}\t{ri * 1000.0:.3f}\n")
        paths["rr_tsv"] = p
        fs = RR_TACHOGRAM_SFREQ
        dur = max(1.0, math.ceil(max(float(t[-1]), 0.0) + 1.0))
        grid = np.arange(int(dur * fs)) / fs
        k = np.searchsorted(t, grid, side="right") - 1  # the last beat at or before each instant
        rr_ms = np.where(k >= 0, raw.rr_s[np.clip(k, 0, None)] * 1000.0, 0.0)
        hr = np.where(rr_ms > 0, 60000.0 / np.where(rr_ms > 0, rr_ms, 1.0), 0.0)
        ann = [
            (max(a - t_first, 0.0), d, txt)
            for a, d, txt in _annotations(detail, until_s=dur + t_first)
        ]
        # Every beat, exactly, as an annotation (the tachogram is for viewing).
        ann += [
            (max(float(ti), 0.0), None, f"beat rr_ms={ri * 1000.0:.3f}")
            for ti, ri in zip(t, raw.rr_s)
        ]
        edf = edfio.Edf(
            [
                edfio.EdfSignal(
                    rr_ms, fs, label="RR", physical_dimension="ms", physical_range=(0.0, 3000.0)
                ),
                edfio.EdfSignal(
                    hr, fs, label="HR", physical_dimension="bpm", physical_range=(0.0, 250.0)
                ),
            ],
            patient=patient,
            recording=recording,
            starttime=start.time(),
            data_record_duration=1.0,
            annotations=_edf_annotations(ann),
        )
        p = out / f"{stem}_rr.edf"
        edf.write(p)
        paths["rr_edf"] = p
    return paths


def write_bids(
    bdf_path: str | Path,
    bids_root: str | Path,
    *,
    subject: str,
    session: int,
    line_freq: float = 50.0,
    manufacturer: str | None = None,
    model_name: str | None = None,
) -> Path:
    """Write an exported BDF into a BIDS-EEG dataset (``task-assessment``) with ``mne-bids``.

    The BDF's phase/event annotations become ``*_events.tsv`` (``trial_type`` =
    ``phase:eyes_closed_rest`` ...); the channels (TP9, AF7, AF8, TP10 at 256 Hz for a Muse) and
    sampling rate are kept; :func:`mne_bids.read_raw_bids` reads the result back. The subject
    label is the code without ``-``/``_`` (BIDS labels are alphanumeric), the session label the
    session id on 4 digits.

    Parameters
    ----------
    bdf_path : path-like
        A BDF written by :func:`export_session`.
    bids_root : path-like
        Root of the BIDS dataset (created or added to).
    subject : str
        Pseudonymous subject code.
    session : int
        Session id.
    line_freq : float
        Mains frequency in Hz (``PowerLineFrequency``).
    manufacturer, model_name : str | None
        ``Manufacturer`` / ``ManufacturersModelName`` of the sidecar (mne-bids would otherwise
        guess "Biosemi" from the BDF format).

    Returns
    -------
    Path
        ``bids_root``.

    Raises
    ------
    DataFormatError
        If ``mne-bids`` is not installed (``pip install mne-bids``).
    """
    try:
        import mne
        from mne_bids import BIDSPath, write_raw_bids
    except ModuleNotFoundError:
        raise DataFormatError(
            "BIDS export needs mne-bids: pip install mne-bids (optional extra)."
        ) from None
    raw = mne.io.read_raw_bdf(bdf_path, preload=False, verbose="error")
    raw.info["line_freq"] = line_freq
    bp = BIDSPath(
        subject=_safe_name(subject).replace("-", "").replace("_", ""),
        session=f"{int(session):04d}",
        task="assessment",
        root=bids_root,
    )
    write_raw_bids(raw, bp, overwrite=True, verbose=False, allow_preload=False, format="auto")
    from mne_bids import update_sidecar_json

    sidecar = bp.copy().update(suffix="eeg", extension=".json", datatype="eeg")
    update_sidecar_json(
        sidecar,
        {
            "Manufacturer": manufacturer or "n/a",
            "ManufacturersModelName": model_name or "n/a",
        },
        verbose=False,
    )
    return Path(bids_root)
