"""Frequency-domain HRV: VLF/LF/HF powers, peaks, relative and normalized units, LF/HF.

Two conventions, chosen by :func:`hrv_frequency`'s ``convention`` (default ``"kubios"``):

``"kubios"`` (powers in ms², what Kubios HRV and the Task Force 1996 report)
    1. RR in ms at beat times ``t = cumsum(RR)`` (s); optional smoothness-priors detrending of
       the RR series (Tarvainen 2002, ``detrend_lambda``; default 500 as in Kubios' default
       settings, **[unverified against Kubios output]**), the trend is subtracted and the mean
       kept.
    2. Cubic spline (not-a-knot, MATLAB ``spline``) interpolation at **4 Hz** on
       ``t[0] + k/4 <= t[-1]``, then the mean is removed.
    3. Welch: Hann (periodic) window of 150 s (600 samples; the whole series when shorter),
       50 % overlap, ``nfft = max(nperseg, 1200)`` (300 points/Hz), one-sided density in ms²/Hz.
    4. Bands VLF ``[0, 0.04)``, LF ``[0.04, 0.15)``, HF ``[0.15, 0.4)`` Hz, trapezoid rule over
       the bins inside each band. TP = VLF + LF + HF (0-0.4 Hz). Normalized units
       ``LF_nu = 100 LF / (LF + HF)``; relative power ``100 band / TP``; peaks = frequency of the
       largest PSD bin inside the band (DC excluded).

``"neurokit"`` (NeuroKit2 0.2.13 ``nk.hrv_frequency`` defaults, the cross-check mode)
    Read from NeuroKit2's source (``hrv/hrv_frequency.py``, ``signal/signal_psd.py``): quadratic
    spline at 100 Hz on ``arange(t[0], t[-1] + 1/100, 1/100)`` with constant extrapolation,
    whole-series mean removed, ``min_frequency = (2*fs)/(N/2)``, ``nperseg =
    int((2/min_frequency)*fs)`` capped at ``int(N/2)`` (the float expression is reproduced, so ~6 %
    of lengths give N/2-1), Welch with Hann, ``noverlap = nperseg//2``, ``nfft = 2*nperseg``, no
    detrend, mean averaging; the whole 0-50 Hz spectrum is **divided by its maximum**; bins
    ``min_frequency <= f <= 0.5`` are kept; bands ULF (0, 0.0033), VLF (0.0033, 0.04), LF (0.04,
    0.15), HF (0.15, 0.4), VHF (0.4, 0.5) with ``lo <= f < hi``; a zero power is NaN; TP = nansum
    of all five (VHF included); ``LFn = LF/TP``, ``HFn = HF/TP``, ``LnHF = ln(HF)``. NeuroKit2's
    powers are therefore unit-less (relative to the spectral maximum), not ms²; LF/HF is
    unaffected.

Gaps (``"kubios"``): when the series has missing time longer than 2 s, or more than 5 % of it
missing, the spectrum is computed on its longest continuous stretch, never with a spline across
the gap (:mod:`addictidx.features.rr_gaps`, ``docs/hrv_gaps.md``). ``"neurokit"`` reproduces
NeuroKit2, which interpolates across gaps.

Missing intervals (``NaN``) are dropped. The beat time of each remaining interval (the time of
the beat that ends it, in s) is ``rr_time_s`` when given (NeuroKit2's ``RRI_Time``: e.g. the
recording's beat times, so that a dropped or missing interval leaves its true gap), otherwise the
cumulative sum of the intervals with each missing one counted as the median interval (what
NeuroKit2 does for an ``RRI`` input without ``RRI_Time``, and for peak indices).
"""

from __future__ import annotations

import functools
import math

import numpy as np

from .._core.validate import check_option
from .rr_gaps import find_rr_gaps, stretch_times
from .welch_zoom import welch_low_bins

__all__ = ["GAP_SENSITIVE_NAMES", "HRV_FREQUENCY_NAMES", "hrv_frequency", "hrv_psd"]

