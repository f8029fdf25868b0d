"""Heart-rate variability from RR intervals: time domain, frequency domain, nonlinear.

:func:`compute_hrv` returns our feature names (unit in the name). Two conventions:

``convention="neurokit"`` (cross-check mode)
    Every name in :data:`NEUROKIT_NAMES` equals NeuroKit2 0.2.13's ``nk.hrv_time`` /
    ``nk.hrv_frequency`` / ``nk.hrv_nonlinear`` column on the same RR given as
    ``{"RRI": ms, "RRI_Time": s}`` (tested to 1e-9 relative for time and nonlinear and 1e-6
    for frequency, on random windows of real PhysioNet RR; the issue asks 1e-6 and 1e-3):

    * ``compute_hrv(rr_s, rr_time_s=t, convention="neurokit")`` equals NeuroKit2 on
      ``{"RRI": 1000 * rr_s, "RRI_Time": t}``, ``t`` being the time (s) of the beat that ends
      each interval (NeuroKit2's ``RRI_Time``; any origin, e.g. the recording's clock);
    * without ``rr_time_s`` it equals NeuroKit2 on ``{"RRI": 1000 * rr_s}``, for which
      NeuroKit2 takes ``RRI_Time = nancumsum(RRI) / 1000`` with a ``NaN`` counted as the median
      interval; with no ``NaN`` that is the same as passing ``RRI_Time = cumsum(rr_s)``.

    NeuroKit2's peak-index input (``nk.hrv_time(peaks, sampling_rate)``) builds
    ``RRI = diff(peaks) / sampling_rate * 1000`` and the cumulative-sum ``RRI_Time``, so it
    gives the same values whenever the RR lie on the sampling grid (PhysioNet RR at 128 Hz,
    whole milliseconds at 1000 Hz); it cannot mark a missing interval (a dropped beat merges
    two intervals), so we follow the dict form.
``convention="kubios"`` (default, what clinicians' reports use)
    Follows Kubios HRV where NeuroKit2 departs from it; the features concerned, each with the
    reason, are the keys of :data:`KUBIOS_DEVIATIONS`. Everything else is identical in both
    conventions. Kubios formulas are taken from the Kubios HRV User's Guide (definitions after
    the Task Force 1996, Brennan 2001, Baevsky) and were not checked against Kubios output.

Missing or rejected beats are passed as ``NaN`` in ``rr_s``: they are dropped from the
distribution statistics, and successive differences are only taken between two valid intervals
that were adjacent in the original series (as NeuroKit2 does for missing intervals). Correct
artefacts first with :func:`~addictidx.features.correct_rr`. In the Kubios convention, a gap
(missing time > 2 s, or > 5 % missing) makes the frequency-domain features, SampEn and DFA use
the longest continuous stretch, never a spline across the gap (:mod:`~addictidx.features.rr_gaps`,
``docs/hrv_gaps.md``); the NeuroKit2 convention reproduces NeuroKit2, which interpolates.

Minimum windows
---------------
Each feature declares the shortest recording it is reported for (:data:`HRV_MIN_WINDOW_S`,
seconds of RR, e.g. RMSSD 30 s, HF 1 min, LF 2 min, VLF/TP 5 min after the Task Force's "10
cycles of the lowest frequency" rule relaxed to common practice). Below it the feature is
``NaN`` and ``compute_hrv(..., return_quality=True)`` adds the flag
``"too_short:<feature>"``. The duration is the sum of the valid intervals; a window is long
enough when that sum reaches 95 % of the minimum (:data:`HRV_MIN_WINDOW_TOLERANCE`), so that a
nominal 5-min window that holds only whole beats qualifies.

Definitions (``RR`` in ms, ``d = diff(RR)`` over adjacent valid pairs, N = number of RR)
-----------------------------------------------------------------------------------------
Time domain

* ``hrv_mean_nn_ms`` = mean(RR); ``hrv_median_nn_ms``; ``hrv_sdnn_ms`` = std(RR, ddof=1);
  ``hrv_cvnn`` = SDNN / MeanNN
* ``hrv_rmssd_ms`` = sqrt(mean(d²)); ``hrv_sdsd_ms`` = std(d, ddof=1);
  ``hrv_ln_rmssd`` = ln(RMSSD in ms)
* ``hrv_pnn50_pct`` / ``hrv_pnn20_pct`` = 100 · count(|d| > 50 / 20 ms) / denominator
  (Kubios: N-1 = number of differences; NeuroKit2: N)
* ``hr_mean_bpm`` = 60000 / MeanNN (the rate of the mean interval; NeuroKit2 has no HR column,
  hrv-analysis' mean(60000/RR) is larger by Jensen's inequality); ``hr_sd_bpm`` =
  std(60000/RR, ddof=1); ``hr_min_bpm`` / ``hr_max_bpm`` = min / max of the 5-beat moving
  average of 60000/RR (Kubios' definition)
* ``hrv_hti`` = N / height of the RR histogram with 1/128-s (7.8125 ms) bins on
  ``arange(0, max + w, w)`` (= NeuroKit2's HTI and Kubios' bin width)
* ``hrv_tinn_ms`` = M - N of the triangle (0 at N, histogram maximum at the modal bin, 0 at M)
  that best fits the histogram in least squares (Task Force 1996), bins as for HTI, N and M
  searched over the bin edges; NeuroKit2's TINN is a brute-force loop with a different grid and
  is not mapped
* ``hrv_stress_index`` = sqrt(AMo / (2 · Mo · MxDMn)) (Baevsky's stress index, square root as
  Kubios reports it): 50-ms histogram bins, AMo = % of intervals in the modal bin, Mo = modal
  bin centre (s), MxDMn = max - min RR (s)

Frequency domain (:mod:`addictidx.features.hrv_frequency`)

* ``hrv_vlf_ms2``, ``hrv_lf_ms2``, ``hrv_hf_ms2``, ``hrv_tp_ms2``, ``hrv_lfhf``,
  ``hrv_lf_nu``, ``hrv_hf_nu``, ``hrv_{vlf,lf,hf}_rel_pct``, ``hrv_ln_lf``, ``hrv_ln_hf``,
  ``hrv_{vlf,lf,hf}_peak_hz``

Nonlinear

* ``hrv_sd1_ms`` = std((RRₙ-RRₙ₊₁)/√2, ddof=1) (both conventions, = SDSD/√2)
* ``hrv_sd2_ms``: Kubios sqrt(2·SDNN² - ½·SDSD²); NeuroKit2 std((RRₙ+RRₙ₊₁)/√2, ddof=1);
  ``hrv_sd1_sd2`` = SD1 / SD2
* ``hrv_sampen``: sample entropy, m = 2, r = 0.2·std(RR, ddof=1), Chebyshev distance,
  match when distance ≤ r, N-m templates at both lengths, self-matches excluded
* ``hrv_dfa_alpha1``: DFA of the profile cumsum(RR - mean), scales 4..11 beats, segments
  starting every s//2 beats (50 % overlap; a segment starting at N-s is excluded), linear
  detrend per segment, F(s) = sqrt(mean of segment variances > 1e-8), slope of log2 F on log2 s
* ``hrv_dfa_alpha2``: the same over scales 12..int((N+1)/10) beats (NaN when that is fewer
  than 2 scales, as NeuroKit2 skips it)
"""

