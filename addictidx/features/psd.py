"""Sliding-window Welch power spectra, equal to MNE's ``psd_array_welch`` window by window.

The real-time path computes band powers every hop (e.g. a 4-s window every 0.25 s). Running
``mne.time_frequency.psd_array_welch`` once per window recomputes every Welch segment's FFT many
times, because consecutive windows share most of their segments. :func:`compute_psd` instead
collects the *start sample of every Welch segment of every window*, transforms each distinct
segment once, and averages the segment periodograms of each window with a short loop over the
segments **of one window** (never over windows). When the window starts are multiples of the
segment hop, the segments of consecutive windows coincide and each is transformed once
("shared-segment" scheme); otherwise the segments are all distinct and the same code is the
strided, vectorized per-window path.

Only numpy is imported at module import time; ``scipy.fft`` is imported inside the function.
"""

from __future__ import annotations

import math

import numpy as np

from .._core.validate import check_positive, check_sfreq

__all__ = ["compute_psd", "window_starts", "get_taper"]

#: Tapers computed here with numpy, bit-identical to ``scipy.signal.get_window(name, n)``
#: (periodic, "DFT-even"); any other name is handed to ``scipy.signal.get_window``.
_COSINE_TAPERS = {
    "hamming": (0.54, 1.0 - 0.54),  # SciPy computes 1 - alpha (0.45999999999999996)
    "hann": (0.5, 0.5),
    "hanning": (0.5, 0.5),
    "boxcar": (1.0,),
    "rectangular": (1.0,),
    "rect": (1.0,),
    "ones": (1.0,),
}

# Segments per FFT batch: keeps the temporaries (chunk * n_channels * n_fft * 8 B) cache-sized.
_SEGMENT_CHUNK = 512


def get_taper(taper: str, n: int) -> np.ndarray:
    """Return the periodic taper ``scipy.signal.get_window(taper, n)`` as float64.

    Parameters
    ----------
    taper : str
        Window name. ``"hamming"``, ``"hann"`` and ``"boxcar"`` are computed with numpy using
        SciPy's exact formula (so ``scipy.signal`` is not imported); other names go to
        ``scipy.signal.get_window``.
    n : int
        Number of samples.

    Returns
    -------
    w : ndarray, shape (n,)
        The taper.
    """
    if not isinstance(taper, str):
        raise TypeError(f"'taper' must be a window name (str), got {type(taper).__name__}.")
    coefs = _COSINE_TAPERS.get(taper.lower())
    if coefs is None:
        from scipy.signal import get_window  # lazy: scipy.signal costs ~1 s to import

        return np.asarray(get_window(taper, n), dtype=np.float64)
    if n == 1:
        return np.ones(1)
    # SciPy's general_cosine with sym=False: extend by one sample, then drop the last.
    fac = np.linspace(-np.pi, np.pi, n + 1, dtype=np.float64)
    w = np.zeros(n + 1, dtype=np.float64)
    for k, a in enumerate(coefs):
        w += a * np.cos(k * fac)
    return w[:-1]


def window_starts(
    n_times: int, sfreq: float, window_s: float, step_s: float
) -> tuple[np.ndarray, int]:
    """Start samples of the analysis windows that fit in ``n_times`` samples.

    Window ``k`` starts at ``round(k * step_s * sfreq)`` and spans ``round(window_s * sfreq)``
    samples; only windows that end inside the data are returned.

    Parameters
    ----------
    n_times : int
        Number of samples available.
    sfreq : float
        Sampling frequency in Hz.
    window_s, step_s : float
        Window length and hop in seconds.

    Returns
    -------
    starts : ndarray of int64, shape (n_windows,)
        First sample of each window.
    n_window : int
        Window length in samples.
    """
    n_window = int(round(window_s * sfreq))
    if n_window < 1:
        raise ValueError(f"window_s={window_s} s is shorter than one sample at sfreq={sfreq} Hz.")
    step = step_s * sfreq
    if step < 0.5:
        raise ValueError(
            f"step_s={step_s} s is shorter than half a sample at sfreq={sfreq} Hz; windows would repeat."
        )
    if n_times < n_window:
        return np.zeros(0, dtype=np.int64), n_window
    # Upper bound on k, then trim exactly with the same rounding rule as the contract.
    k_max = int(math.floor((n_times - n_window) / step)) + 2
    k = np.arange(k_max + 1, dtype=np.float64)
    starts = np.round(k * step_s * sfreq).astype(np.int64)
    starts = starts[starts + n_window <= n_times]
    return starts, n_window


