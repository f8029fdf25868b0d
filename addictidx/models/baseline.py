"""Baselines the addiction index is computed against (EVIDENCE.md §7(ii) step 1).

A :class:`Baseline` holds, per core feature, the median and the unscaled median absolute
deviation (MAD). It is either *personal* (median and MAD over a person's own >= 5 valid sessions,
then a rolling window of the most recent ones) or *population* (published norms and device
reference values from ``population_norms.toml``, a labelled fallback with lower confidence).

MAD = 0 (e.g. identical values in every baseline session) is kept as given; the index graph then
treats that feature as unavailable rather than dividing by zero, and the result says so.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Literal

import numpy as np

from addictidx._core.errors import DataFormatError
from addictidx._core.validate import check_option
from addictidx.models.index_graph import FEATURE_NAMES, MIN_FEATURES

__all__ = [
    "Baseline",
    "PLAUSIBLE_RANGES",
    "MIN_BASELINE_SESSIONS",
    "baseline_from_sessions",
    "load_baseline_json",
    "check_feature_value",
]

MIN_BASELINE_SESSIONS = 5

#: Open intervals a core feature value must lie in; outside them the value is almost surely in the
#: wrong unit (e.g. RMSSD in ms handed in as ln RMSSD) and is rejected with an error.
PLAUSIBLE_RANGES: Mapping[str, tuple[float, float]] = MappingProxyType(
    {
        "hrv_ln_rmssd": (0.0, 7.0),  # RMSSD 1 ms .. 1097 ms
        "hr_mean_bpm": (20.0, 250.0),
        "eeg_beta_rel_frontal": (0.0, 1.0),  # a fraction of 1-25 Hz power (1.0 allowed)
        "eeg_alpha_beta_ratio_temporal": (0.0, 100.0),
    }
)
_UNIT_HINT = {
    "hrv_ln_rmssd": "natural log of RMSSD in ms (e.g. 3.7 for 40 ms)",
    "hr_mean_bpm": "beats per minute",
    "eeg_beta_rel_frontal": "13-25 Hz power / 1-25 Hz power, a fraction in (0, 1]",
    "eeg_alpha_beta_ratio_temporal": "8-12 Hz power / 13-25 Hz power, a positive ratio",
}


def check_feature_value(name: str, value, *, where: str = "") -> float | None:
    """Return ``value`` as a float (``None``/NaN -> ``None``) after a unit-plausibility check.

    Raises
    ------
    ValueError
        If the value is not a number, is infinite, or lies outside :data:`PLAUSIBLE_RANGES`.
    """
    loc = f" ({where})" if where else ""
    if value is None:
        return None
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(
            f"Feature {name!r}{loc} must be a number or None, got {value!r}."
        ) from None
    if math.isnan(v):
        return None
    lo, hi = PLAUSIBLE_RANGES[name]
    if not (math.isfinite(v) and lo < v <= hi):
        raise ValueError(
            f"Feature {name!r}{loc} = {value!r} is outside the plausible range ({lo}, {hi}]; "
            f"expected {_UNIT_HINT[name]}."
        )
    return v


@dataclass(frozen=True, slots=True)
class Baseline:
    """Per-feature median and MAD a person's features are compared against.

    Parameters
    ----------
    median : Mapping[str, float | None]
        Baseline median per core feature (``None`` = no baseline for that feature).
    mad : Mapping[str, float | None]
        Unscaled median absolute deviation per core feature (the index scales it by 1.4826).
    kind : {"personal", "population"}
        Personal (this person's own sessions) or population (labelled fallback).
    n_sessions : int
        Sessions in a personal baseline; for a population baseline, the person's valid sessions
        collected so far (fewer than needed for a personal baseline).
    source : str
        Where the numbers come from, in plain words.
    citations : tuple of str
        Published sources, if any.
    feature_labels : Mapping[str, str]
        Per-feature provenance, e.g. ``"device reference value ..., NOT a population norm"``.
    """

    median: Mapping[str, float | None]
    mad: Mapping[str, float | None]
    kind: Literal["personal", "population"]
    n_sessions: int
    source: str
    citations: tuple[str, ...] = ()
    feature_labels: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_option("kind", self.kind, ("personal", "population"))
        for attr in ("median", "mad"):
            given = dict(getattr(self, attr))
            unknown = sorted(set(given) - set(FEATURE_NAMES))
            if unknown:
                raise ValueError(
                    f"Baseline {attr} has unknown feature(s) {unknown}; core features are "
                    f"{list(FEATURE_NAMES)}."
                )
            clean = {}
            for name in FEATURE_NAMES:
                v = given.get(name)
                clean[name] = None if v is None or not math.isfinite(float(v)) else float(v)
            object.__setattr__(self, attr, MappingProxyType(clean))
        for name, d in self.mad.items():
            if d is not None and d < 0:
                raise ValueError(f"Baseline MAD of {name!r} must be >= 0, got {d!r}.")
        object.__setattr__(self, "feature_labels", MappingProxyType(dict(self.feature_labels)))
        object.__setattr__(self, "n_sessions", int(self.n_sessions))

    @property
    def label(self) -> str:
        """A one-line label for reports ("personal baseline (n=7 sessions)" or the fallback)."""
        if self.kind == "personal":
            return f"personal baseline ({self.n_sessions} sessions)"
        return (
            "population/device reference fallback, lower confidence "
            f"({self.n_sessions} of {MIN_BASELINE_SESSIONS} personal sessions so far)"
        )

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(median, mad)`` as float64 arrays shaped (4,) in graph order, NaN = none."""
        med = np.array(
            [np.nan if self.median[n] is None else self.median[n] for n in FEATURE_NAMES]
        )
        mad = np.array([np.nan if self.mad[n] is None else self.mad[n] for n in FEATURE_NAMES])
        return med, mad


def _finite(v) -> bool:
    return v is not None and math.isfinite(float(v))


def baseline_from_sessions(
    rows: Sequence[Mapping[str, float | None]],
    *,
    min_sessions: int = MIN_BASELINE_SESSIONS,
    max_sessions: int | None = None,
) -> Baseline:
    """Build a personal baseline from a person's sessions, or fall back to population norms.

    Parameters
    ----------
    rows : sequence of dict
        One dict of feature values per session, oldest first (other keys are ignored). Sessions
        flagged by staff (medication change, illness) should be left out by the caller.
    min_sessions : int
        Valid sessions needed for a personal baseline (EVIDENCE.md §7(ii): 5). A session is valid
        when at least 3 of the 4 core features are present.
    max_sessions : int | None
        Rolling window: use only the most recent ``max_sessions`` valid sessions. ``None`` = all.

    Returns
    -------
    Baseline
        ``kind="personal"`` with median and MAD over the chosen sessions (a feature present in
        fewer than ``min_sessions`` of them gets no baseline), or, with too few valid sessions,
        the population baseline (``kind="population"``, ``n_sessions`` = valid sessions so far).
    """
    from addictidx.models.norms import population_baseline

    if int(min_sessions) < 1:
        raise ValueError(f"'min_sessions' must be >= 1, got {min_sessions!r}.")
    if max_sessions is not None and int(max_sessions) < int(min_sessions):
        raise ValueError(
            f"'max_sessions' ({max_sessions!r}) must be >= 'min_sessions' ({min_sessions!r})."
        )
    valid = []
    for i, row in enumerate(rows):
        if not isinstance(row, Mapping):
            raise ValueError(
                f"rows[{i}] must be a dict of feature values, got {type(row).__name__}."
            )
        vals = {n: check_feature_value(n, row.get(n), where=f"rows[{i}]") for n in FEATURE_NAMES}
        if sum(v is not None for v in vals.values()) >= MIN_FEATURES:
            valid.append(vals)
    if len(valid) < min_sessions:
        return population_baseline(n_personal_sessions=len(valid))
    chosen = valid[-int(max_sessions) :] if max_sessions is not None else valid
    median: dict[str, float | None] = {}
    mad: dict[str, float | None] = {}
    for name in FEATURE_NAMES:
        v = np.array([r[name] for r in chosen if _finite(r[name])], dtype=np.float64)
        if v.size >= min_sessions:
            m = float(np.median(v))
            median[name] = m
            mad[name] = float(np.median(np.abs(v - m)))
        else:
            median[name] = mad[name] = None
    if sum(v is not None for v in median.values()) < MIN_FEATURES:
        return population_baseline(n_personal_sessions=len(valid))
    first = len(valid) - len(chosen)
    return Baseline(
        median=median,
        mad=mad,
        kind="personal",
        n_sessions=len(chosen),
        source=(
            f"personal baseline: median and MAD of valid sessions {first + 1}-{len(valid)} "
            f"({len(chosen)} sessions)"
        ),
    )


def load_baseline_json(
    path: str | Path,
    *,
    kind: Literal["personal", "population"] = "personal",
    n_sessions: int = MIN_BASELINE_SESSIONS,
) -> Baseline:
    """Read a baseline file ``{"<feature>": {"median": m, "mad": d}, ...}`` (the CLI format).

    Parameters
    ----------
    path : str | Path
        JSON file. Keys must be core feature names; at least 3 of the 4 must be given.
    kind : {"personal", "population"}
        What the file holds (default personal).
    n_sessions : int
        Sessions behind the baseline, when known; defaults to the minimum of 5, which gives the
        lowest personal-baseline confidence.

    Raises
    ------
    DataFormatError
        Naming the file and key, if the file cannot be read, is not JSON, has unknown keys,
        misses ``median``/``mad``, or holds a non-numeric, negative or implausible value.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise DataFormatError(
            f"{path}: cannot read baseline file ({err.strerror or err})."
        ) from None
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as err:
        raise DataFormatError(
            f"{path}: not valid JSON at line {err.lineno}, column {err.colno}: {err.msg}."
        ) from None
    if not isinstance(obj, dict):
        raise DataFormatError(
            f'{path}: expected an object {{"<feature>": {{"median": m, "mad": d}}}}, '
            f"got {type(obj).__name__}."
        )
    median: dict[str, float] = {}
    mad: dict[str, float] = {}
    for key, entry in obj.items():
        if key not in FEATURE_NAMES:
            raise DataFormatError(
                f"{path}: unknown feature key {key!r}; allowed keys are {list(FEATURE_NAMES)}."
            )
        if not isinstance(entry, dict) or "median" not in entry or "mad" not in entry:
            raise DataFormatError(
                f"{path}: key {key!r} must be an object with numbers 'median' and 'mad', "
                f"got {entry!r}."
            )
        extra = sorted(set(entry) - {"median", "mad"})
        if extra:
            raise DataFormatError(f"{path}: key {key!r} has unknown field(s) {extra}.")
        for sub in ("median", "mad"):
            v = entry[sub]
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise DataFormatError(f"{path}: {key}.{sub} must be a finite number, got {v!r}.")
        if entry["mad"] < 0:
            raise DataFormatError(f"{path}: {key}.mad must be >= 0, got {entry['mad']!r}.")
        try:
            check_feature_value(key, entry["median"], where=f"{key}.median")
        except ValueError as err:
            raise DataFormatError(f"{path}: {err}") from None
        median[key] = float(entry["median"])
        mad[key] = float(entry["mad"])
    if len(median) < MIN_FEATURES:
        missing = [n for n in FEATURE_NAMES if n not in median]
        raise DataFormatError(
            f"{path}: a baseline needs at least {MIN_FEATURES} of the 4 core features; "
            f"missing {missing}."
        )
    return Baseline(
        median=median,
        mad=mad,
        kind=kind,
        n_sessions=n_sessions,
        source=f"baseline file {path}",
    )
