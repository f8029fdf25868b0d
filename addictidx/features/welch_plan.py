"""Welch plans (tapers, window and segment starts, scalings) cached by parameters, and the
segment loop that computes the spectra of every distinct Welch segment in reused workspaces.

:func:`~addictidx.features.compute_psd` and :func:`~addictidx.features.compute_eeg_features`
share this machinery. For a given data shape and set of Welch parameters everything that does
not depend on the samples (taper, window starts, distinct segment starts, which segments each
window averages, the one-sided density scaling) is computed once and kept in a bounded,
thread-safe cache (:class:`PlanCache`); a call then only touches the samples:

1. the distinct segments are read through a strided view of the data (no copy of the
   recording; windows on the segment hop share their segments, each transformed once),
2. per batch of segments: mean removal, taper, ``rfft`` and ``|X|²`` in per-thread
   workspaces (reused from call to call, so no page faults on the hot path),
3. an optional linear map (band weights) per batch while it is in cache,
4. the window sums over each window's segments as strided views (no loop over windows).

Only numpy is imported; ``numpy.fft`` does the transforms.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from .._core.validate import check_positive, check_sfreq

__all__ = [
    "PlanCache",
    "WelchPlan",
    "get_taper",
    "as_channels",
    "blank_gaps",
    "segment_spectra",
    "welch_plan",
    "window_starts",
    "window_sums",
]

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

#: Segments per batch of the segment loop (upper bound; see :func:`segment_spectra`).
_SEGMENT_CHUNK = 64
#: OpenBLAS runs a gemm on one thread when m*n*k stays below 4 * 65536; batches of the band
#: map are sized under it, because a threaded gemm on a busy 2-core machine is far slower.
_GEMM_SINGLE_THREAD = 4 * 65536
#: Workspaces larger than this are allocated per call instead of kept per thread.
_WORKSPACE_MAX_BYTES = 16 * 2**20


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
            f"step_s={step_s} s is shorter than half a sample at sfreq={sfreq} Hz; windows would "
            "repeat."
        )
    if n_times < n_window:
        return np.zeros(0, dtype=np.int64), n_window
    # Upper bound on k, then trim exactly with the same rounding rule as the contract.
    k_max = int(math.floor((n_times - n_window) / step)) + 2
    k = np.arange(k_max + 1, dtype=np.float64)
    starts = np.round(k * step_s * sfreq).astype(np.int64)
    starts = starts[starts + n_window <= n_times]
    return starts, n_window


class PlanCache:
    """A bounded, thread-safe least-recently-used cache of immutable plans.

    Parameters
    ----------
    maxsize : int
        Plans kept; the least recently used is dropped beyond it.

    Notes
    -----
    Keys hold the parameters and their types (``256`` and ``256.0`` are different keys, so a
    value validated as an ``int`` is never reused for a ``float``). Unhashable parameters are
    not cached: the plan is built for that call only.
    """

    def __init__(self, maxsize: int = 32) -> None:
        self.maxsize = int(maxsize)
        self._plans: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def get(self, params: tuple, build, *, typed: bool = True):
        """Return the plan for ``params``, calling ``build()`` on a miss.

        ``typed=False``: ``params`` is the key as given (the caller has put in it the types
        that matter), which saves building the tuple of types on a hot path.
        """
        try:
            key = (params, tuple(map(type, params))) if typed else params
            hash(key)
        except TypeError:
            return build()
        with self._lock:
            plan = self._plans.get(key)
            if plan is not None:
                self._plans.move_to_end(key)
                return plan
        plan = build()  # outside the lock: building may raise, or take a while
        with self._lock:
            self._plans[key] = plan
            while len(self._plans) > self.maxsize:
                self._plans.popitem(last=False)
        return plan

    def clear(self) -> None:
        """Drop every cached plan."""
        with self._lock:
            self._plans.clear()

    def __len__(self) -> int:
        return len(self._plans)


def _readonly(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a)
    a.setflags(write=False)
    return a


@dataclass(frozen=True, eq=False)
class WelchPlan:
    """Everything about a sliding-window Welch computation that does not depend on samples.

    Built by :func:`welch_plan` (validated, cached); arrays are read-only.

    Attributes
    ----------
    n_channels, n_times : int
        Shape of the data the plan is for.
    sfreq : float
        Sampling frequency in Hz.
    n_fft, n_per_seg, seg_hop, n_seg : int
        FFT length, Welch segment length, hop between a window's segments and segments per
        window.
    n_window : int
        Window length in samples.
    starts : ndarray, shape (n_windows,)
        First sample of each window.
    freqs : ndarray, shape (n_freqs,)
        ``arange(n_fft // 2 + 1) * sfreq / n_fft``.
    taper : ndarray, shape (n_per_seg,)
        The periodic taper.
    bin_factor : ndarray, shape (n_freqs,)
        One-sided density scaling divided by ``n_seg``: ``2 / (sfreq * sum(taper²) * n_seg)``,
        not doubled at DC and Nyquist; the window mean PSD is the window sum of ``|X|²`` times
        this.
    seg_starts : ndarray, shape (n_segments,)
        Distinct segment starts, increasing.
    seg_step : int
        Common difference of ``seg_starts`` (0 if they are not an arithmetic progression).
    inverse : ndarray, shape (n_windows, n_seg)
        Index in ``seg_starts`` of each window's segments.
    win_first, win_step, seg_stride : int
        When ``regular``: window ``k``'s segment ``j`` is ``win_first + k*win_step +
        j*seg_stride``.
    regular : bool
        Whether the window-to-segment map has that form (then window sums are strided views).
    """

    n_channels: int
    n_times: int
    sfreq: float
    n_fft: int
    n_per_seg: int
    seg_hop: int
    n_seg: int
    n_window: int
    starts: np.ndarray
    freqs: np.ndarray
    taper: np.ndarray
    bin_factor: np.ndarray
    seg_starts: np.ndarray
    seg_step: int
    inverse: np.ndarray
    win_first: int
    win_step: int
    seg_stride: int
    regular: bool

    @property
    def n_windows(self) -> int:
        """Number of windows."""
        return int(self.starts.size)

    @property
    def n_segments(self) -> int:
        """Number of distinct Welch segments."""
        return int(self.seg_starts.size)


_PLANS = PlanCache(maxsize=64)


def welch_plan(
    n_channels: int,
    n_times: int,
    sfreq: float,
    *,
    window_s: float,
    step_s: float,
    n_fft: int,
    n_per_seg: int | None = None,
    n_overlap: int = 0,
    taper: str = "hamming",
) -> WelchPlan:
    """Return the (cached) :class:`WelchPlan` for data of this shape and these parameters.

    Parameters
    ----------
    n_channels, n_times : int
        Shape of the data.
    sfreq, window_s, step_s, n_fft, n_per_seg, n_overlap, taper
        As :func:`~addictidx.features.compute_psd` (validated here, with its error messages).

    Returns
    -------
    plan : WelchPlan
        Shared, immutable; at most 64 plans are kept (least recently used dropped).
    """
    params = (n_channels, n_times, sfreq, window_s, step_s, n_fft, n_per_seg, n_overlap, taper)
    return _PLANS.get(
        params,
        lambda: _build_plan(
            n_channels, n_times, sfreq, window_s, step_s, n_fft, n_per_seg, n_overlap, taper
        ),
    )


def _build_plan(n_ch, n_times, sfreq, window_s, step_s, n_fft, n_per_seg, n_overlap, taper):
    sfreq = check_sfreq(sfreq)
    check_positive("window_s", window_s)
    check_positive("step_s", step_s)
    n_fft = _as_int("n_fft", n_fft)
    n_overlap = _as_int("n_overlap", n_overlap, allow_zero=True)
    if n_per_seg is not None:
        n_per_seg = _as_int("n_per_seg", n_per_seg)
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
    taper_w = get_taper(taper, nps)
    scale = 1.0 / (sfreq * np.sum(taper_w * taper_w))
    factor = np.full(freqs.size, 2.0 * scale)
    factor[0] = scale
    if n_fft % 2 == 0:
        factor[-1] = scale
    factor /= n_seg
    # Start of every segment of every window, deduplicated: windows aligned on the segment hop
    # share segments, which are then transformed only once.
    seg = starts[:, np.newaxis] + hop * np.arange(n_seg, dtype=np.int64)
    uniq, inverse = np.unique(seg, return_inverse=True)
    inverse = inverse.reshape(starts.size, n_seg)
    seg_step = 0
    if uniq.size == 1:
        seg_step = 1
    elif uniq.size > 1:
        d = np.diff(uniq)
        seg_step = int(d[0]) if np.all(d == d[0]) else 0
    n_w = starts.size
    first = int(inverse[0, 0]) if n_w else 0
    w_step = int(inverse[1, 0] - inverse[0, 0]) if n_w > 1 else 1
    s_stride = int(inverse[0, 1] - inverse[0, 0]) if n_seg > 1 and n_w else 1
    expect = (
        first
        + w_step * np.arange(n_w, dtype=np.int64)[:, np.newaxis]
        + s_stride * np.arange(n_seg, dtype=np.int64)
    )
    regular = bool(w_step > 0 and s_stride > 0 and np.array_equal(inverse, expect))
    return WelchPlan(
        n_channels=int(n_ch),
        n_times=int(n_times),
        sfreq=sfreq,
        n_fft=n_fft,
        n_per_seg=int(nps),
        seg_hop=int(hop),
        n_seg=int(n_seg),
        n_window=int(n_win),
        starts=_readonly(starts),
        freqs=_readonly(freqs),
        taper=_readonly(taper_w),
        bin_factor=_readonly(factor),
        seg_starts=_readonly(uniq),
        seg_step=seg_step,
        inverse=_readonly(inverse),
        win_first=first,
        win_step=w_step,
        seg_stride=s_stride,
        regular=regular,
    )


_LOCAL = threading.local()


def _workspace(name: str, shape: tuple, dtype=np.float64) -> np.ndarray:
    """A per-thread scratch array of ``shape`` (contents undefined), reused across calls."""
    dtype = np.dtype(dtype)
    size = math.prod(shape)
    if size * dtype.itemsize > _WORKSPACE_MAX_BYTES:
        return np.empty(shape, dtype=dtype)
    bufs = getattr(_LOCAL, "bufs", None)
    if bufs is None:
        bufs = _LOCAL.bufs = {}
    buf = bufs.get((name, dtype))
    if buf is None or buf.size < size:
        buf = bufs[(name, dtype)] = np.empty(max(size, 1), dtype=dtype)
        _LOCAL.views = {}  # loop states viewing the replaced buffer must not be used again
    return buf[:size].reshape(shape)


class _LoopState:
    """Per-thread workspaces and their views for one segment-loop geometry."""

    def __init__(self, n_u, n_ch, n_out, chunk, nps, n_f, n_fft, bins) -> None:
        self.out = _workspace("out", (n_u, n_ch, n_out))
        seg = _workspace("seg", (chunk, n_ch, nps))
        mean = _workspace("mean", (chunk, n_ch))
        spec = _workspace("spec", (chunk, n_ch, n_f), np.complex128)
        self.chunks = []
        for i0 in range(0, n_u, chunk):
            c = min(chunk, n_u - i0)
            flat = spec[:c].view(np.float64).reshape(c * n_ch, 2 * n_f)
            sq = flat if bins is None else flat[:, 2 * bins[0] : 2 * bins[1]]
            dst = self.out[i0 : i0 + c].reshape(c * n_ch, n_out)
            m = mean[:c]
            self.chunks.append((i0, c, seg[:c], m, m[:, :, np.newaxis], spec[:c], flat, sq, dst))
        self.keep = n_u * n_ch * n_out * 8 <= _WORKSPACE_MAX_BYTES


def _loop_state(*key) -> _LoopState:
    """The (per-thread, reused) :class:`_LoopState` for this geometry."""
    states = getattr(_LOCAL, "views", None)
    if states is None:
        states = _LOCAL.views = {}
    got = states.get(key)
    if got is None:
        got = _LoopState(*key)
        if not got.keep:
            return got  # too large to keep: allocated for this call only
        states = _LOCAL.views  # _workspace may have reset it
        if len(states) >= 16:
            states.clear()
        states[key] = got
    return got


def segment_spectra(x, plan: WelchPlan, weights=None, bins=None, out=None):
    """``|X|²`` of every distinct Welch segment, or a linear map of it, segment-major.

    Parameters
    ----------
    x : ndarray, shape (n_channels, n_times)
        C-contiguous float64 samples, all finite.
    plan : WelchPlan
        From :func:`welch_plan` for this shape.
    weights : ndarray, shape (2 * (bins[1] - bins[0]), n_out) | None
        ``None``: return the unscaled ``|X|²`` of every bin. Otherwise a linear map applied to
        the interleaved real and imaginary parts squared of bins ``bins[0]:bins[1]`` (each
        bin's weight repeated on two rows), i.e. ``sum_k |X_k|² w_k`` per output column.
    bins : (int, int) | None
        Bin range the weights apply to.
    out : ndarray, shape (n_segments, n_channels, n_freqs or n_out) | None
        C-contiguous array to write into instead of the per-thread workspace.

    Returns
    -------
    out : ndarray, shape (n_segments, n_channels, n_freqs or n_out)
        ``out``, or a per-thread workspace valid until this thread's next call (reduce it first).
    """
    n_ch, nps, n_fft = plan.n_channels, plan.n_per_seg, plan.n_fft
    n_u = plan.n_segments
    n_f = plan.freqs.size
    if weights is None:
        n_out, chunk, bins = n_f, _SEGMENT_CHUNK, None
    else:
        n_out = weights.shape[1]
        rows = _GEMM_SINGLE_THREAD // max(weights.size, 1)
        chunk = max(1, min(_SEGMENT_CHUNK, rows // n_ch))
        bins = (int(bins[0]), int(bins[1]))
    st = _loop_state(n_u, n_ch, n_out, min(chunk, n_u), nps, n_f, n_fft, bins)
    # Segment-major view of every possible segment: (n_times - nps + 1, n_ch, nps), no copy.
    view = np.ndarray(
        (plan.n_times - nps + 1, n_ch, nps),
        dtype=np.float64,
        buffer=x,
        strides=(x.itemsize, x.strides[0], x.itemsize),
    )
    q, s0, taper = plan.seg_step, int(plan.seg_starts[0]), plan.taper
    for i0, c, buf, mean, mean3, spec, flat, sq, dst in st.chunks:
        if out is not None:
            dst = out[i0 : i0 + c].reshape(c * n_ch, n_out)
        if q:
            a = s0 + i0 * q
            segs = view[a : a + (c - 1) * q + 1 : q]
        else:
            segs = np.take(view, plan.seg_starts[i0 : i0 + c], axis=0, out=buf)
        # "constant" detrend per segment (the mean exactly as np.mean computes it), then taper
        np.add.reduce(segs, axis=2, out=mean)
        np.divide(mean, nps, out=mean)
        np.subtract(segs, mean3, out=buf)
        np.multiply(buf, taper, out=buf)
        np.fft.rfft(buf, n=n_fft, axis=2, out=spec)
        np.multiply(sq, sq, out=sq)
        if weights is None:
            np.add(flat[:, 0::2], flat[:, 1::2], out=dst)
        else:
            np.matmul(sq, weights, out=dst)
    return st.out if out is None else out


def window_sums(per_segment: np.ndarray, plan: WelchPlan, out: np.ndarray | None = None):
    """Sum over each window's segments: (n_segments, n_ch, k) -> (n_windows, n_ch, k).

    Parameters
    ----------
    per_segment : ndarray, shape (n_segments, n_channels, k)
        E.g. from :func:`segment_spectra`.
    plan : WelchPlan
        The plan it was computed with.
    out : ndarray, shape (n_windows, n_channels, k) | None
        Where to write (a new array by default).

    Returns
    -------
    sums : ndarray, shape (n_windows, n_channels, k)
        No loop over windows: one strided view per segment of a window.
    """
    n_w, n_seg = plan.n_windows, plan.n_seg
    if out is None:
        out = np.empty((n_w,) + per_segment.shape[1:], dtype=np.float64)
    if plan.regular:
        a, qw, qs = plan.win_first, plan.win_step, plan.seg_stride
        if n_w == 1:
            np.add.reduce(per_segment[a : a + (n_seg - 1) * qs + 1 : qs], axis=0, out=out[0])
            return out
        for j in range(n_seg):
            b = a + j * qs
            term = per_segment[b : b + (n_w - 1) * qw + 1 : qw]
            if j == 0:
                np.copyto(out, term)
            else:
                np.add(out, term, out=out)
        return out
    for j in range(n_seg):
        term = np.take(per_segment, plan.inverse[:, j], axis=0)
        if j == 0:
            np.copyto(out, term)
        else:
            np.add(out, term, out=out)
    return out


def as_channels(data) -> np.ndarray:
    """``data`` as a C-contiguous float64 array shaped (n_channels, n_times) (1-D: one row).

    Raises
    ------
    ValueError
        When the data is not 1-D or 2-D with at least one channel.
    """
    x = np.asarray(data, dtype=np.float64)
    if x.ndim == 1:
        x = x[np.newaxis, :]
    if x.ndim != 2 or x.shape[0] == 0:
        raise ValueError(
            f"data must be shaped (n_channels, n_times) or (n_times,), got shape {np.shape(data)}."
        )
    return np.ascontiguousarray(x)


def blank_gaps(x: np.ndarray, plan: WelchPlan) -> tuple[np.ndarray, np.ndarray | None]:
    """Zero-fill non-finite samples and find the windows they touch.

    Parameters
    ----------
    x : ndarray, shape (n_channels, n_times)
        From :func:`as_channels`.
    plan : WelchPlan
        The plan for this shape.

    Returns
    -------
    x : ndarray
        ``x`` itself when every sample is finite, else a copy with zeros in the gaps (so that
        no NaN enters the FFTs).
    bad : ndarray of bool, shape (n_windows, n_channels) | None
        Windows and channels holding a non-finite sample (to be set to NaN), or ``None``.
    """
    total = float(np.add.reduce(x, axis=None))  # one pass; NaN/inf (or overflow) -> check
    if math.isfinite(total):
        return x, None
    bad = ~np.isfinite(x)
    if not bad.any():
        return x, None
    csum = np.zeros((x.shape[0], x.shape[1] + 1), dtype=np.int64)
    np.cumsum(bad, axis=1, out=csum[:, 1:])
    ends = plan.starts + plan.n_window
    n_bad = csum[:, ends] - csum[:, plan.starts]  # (n_ch, n_windows)
    return np.where(bad, 0.0, x), (n_bad > 0).T


def _as_int(name: str, value, *, allow_zero: bool = False) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name!r} must be an int, got {value!r} ({type(value).__name__}).")
    v = int(value)
    if v < 0 or (v == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name!r} must be {bound}, got {v}.")
    return v
