"""Heart-rate variability from RR intervals, numpy only, NeuroKit2-exact or Kubios-style.

:func:`compute_hrv` returns our feature names (unit in the name). With
``convention="neurokit"`` each value in :data:`NEUROKIT_NAMES` equals NeuroKit2 0.2.13's
``nk.hrv_time`` / ``nk.hrv_nonlinear`` column (tested to 1e-9 relative on real PhysioNet RR).
``convention="kubios"`` (the default, what clinicians' reports use) differs only in the features
listed in :data:`KUBIOS_DEVIATIONS`.

Missing or rejected beats are passed as ``NaN`` in ``rr_s``: they are dropped from the
distribution statistics, and successive differences are only taken between two valid intervals
that were adjacent in the original series (as NeuroKit2 does for missing intervals).

Definitions (``RR`` in ms, ``d = diff(RR)`` over adjacent valid pairs)
-----------------------------------------------------------------------
* ``hrv_mean_nn_ms`` = mean(RR); ``hrv_sdnn_ms`` = std(RR, ddof=1)
* ``hrv_rmssd_ms`` = sqrt(mean(d²)); ``hrv_sdsd_ms`` = std(d, ddof=1);
  ``hrv_ln_rmssd`` = ln(RMSSD in ms)
* ``hrv_pnn50_pct`` / ``hrv_pnn20_pct`` = 100 · count(|d| > 50 / 20 ms) / denominator
  (NeuroKit2: N = number of RR; Kubios: N-1 = number of differences)
* ``hrv_sd1_ms`` = std((RRₙ-RRₙ₊₁)/√2, ddof=1) (both conventions, = SDSD/√2)
* ``hrv_sd2_ms``: NeuroKit2 std((RRₙ+RRₙ₊₁)/√2, ddof=1); Kubios sqrt(2·SDNN² - ½·SDSD²)
* ``hr_mean_bpm`` = 60 / mean(RR in s), i.e. the heart rate of the mean interval (NeuroKit2
  has no HR column; hrv-analysis reports mean(60/RR), which is larger by Jensen's inequality)
* ``hrv_sampen``: sample entropy, m = 2, r = 0.2·std(RR, ddof=1), Chebyshev distance,
  match when distance ≤ r, N-m templates at both lengths, self-matches excluded
* ``hrv_dfa_alpha1``: DFA of the profile cumsum(RR - mean), scales 4..11 beats, segments
  starting every s//2 beats (50 % overlap; a segment starting at N-s is excluded), linear
  detrend per segment, F(s) = sqrt(mean of segment variances > 1e-8), slope of log2 F on log2 s
"""

from __future__ import annotations

import math

import numpy as np

from .._core.validate import check_option

__all__ = [
    "HRV_NAMES",
    "NEUROKIT_NAMES",
    "KUBIOS_DEVIATIONS",
    "compute_hrv",
    "sample_entropy",
    "dfa_alpha",
]

#: Every key :func:`compute_hrv` returns, in order.
HRV_NAMES: tuple[str, ...] = (
    "hrv_mean_nn_ms",
    "hrv_sdnn_ms",
    "hrv_rmssd_ms",
    "hrv_sdsd_ms",
    "hrv_pnn50_pct",
    "hrv_pnn20_pct",
    "hrv_sd1_ms",
    "hrv_sd2_ms",
    "hr_mean_bpm",
    "hrv_ln_rmssd",
    "hrv_sampen",
    "hrv_dfa_alpha1",
)

#: Our name -> NeuroKit2 0.2.13 column (``nk.hrv_time`` / ``nk.hrv_nonlinear``). ``hr_mean_bpm``
#: and ``hrv_ln_rmssd`` have no NeuroKit2 column.
NEUROKIT_NAMES: dict[str, str] = {
    "hrv_mean_nn_ms": "HRV_MeanNN",
    "hrv_sdnn_ms": "HRV_SDNN",
    "hrv_rmssd_ms": "HRV_RMSSD",
    "hrv_sdsd_ms": "HRV_SDSD",
    "hrv_pnn50_pct": "HRV_pNN50",
    "hrv_pnn20_pct": "HRV_pNN20",
    "hrv_sd1_ms": "HRV_SD1",
    "hrv_sd2_ms": "HRV_SD2",
    "hrv_sampen": "HRV_SampEn",
    "hrv_dfa_alpha1": "HRV_DFA_alpha1",
}

