"""Evaluation metrics for research classifiers, by subject and by trial.

A subject's trials are not independent, so the headline AUC is *subject-level*: each held-out
evaluation unit (a subject, or a subject-and-label pair when labels vary within a subject) is
scored by the mean of its trials' probabilities. Its 95 % CI is a percentile bootstrap that
resamples units (stratified by class, so both classes are always present); the trial-level AUC's
CI resamples whole subjects with all their trials (a cluster bootstrap).
"""

from __future__ import annotations

import numpy as np

from addictidx._core.tasks import TaskMap, serial_map

__all__ = [
    "BOOTSTRAP_CHUNK",
    "bootstrap_aucs",
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


#: Bootstrap resamples per task (a task map runs the chunks; the draws stay in serial order).
BOOTSTRAP_CHUNK = 250


def _draw(rng, kind: str, sizes, n_subj):
    if kind == "unit":
        return rng.choice(sizes[0], sizes[0]), rng.choice(sizes[1], sizes[1])
    return rng.integers(0, n_subj, n_subj)


def _bootstrap_plan(rng, kind: str, n_boot: int, sizes, n_subj) -> list[dict]:
    """Advance ``rng`` through ``n_boot`` draws (cheap) and note its state at each chunk start.

    Each task then redraws its chunk from its state, so the resamples are exactly those of one
    serial pass whoever computes them (the AUCs are the costly part).
    """
    plan = []
    for b in range(int(n_boot)):
        if b % BOOTSTRAP_CHUNK == 0:
            plan.append({"state": rng.bit_generator.state, "n": min(BOOTSTRAP_CHUNK, n_boot - b)})
        _draw(rng, kind, sizes, n_subj)
    return plan


def bootstrap_aucs(kind, state, n, *, y, p, pos, neg, rows_of) -> np.ndarray:
    """AUCs of ``n`` bootstrap resamples drawn from the generator state ``state`` (a task).

    ``kind="unit"``: resample units stratified by class (``pos``/``neg`` indices of ``y``);
    ``kind="trial"``: resample subjects with all their rows (``rows_of``).
    """
    rng = np.random.Generator(np.random.PCG64())
    rng.bit_generator.state = state
    out = np.full(int(n), np.nan)
    for b in range(int(n)):
        if kind == "unit":
            i_pos, i_neg = _draw(rng, "unit", (pos.size, neg.size), None)
            sel = np.concatenate([pos[i_pos], neg[i_neg]])
        else:
            pick = _draw(rng, "trial", None, len(rows_of))
            sel = np.concatenate([rows_of[s] for s in pick])
        out[b] = auc_score(y[sel], p[sel])
    return out


def evaluate_predictions(
    y,
    p,
    groups,
    *,
    n_boot: int = 2000,
    seed: int = 0,
    n_bins: int = RELIABILITY_BINS,
    task_map: TaskMap | None = None,
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
    task_map : TaskMap | None
        Runs the bootstrap in chunks of :data:`BOOTSTRAP_CHUNK` resamples
        (:mod:`addictidx._core.tasks`); default serial; same CIs either way.

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
    run = task_map or serial_map

    pos = np.flatnonzero(uy == 1)
    neg = np.flatnonzero(uy == 0)
    boot_unit = np.full(n_boot, np.nan)
    if pos.size and neg.size:
        plan = _bootstrap_plan(rng, "unit", n_boot, (pos.size, neg.size), None)
        shared = {"kind": "unit", "y": uy, "p": up, "pos": pos, "neg": neg, "rows_of": None}
        boot_unit = np.concatenate([np.full(0, np.nan), *run(bootstrap_aucs, plan, shared)])

    subj, subj_inv = np.unique(groups, return_inverse=True)
    rows_of = [np.flatnonzero(subj_inv == s) for s in range(subj.size)]
    plan = _bootstrap_plan(rng, "trial", n_boot, None, subj.size)
    shared = {"kind": "trial", "y": y, "p": p, "pos": None, "neg": None, "rows_of": rows_of}
    boot_trial = np.concatenate([np.full(0, np.nan), *run(bootstrap_aucs, plan, shared)])

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