from __future__ import annotations

import math

import numpy as np

from .._core.types import QualityReport
from .._core.validate import check_option
from .hrv_frequency import HRV_FREQUENCY_NAMES, check_rr_time, hrv_frequency
from .hrv_nonlinear import dfa_alpha, poincare_nonlinear, sample_entropy
from .rr_gaps import apply_gap_rule

__all__ = [
    "HRV_NAMES",
    "HRV_MIN_WINDOW_S",
    "HRV_NONLINEAR_NAMES",
    "HRV_GEOMETRIC_NAMES",
    "HRV_MIN_WINDOW_TOLERANCE",
    "SUCCESSIVE_TOLERANCE_MS",
    "NEUROKIT_NAMES",
    "NEUROKIT_FREQUENCY_NAMES",
    "KUBIOS_DEVIATIONS",
    "compute_hrv",
    "sample_entropy",
    "dfa_alpha",
]

_TIME_NAMES: tuple[str, ...] = (
    "hrv_mean_nn_ms",
    "hrv_median_nn_ms",
    "hrv_sdnn_ms",
    "hrv_cvnn",
    "hrv_rmssd_ms",
    "hrv_sdsd_ms",
    "hrv_pnn50_pct",
    "hrv_pnn20_pct",
    "hr_mean_bpm",
    "hr_sd_bpm",
    "hr_min_bpm",
    "hr_max_bpm",
    "hrv_ln_rmssd",
    "hrv_hti",
    "hrv_tinn_ms",
    "hrv_stress_index",
)
_NONLINEAR_NAMES: tuple[str, ...] = (
    "hrv_sd1_ms",
    "hrv_sd2_ms",
    "hrv_sd1_sd2",
    "hrv_sampen",
    "hrv_dfa_alpha1",
    "hrv_dfa_alpha2",
)

