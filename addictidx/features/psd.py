"""Sliding-window Welch power spectra, equal to MNE's ``psd_array_welch`` window by window.

The real-time path computes band powers every hop (e.g. a 4-s window every 0.25 s). Running
``mne.time_frequency.psd_array_welch`` once per window recomputes every Welch segment's FFT many
times, because consecutive windows share most of their segments. :func:`compute_psd` instead
collects the *start sample of every Welch segment of every window*, transforms each distinct
segment once, and sums the segment periodograms of each window with a short loop over the
segments **of one window** (never over windows). When the window starts are multiples of the
segment hop, the segments of consecutive windows coincide and each is transformed once
("shared-segment" scheme); otherwise the segments are all distinct and the same code is the
strided, vectorized per-window path.

The plan of a computation (taper, window and segment starts, scalings) is cached by data shape
and parameters, and the segment loop works in per-thread workspaces
(:mod:`addictidx.features.welch_plan`). Only numpy is imported.
"""

from __future__ import annotations

import numpy as np

from .welch_plan import (
    as_channels,
    blank_gaps,
    get_taper,
    segment_spectra,
    welch_plan,
    window_starts,
    window_sums,
)

__all__ = ["compute_psd", "window_starts", "get_taper"]


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
    the only loops are over FFT batches of up to 64 segments and over the segments of one
    window. Plans are cached by data shape and parameters, so repeated calls on same-shaped
    data (the live case) skip all set-up.
    """
    x = as_channels(data)
    plan = welch_plan(
        x.shape[0],
        x.shape[1],
        sfreq,
        window_s=window_s,
        step_s=step_s,
        n_fft=n_fft,
        n_per_seg=n_per_seg,
        n_overlap=n_overlap,
        taper=taper,
    )
    freqs = plan.freqs.copy()
    if plan.n_windows == 0:
        return freqs, np.zeros((0, x.shape[0], freqs.size))
    x, bad = blank_gaps(x, plan)
    one = plan.n_seg == 1 and plan.regular and plan.n_segments == plan.n_windows
    if one and plan.win_first == 0 and plan.win_step == 1:
        # one segment per window, window k = segment k: written straight into the result
        psd = np.empty((plan.n_windows, x.shape[0], freqs.size))
        segment_spectra(x, plan, out=psd)
    else:
        psd = window_sums(segment_spectra(x, plan), plan)
    np.multiply(psd, plan.bin_factor, out=psd)
    if bad is not None:
        psd[bad] = np.nan
    return freqs, psd