#: Keys returned by :func:`hrv_frequency`, in order.
HRV_FREQUENCY_NAMES: tuple[str, ...] = (
    "hrv_vlf_ms2",
    "hrv_lf_ms2",
    "hrv_hf_ms2",
    "hrv_tp_ms2",
    "hrv_lfhf",
    "hrv_lf_nu",
    "hrv_hf_nu",
    "hrv_vlf_rel_pct",
    "hrv_lf_rel_pct",
    "hrv_hf_rel_pct",
    "hrv_ln_lf",
    "hrv_ln_hf",
    "hrv_vlf_peak_hz",
    "hrv_lf_peak_hz",
    "hrv_hf_peak_hz",
)

#: Features that need a continuous series: computed on the longest continuous stretch when
#: the series has a gap (``convention="kubios"``; :mod:`addictidx.features.rr_gaps`).
GAP_SENSITIVE_NAMES: tuple[str, ...] = HRV_FREQUENCY_NAMES + (
    "hrv_sampen",
    "hrv_dfa_alpha1",
    "hrv_dfa_alpha2",
)

_KUBIOS_BANDS = {"vlf": (0.0, 0.04), "lf": (0.04, 0.15), "hf": (0.15, 0.4)}
_NK_BANDS = {
    "ulf": (0.0, 0.0033),
    "vlf": (0.0033, 0.04),
    "lf": (0.04, 0.15),
    "hf": (0.15, 0.4),
    "vhf": (0.4, 0.5),
}
_KUBIOS_FS = 4.0
_KUBIOS_WINDOW_S = 150.0
_KUBIOS_POINTS_PER_HZ = 300
_NK_FS = 100


def check_rr_time(rr_time_s, valid: np.ndarray) -> np.ndarray:
    """Validate beat times (s): one per interval, finite and increasing over the valid intervals.

    Parameters
    ----------
    rr_time_s : array_like, shape (n_rr,)
        Time of the beat that ends each interval, in seconds (NeuroKit2's ``RRI_Time``). Its
        value at a missing (``NaN``) interval is ignored and may be ``NaN``.
    valid : ndarray of bool, shape (n_rr,)
        Which intervals are valid (not ``NaN``).

    Returns
    -------
    t : ndarray of float64, shape (n_rr,)
    """
    t = np.asarray(rr_time_s, dtype=np.float64)
    if t.ndim != 1 or t.size != valid.size:
        raise ValueError(
            f"rr_time_s must hold one time per RR interval ({valid.size}), got shape {t.shape}."
        )
    bad = valid & ~np.isfinite(t)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"rr_time_s holds a non-finite value at position {i} (a valid interval).")
    idx = np.flatnonzero(valid)
    dt = np.diff(t[idx])
    if np.any(dt <= 0):
        i = int(idx[np.flatnonzero(dt <= 0)[0] + 1])
        raise ValueError(f"rr_time_s must increase strictly, but does not at position {i}.")
    if dt.size and float(np.median(dt)) > 10:
        raise ValueError(
            f"rr_time_s looks like milliseconds (median step {float(np.median(dt)):.0f}); pass "
            "seconds."
        )
    return t


def _beat_times_ms(rr_s, rr_time_s=None) -> tuple[np.ndarray, np.ndarray]:
    """RR in ms and beat times in s of the valid intervals (see the module docstring)."""
    rr = np.asarray(rr_s, dtype=np.float64) * 1000.0
    nan = np.isnan(rr)
    if nan.all():
        return np.zeros(0), np.zeros(0)
    if rr_time_s is not None:
        t = check_rr_time(rr_time_s, ~nan)
    else:
        filled = np.where(nan, np.nanmedian(rr), rr) if nan.any() else rr
        t = np.cumsum(filled / 1000.0)
    return rr[~nan], t[~nan]


#: FFT length from which :func:`_welch_density` transforms one segment at a time: pocketfft's
#: multi-row path (vectorized across rows) is up to 3x slower per row on long transforms,
#: which do not fit in cache (the NeuroKit2 convention's 100-Hz series: nfft ~ 30,000).
_ROW_BY_ROW_NFFT = 4096


@functools.lru_cache(maxsize=16)
def _hann(nperseg: int) -> np.ndarray:
    """Periodic Hann window (``scipy.signal.get_window("hann", nperseg)``), read-only."""
    win = 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(nperseg) / nperseg)
    win.setflags(write=False)
    return win