#: Nonlinear features (skipped by ``compute_hrv(..., nonlinear=False)``).
HRV_NONLINEAR_NAMES: tuple[str, ...] = _NONLINEAR_NAMES
#: Histogram-based ("geometric") time-domain features (skipped with ``geometric=False``).
HRV_GEOMETRIC_NAMES: tuple[str, ...] = ("hrv_hti", "hrv_tinn_ms", "hrv_stress_index")

#: Every key :func:`compute_hrv` returns, in order (time, frequency, nonlinear).
HRV_NAMES: tuple[str, ...] = _TIME_NAMES + HRV_FREQUENCY_NAMES + _NONLINEAR_NAMES

#: Shortest recording (s of valid RR) each feature is reported for; NaN + flag below it.
HRV_MIN_WINDOW_S: dict[str, float] = {
    **dict.fromkeys(
        ("hrv_mean_nn_ms", "hrv_median_nn_ms", "hr_mean_bpm", "hr_min_bpm", "hr_max_bpm"), 10.0
    ),
    **dict.fromkeys(
        (
            "hrv_rmssd_ms",
            "hrv_sdsd_ms",
            "hrv_ln_rmssd",
            "hrv_pnn50_pct",
            "hrv_pnn20_pct",
            "hrv_sd1_ms",
        ),
        30.0,
    ),
    **dict.fromkeys(
        (
            "hrv_sdnn_ms",
            "hrv_cvnn",
            "hr_sd_bpm",
            "hrv_sd2_ms",
            "hrv_sd1_sd2",
            "hrv_sampen",
            "hrv_dfa_alpha1",
            "hrv_hf_ms2",
            "hrv_ln_hf",
            "hrv_hf_peak_hz",
        ),
        60.0,
    ),
    **dict.fromkeys(
        (
            "hrv_hti",
            "hrv_tinn_ms",
            "hrv_stress_index",
            "hrv_lf_ms2",
            "hrv_ln_lf",
            "hrv_lf_peak_hz",
            "hrv_lfhf",
            "hrv_lf_nu",
            "hrv_hf_nu",
        ),
        120.0,
    ),
    **dict.fromkeys(
        (
            "hrv_vlf_ms2",
            "hrv_vlf_peak_hz",
            "hrv_tp_ms2",
            "hrv_vlf_rel_pct",
            "hrv_lf_rel_pct",
            "hrv_hf_rel_pct",
            "hrv_dfa_alpha2",
        ),
        300.0,
    ),
}

#: A window qualifies when its RR sum reaches this share of the feature's minimum.
HRV_MIN_WINDOW_TOLERANCE = 0.95