#: Features whose Kubios HRV default differs from NeuroKit2 0.2.13, with the reason. Kubios
#: formulas are from the Kubios HRV User's Guide (time-domain and Poincaré definitions after the
#: Task Force 1996 and Brennan 2001); they were not checked against Kubios software output.
KUBIOS_DEVIATIONS: dict[str, str] = {
    "hrv_pnn50_pct": (
        "Kubios divides NN50 by the number of successive differences (N-1); NeuroKit2 divides "
        "by the number of RR intervals N (len(diff)+1), giving a slightly smaller value."
    ),
    "hrv_pnn20_pct": "Same denominator difference as pNN50: N-1 in Kubios, N in NeuroKit2.",
    "hrv_sd2_ms": (
        "Kubios uses the Brennan (2001) identity SD2 = sqrt(2*SDNN^2 - SDSD^2/2) over the whole "
        "series; NeuroKit2 takes std((RR_n + RR_n+1)/sqrt(2), ddof=1) over the N-1 pairs "
        "(about 0.1-1 % apart on 5-min to 1-min series)."
    ),
}

_CONVENTIONS = ("kubios", "neurokit")


def compute_hrv(rr_s, *, convention: str = "kubios") -> dict[str, float]:
    """Time-domain and nonlinear HRV from RR intervals.

    Parameters
    ----------
    rr_s : array, shape (n_rr,)
        RR (NN) intervals in seconds, in beat order. ``NaN`` marks a rejected or missing
        interval (see the module docstring).
    convention : {"kubios", "neurokit"}
        Definitions to follow where the two differ (:data:`KUBIOS_DEVIATIONS`).
        ``"neurokit"`` reproduces NeuroKit2 0.2.13 for every name in :data:`NEUROKIT_NAMES`.

    Returns
    -------
    hrv : dict of str -> float
        The keys of :data:`HRV_NAMES`; ``NaN`` where not computable (fewer than 2 valid
        intervals or differences; SampEn/DFA on fewer than 12 valid intervals).

    Examples
    --------
    >>> round(compute_hrv([1.0, 1.1, 0.9])["hrv_rmssd_ms"], 6)  # sqrt((100**2 + 200**2) / 2)
    158.113883
    """
    check_option("convention", convention, _CONVENTIONS)
    rr = np.asarray(rr_s, dtype=np.float64)
    if rr.ndim != 1:
        raise ValueError(f"rr_s must be a 1D array of RR intervals in seconds, got shape {rr.shape}.")
    if np.any(np.isinf(rr)):
        raise ValueError(f"rr_s holds an infinite value at position {int(np.flatnonzero(np.isinf(rr))[0])}.")
    valid = np.isfinite(rr)
    if np.any(rr[valid] <= 0):
        i = int(np.flatnonzero(valid & (rr <= 0))[0])
        raise ValueError(f"rr_s must be > 0 s, got {rr[i]!r} at position {i}.")
    if valid.any() and np.nanmedian(rr) > 10:
        raise ValueError(
            f"rr_s looks like milliseconds (median {np.nanmedian(rr):.0f}); pass seconds."
        )
    ms = rr * 1000.0
    nn = ms[valid]
    pair_ok = valid[:-1] & valid[1:]
    d = np.diff(ms)[pair_ok]
    n = nn.size

    out = dict.fromkeys(HRV_NAMES, math.nan)
    if n == 0:
        return out
    mean_nn = float(np.mean(nn))
    out["hrv_mean_nn_ms"] = mean_nn
    out["hr_mean_bpm"] = 60000.0 / mean_nn
    sdnn = float(np.std(nn, ddof=1)) if n > 1 else math.nan
    out["hrv_sdnn_ms"] = sdnn
    if d.size:
        rmssd = float(np.sqrt(np.mean(d * d)))
        out["hrv_rmssd_ms"] = rmssd
        out["hrv_ln_rmssd"] = math.log(rmssd) if rmssd > 0 else math.nan
        denom = (d.size + 1) if convention == "neurokit" else d.size
        ad = np.abs(d)
        out["hrv_pnn50_pct"] = float(np.sum(ad > 50)) / denom * 100.0
        out["hrv_pnn20_pct"] = float(np.sum(ad > 20)) / denom * 100.0
    if d.size > 1:
        sdsd = float(np.std(d, ddof=1))
        out["hrv_sdsd_ms"] = sdsd
        a = ms[:-1][pair_ok]
        b = ms[1:][pair_ok]
        out["hrv_sd1_ms"] = float(np.std((a - b) / np.sqrt(2), ddof=1))
        if convention == "neurokit":
            out["hrv_sd2_ms"] = float(np.std((a + b) / np.sqrt(2), ddof=1))
        else:
            v = 2.0 * sdnn * sdnn - 0.5 * sdsd * sdsd
            out["hrv_sd2_ms"] = math.sqrt(v) if v >= 0 else math.nan
    if n >= 12:
        out["hrv_sampen"] = sample_entropy(nn, dimension=2, tolerance=0.2 * sdnn)
        out["hrv_dfa_alpha1"] = dfa_alpha(nn, scales=range(4, 12))
    return out


