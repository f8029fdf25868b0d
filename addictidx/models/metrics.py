"""Evaluation metrics for research classifiers, by subject and by trial.

A subject's trials are not independent, so the headline AUC is *subject-level*: each held-out
evaluation unit (a subject, or a subject-and-label pair when labels vary within a subject) is
scored by the mean of its trials' probabilities. Its 95 % CI is a percentile bootstrap that
resamples units (stratified by class, so both classes are always present); the trial-level AUC's
CI resamples whole subjects with all their trials (a cluster bootstrap).
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "RELIABILITY_BINS",
    "auc_score",
    "expected_calibration_error",
    "reliability_table",
    "subject_units",
    "evaluate_predictions",
]

RELIABILITY_BINS = 10


def auc_score(y, p) -> float:
    """ROC AUC via the rank-sum (Mann-Whitney) statistic, ties counted as one half.

    Returns NaN when only one class is present.
    """
    from scipy.stats import rankdata

    y = np.asarray(y).astype(bool)
    p = np.asarray(p, dtype=np.float64)
    n1 = int(y.sum())
    n0 = y.size - n1
    if n1 == 0 or n0 == 0:
        return float("nan")
    r = rankdata(p)
    return float((r[y].sum() - n1 * (n1 + 1) / 2.0) / (n1 * n0))


def reliability_table(y, p, n_bins: int = RELIABILITY_BINS) -> list[dict]:
    """Reliability-diagram data over equal-width probability bins.

    Bin ``i`` holds ``i/n <= p < (i+1)/n`` (the last bin also holds ``p = 1``).

    Returns
    -------
    list of dict
        One per bin: ``lo``, ``hi``, ``n``, ``mean_predicted`` and ``fraction_positive``
        (``None`` for empty bins).
    """
    y = np.asarray(y, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    idx = np.minimum((p * n_bins).astype(np.int64), n_bins - 1)
    out = []
    for b in range(n_bins):
        m = idx == b
        n = int(m.sum())
        out.append(
            {
                "lo": b / n_bins,
                "hi": (b + 1) / n_bins,
                "n": n,
                "mean_predicted": float(p[m].mean()) if n else None,
                "fraction_positive": float(y[m].mean()) if n else None,
            }
        )
    return out


def expected_calibration_error(y, p, n_bins: int = RELIABILITY_BINS) -> float:
    """ECE = sum over bins of (n_bin / N) * |fraction positive - mean predicted|."""
    rows = reliability_table(y, p, n_bins)
    total = sum(r["n"] for r in rows)
    return float(
        sum(
            r["n"] / total * abs(r["fraction_positive"] - r["mean_predicted"])
            for r in rows
            if r["n"]
        )
    )


def subject_units(y, p, groups) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean probability per (group, label) unit.

    Returns
    -------
    unit_y, unit_p : ndarray
        Label and mean probability of each unit.
    unit_of_row : ndarray of int64
        Index of each row's unit.
    """
    y = np.asarray(y).astype(np.int64)
    groups = np.asarray(groups).astype(str)
    keys = np.char.add(np.char.add(groups, "\x00"), y.astype(str))
    uniq, inv = np.unique(keys, return_inverse=True)
    unit_p = np.bincount(inv, weights=np.asarray(p, dtype=np.float64)) / np.bincount(inv)
    unit_y = np.zeros(uniq.size, dtype=np.int64)
    unit_y[inv] = y
    return unit_y, unit_p, inv


def _percentile_ci(values: np.ndarray) -> list[float | None]:
    v = values[np.isfinite(values)]
    if v.size == 0:
        return [None, None]
    return [float(np.percentile(v, 2.5)), float(np.percentile(v, 97.5))]


def evaluate_predictions(
    y, p, groups, *, n_boot: int = 2000, seed: int = 0, n_bins: int = RELIABILITY_BINS
) -> dict:
    """All metrics of held-out probabilities ``p`` (trial level and subject level).

    Parameters
    ----------
    y : array of {0, 1}, shape (n,)
        True labels per trial.
    p : array, shape (n,)
        Predicted probability of class 1 per trial (held out).
    groups : array of str, shape (n,)
        Subject per trial.
    n_boot : int
        Bootstrap resamples for the 95 % CIs.
    seed : int
        Seed of the bootstrap.

    Returns
    -------
    dict
        ``auc`` (subject level), ``auc_ci95``, ``auc_trial``, ``auc_trial_ci95``,
        ``balanced_accuracy`` (trial, threshold 0.5), ``balanced_accuracy_subject``, ``brier``,
        ``ece``, ``reliability`` (bins), ``brier_subject``, ``n_subjects``, ``n_units``,
        ``n_trials``, ``n_positive_units``, ``n_negative_units``.
    """
    y = np.asarray(y).astype(np.int64)
    p = np.asarray(p, dtype=np.float64)
    groups = np.asarray(groups).astype(str)
    uy, up, _ = subject_units(y, p, groups)
    rng = np.random.default_rng(seed)

    pos = np.flatnonzero(uy == 1)
    neg = np.flatnonzero(uy == 0)
    boot_unit = np.full(n_boot, np.nan)
    if pos.size and neg.size:
        for b in range(n_boot):
            sel = np.concatenate([rng.choice(pos, pos.size), rng.choice(neg, neg.size)])
            boot_unit[b] = auc_score(uy[sel], up[sel])

    subj, subj_inv = np.unique(groups, return_inverse=True)
    rows_of = [np.flatnonzero(subj_inv == s) for s in range(subj.size)]
    boot_trial = np.full(n_boot, np.nan)
    for b in range(n_boot):
        pick = rng.integers(0, subj.size, subj.size)
        sel = np.concatenate([rows_of[s] for s in pick])
        boot_trial[b] = auc_score(y[sel], p[sel])

    def bal_acc(t, q):
        pred = q >= 0.5
        rec = [float(np.mean(pred[t == c] == bool(c))) for c in (0, 1) if np.any(t == c)]
        return float(np.mean(rec)) if rec else float("nan")

    def num(v):
        return None if v is None or not np.isfinite(v) else float(v)

    return {
        "auc": num(auc_score(uy, up)),
        "auc_ci95": _percentile_ci(boot_unit),
        "auc_trial": num(auc_score(y, p)),
        "auc_trial_ci95": _percentile_ci(boot_trial),
        "balanced_accuracy": num(bal_acc(y, p)),
        "balanced_accuracy_subject": num(bal_acc(uy, up)),
        "brier": float(np.mean((p - y) ** 2)),
        "brier_subject": float(np.mean((up - uy) ** 2)),
        "ece": expected_calibration_error(y, p, n_bins),
        "reliability": reliability_table(y, p, n_bins),
        "n_subjects": int(subj.size),
        "n_units": int(uy.size),
        "n_positive_units": int(pos.size),
        "n_negative_units": int(neg.size),
        "n_trials": int(y.size),
        "n_boot": int(n_boot),
    }