#: Our name -> NeuroKit2 0.2.13 column (``nk.hrv_time`` / ``nk.hrv_frequency`` /
#: ``nk.hrv_nonlinear``). Not mapped: ``hr_*`` (NeuroKit2 has no HR column), ``hrv_ln_rmssd``,
#: ``hrv_tinn_ms``, ``hrv_stress_index``, relative powers and peak frequencies, ``hrv_ln_lf``.
NEUROKIT_NAMES: dict[str, str] = {
    "hrv_mean_nn_ms": "HRV_MeanNN",
    "hrv_median_nn_ms": "HRV_MedianNN",
    "hrv_sdnn_ms": "HRV_SDNN",
    "hrv_cvnn": "HRV_CVNN",
    "hrv_rmssd_ms": "HRV_RMSSD",
    "hrv_sdsd_ms": "HRV_SDSD",
    "hrv_pnn50_pct": "HRV_pNN50",
    "hrv_pnn20_pct": "HRV_pNN20",
    "hrv_hti": "HRV_HTI",
    "hrv_vlf_ms2": "HRV_VLF",
    "hrv_lf_ms2": "HRV_LF",
    "hrv_hf_ms2": "HRV_HF",
    "hrv_tp_ms2": "HRV_TP",
    "hrv_lfhf": "HRV_LFHF",
    "hrv_lf_nu": "HRV_LFn",
    "hrv_hf_nu": "HRV_HFn",
    "hrv_ln_hf": "HRV_LnHF",
    "hrv_sd1_ms": "HRV_SD1",
    "hrv_sd2_ms": "HRV_SD2",
    "hrv_sd1_sd2": "HRV_SD1SD2",
    "hrv_sampen": "HRV_SampEn",
    "hrv_dfa_alpha1": "HRV_DFA_alpha1",
    "hrv_dfa_alpha2": "HRV_DFA_alpha2",
}

#: Names from :data:`NEUROKIT_NAMES` that come from ``nk.hrv_frequency`` (checked to 1e-3).
NEUROKIT_FREQUENCY_NAMES: frozenset[str] = frozenset(
    k for k in NEUROKIT_NAMES if k in HRV_FREQUENCY_NAMES
)

_SPECTRUM = (
    "Kubios interpolates the RR series with a cubic spline at 4 Hz and reports Welch powers in "
    "ms^2 (150-s Hann segments, 50 % overlap, smoothness-priors detrending lambda=500); "
    "NeuroKit2 interpolates quadratically at 100 Hz and divides the whole spectrum by its "
    "maximum, so its band powers are unit-less fractions of the spectral peak, not ms^2."
)

#: Features whose Kubios HRV default differs from NeuroKit2 0.2.13, with the reason. The
#: relative powers, peak frequencies and ``hrv_ln_lf`` have no NeuroKit2 column; in
#: ``"neurokit"`` mode they are computed from NeuroKit2's spectrum.
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
    "hrv_sd1_sd2": "Follows SD2 (Brennan identity in Kubios, pair-wise std in NeuroKit2).",
    "hrv_vlf_ms2": (
        _SPECTRUM + " Kubios' VLF band is 0-0.04 Hz; NeuroKit2's is 0.0033-0.04 Hz and starts "
        "at its min_frequency = 4/duration (about 0.013 Hz at 5 min)."
    ),
    "hrv_lf_ms2": _SPECTRUM,
    "hrv_hf_ms2": _SPECTRUM,
    "hrv_tp_ms2": (
        _SPECTRUM + " Kubios' total power is VLF+LF+HF (0-0.4 Hz); NeuroKit2's TP also adds "
        "ULF and VHF (0.4-0.5 Hz)."
    ),
    "hrv_lfhf": (
        "A ratio, so the normalization cancels, but the interpolation (4 Hz cubic vs 100 Hz "
        "quadratic), Welch segments (150 s vs about a third of the recording) and "
        "detrending differ, so the values differ by a few per cent."
    ),
    "hrv_lf_nu": (
        "Kubios' normalized units are 100*LF/(LF+HF) (%, i.e. LF/(TP-VLF)); NeuroKit2's LFn is "
        "LF/TP as a fraction with its TP including VLF and VHF."
    ),
    "hrv_hf_nu": "As hrv_lf_nu: Kubios 100*HF/(LF+HF) in %; NeuroKit2 HFn = HF/TP (fraction).",
    "hrv_ln_hf": "ln of HF in ms^2 (Kubios); NeuroKit2's LnHF is ln of its max-normalized HF.",
    "hrv_ln_lf": "ln of LF in ms^2 (Kubios); in neurokit mode ln of the max-normalized LF.",
    "hrv_vlf_rel_pct": "100*band/TP with each convention's TP (Kubios 0-0.4 Hz; NeuroKit2 incl. "
    "VHF).",
    "hrv_lf_rel_pct": "As hrv_vlf_rel_pct.",
    "hrv_hf_rel_pct": "As hrv_vlf_rel_pct.",
    "hrv_vlf_peak_hz": (
        "Largest bin of each convention's spectrum: Kubios' 1/300-Hz grid of a 150-s Welch "
        "estimate vs NeuroKit2's grid of about 1/(2/3 of the recording)."
    ),
    "hrv_lf_peak_hz": "As hrv_vlf_peak_hz.",
    "hrv_hf_peak_hz": "As hrv_vlf_peak_hz.",
}

