"""The low-frequency bins of a long-FFT Welch spectrum, with a proof that they hold its maximum.

NeuroKit2's HRV spectrum (:mod:`addictidx.features.hrv_frequency`, ``convention="neurokit"``)
interpolates the RR series at 100 Hz and runs Welch with ~30,000-point FFTs, keeps only the
bins up to 0.5 Hz, but divides them by the spectrum's maximum over **all** bins (0-50 Hz). The
FFT length follows the recording (``2 * int(n / 2)``), so it often has a large prime factor
(29,886 = 2·3·17·293 for the benchmark's 5 minutes), for which pocketfft is 3-4x slower than
for a smooth length. This module computes instead:

1. the DFT of each (tapered, zero-padded) segment at bins ``-K..K`` only, ``K`` covering
   1 Hz, by Bluestein's chirp-z algorithm with FFTs of a smooth length
   ``M >= n_per_seg + 2K``; two real segments ride in one complex transform
   (``|G0_k|² + |G1_k|² = (|Z_k|² + |Z_-k|²) / 2``). The chirp ``exp(-iπ m²/n_fft)`` takes
   its phase ``m² mod 2 n_fft`` in exact integers, so its error does not grow with ``m²``;
2. a bound on every other bin: for the circular sequence ``g`` (the segment zero-padded to
   ``n_fft``), ``DFT(Δ²g)_k = (1 - ω^k)² G_k``, so ``|G_k| <= Σ|Δ²g| / (4 sin²(πk/n_fft))``,
   decreasing in ``k`` up to Nyquist. When the bound on bins ``> K`` is below half the largest
   computed bin, the maximum is among the computed bins (on 5 min of real RR the bound is
   ~5e-4 of the maximum); otherwise the caller computes the whole spectrum.

The values equal the full FFT's to ~1e-15 relative on the bins NeuroKit2 keeps (a few 1e-13
on the weakest bins near 1 Hz). Plans (chirps and the FFT of the chirp filter) are cached per
``(n_per_seg, n_fft, K)``; a new length costs one extra FFT.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .welch_plan import PlanCache

__all__ = ["ZOOM_MAX_HZ", "welch_low_bins"]

#: Bins computed: up to this frequency (Hz) or the highest bin asked for, whichever is higher.
ZOOM_MAX_HZ = 1.0
#: Segments longer than this (samples) take the full FFT (plans would weigh > 100 MB).
_MAX_SEGMENT = 1 << 21
#: Below this FFT length the full FFT is cheap: no zoom.
_MIN_NFFT = 4096

_ZOOM_PLANS = PlanCache(maxsize=8)


@dataclass(frozen=True, eq=False)
class _ZoomPlan:
    n_per_seg: int
    n_fft: int
    n_half: int  # K: bins -K..K are computed
    m: int  # FFT length of the convolution
    chirp_in: np.ndarray  # (n_per_seg,) exp(-iπ n²/n_fft)
    filt: np.ndarray  # (m,) FFT of the conjugate chirp over -K-n_per_seg+1..K
    chirp_out: np.ndarray  # (2K+1,) exp(-iπ k²/n_fft), k = -K..K


def _chirp(m: np.ndarray, n_fft: int) -> np.ndarray:
    """``exp(-iπ m²/n_fft)`` with the phase reduced exactly (``m² mod 2 n_fft`` in integers) and
    evaluated as a product of two table entries (coarse and fine steps of ``π/n_fft``)."""
    period = 2 * n_fft
    j = (m.astype(np.int64) ** 2) % period
    step = math.isqrt(period) + 1
    coarse = np.exp((-1j * np.pi / n_fft) * (np.arange(period // step + 1) * step))
    fine = np.exp((-1j * np.pi / n_fft) * np.arange(step))
    return coarse[j // step] * fine[j % step]


def _build(n_per_seg: int, n_fft: int, k: int) -> _ZoomPlan:
    from scipy import fft as sp_fft  # lazy

    m = sp_fft.next_fast_len(n_per_seg + 2 * k)
    c = _chirp(np.arange(n_per_seg + k), n_fft)  # c[|j|]: the chirp is even in j
    filt = np.zeros(m, dtype=np.complex128)
    # conj(c_j) for j = -(K + n_per_seg - 1) .. K
    filt[: n_per_seg + 2 * k] = np.conj(np.concatenate((c[:0:-1], c[: k + 1])))
    filt = sp_fft.fft(filt, overwrite_x=True)
    chirp_out = np.concatenate((c[k:0:-1], c[: k + 1]))
    for a in (filt, chirp_out):
        a.setflags(write=False)
    chirp_in = c[:n_per_seg].copy()
    chirp_in.setflags(write=False)
    return _ZoomPlan(n_per_seg, n_fft, k, m, chirp_in, filt, chirp_out)


def welch_low_bins(
    x: np.ndarray, fs: float, win: np.ndarray, noverlap: int, n_fft: int, n_bins: int
) -> np.ndarray | None:
    """Welch density (Hann-type taper ``win``, no detrend, mean) at bins ``0..K``, or ``None``.

    Parameters
    ----------
    x : ndarray, shape (n,)
        The series.
    fs : float
        Sampling frequency in Hz.
    win : ndarray, shape (n_per_seg,)
        The taper; it must start at 0 (periodic Hann) for the bound to hold as computed.
    noverlap : int
        Overlap of the segments.
    n_fft : int
        FFT length (>= n_per_seg + 2: zero padding).
    n_bins : int
        The caller needs bins ``0..n_bins-1`` at least.

    Returns
    -------
    p : ndarray, shape (K + 1,) | None
        Equal (to rounding) to the first ``K + 1`` values of the full Welch density, with
        ``K + 1 >= n_bins``, and its maximum is the full spectrum's maximum. ``None`` when the
        zoom does not apply (short FFT, long segment, too many bins, or the bound on the
        other bins is not conclusive): compute the full spectrum then.
    """
    nperseg = win.size
    k = max(n_bins, int(math.ceil(ZOOM_MAX_HZ * n_fft / fs)))
    if n_fft < _MIN_NFFT or nperseg > _MAX_SEGMENT or n_fft < nperseg + 2 or 4 * k > n_fft:
        return None
    if win[0] != 0.0:
        return None
    from scipy import fft as sp_fft  # lazy

    plan = _ZOOM_PLANS.get((nperseg, n_fft, k), lambda: _build(nperseg, n_fft, k))
    starts = np.arange(0, x.size - nperseg + 1, nperseg - noverlap)
    segs = [x[s : s + nperseg] * win for s in starts]
    # Σ|Δ²g| of each zero-padded segment, circularly (zeros on both sides: n_fft >= n + 2)
    b2 = 0.0
    pad = np.zeros(nperseg + 4)
    for g in segs:
        pad[2:-2] = g
        b2 += float(np.add.reduce(np.abs(np.diff(pad, 2)))) ** 2
    s_sum = np.zeros(k + 1)
    lo = nperseg - 1
    for i in range(0, len(segs), 2):
        z = segs[i] + 1j * segs[i + 1] if i + 1 < len(segs) else segs[i].astype(np.complex128)
        z *= plan.chirp_in
        a = sp_fft.fft(z, n=plan.m, overwrite_x=True)
        a *= plan.filt
        y = sp_fft.ifft(a, overwrite_x=True)
        zk = y[lo : lo + 2 * k + 1] * plan.chirp_out  # Z_k for k = -K..K
        z2 = zk.real**2 + zk.imag**2
        s_sum += (z2[k:] + z2[k::-1]) / 2.0  # |G0_k|² + |G1_k|² for k = 0..K
    n_seg = starts.size
    scale = 1.0 / (fs * float(np.sum(win * win)))
    p = s_sum * scale
    p[1:] *= 2.0  # K < n_fft / 2: no Nyquist bin here
    p /= n_seg
    sin2 = math.sin(math.pi * (k + 1) / n_fft) ** 2
    bound = 2.0 * scale * b2 / (16.0 * sin2 * sin2) / n_seg  # any bin > K
    if not bound < 0.5 * float(np.max(p)):
        return None
    return p
