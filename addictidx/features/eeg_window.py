"""The one-window (live) kernel of :func:`~addictidx.features.compute_eeg_features`.

A live session asks for the features of one 4-s window at a time. On 4 channels the batch
machinery (segment loop, window sums, feature blocks) costs far more in numpy call overhead
than its FFTs do, so a single window takes this shorter route, built once per parameter set:

1. the window's Welch segments are a reshape (or strided view) of the samples, no copy;
2. "constant" detrend and taper exactly as the batch path (and MNE) compute them, then one
   ``rfft`` of every segment of every channel;
3. ``|X|²`` of the bins the features use is written contiguously and summed over the window's
   segments, so that **one** small matrix product with the band weights (density scaling and
   ``1/n_seg`` folded in) gives, per channel, the window's absolute band powers, the numerators
   and denominators of the relative powers and ratios, and the PSD bins of the IAF range,
   already in the order of the feature names;
4. one division, one ``argmax`` and two logarithms finish the features.

A row of ones rides along in the product (a constant column next to the summed squared
spectra), so the absolute powers come out of the same division as the ratios. Results equal
the batch path to rounding (the band weights are applied after the sum over the window's
segments instead of before it, as MNE's PSD then trapezoid do) and MNE to 1e-12. Windows
holding a non-finite sample, or any non-finite result, return ``None``: the caller then runs
the batch path, which marks gaps.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass

import numpy as np

from .welch_plan import WelchPlan

__all__ = ["OneWindowPlan", "one_window_plan", "one_window_features"]


@dataclass(frozen=True, eq=False)
class OneWindowPlan:
    """What :func:`one_window_features` needs, built by :func:`one_window_plan`.

    Attributes
    ----------
    n_channels, n_seg, n_per_seg, n_fft, seg_hop, first : int
        Geometry: ``n_seg`` segments of ``n_per_seg`` samples, ``seg_hop`` apart, the first at
        sample ``first``.
    taper : ndarray, shape (n_per_seg,)
        The periodic taper.
    bins : (int, int)
        Range of FFT bins the weights read.
    weights_t : ndarray, shape (n_rows, 2 * (bins[1] - bins[0]) + 1)
        Transposed map from one channel's squared real and imaginary parts summed over the
        segments (then the constant 1) to the output rows: numerators, denominators, IAF bins.
    n_ratio : int
        Rows of numerators (= rows of denominators): the absolute powers (over 1) first, then
        relative powers and ratios, in feature-name order.
    iaf_freqs : ndarray, shape (n_iaf,)
        Frequencies of the IAF rows.
    faa : (int, int) | None
        Channel rows of (AF7, AF8), when both exist.
    alpha_row : int
        Row of the absolute alpha power.
    n_features : int
        Number of features.
    n_per_seg_f : float
        ``n_per_seg`` as a float: the divisor of the segment means (as ``np.mean`` divides).
    """

    n_channels: int
    n_seg: int
    n_per_seg: int
    n_fft: int
    seg_hop: int
    first: int
    taper: np.ndarray
    bins: tuple[int, int]
    weights_t: np.ndarray
    n_ratio: int
    iaf_freqs: np.ndarray
    faa: tuple[int, int] | None
    alpha_row: int
    n_features: int
    n_per_seg_f: float


def one_window_plan(
    plan: WelchPlan,
    weights: np.ndarray,
    bins: tuple[int, int],
    *,
    abs_cols: list[int],
    num_cols: list[int],
    den_cols: list[int],
    iaf_cols: list[int],
    iaf_freqs: np.ndarray,
    faa: tuple[int, int] | None,
    alpha_row: int,
    n_features: int,
) -> OneWindowPlan | None:
    """Build the kernel of a single-window plan, or ``None`` when it does not apply.

    Parameters
    ----------
    plan : WelchPlan
        The Welch plan (applies when it has exactly one window whose segments cover it).
    weights : ndarray, shape (2 * (bins[1] - bins[0]), n_cols)
        The batch path's band map (rows for Re² and Im² of each bin, scaling folded in).
    bins : (int, int)
        Bin range of ``weights``.
    abs_cols, num_cols, den_cols, iaf_cols : list of int
        Columns of ``weights`` giving the absolute powers, the ratio numerators and
        denominators (same length), and the PSD bins of the IAF range, in feature order.
    iaf_freqs : ndarray
        Frequencies of ``iaf_cols``.
    faa : (int, int) | None
        Channel rows of (AF7, AF8).
    alpha_row : int
        Index in ``abs_cols`` of the absolute alpha power (for the FAA).
    n_features : int
        Number of features per window.

    Returns
    -------
    kernel : OneWindowPlan | None
    """
    if plan.n_windows != 1 or plan.n_window != (plan.n_seg - 1) * plan.seg_hop + plan.n_per_seg:
        return None  # several windows, or samples outside the segments (gap check needed)
    n_seg = plan.n_seg
    n_in = weights.shape[0]
    n_ratio = len(abs_cols) + len(num_cols)
    n_rows = 2 * n_ratio + len(iaf_cols)
    m = np.zeros((n_in + 1, n_rows), dtype=np.float64)
    m[:-1, :n_ratio] = weights[:, list(abs_cols) + list(num_cols)]
    m[-1, n_ratio : n_ratio + len(abs_cols)] = 1.0  # absolute powers: divided by 1
    m[:-1, n_ratio + len(abs_cols) : 2 * n_ratio] = weights[:, den_cols]
    m[:-1, 2 * n_ratio :] = weights[:, iaf_cols]
    weights_t = np.ascontiguousarray(m.T)
    weights_t.setflags(write=False)
    return OneWindowPlan(
        n_channels=plan.n_channels,
        n_seg=n_seg,
        n_per_seg=plan.n_per_seg,
        n_fft=plan.n_fft,
        seg_hop=plan.seg_hop,
        first=int(plan.starts[0]),
        taper=plan.taper,
        bins=(int(bins[0]), int(bins[1])),
        weights_t=weights_t,
        n_ratio=n_ratio,
        iaf_freqs=iaf_freqs,
        faa=faa,
        alpha_row=int(alpha_row),
        n_features=n_features,
        n_per_seg_f=float(plan.n_per_seg),
    )


class _Workspace:
    """Per-thread arrays (and views of them) for one :class:`OneWindowPlan`."""

    def __init__(self, k: OneWindowPlan) -> None:
        n_ch, n_seg, nps = k.n_channels, k.n_seg, k.n_per_seg
        n_f = k.n_fft // 2 + 1
        b0, b1 = k.bins
        n_in = 2 * (b1 - b0)
        self.buf = np.empty((n_ch, n_seg, nps))
        self.mean = np.empty((n_ch, n_seg))
        self.mean3 = self.mean[:, :, np.newaxis]
        self.spec = np.empty((n_ch, n_seg, n_f), dtype=np.complex128)
        self.sq_in = self.spec.view(np.float64)[:, :, 2 * b0 : 2 * b1]
        self.sq = np.empty((n_ch, n_seg, n_in))
        self.sums = np.empty((n_ch, n_in + 1))
        self.sums[:, -1] = 1.0  # the constant column
        self.sums_in = self.sums[:, :-1]
        self.sums_t = self.sums.T
        n_rows = k.weights_t.shape[0]
        self.rows = np.empty((n_rows, n_ch))
        flat = self.rows.reshape(-1)
        r = k.n_ratio * n_ch
        self.num, self.den = flat[:r], flat[r : 2 * r]
        self.iaf = self.rows[2 * k.n_ratio :]
        self.argmax = np.empty(n_ch, dtype=np.intp)


_LOCAL = threading.local()


def _workspace(k: OneWindowPlan) -> _Workspace:
    spaces = getattr(_LOCAL, "spaces", None)
    if spaces is None:
        spaces = _LOCAL.spaces = {}
    ws = spaces.get(k)
    if ws is None:
        if len(spaces) >= 8:
            spaces.clear()
        ws = spaces[k] = _Workspace(k)
    return ws


def one_window_features(x: np.ndarray, k: OneWindowPlan) -> np.ndarray | None:
    """The feature row of the single window of ``x``, or ``None`` if anything is not finite.

    Parameters
    ----------
    x : ndarray, shape (n_channels, n_times)
        C-contiguous float64 samples (the plan's shape).
    k : OneWindowPlan
        From :func:`one_window_plan`.

    Returns
    -------
    values : ndarray, shape (1, n_features) | None
        A new array; ``None`` when a sample or a band sum is not finite (the caller falls back
        to the batch path, which marks gaps).
    """
    ws = _workspace(k)
    nps, n_seg = k.n_per_seg, k.n_seg
    a = k.first
    if k.seg_hop == nps:
        segs = x[:, a : a + n_seg * nps].reshape(k.n_channels, n_seg, nps)
    else:
        segs = np.ndarray(
            (k.n_channels, n_seg, nps),
            dtype=np.float64,
            buffer=x,
            offset=a * x.itemsize,
            strides=(x.strides[0], k.seg_hop * x.itemsize, x.itemsize),
        )
    # "constant" detrend (the mean exactly as np.mean computes it), taper, FFT: as the batch
    mean = ws.mean
    np.add.reduce(segs, axis=2, out=mean)
    np.divide(mean, k.n_per_seg_f, out=mean)
    np.subtract(segs, ws.mean3, out=ws.buf)
    np.multiply(ws.buf, k.taper, out=ws.buf)
    np.fft.rfft(ws.buf, n=k.n_fft, axis=2, out=ws.spec)
    np.multiply(ws.sq_in, ws.sq_in, out=ws.sq)
    np.add.reduce(ws.sq, axis=1, out=ws.sums_in)  # over the segments, in order (as the batch)
    rows = ws.rows
    np.matmul(k.weights_t, ws.sums_t, out=rows)
    if not math.isfinite(np.add.reduce(rows, axis=None)):
        return None
    n_ch = k.n_channels
    values = np.empty((1, k.n_features))
    v = values[0]
    r = k.n_ratio * n_ch
    np.divide(ws.num, ws.den, out=v[:r])
    ws.iaf.argmax(axis=0, out=ws.argmax)  # the methods: less overhead than np.argmax/np.take
    k.iaf_freqs.take(ws.argmax, out=v[r : r + n_ch])
    if k.faa is not None:
        left, right = rows[k.alpha_row, k.faa[0]], rows[k.alpha_row, k.faa[1]]
        if left > 0.0 and right > 0.0:
            v[-1] = math.log(right) - math.log(left)
        else:  # zero power: the batch path's -inf/NaN (and its warning)
            lr = np.log(np.array([left, right]))
            v[-1] = lr[1] - lr[0]
    return values