#: With ``rr_time_s``, two intervals are successive when the beat times differ from the
#: second interval by at most this (ms), NeuroKit2 0.2.13's ``thresh_unequal``.
SUCCESSIVE_TOLERANCE_MS = 10.0

_CONVENTIONS = ("kubios", "neurokit")
_HIST_BIN_MS = 1000.0 / 128.0


def _histogram(nn: np.ndarray, width: float) -> tuple[np.ndarray, np.ndarray]:
    bins = np.arange(0, np.max(nn) + width, width)
    counts, edges = np.histogram(nn, bins=bins)
    return counts, edges


def _tinn(counts: np.ndarray, edges: np.ndarray) -> float:
    """Least-squares triangle base width over the histogram (left and right sides separable)."""
    if counts.size < 3:
        return math.nan
    centres = 0.5 * (edges[:-1] + edges[1:])
    k = int(np.argmax(counts))
    x, y = centres[k], float(counts[k])
    d = counts.astype(np.float64)
    left_c = centres[:k]
    right_c = centres[k + 1 :]
    err_left = np.zeros(1)
    n_cand = edges[: k + 1]  # candidate N: bin edges up to the modal bin's left edge
    if left_c.size:
        q = y * (left_c[np.newaxis, :] - n_cand[:, np.newaxis]) / (x - n_cand[:, np.newaxis])
        q = np.clip(q, 0.0, None)
        err_left = np.sum((d[:k] - q) ** 2, axis=1)
    m_cand = edges[k + 1 :]  # candidate M: bin edges from the modal bin's right edge
    err_right = np.zeros(1)
    if right_c.size:
        q = y * (m_cand[:, np.newaxis] - right_c[np.newaxis, :]) / (m_cand[:, np.newaxis] - x)
        q = np.clip(q, 0.0, None)
        err_right = np.sum((d[k + 1 :] - q) ** 2, axis=1)
    n_best = n_cand[int(np.argmin(err_left))] if left_c.size else edges[k]
    m_best = m_cand[int(np.argmin(err_right))] if right_c.size else edges[k + 1]
    return float(m_best - n_best)