def compute_psd(
    data,
    sfreq: float,
    *,
    window_s: float,
    step_s: float,
    n_fft: int,
    n_per_seg: int | None = None,
    n_overlap: int = 0,
    taper: str = "hamming",
) -> tuple[np.ndarray, np.ndarray]:
    """Welch power spectral density of every sliding window, equal to MNE window by window.

    For every window the result equals::

        mne.time_frequency.psd_array_welch(window, sfreq, fmin=0, fmax=np.inf, n_fft=n_fft,
            n_per_seg=n_per_seg, n_overlap=n_overlap, window=taper, average="mean",
            remove_dc=True)

    (verified to ~1e-15 relative in ``tests/test_psd.py``): segments of ``n_per_seg`` samples at
    a hop of ``n_per_seg - n_overlap``, each mean-removed ("constant" detrend per segment),
    tapered, zero-padded to ``n_fft``, one-sided density scaling ``2 |X|^2 / (sfreq * sum(w^2))``
    (DC and Nyquist not doubled), then the mean over the segments of the window.

    Parameters
    ----------
    data : array, shape (n_channels, n_times) or (n_times,)
        Signal, e.g. EEG in µV (the PSD is then in µV²/Hz). ``NaN`` marks missing samples.
    sfreq : float
        Sampling frequency in Hz.
    window_s : float
        Window length in seconds; a window spans ``round(window_s * sfreq)`` samples.
    step_s : float
        Hop between windows in seconds; window ``k`` starts at sample
        ``round(k * step_s * sfreq)``. Only windows that end inside ``data`` are returned.
    n_fft : int
        FFT length (``>= n_per_seg``; segments are zero-padded to it).
    n_per_seg : int | None
        Welch segment length in samples. ``None`` means ``n_fft``. As in MNE, a value larger
        than ``n_fft`` is reduced to ``n_fft`` and a value larger than the window to the window
        length.
    n_overlap : int
        Overlap of consecutive Welch segments in samples (``< n_per_seg``); 0 as in MNE.
    taper : str
        Taper name as understood by ``scipy.signal.get_window`` (periodic); ``"hamming"`` as
        in MNE.

    Returns
    -------
    freqs : ndarray, shape (n_freqs,)
        ``arange(n_fft // 2 + 1) * sfreq / n_fft`` in Hz.
    psd : ndarray, shape (n_windows, n_channels, n_freqs)
        Power spectral density per window and channel (for 1-D input, ``n_channels == 1``).

    Notes
    -----
    **Gaps.** A window in which a channel holds any non-finite sample (``NaN`` gap fill or
    ``inf``) gets an all-``NaN`` row for that channel: gaps are marked, not hidden. This is
    stricter than MNE, which for NaN spans aligned across channels averages over the good
    spans (annotation style), and otherwise also returns NaN for the affected channel.

    **Speed.** Each distinct Welch segment is transformed once. With the window hop a multiple
    of the segment hop (e.g. 0.25-s hop, 1-s segments without overlap at 256 Hz) a window costs
    one new FFT per channel instead of ``n_segments``. There is no Python loop over windows:
    the only loops are over FFT batches of up to 512 segments and over the segments of one
    window.
    """
    freqs, periodo, plan = _segment_periodograms(
        data,
        sfreq,
        window_s=window_s,
        step_s=step_s,
        n_fft=n_fft,
        n_per_seg=n_per_seg,
        n_overlap=n_overlap,
        taper=taper,
    )
    if plan is None:
        return freqs, periodo
    return freqs, _window_mean(periodo, plan)