def _welch_density(x: np.ndarray, fs: float, nperseg: int, noverlap: int, nfft: int) -> np.ndarray:
    """``scipy.signal.welch(x, fs, 'hann', nperseg, noverlap, nfft, detrend=False)`` (mean).

    Bit for bit the arithmetic of SciPy's helper (|X|² as Re² + Im², times the density scale,
    doubled off DC/Nyquist, summed over segments in order, divided by their number), with
    ``scipy.fft``. Long transforms go one segment at a time into reused buffers.
    """
    from scipy import fft as sp_fft  # lazy

    n = x.size
    win = _hann(nperseg)
    step = nperseg - noverlap
    starts = np.arange(0, n - nperseg + 1, step)
    scale = 1.0 / (fs * float(np.sum(win * win)))
    hi = -1 if nfft % 2 == 0 else None  # Nyquist bin (even nfft) is not doubled
    if nfft < _ROW_BY_ROW_NFFT or starts.size == 1:
        segs = x[starts[:, np.newaxis] + np.arange(nperseg)] * win
        spec = sp_fft.rfft(segs, n=nfft, axis=-1)
        p = spec.real**2 + spec.imag**2
        p *= scale
        p[:, 1:hi] *= 2.0
        return p.mean(axis=0)
    n_f = nfft // 2 + 1
    seg = np.empty(nperseg)
    p = np.empty(n_f)
    acc = np.empty(n_f)
    for i, s in enumerate(starts):
        np.multiply(x[s : s + nperseg], win, out=seg)
        spec = sp_fft.rfft(seg, n=nfft, overwrite_x=True)  # SciPy caches the plan
        ri = spec.view(np.float64).reshape(n_f, 2)
        np.multiply(ri, ri, out=ri)
        np.add(ri[:, 0], ri[:, 1], out=p)
        np.multiply(p, scale, out=p)
        np.multiply(p[1:hi], 2.0, out=p[1:hi])
        if i == 0:
            acc, p = p, acc
        else:
            np.add(acc, p, out=acc)
    np.divide(acc, starts.size, out=acc)
    return acc


def _smoothness_priors_trend(z: np.ndarray, lam: float) -> np.ndarray:
    """Trend of ``z`` by smoothness priors (Tarvainen 2002): ``(I + lam² D2ᵀD2)⁻¹ z``."""
    n = z.size
    if n < 3:
        return np.full(n, z.mean())
    from scipy.linalg import solveh_banded  # lazy

    # D2ᵀD2 is symmetric pentadiagonal; upper banded storage (3, n).
    d0 = np.full(n, 6.0)
    d0[[0, -1]] = 1.0
    d0[[1, -2]] = 5.0
    d1 = np.full(n - 1, -4.0)
    d1[[0, -1]] = -2.0
    d2 = np.ones(n - 2)
    ab = np.zeros((3, n))
    l2 = lam * lam
    ab[2] = 1.0 + l2 * d0
    ab[1, 1:] = l2 * d1
    ab[0, 2:] = l2 * d2
    return solveh_banded(ab, z)


def _eval_sorted(pp, x: np.ndarray) -> np.ndarray:
    """``pp(x)`` for a quadratic ``PPoly`` and increasing ``x``, bit for bit.

    SciPy evaluates ``c2 + c1·s + c0·s²`` (``s`` = distance to the piece's breakpoint) after a
    binary search per point; on an increasing grid every piece's points are contiguous, so
    the pieces are found by one ``searchsorted`` of the breakpoints and the coefficients
    repeated, with the same arithmetic in the same order (2-3x faster on 30,000 points).
    """
    bp, c = pp.x, pp.c.reshape(pp.c.shape[0], -1)
    pos = np.searchsorted(x, bp, side="left")
    counts = np.diff(pos)
    counts[0] += pos[0]  # before the first breakpoint: first piece (extrapolated)
    counts[-1] += x.size - pos[-1]  # at or after the last one: last piece (as SciPy)
    s = x - np.repeat(bp[:-1], counts)
    y = np.repeat(c[1], counts) * s
    y += np.repeat(c[2], counts)
    s *= s
    s *= np.repeat(c[0], counts)
    y += s
    return y