def compute_hrv(
    rr_s,
    *,
    convention: str = "kubios",
    frequency: bool = True,
    nonlinear: bool = True,
    geometric: bool = True,
    enforce_min_window: bool = True,
    return_quality: bool = False,
    rr_time_s=None,
):
    """Time-domain, frequency-domain and nonlinear HRV from RR intervals.

    Parameters
    ----------
    rr_s : array, shape (n_rr,)
        RR (NN) intervals in seconds, in beat order. ``NaN`` marks a rejected or missing
        interval (see the module docstring).
    convention : {"kubios", "neurokit"}
        Definitions to follow where the two differ (:data:`KUBIOS_DEVIATIONS`).
        ``"neurokit"`` reproduces NeuroKit2 0.2.13 for every name in :data:`NEUROKIT_NAMES`.
    frequency : bool
        Compute the frequency-domain features (imports ``scipy.interpolate``/``scipy.fft``;
        about 1-8 ms per 5-min window). ``False`` leaves them ``NaN``.
    nonlinear : bool
        Compute the nonlinear features (:data:`HRV_NONLINEAR_NAMES`: Poincaré SD1/SD2,
        SampEn and DFA, :mod:`addictidx.features.hrv_nonlinear`; well under a millisecond
        for a 5-min window, about a second for 24 h). ``False`` leaves them ``NaN``.
    geometric : bool
        Compute the histogram-based time-domain features (:data:`HRV_GEOMETRIC_NAMES`: HTI,
        TINN, stress index; about 0.1 ms). ``False`` leaves them ``NaN``. With
        ``frequency=nonlinear=geometric=False`` only the statistical time-domain features
        are computed (RMSSD, ln RMSSD, mean HR, ...: about 30 µs on a 2-min window), with
        values identical to the full call.
    enforce_min_window : bool
        Set a feature to ``NaN`` when the recording is shorter than its
        :data:`HRV_MIN_WINDOW_S` entry.
    return_quality : bool
        Also return a :class:`~addictidx._core.QualityReport`.
    rr_time_s : array, shape (n_rr,) | None
        Time in s of the beat that ends each interval, as NeuroKit2's ``RRI_Time`` (e.g. the
        recording's beat times, so that an interval dropped or marked ``NaN`` leaves its true
        gap). Used for the spectrum's interpolation grid, and a successive difference is
        then only taken where the two beat times are one interval apart (within
        :data:`SUCCESSIVE_TOLERANCE_MS`, NeuroKit2's ``_intervals_successive``). ``None``
        (default): the cumulative sum of the intervals, a ``NaN`` counted as the median
        interval, which is what NeuroKit2 assumes for an ``RRI`` without ``RRI_Time`` and
        for peak indices.

    Returns
    -------
    hrv : dict of str -> float
        The keys of :data:`HRV_NAMES`; ``NaN`` where not computable (too few intervals, window
        too short, SampEn/DFA on fewer than 12 valid intervals).
    quality : QualityReport
        Only with ``return_quality=True``: ``per_channel={"rr": share of valid intervals}``,
        a ``"too_short:<feature>"`` flag per feature blanked by its minimum window;
        ``usable`` when RMSSD and the mean interval could be computed.

    Examples
    --------
    >>> hrv = compute_hrv([1.0, 1.1, 0.9], enforce_min_window=False, frequency=False)
    >>> round(hrv["hrv_rmssd_ms"], 6)  # sqrt((100**2 + 200**2) / 2)
    158.113883
    """
    check_option("convention", convention, _CONVENTIONS)
    rr = np.asarray(rr_s, dtype=np.float64)
    if rr.ndim != 1:
        raise ValueError(
            f"rr_s must be a 1D array of RR intervals in seconds, got shape {rr.shape}."
        )
    if np.any(np.isinf(rr)):
        raise ValueError(
            f"rr_s holds an infinite value at position {int(np.flatnonzero(np.isinf(rr))[0])}."
        )
    valid = np.isfinite(rr)
    if np.any(rr[valid] <= 0):
        i = int(np.flatnonzero(valid & (rr <= 0))[0])
        raise ValueError(f"rr_s must be > 0 s, got {rr[i]!r} at position {i}.")
    # unit check on the median of the valid values (= np.nanmedian(rr)); the median cannot
    # exceed the maximum, so the (cheaper) maximum rules it out for data in seconds
    if valid.any() and np.max(rr[valid]) > 10:
        med = float(np.median(rr[valid]))
        if med > 10:
            raise ValueError(f"rr_s looks like milliseconds (median {med:.0f}); pass seconds.")
    ms = rr * 1000.0
    nn = ms[valid]
    pair_ok = valid[:-1] & valid[1:]
    if rr_time_s is not None:
        t = check_rr_time(rr_time_s, valid)
        with np.errstate(invalid="ignore"):
            pair_ok &= np.abs(np.diff(t) * 1000.0 - ms[1:]) <= SUCCESSIVE_TOLERANCE_MS
    d = np.diff(ms)[pair_ok]
    n = nn.size
    nk = convention == "neurokit"

    out = dict.fromkeys(HRV_NAMES, math.nan)
    if n > 0:
        _time_domain(out, nn, d, n, nk, geometric)
        if nonlinear:
            poincare_nonlinear(out, ms, nn, d, pair_ok, n, nk)
        if frequency and n >= 4:
            out.update(hrv_frequency(rr, convention=convention, rr_time_s=rr_time_s))
    gap_flags, gap_reason = (), ""
    if not nk and n > 0 and (frequency or nonlinear):  # never across a gap (rr_gaps.py)
        gap_flags, gap_reason = apply_gap_rule(
            out,
            rr,
            rr_time_s,
            frequency=frequency,
            nonlinear=nonlinear,
            enforce=enforce_min_window,
        )

    duration = float(np.sum(nn)) / 1000.0
    short: list[str] = []
    if enforce_min_window:
        skipped = set()
        if not frequency:
            skipped.update(HRV_FREQUENCY_NAMES)
        if not nonlinear:
            skipped.update(HRV_NONLINEAR_NAMES)
        if not geometric:
            skipped.update(HRV_GEOMETRIC_NAMES)
        for name, min_s in HRV_MIN_WINDOW_S.items():
            if duration < HRV_MIN_WINDOW_TOLERANCE * min_s:
                if name in skipped:
                    continue
                out[name] = math.nan
                short.append(name)
    if not return_quality:
        return out
    flags = tuple(f"too_short:{k}" for k in short) + gap_flags
    usable = math.isfinite(out["hrv_rmssd_ms"]) and math.isfinite(out["hrv_mean_nn_ms"])
    reasons: tuple[str, ...] = ()
    if short:
        reasons = (
            f"{duration:.0f} s of RR is shorter than the minimum window of "
            f"{len(short)} feature(s) "
            f"({', '.join(short[:4])}{', ...' if len(short) > 4 else ''}).",
        )
    if gap_reason:
        reasons += (gap_reason,)
    if not usable:
        reasons += ("RMSSD could not be computed (too few valid successive intervals).",)
    share = float(valid.mean()) if rr.size else 0.0
    return out, QualityReport(
        per_channel={"rr": share}, flags=flags, usable=usable, reasons=reasons
    )