def _segment_periodograms(data, sfreq, *, window_s, step_s, n_fft, n_per_seg, n_overlap, taper):
    """Scaled one-sided periodogram of every distinct Welch segment, and the window plan.

    Returns ``(freqs, periodo, plan)``: ``periodo`` is ``(n_ch, n_uniq, n_freqs)`` and ``plan``
    holds what :func:`_window_mean` needs (``None`` and an empty PSD when no window fits).
    Shared by :func:`compute_psd` and the fused feature path
    (:func:`~addictidx.features.compute_eeg_features`), which applies linear maps (band
    weights) to ``periodo`` before averaging.
    """
    from scipy import fft as sp_fft  # lazy: keep `import addictidx.features` numpy-only

    sfreq = check_sfreq(sfreq)
    check_positive("window_s", window_s)
    check_positive("step_s", step_s)
    x = np.asarray(data, dtype=np.float64)
    if x.ndim == 1:
        x = x[np.newaxis, :]
    if x.ndim != 2 or x.shape[0] == 0:
        raise ValueError(
            f"data must be shaped (n_channels, n_times) or (n_times,), got shape {np.shape(data)}."
        )
    n_fft = _as_int("n_fft", n_fft)
    n_overlap = _as_int("n_overlap", n_overlap, allow_zero=True)
    if n_per_seg is not None:
        n_per_seg = _as_int("n_per_seg", n_per_seg)

    n_ch, n_times = x.shape
    starts, n_win = window_starts(n_times, sfreq, window_s, step_s)
    # MNE's _check_nfft rules, applied to one window of n_win samples.
    if n_per_seg is None and n_fft > n_win:
        raise ValueError(
            f"n_fft={n_fft} is longer than the window ({n_win} samples = window_s * sfreq); "
            "pass n_per_seg (<= window) to zero-pad."
        )
    nps = n_fft if n_per_seg is None or n_per_seg > n_fft else n_per_seg
    nps = min(nps, n_win)
    if n_overlap >= nps:
        raise ValueError(
            f"n_overlap={n_overlap} must be smaller than the segment length n_per_seg={nps}."
        )
    hop = max(nps - n_overlap, 1)
    n_seg = 1 + (n_win - nps) // hop  # Welch segments per window

    freqs = np.arange(n_fft // 2 + 1, dtype=np.float64) * (sfreq / n_fft)
    n_freqs = freqs.size
    n_w = starts.size
    if n_w == 0:
        return freqs, np.zeros((0, n_ch, n_freqs)), None

    taper_w = get_taper(taper, nps)
    scale = 1.0 / (sfreq * np.sum(taper_w * taper_w))

    # Start of every segment of every window, deduplicated: windows aligned on the segment hop
    # share segments, which are then transformed only once.
    seg_starts = starts[:, np.newaxis] + hop * np.arange(n_seg, dtype=np.int64)
    uniq, inverse = np.unique(seg_starts, return_inverse=True)
    inverse = inverse.reshape(n_w, n_seg)

    # Non-finite samples: a prefix count per channel marks windows to blank (vectorized).
    bad = ~np.isfinite(x)
    any_bad = bool(bad.any())
    if any_bad:
        x = np.where(bad, 0.0, x)  # keep NaN out of the FFTs; those rows are set to NaN below

    seg_view = np.lib.stride_tricks.sliding_window_view(
        x, nps, axis=1
    )  # (n_ch, n_times-nps+1, nps)
    # Periodogram of every distinct segment, channel-major: (n_ch, n_uniq, n_freqs).
    periodo = np.empty((n_ch, uniq.size, n_freqs), dtype=np.float64)
    tmp = np.empty((n_ch, min(_SEGMENT_CHUNK, uniq.size), n_freqs), dtype=np.float64)
    for c0 in range(0, uniq.size, _SEGMENT_CHUNK):  # loop over FFT batches (cache-sized)
        idx = uniq[c0 : c0 + _SEGMENT_CHUNK]
        seg = seg_view[:, idx, :]  # fancy index -> a fresh copy we may modify in place
        seg -= seg.mean(axis=-1, keepdims=True)  # "constant" detrend per segment
        seg *= taper_w
        spec = sp_fft.rfft(seg, n=n_fft, axis=-1)
        out = periodo[:, c0 : c0 + idx.size]
        t = tmp[:, : idx.size]
        np.multiply(spec.real, spec.real, out=out)
        np.multiply(spec.imag, spec.imag, out=t)
        out += t
    periodo *= scale
    if n_fft % 2:
        periodo[..., 1:] *= 2.0
    else:
        periodo[..., 1:-1] *= 2.0
    n_bad = None
    if any_bad:
        csum = np.zeros((n_ch, n_times + 1), dtype=np.int64)
        np.cumsum(bad, axis=1, out=csum[:, 1:])
        n_bad = csum[:, starts + n_win] - csum[:, starts]  # (n_ch, n_windows)
    plan = {"inverse": inverse, "n_seg": n_seg, "n_w": n_w, "n_bad": n_bad}
    return freqs, periodo, plan


def _window_mean(periodo: np.ndarray, plan: dict) -> np.ndarray:
    """Mean over each window's segments of ``periodo`` (n_ch, n_uniq, k) -> (n_w, n_ch, k)."""
    inverse, n_seg, n_w = plan["inverse"], plan["n_seg"], plan["n_w"]
    # Mean over the n_seg segments of each window: a loop over the segments of ONE window.
    # When window starts and segment starts form arithmetic progressions (the usual case) the
    # terms are strided views of `periodo`; otherwise they are gathered with np.take.
    first = inverse[:, 0]
    q = int(first[1] - first[0]) if n_w > 1 else 1
    offs = inverse[0] - inverse[0, 0]
    regular = (
        q > 0
        and np.array_equal(first, first[0] + q * np.arange(n_w))
        and np.array_equal(inverse, first[:, np.newaxis] + offs[np.newaxis, :])
    )
    acc = None
    for j in range(n_seg):
        if regular:
            a = int(first[0] + offs[j])
            term = periodo[:, a : a + q * (n_w - 1) + 1 : q]
        else:
            term = np.take(periodo, inverse[:, j], axis=1)
        if acc is None:
            acc = term.copy()
        else:
            acc += term
    acc /= n_seg
    psd = np.ascontiguousarray(acc.transpose(1, 0, 2))  # (n_windows, n_ch, k)
    if plan["n_bad"] is not None:
        psd[(plan["n_bad"] > 0).T] = np.nan
    return psd


def _as_int(name: str, value, *, allow_zero: bool = False) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name!r} must be an int, got {value!r} ({type(value).__name__}).")
    v = int(value)
    if v < 0 or (v == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name!r} must be {bound}, got {v}.")
    return v
