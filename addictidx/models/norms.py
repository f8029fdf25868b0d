"""Population norms and device reference values: the labelled fallback baseline.

``population_norms.toml`` (package data) documents every number and its arithmetic. The HRV and
heart-rate rows are published population norms for healthy adults (Nunan et al. 2010); the two
EEG rows are device reference values computed from real Muse recordings by
:func:`eeg_reference_values`, NOT population norms. Results computed against this baseline are
labelled ``"population"`` and get lower confidence.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np

from addictidx._core.errors import DataFormatError
from addictidx._core.package_data import package_files
from addictidx.models.baseline import Baseline
from addictidx.models.index_graph import FEATURE_NAMES

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = [
    "NORMS_FILENAME",
    "load_population_norms",
    "population_baseline",
    "eeg_reference_values",
]

NORMS_FILENAME = "population_norms.toml"
_KINDS = ("population_norm", "device_reference")


@functools.lru_cache(maxsize=1)
def _norms_cached() -> Mapping:
    text = package_files("addictidx.models").joinpath(NORMS_FILENAME).read_text("utf-8")
    return _parse_norms(text, NORMS_FILENAME)


def _parse_norms(text: str, where: str) -> dict:
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise DataFormatError(f"{where}: invalid TOML: {err}") from None
    for name in FEATURE_NAMES:
        if name not in doc:
            raise DataFormatError(f"{where}: missing table [{name}].")
        tbl = doc[name]
        for key in ("median", "mad", "kind", "label", "source"):
            if key not in tbl:
                raise DataFormatError(f"{where}: [{name}] is missing key {key!r}.")
        if tbl["kind"] not in _KINDS:
            raise DataFormatError(
                f"{where}: [{name}].kind must be one of {_KINDS}, got {tbl['kind']!r}."
            )
        if not tbl["mad"] > 0:
            raise DataFormatError(f"{where}: [{name}].mad must be > 0, got {tbl['mad']!r}.")
    return doc


def load_population_norms(path: str | Path | None = None) -> dict:
    """Return the parsed norms table (the packaged file, or ``path``), validated."""
    if path is None:
        return dict(_norms_cached())
    path = Path(path)
    return _parse_norms(path.read_text("utf-8"), str(path))


def population_baseline(*, n_personal_sessions: int = 0) -> Baseline:
    """The population / device-reference fallback baseline.

    Parameters
    ----------
    n_personal_sessions : int
        Valid personal sessions collected so far (fewer than needed for a personal baseline).

    Returns
    -------
    Baseline
        ``kind="population"``; per-feature provenance in ``feature_labels``.
    """
    doc = _norms_cached()
    median = {n: float(doc[n]["median"]) for n in FEATURE_NAMES}
    mad = {n: float(doc[n]["mad"]) for n in FEATURE_NAMES}
    labels = {n: str(doc[n]["label"]) for n in FEATURE_NAMES}
    citations = tuple(dict.fromkeys(str(doc[n]["source"]) for n in FEATURE_NAMES))
    return Baseline(
        median=median,
        mad=mad,
        kind="population",
        n_sessions=int(n_personal_sessions),
        source=(
            "population fallback (lower confidence): HRV and HR from published norms for healthy "
            "adults (Nunan 2010); EEG ratios are device reference values from Muse task "
            "recordings, NOT population norms"
        ),
        citations=citations,
        feature_labels=labels,
    )


def eeg_reference_values(csv_paths: Iterable[str | Path]) -> dict[str, dict[str, float]]:
    """Recompute the EEG device reference values from muse-lsl CSV recordings.

    Each recording goes through the same feature code as a live session,
    :func:`addictidx.features.compute_index_features` (2-s epochs, epoch quality checks, 60 %
    gate per channel pair), so the reference values are on the same scale as the features the
    index is given. A feature whose channel pair fails the gate in a recording is left out for
    that recording. Across recordings: median and unscaled MAD.

    Parameters
    ----------
    csv_paths : iterable of path
        muse-lsl CSVs (optionally ``.gz``) with columns ``TP9, AF7, AF8, TP10`` in µV at 256 Hz.

    Returns
    -------
    dict
        ``{"eeg_beta_rel_frontal": {"median", "mad", "n"}, "eeg_alpha_beta_ratio_temporal": ...}``
        with ``n`` the number of recordings that gave the feature.
    """
    from addictidx.features import compute_index_features

    names = ("eeg_beta_rel_frontal", "eeg_alpha_beta_ratio_temporal")
    values: dict[str, list[float]] = {n: [] for n in names}
    from addictidx.devices import stream_profile

    eeg = stream_profile("muse-2", "eeg")  # the electrodes and rate of a Muse (muse-lsl CSV)
    channels = list(eeg.channels)
    for p in csv_paths:
        d = np.genfromtxt(p, delimiter=",", names=True)
        try:
            x = np.vstack([d[c] for c in channels])
        except ValueError:
            raise DataFormatError(f"{p}: needs columns {', '.join(channels)}.") from None
        feats, _ = compute_index_features(x, eeg.sfreq, channels, None)
        for n in names:
            if np.isfinite(feats.get(n, np.nan)):
                values[n].append(float(feats[n]))
    out = {}
    for n in names:
        v = np.asarray(values[n])
        if v.size == 0:
            raise DataFormatError(f"No recording gave a usable {n!r}.")
        med = float(np.median(v))
        out[n] = {"median": med, "mad": float(np.median(np.abs(v - med))), "n": int(v.size)}
    return out