def _time_domain(
    out: dict, nn: np.ndarray, d: np.ndarray, n: int, nk: bool, geometric: bool = True
) -> None:
    mean_nn = float(np.mean(nn))
    out["hrv_mean_nn_ms"] = mean_nn
    out["hrv_median_nn_ms"] = float(np.median(nn))
    out["hr_mean_bpm"] = 60000.0 / mean_nn
    hr = 60000.0 / nn
    if n >= 5:
        ma = np.convolve(hr, np.full(5, 0.2), mode="valid")
        out["hr_min_bpm"], out["hr_max_bpm"] = float(ma.min()), float(ma.max())
    if n > 1:
        sdnn = float(np.std(nn, ddof=1))
        out["hrv_sdnn_ms"] = sdnn
        out["hrv_cvnn"] = sdnn / mean_nn
        out["hr_sd_bpm"] = float(np.std(hr, ddof=1))
    if geometric:
        counts, edges = _histogram(nn, _HIST_BIN_MS)
        out["hrv_hti"] = n / float(np.max(counts))
        out["hrv_tinn_ms"] = _tinn(counts, edges)
        c50, e50 = _histogram(nn, 50.0)
        k = int(np.argmax(c50))
        mxdmn = (float(np.max(nn)) - float(np.min(nn))) / 1000.0
        if mxdmn > 0:
            amo = 100.0 * c50[k] / n
            mo = 0.5 * (e50[k] + e50[k + 1]) / 1000.0
            out["hrv_stress_index"] = math.sqrt(amo / (2.0 * mo * mxdmn))
    if d.size:
        rmssd = float(np.sqrt(np.mean(d * d)))
        out["hrv_rmssd_ms"] = rmssd
        out["hrv_ln_rmssd"] = math.log(rmssd) if rmssd > 0 else math.nan
        denom = (d.size + 1) if nk else d.size
        ad = np.abs(d)
        out["hrv_pnn50_pct"] = float(np.sum(ad > 50)) / denom * 100.0
        out["hrv_pnn20_pct"] = float(np.sum(ad > 20)) / denom * 100.0
    if d.size > 1:
        out["hrv_sdsd_ms"] = float(np.std(d, ddof=1))
