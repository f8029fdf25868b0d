"""The one-window (live) kernel of :func:`~addictidx.features.compute_eeg_features`.

A live session asks for the features of one 4-s window at a time. On 4 channels the batch
machinery (segment loop, window sums, feature blocks) costs far more in numpy call overhead
than its FFTs do, so a single window takes this shorter route, built once per parameter set.
Every step is one numpy call on all segments of all channels (one segment per row):

1. the window's Welch segments are a reshape of the samples (a copy of a strided view when
   they overlap or do not start at the first sample);
2. "constant" detrend (the segment means exactly as ``np.mean``, so as the batch path and
   MNE) and taper (a same-shape product with the taper repeated per segment), then one
   ``rfft``;
3. ``|X|²``, as the squares of the real and imaginary parts, in place over the spectra; the
   squares of the bins the features use are summed over the window's segments, so that
   **one** small matrix product with the band weights (density scaling and ``1/n_seg``
   folded in) gives, per channel, the window's absolute band powers, the numerators and
   denominators of the relative powers and ratios, and the PSD bins of the IAF range, already
   in the order of the feature names;
4. one ``argmax`` and two logarithms give the IAF and FAA, and one division gives the feature
   row.

A constant 1 rides along in the product (a column next to the summed squared spectra), so the
absolute powers come out of the same division as the ratios (over 1). Two more rows of the
product, read as Python floats, hold the absolute alpha powers again (for the FAA) and the sum
of all the other rows (the check that everything is finite); the IAF and FAA are then written
over them, where the division reads its last numerators (over 1). Results equal the batch path
to rounding (the band weights are applied after the sum over the window's segments instead of
before it, as MNE's PSD then trapezoid do) and MNE to 1e-12. Windows holding a non-finite
sample, or any non-finite result, return ``None``: the caller then runs the batch path, which
marks gaps.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .welch_plan import WelchPlan

try:  # numpy >= 2: the generalized ufuncs that np.fft.rfft calls
    from numpy.fft import _pocketfft_umath as _pocketfft
except ImportError:  # pragma: no cover - numpy 1.x
    _pocketfft = None

__all__ = ["OneWindowPlan", "one_window_plan", "one_window_features"]


@dataclass(frozen=True, eq=False)
class OneWindowPlan:
    """What :func:`one_window_features` needs, built by :func:`one_window_plan`.

    Attributes
    ----------
    n_channels, n_seg, n_per_seg, n_fft, seg_hop, first : int
        Geometry: ``n_seg`` segments of ``n_per_seg`` samples, ``seg_hop`` apart, the first at
        sample ``first``.
    direct : bool
        Whether the data are exactly the window's segments back to back (then the segments
        are a reshape of the samples, one per row).
    n_per_seg_f : float
        ``n_per_seg`` as a float: the divisor of the segment means (as ``np.mean`` divides).
    tapers : ndarray, shape (n_channels * n_seg, n_per_seg)
        The periodic taper, once per segment (a same-shape product costs less than a
        broadcast one).
    rfft : callable
        ``rfft(a, 1, spec)`` computes ``np.fft.rfft(a, n=n_fft, axis=-1, out=spec)`` (the
        kernel passes the 1 as a 0-d array).
    bins : (int, int)
        Range of FFT bins the weights read.
    weights_t : ndarray, shape (2 * (n_ratio + 2) + n_iaf, 2 * (bins[1] - bins[0]) + 1)
        Transposed map from one channel's squared real and imaginary parts summed over the
        segments (then the constant 1) to the output rows: ``n_ratio`` numerators, the
        absolute alpha power, the sum of all rows, ``n_ratio`` denominators, two rows of ones,
        the ``n_iaf`` IAF bins.
    n_ratio : int
        Rows of numerators (= rows of denominators): the absolute powers (over 1) first, then
        relative powers and ratios, in feature-name order.
    iaf_freqs : ndarray, shape (n_iaf,)
        Frequencies of the IAF rows.
    faa : (int, int) | None
        Channel rows of (AF7, AF8), when both exist.
    n_features : int
        Number of features.
    """

    n_channels: int
    n_seg: int
    n_per_seg: int
    n_fft: int
    seg_hop: int
    first: int
    direct: bool
    n_per_seg_f: float
    tapers: np.ndarray
    rfft: Callable[..., np.ndarray]
    bins: tuple[int, int]
    weights_t: np.ndarray
    n_ratio: int
    iaf_freqs: np.ndarray
    faa: tuple[int, int] | None
    n_features: int


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
        Number of features per window: ``n_channels`` per numerator, per IAF, and the FAA.

    Returns
    -------
    kernel : OneWindowPlan | None
    """
    if plan.n_windows != 1 or plan.n_window != (plan.n_seg - 1) * plan.seg_hop + plan.n_per_seg:
        return None  # several windows, or samples outside the segments (gap check needed)
    n_ch, n_seg, nps = plan.n_channels, plan.n_seg, plan.n_per_seg
    n_ratio = len(abs_cols) + len(num_cols)
    if n_features != (n_ratio + 1) * n_ch + (faa is not None):
        raise ValueError("n_features does not match the columns")  # a bug of the caller
    n_in = weights.shape[0]
    n_num = n_ratio + 2  # numerators, absolute alpha, total
    m = np.zeros((n_in + 1, 2 * n_num + len(iaf_cols)), dtype=np.float64)
    m[:-1, :n_ratio] = weights[:, list(abs_cols) + list(num_cols)]
    m[:-1, n_ratio] = weights[:, abs_cols[alpha_row]]
    m[-1, n_num : n_num + len(abs_cols)] = 1.0  # absolute powers: divided by 1
    m[:-1, n_num + len(abs_cols) : n_num + n_ratio] = weights[:, den_cols]
    m[-1, n_num + n_ratio : 2 * n_num] = 1.0  # under the alpha and total rows
    m[:-1, 2 * n_num :] = weights[:, iaf_cols]
    m[:, n_ratio + 1] = m.sum(axis=1)  # the total of all rows (NaN weights included)
    weights_t = np.ascontiguousarray(m.T)
    tapers = np.ascontiguousarray(np.broadcast_to(plan.taper, (n_ch * n_seg, nps)))
    for a in (weights_t, tapers):
        a.setflags(write=False)
    first = int(plan.starts[0])
    return OneWindowPlan(
        n_channels=n_ch,
        n_seg=n_seg,
        n_per_seg=nps,
        n_fft=plan.n_fft,
        seg_hop=plan.seg_hop,
        first=first,
        direct=plan.seg_hop == nps and first == 0 and plan.n_times == n_seg * nps,
        n_per_seg_f=float(nps),
        tapers=tapers,
        rfft=_rfft_ufunc(plan.n_fft, plan.n_per_seg),
        bins=(int(bins[0]), int(bins[1])),
        weights_t=weights_t,
        n_ratio=n_ratio,
        iaf_freqs=iaf_freqs,
        faa=faa,
        n_features=n_features,
    )