def sample_entropy(x, *, dimension: int = 2, tolerance: float | None = None) -> float:
    """Sample entropy with NeuroKit2's semantics (``nk.entropy_sample``, delay 1).

    Parameters
    ----------
    x : array, shape (n,)
        Series (e.g. RR in ms).
    dimension : int
        Template length m.
    tolerance : float | None
        Radius r; ``None`` means ``0.2 * std(x, ddof=1)``.

    Returns
    -------
    sampen : float
        ``-ln(A / B)``: B = matching pairs among the first N-m templates of length m, A = matching
        pairs among the N-m templates of length m+1 (Chebyshev distance <= r, no self-matches).
        ``inf`` when no (m+1)-match exists, ``-inf`` when no m-match exists (NeuroKit2's
        ``np.isclose`` tests on the match rates are reproduced).

    Notes
    -----
    O(N²) memory in blocks of 512 rows; about a millisecond for a 5-min RR series.
    """
    x = np.asarray(x, dtype=np.float64)
    m = int(dimension)
    n = x.size
    if tolerance is None:
        tolerance = 0.2 * float(np.std(x, ddof=1))
    r = float(tolerance)
    n_t = n - m  # templates at both lengths
    if n_t < 2:
        return math.nan
    # Chebyshev distance of the m-templates; extend to m+1 with the next sample.
    emb = np.lib.stride_tricks.sliding_window_view(x, m + 1)[:n_t]  # (n_t, m+1)
    count_m = 0
    count_m1 = 0
    block = 512
    for i0 in range(0, n_t, block):
        blk = emb[i0 : i0 + block]
        dm = np.abs(blk[:, np.newaxis, 0] - emb[np.newaxis, :, 0])
        for k in range(1, m):
            np.maximum(dm, np.abs(blk[:, np.newaxis, k] - emb[np.newaxis, :, k]), out=dm)
        match_m = dm <= r
        dm1 = np.maximum(dm, np.abs(blk[:, np.newaxis, m] - emb[np.newaxis, :, m]))
        match_m1 = dm1 <= r
        count_m += int(match_m.sum())
        count_m1 += int(match_m1.sum())
    # remove self-matches (distance 0 <= r always)
    phi0 = (count_m - n_t) / (n_t * (n_t - 1))
    phi1 = (count_m1 - n_t) / (n_t * (n_t - 1))
    if np.isclose(phi0, 0):
        return -math.inf
    ratio = phi1 / phi0
    if np.isclose(ratio, 0):
        return math.inf
    return -math.log(ratio)


def dfa_alpha(x, *, scales=range(4, 12)) -> float:
    """Monofractal DFA exponent with NeuroKit2's ``fractal_dfa`` semantics (overlap, order 1).

    Parameters
    ----------
    x : array, shape (n,)
        Series (e.g. RR in ms); integrated as ``cumsum(x - mean(x))``.
    scales : iterable of int
        Window sizes in samples (4..11 for alpha1).

    Returns
    -------
    alpha : float
        Slope of ``log2 F(s)`` on ``log2 s``; NaN if a scale is >= n or every segment of a scale
        has variance <= 1e-8.
    """
    x = np.asarray(x, dtype=np.float64)
    n = x.size
    scales = np.asarray(list(scales), dtype=np.int64)
    if scales.size < 2 or scales.max() >= n:
        return math.nan
    y = np.cumsum(x - np.mean(x))
    fl = np.empty(scales.size)
    for i, s in enumerate(scales):  # loop over the (few) scales only
        starts = np.arange(0, n - s, s // 2)
        seg = y[starts[:, np.newaxis] + np.arange(s)]
        t = np.arange(s, dtype=np.float64) - (s - 1) / 2.0
        slope = (seg @ t) / float(t @ t)
        resid = seg - seg.mean(axis=1, keepdims=True) - slope[:, np.newaxis] * t
        var = np.var(resid, axis=1)
        var = var[var > 1e-08]
        if var.size == 0:
            return math.nan
        fl[i] = math.sqrt(float(np.mean(var)))
    lx = np.log2(scales.astype(np.float64))
    ly = np.log2(fl)
    lxc = lx - lx.mean()
    return float(np.dot(lxc, ly - ly.mean()) / np.dot(lxc, lxc))