def _neurokit_psd(rr: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """NeuroKit2's spectrum of RR (ms) at beat times ``t`` (s): see the module docstring.

    NeuroKit2 interpolates with ``interp1d(kind="quadratic")``, i.e. ``make_interp_spline(k=2)``
    evaluated by de Boor's recursion at every 100-Hz sample. The same spline is evaluated here
    in its piecewise-polynomial form (``PPoly.from_spline`` and :func:`_eval_sorted`, ~6x
    faster); the two differ by a few ulps of the RR values (~1e-15 relative), far below the
    1e-12 to which the features are tested against NeuroKit2. The Welch spectrum is computed
    at its low bins only when they provably hold its maximum
    (:func:`~addictidx.features.welch_zoom.welch_low_bins`), else in full.
    """
    from scipy.interpolate import PPoly, make_interp_spline  # lazy

    fs = _NK_FS
    x_new = np.arange(t[0], t[-1] + 1 / fs, 1 / fs)  # x_new[0] == t[0]: nothing before it
    y = _eval_sorted(PPoly.from_spline(make_interp_spline(t, rr, k=2, check_finite=False)), x_new)
    y[np.searchsorted(x_new, t[-1], side="right") :] = rr[-1]  # constant after the last beat
    y = y - np.mean(y)
    n = y.size
    min_frequency = 2 * fs / (n / 2)
    nperseg = int(2 / min_frequency * fs)
    if nperseg > n / 2:
        nperseg = int(n / 2)
    nfft = int(nperseg * 2)
    freqs = np.fft.rfftfreq(nfft, 1 / fs)
    keep = (freqs >= min_frequency) & (freqs <= 0.5)
    # the bins kept, and the maximum over all bins, without the whole FFT when provable
    hi = int(np.flatnonzero(keep)[-1]) + 1 if keep.any() else 1
    p = welch_low_bins(y, fs, _hann(nperseg), nperseg // 2, nfft, hi)
    if p is None:
        p = _welch_density(y, fs, nperseg, nperseg // 2, nfft)
    keep = keep[: p.size]
    return freqs[: p.size][keep], p[keep] / np.max(p)


def hrv_psd(
    rr_s, *, convention: str = "kubios", detrend_lambda: float | None = 500.0, rr_time_s=None
):
    """Power spectrum of the interpolated RR series, as used by :func:`hrv_frequency`.

    Parameters
    ----------
    rr_s : array, shape (n_rr,)
        RR intervals in seconds (``NaN`` = missing).
    convention : {"kubios", "neurokit"}
        See the module docstring.
    detrend_lambda : float | None
        Smoothness-priors regularization for ``"kubios"`` (``None`` = no detrending); ignored
        for ``"neurokit"``.
    rr_time_s : array, shape (n_rr,) | None
        Time (s) of the beat ending each interval (NeuroKit2's ``RRI_Time``); ``None`` = the
        cumulative sum of the intervals (see the module docstring).

    Returns
    -------
    freqs : ndarray, shape (n_freqs,)
        Frequencies in Hz (``"neurokit"``: only ``min_frequency <= f <= 0.5``).
    psd : ndarray, shape (n_freqs,)
        ms²/Hz (``"kubios"``) or NeuroKit2's max-normalized power (``"neurokit"``).
    """
    check_option("convention", convention, ("kubios", "neurokit"))
    from scipy.interpolate import CubicSpline  # lazy

    if convention == "kubios":  # never a spline across a gap (rr_gaps module docstring)
        rr_s = np.asarray(rr_s, dtype=np.float64)
        if rr_time_s is not None:
            rr_time_s = check_rr_time(rr_time_s, np.isfinite(rr_s))
        gaps = find_rr_gaps(rr_s, rr_time_s)
        if gaps.split:
            if gaps.longest is None:
                return np.zeros(0), np.zeros(0)
            a, b = gaps.longest
            rr_s, rr_time_s = rr_s[a:b], stretch_times(rr_s, rr_time_s, gaps.longest)
    rr, t = _beat_times_ms(rr_s, rr_time_s)
    if rr.size < 4:
        return np.zeros(0), np.zeros(0)
    if convention == "neurokit":
        return _neurokit_psd(rr, t)
    fs = _KUBIOS_FS
    z = rr
    if detrend_lambda is not None:
        z = rr - _smoothness_priors_trend(rr, float(detrend_lambda)) + rr.mean()
    x_new = t[0] + np.arange(int(math.floor((t[-1] - t[0]) * fs)) + 1) / fs
    y = CubicSpline(t, z, bc_type="not-a-knot")(x_new)
    y = y - np.mean(y)
    n = y.size
    nperseg = min(n, int(round(_KUBIOS_WINDOW_S * fs)))
    nfft = max(nperseg, int(round(_KUBIOS_POINTS_PER_HZ * fs)))
    p = _welch_density(y, fs, nperseg, nperseg // 2, nfft)
    return np.fft.rfftfreq(nfft, 1 / fs), p


def _band(freqs, psd, lo, hi):
    m = (freqs >= lo) & (freqs < hi)
    power = float(np.trapezoid(psd[m], freqs[m])) if m.sum() > 1 else 0.0
    pos = m & (freqs > 0)
    peak = float(freqs[pos][np.argmax(psd[pos])]) if pos.any() else math.nan
    return (math.nan if power == 0.0 else power), peak


def _ln(v: float) -> float:
    return math.log(v) if v > 0 else math.nan


def hrv_frequency(
    rr_s, *, convention: str = "kubios", detrend_lambda: float | None = 500.0, rr_time_s=None
) -> dict[str, float]:
    """Frequency-domain HRV indices (keys :data:`HRV_FREQUENCY_NAMES`).

    Parameters
    ----------
    rr_s : array, shape (n_rr,)
        RR intervals in seconds (``NaN`` = missing).
    convention : {"kubios", "neurokit"}
        ``"kubios"``: powers in ms² (4 Hz cubic spline, 150-s Welch), normalized units
        ``100·LF/(LF+HF)``. ``"neurokit"``: NeuroKit2 0.2.13 ``hrv_frequency`` exactly
        (max-normalized powers; ``hrv_lf_nu`` = ``HRV_LFn`` = LF/TP as a fraction).
    detrend_lambda : float | None
        Smoothness-priors λ for ``"kubios"`` (``None`` disables detrending).
    rr_time_s : array, shape (n_rr,) | None
        Beat times in s (NeuroKit2's ``RRI_Time``); ``None`` = cumulative sum of the intervals.

    Returns
    -------
    out : dict of str -> float
        ``NaN`` for a band with no power (too short a series) or fewer than 4 intervals.
    """
    check_option("convention", convention, ("kubios", "neurokit"))
    out = dict.fromkeys(HRV_FREQUENCY_NAMES, math.nan)
    freqs, psd = hrv_psd(
        rr_s, convention=convention, detrend_lambda=detrend_lambda, rr_time_s=rr_time_s
    )
    if freqs.size == 0:
        return out
    if convention == "neurokit":
        res = {k: _band(freqs, psd, lo, hi) for k, (lo, hi) in _NK_BANDS.items()}
        tp = float(np.nansum([v[0] for v in res.values()]))
        vlf, lf, hf = res["vlf"][0], res["lf"][0], res["hf"][0]
        out["hrv_lf_nu"] = lf / tp
        out["hrv_hf_nu"] = hf / tp
        out["hrv_ln_hf"] = math.log(hf) if not math.isnan(hf) else math.nan
    else:
        res = {k: _band(freqs, psd, lo, hi) for k, (lo, hi) in _KUBIOS_BANDS.items()}
        vlf, lf, hf = res["vlf"][0], res["lf"][0], res["hf"][0]
        tp = float(np.nansum([vlf, lf, hf]))
        out["hrv_lf_nu"] = 100.0 * lf / (lf + hf)
        out["hrv_hf_nu"] = 100.0 * hf / (lf + hf)
        out["hrv_ln_hf"] = _ln(hf)
    out["hrv_vlf_ms2"], out["hrv_lf_ms2"], out["hrv_hf_ms2"] = vlf, lf, hf
    out["hrv_tp_ms2"] = tp if tp > 0 else math.nan
    out["hrv_lfhf"] = lf / hf
    out["hrv_ln_lf"] = _ln(lf)
    for k, v in (("vlf", vlf), ("lf", lf), ("hf", hf)):
        out[f"hrv_{k}_rel_pct"] = 100.0 * v / tp if tp > 0 else math.nan
        out[f"hrv_{k}_peak_hz"] = res[k][1]
    return out
