"""Score the addiction index (physiological deviation index) for one or many assessments.

The index says how unusual today's resting physiology is *for this person* (EVIDENCE.md §7(ii)):
``index = 100 * Phi(Z)`` where ``Z`` is the mean of signed, clipped robust z-scores of four core
features against the person's baseline. It is decision support for staff, not a diagnosis, drug
test, craving measure or disciplinary score (§7(v)). The arithmetic runs in the packaged ONNX
graph (:mod:`addictidx.models.index_graph`); this module adds bands, contributions, confidence
and the plain-language reason when no index can be given.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from addictidx._core.types import Band, IndexResult, QualityReport
from addictidx.models.baseline import (
    MIN_BASELINE_SESSIONS,
    PLAUSIBLE_RANGES,
    Baseline,
    check_feature_value,
)
from addictidx.models.index_graph import (
    FEATURE_NAMES,
    MIN_FEATURES,
    MODEL_ID,
    MODEL_VERSION,
    run_index_model,
)

__all__ = [
    "BAND_EDGES_Z",
    "BAND_EDGES_INDEX",
    "band_from_z",
    "band_from_index",
    "index_confidence",
    "score_index",
    "score_indices",
]


def _phi(z: float) -> float:
    return 0.5 * (1.0 + math.erf(z / math.sqrt(2.0)))


#: Z band edges: low < 0.5 <= elevated < 1.5 <= high.
BAND_EDGES_Z: tuple[float, float] = (0.5, 1.5)
#: The same edges on the index scale, 100 * Phi(0.5) = 69.146... and 100 * Phi(1.5) = 93.319...
#: (69.15 and 93.32 to two decimals). Exact values, so the band from the index always equals the
#: band from Z.
BAND_EDGES_INDEX: tuple[float, float] = (100.0 * _phi(0.5), 100.0 * _phi(1.5))

# Confidence components (documented in index_confidence).
_CONF_POPULATION = 0.3
_CONF_PERSONAL_MIN = 0.6
_CONF_PERSONAL_FULL_AT = 14
_CONF_QUALITY_UNKNOWN = 0.8


def band_from_z(Z: float | None) -> Band | None:
    """Band of a composite Z: low (Z < 0.5), elevated (0.5 <= Z < 1.5), high (Z >= 1.5)."""
    if Z is None or not math.isfinite(Z):
        return None
    if Z < BAND_EDGES_Z[0]:
        return "low"
    return "elevated" if Z < BAND_EDGES_Z[1] else "high"


def band_from_index(index: float | None) -> Band | None:
    """Band of an index value: low < 69.146 <= elevated < 93.319 <= high (see BAND_EDGES_INDEX)."""
    if index is None or not math.isfinite(index):
        return None
    if not 0.0 <= index <= 100.0:
        raise ValueError(f"An index must lie in [0, 100], got {index!r}.")
    if index < BAND_EDGES_INDEX[0]:
        return "low"
    return "elevated" if index < BAND_EDGES_INDEX[1] else "high"


def index_confidence(baseline: Baseline, n_available: int, quality: QualityReport | None) -> float:
    """Confidence in [0, 1] = baseline factor x feature factor x quality factor.

    * baseline: population fallback 0.3; personal 0.6 at 5 sessions rising linearly to 1.0 at
      14 sessions (a 14-day rolling window of daily sessions); a personal baseline claiming fewer
      than 5 sessions 0.4.
    * features: ``n_available / 4``.
    * quality: mean of ``quality.per_channel`` scores (clipped to [0, 1]; 1.0 if it has none);
      0.8 when no quality report was given (unknown quality).
    """
    if baseline.kind == "population":
        b = _CONF_POPULATION
    elif baseline.n_sessions < MIN_BASELINE_SESSIONS:
        b = 0.4
    else:
        span = _CONF_PERSONAL_FULL_AT - MIN_BASELINE_SESSIONS
        frac = min(1.0, (baseline.n_sessions - MIN_BASELINE_SESSIONS) / span)
        b = _CONF_PERSONAL_MIN + (1.0 - _CONF_PERSONAL_MIN) * frac
    f = max(0, min(int(n_available), len(FEATURE_NAMES))) / len(FEATURE_NAMES)
    if quality is None:
        q = _CONF_QUALITY_UNKNOWN
    elif len(quality.per_channel) == 0:
        q = 1.0
    else:
        q = _quality_factor(tuple(quality.per_channel.values()))
    return float(b * f * q)


#: (name, low, high) of the plausible range of each core feature, in FEATURE_NAMES order: a
#: float strictly above low and at most high passes check_feature_value unchanged.
_RANGES: tuple[tuple[str, float, float], ...] = tuple(
    (k, *PLAUSIBLE_RANGES[k]) for k in FEATURE_NAMES
)

#: Quality factors already computed (a server scores the same few quality levels over and over).
_QUALITY_FACTORS: dict[tuple, float] = {}


def _quality_factor(values: tuple) -> float:
    """Mean of the per-channel scores clipped to [0, 1] (remembered per distinct tuple)."""
    q = _QUALITY_FACTORS.get(values)
    if q is None:
        q = float(np.mean(np.clip(np.asarray(values, float), 0, 1)))
        if len(_QUALITY_FACTORS) >= 4096:
            _QUALITY_FACTORS.clear()
        _QUALITY_FACTORS[values] = q
    return q


def _missing_reason(features: Mapping[str, float | None], baseline: Baseline, n_avail: int) -> str:
    parts = []
    for name in FEATURE_NAMES:
        if features[name] is None:
            parts.append(f"{name} (no value)")
        elif baseline.median[name] is None or baseline.mad[name] is None:
            parts.append(f"{name} (no baseline)")
        elif not baseline.mad[name] > 0:
            parts.append(f"{name} (baseline MAD is 0)")
    return (
        f"No index: only {n_avail} of {len(FEATURE_NAMES)} core features available "
        f"(at least {MIN_FEATURES} needed); missing: {', '.join(parts)}."
    )


def _none_result(baseline, quality, reason, z_features=None) -> IndexResult:
    return IndexResult(
        index=None,
        band=None,
        z=None,
        z_features=z_features if z_features is not None else {n: None for n in FEATURE_NAMES},
        contributions={},
        confidence=0.0,
        baseline=baseline.kind,
        n_baseline_sessions=baseline.n_sessions if baseline.kind == "personal" else 0,
        model_id=MODEL_ID,
        model_version=MODEL_VERSION,
        quality=quality,
        reason=reason,
    )


def score_indices(
    rows: Sequence[Mapping[str, float | None]],
    baseline: Baseline | Sequence[Baseline],
    *,
    qualities: Sequence[QualityReport | None] | None = None,
) -> list[IndexResult]:
    """Score many assessments in one ONNX call.

    Parameters
    ----------
    rows : sequence of dict
        Feature values per assessment (extra keys ignored; missing/None/NaN = unavailable).
    baseline : Baseline or sequence of Baseline
        One baseline for all rows, or one per row.
    qualities : sequence of QualityReport | None, optional
        Quality per row; a row whose quality is not usable gets no index.

    Returns
    -------
    list of IndexResult
        One per row, in order.
    """
    n = len(rows)
    baselines = [baseline] * n if isinstance(baseline, Baseline) else list(baseline)
    if len(baselines) != n:
        raise ValueError(f"Got {len(baselines)} baselines for {n} rows; give one, or one per row.")
    qualities = [None] * n if qualities is None else list(qualities)
    if len(qualities) != n:
        raise ValueError(f"Got {len(qualities)} quality reports for {n} rows.")
    clean = []  # per row, the checked values in FEATURE_NAMES order (None = unavailable)
    for i, row in enumerate(rows):
        if not isinstance(row, Mapping):
            raise ValueError(
                f"rows[{i}] must be a dict of feature values, got {type(row).__name__}."
            )
        vals = []
        for k, lo, hi in _RANGES:
            v = row.get(k)
            if type(v) is not float or not lo < v <= hi:  # the plain case needs no call
                v = check_feature_value(k, v, where=f"assessment {i}" if n > 1 else "")
            vals.append(v)
        clean.append(vals)
    if n == 0:
        return []
    x = np.array([[np.nan if v is None else v for v in r] for r in clean])
    b0 = baselines[0]
    if all(b is b0 for b in baselines):  # one baseline for all rows: broadcast in the graph
        median, mad = b0.arrays()
    else:
        med_mad = [b.arrays() for b in baselines]
        median = np.stack([m for m, _ in med_mad])
        mad = np.stack([d for _, d in med_mad])
    out = run_index_model(x, median, mad)

    # plain Python numbers once (the same float64 values), not numpy scalars per element
    z_rows, n_rows = out.z.tolist(), out.n_avail.tolist()
    Z_rows, index_rows = out.Z.tolist(), out.index.tolist()
    results = []
    for i in range(n):
        b, q = baselines[i], qualities[i]
        z_feat = {k: (None if v != v else v) for k, v in zip(FEATURE_NAMES, z_rows[i])}
        if q is not None and not q.usable:
            why = "; ".join(q.reasons) if q.reasons else ", ".join(q.flags) or "no reason given"
            results.append(_none_result(b, q, f"No index: signal quality gate failed ({why})."))
            continue
        n_avail = int(n_rows[i])
        Z = Z_rows[i]
        if Z != Z:
            features = dict(zip(FEATURE_NAMES, clean[i]))
            results.append(_none_result(b, q, _missing_reason(features, b, n_avail), z_feat))
            continue
        contributions = {k: v / n_avail for k, v in z_feat.items() if v is not None}
        results.append(
            IndexResult(
                index=index_rows[i],
                band=band_from_z(Z),
                z=Z,
                z_features=z_feat,
                contributions=contributions,
                confidence=index_confidence(b, n_avail, q),
                baseline=b.kind,
                n_baseline_sessions=b.n_sessions if b.kind == "personal" else 0,
                model_id=MODEL_ID,
                model_version=MODEL_VERSION,
                quality=q,
                reason=None,
            )
        )
    return results


def score_index(
    features: Mapping[str, float | None],
    baseline: Baseline,
    *,
    quality: QualityReport | None = None,
) -> IndexResult:
    """Score the addiction index (physiological deviation index) of one assessment.

    Parameters
    ----------
    features : dict
        Core feature values (``hrv_ln_rmssd`` in ln ms, ``hr_mean_bpm``, ``eeg_beta_rel_frontal``,
        ``eeg_alpha_beta_ratio_temporal``); ``None``/NaN/missing = unavailable; other keys ignored.
    baseline : Baseline
        Personal baseline, or the labelled population fallback.
    quality : QualityReport | None
        When given and not usable, no index is produced and the reason says why.

    Returns
    -------
    IndexResult
        ``index`` (unrounded 100 Phi(Z)), ``band``, ``z``, per-feature ``z_features``,
        ``contributions`` (z_k / n_available, summing to Z), ``confidence``, baseline kind, model
        identity; or ``index=None`` with a ``reason``.
    """
    return score_indices([features], baseline, qualities=[quality])[0]