def _same_as_numpy(ufunc: np.ufunc, n_fft: int, n_per_seg: int) -> bool:
    """Whether ``ufunc(a, 1, out)`` gives ``np.fft.rfft(a, n=n_fft)`` bit for bit on a probe
    (the ufunc is numpy's private module: a numpy whose ufunc changed falls back to rfft)."""
    a = np.random.default_rng(0).standard_normal((3, n_per_seg))
    out = np.empty((3, n_fft // 2 + 1), dtype=np.complex128)
    try:
        ufunc(a, np.array(1.0), out)
    except (TypeError, ValueError):
        return False
    return bool(np.array_equal(out, np.fft.rfft(a, n=n_fft, axis=-1)))


def _rfft_ufunc(n_fft: int, n_per_seg: int) -> Callable[..., np.ndarray]:
    """``f(a, 1, spec)`` computing ``np.fft.rfft(a, n=n_fft, axis=-1, out=spec)``.

    numpy >= 2 computes ``rfft`` with a generalized ufunc that takes ``n_fft`` from the length
    of its output (shorter input zero-padded); its Python wrapper costs about a third of the
    16-segment transform, so the kernel calls the ufunc itself, the same computation. Older
    numpy: the wrapper.
    """
    name = "rfft_n_even" if n_fft % 2 == 0 else "rfft_n_odd"
    ufunc = getattr(_pocketfft, name, None)
    if isinstance(ufunc, np.ufunc) and _same_as_numpy(ufunc, n_fft, n_per_seg):
        return ufunc

    def rfft(a: np.ndarray, fct: int, out: np.ndarray) -> np.ndarray:
        return np.fft.rfft(a, n=n_fft, axis=-1, out=out)

    return rfft


class _Workspace:
    """Per-thread arrays (and views of them) for one :class:`OneWindowPlan`.

    ``args`` holds, in the order :func:`one_window_features` unpacks them, everything the
    kernel reads (the plan's arrays too): one attribute lookup per call instead of thirty.
    """

    def __init__(self, k: OneWindowPlan) -> None:
        n_ch, n_seg, nps = k.n_channels, k.n_seg, k.n_per_seg
        n_f = k.n_fft // 2 + 1
        b0, b1 = k.bins
        n_in = 2 * (b1 - b0)
        buf = np.empty((n_ch * n_seg, nps))  # one segment per row
        self.buf3 = buf.reshape(n_ch, n_seg, nps)
        mean = np.empty(n_ch * n_seg)
        spec = np.empty((n_ch * n_seg, n_f), dtype=np.complex128)
        spec_f = spec.view(np.float64)  # (re, im) pairs
        sums = np.empty((n_ch, n_in + 1))
        sums[:, -1] = 1.0  # the constant column
        rows = np.empty((k.weights_t.shape[0], n_ch))
        flat = rows.reshape(-1)
        n_num, nf = k.n_ratio + 2, k.n_features
        self.args = (
            buf,
            mean,
            mean[:, np.newaxis],
            _scalar(k.n_per_seg_f),  # 0-d arrays: no conversion of a Python float per call
            k.tapers,
            k.rfft,
            _ONE,  # the rfft's normalization factor
            spec,
            spec_f,
            spec_f[:, 2 * b0 : 2 * b1].reshape(n_ch, n_seg, n_in),  # squares of the bins used
            sums[:, :-1],
            k.weights_t,
            sums.T,
            rows,
            rows[k.n_ratio : n_num],  # absolute alpha, total
            rows[2 * n_num :],  # PSD bins of the IAF range
            np.empty(n_ch, dtype=np.intp),
            k.iaf_freqs,
            rows[k.n_ratio],  # where the division reads the IAF (over 1)
            k.faa,
            flat,
            nf - 1,  # where the division reads the FAA (over 1)
            flat[:nf].reshape(1, nf),  # numerators
            flat[n_num * n_ch : n_num * n_ch + nf].reshape(1, nf),  # denominators
        )


def _scalar(value: float) -> np.ndarray:
    """A read-only 0-d float64 array: as a ufunc operand, cheaper than a Python float."""
    a = np.array(value, dtype=np.float64)
    a.setflags(write=False)
    return a


_ONE = _scalar(1.0)
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


# bound once: the kernel's dozen numpy calls without their module attribute lookups (and
# with their outputs passed by position: no keyword parsing)
_add_reduce, _divide, _dot = np.add.reduce, np.divide, np.dot
_multiply, _subtract = np.multiply, np.subtract


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
    (
        buf,
        mean,
        mean2,
        n_per_seg,
        tapers,
        rfft,
        one,
        spec,
        spec_f,
        sq_in,
        sums_in,
        weights_t,
        sums_t,
        rows,
        alpha_total,
        iaf,
        argmax,
        iaf_freqs,
        iaf_at,
        faa,
        flat,
        faa_at,
        num,
        den,
    ) = ws.args
    if k.direct:
        segs = x.reshape(buf.shape)
    else:
        view = np.ndarray(
            ws.buf3.shape,
            dtype=np.float64,
            buffer=x,
            offset=k.first * x.itemsize,
            strides=(x.strides[0], k.seg_hop * x.itemsize, x.itemsize),
        )
        np.copyto(ws.buf3, view)
        segs = buf
    _add_reduce(segs, 1, None, mean)  # the segment means exactly as np.mean computes them
    _divide(mean, n_per_seg, mean)
    _subtract(segs, mean2, buf)
    _multiply(buf, tapers, buf)
    rfft(buf, one, spec)
    _multiply(spec_f, spec_f, spec_f)  # contiguous: less than the squares of the bins used
    _add_reduce(sq_in, 1, None, sums_in)  # over the segments, in order
    _dot(weights_t, sums_t, rows)
    alpha, total = alpha_total.tolist()
    if not math.isfinite(sum(total)):
        return None
    iaf.argmax(0, argmax)  # the methods: less overhead than np.argmax/np.take
    iaf_freqs.take(argmax, None, iaf_at, "clip")  # in range: not the buffered "raise" mode
    if faa is not None:
        left, right = alpha[faa[0]], alpha[faa[1]]
        if left > 0.0 and right > 0.0:
            flat[faa_at] = math.log(right) - math.log(left)
        else:  # zero power: the batch path's -inf/NaN (and its warning)
            lr = np.log(np.array([left, right]))
            flat[faa_at] = lr[1] - lr[0]
    return _divide(num, den)
