"""Per-epoch amplitude statistics of :func:`~addictidx.features.eeg_epoch_checks`.

Peak-to-peak and standard deviation of each linearly detrended epoch, the largest absolute value
and whether the epoch holds a missing sample, computed block by block over non-overlapping
epochs (views of the recording, small reused work arrays). The detrend, ``np.ptp`` and
``np.std`` are written with the operations NumPy performs, without its Python layer, so the
results are NumPy's bit for bit (``tests/test_eeg_quality.py`` holds them to SciPy's detrend).
"""

from __future__ import annotations

import numpy as np

__all__ = ["detrend_linear", "epoch_stats", "std_last"]


def detrend_linear(e: np.ndarray) -> np.ndarray:
    """Remove the least-squares line from the last axis (closed form, vectorized).

    Parameters
    ----------
    e : ndarray, shape (..., n)
        Finite samples.

    Returns
    -------
    ndarray, shape (..., n)
        ``e`` minus its mean and its centred least-squares slope times the centred ramp.
    """
    n = e.shape[-1]
    hit = _RAMPS.get(n)
    if hit is None:
        t = np.arange(n, dtype=np.float64) - (n - 1) / 2.0
        t.setflags(write=False)
        hit = _RAMPS[n] = (t, float(np.dot(t, t)) or 1.0)
    t, denom = hit
    slope = (e @ t) / denom
    # e.mean(axis=-1) as NumPy computes it: the sum divided by the count
    return e - np.add.reduce(e, axis=-1, keepdims=True) / n - slope[..., np.newaxis] * t


#: The centred ramp and its squared norm of :func:`detrend_linear`, by epoch length.
_RAMPS: dict[int, tuple[np.ndarray, float]] = {}


def std_last(a: np.ndarray) -> np.ndarray:
    """``a.std(axis=-1)`` with NumPy's operations (the mean divided out, the squared
    deviations summed and divided by the count, the root), without its Python layer.

    Parameters
    ----------
    a : ndarray, shape (..., n)
        Float64 values, ``n >= 1``.

    Returns
    -------
    ndarray, shape (...)
        The population standard deviation of each row, bit for bit ``a.std(axis=-1)``.
    """
    n = a.shape[-1]
    mean = np.add.reduce(a, axis=-1, keepdims=True)
    np.true_divide(mean, n, out=mean)
    x = np.subtract(a, mean)
    np.multiply(x, x, out=x)
    ret = np.add.reduce(x, axis=-1)
    np.true_divide(ret, n, out=ret)
    return np.sqrt(ret, out=ret)


#: Bytes of one block of epochs in :func:`epoch_stats` (6 epochs of 4 channels x 512 samples).
#: Work arrays below glibc's mmap threshold (128 KiB) come from the heap and are reused;
#: larger ones are mapped and page-faulted afresh on every call (2 MB blocks spent more time
#: in the kernel than computing).
_BLOCK_BYTES = 96 * 1024


def epoch_stats(x: np.ndarray, starts: np.ndarray, n: int, contiguous: bool | None = None):
    """Per epoch and channel: ptp and std of the detrended epoch, max ``|value|``, any gap.

    Equal to detrending the gathered ``(n_epochs, n_channels, n)`` array at once (the same
    operations in the same order on every row), but blockwise: non-overlapping epochs are
    read as a view of ``x`` (no gather copy), the work arrays are under 100 KB whatever the
    recording length, and NaN handling is skipped for blocks without a missing sample.
    Results are bit-identical to the one-shot form (tested).

    Parameters
    ----------
    x : ndarray, shape (n_channels, n_times)
        The recording; ``NaN`` marks missing samples (counted as 0 in the statistics).
    starts : ndarray of int, shape (n_epochs,)
        First sample of each epoch.
    n : int
        Samples per epoch.
    contiguous : bool | None
        Whether epoch ``j`` starts at ``j n`` (None: checked here).

    Returns
    -------
    ptp, sd, peak, gap : ndarray, shape (n_epochs, n_channels)
        Peak-to-peak and standard deviation of the detrended epoch, largest ``|value|``
        (at least 0) and whether the epoch holds a non-finite sample.
    """
    n_ch = x.shape[0]
    n_ep = starts.size
    ptp = np.zeros((n_ep, n_ch))
    sd = np.zeros((n_ep, n_ch))
    peak = np.zeros((n_ep, n_ch))
    gap = np.zeros((n_ep, n_ch), dtype=bool)
    if n_ep == 0:
        return ptp, sd, peak, gap
    if contiguous is None:  # epoch j starts at j n: no gather
        contiguous = bool(np.array_equal(starts, np.arange(n_ep) * n))
    block = max(1, _BLOCK_BYTES // (8 * n_ch * max(n, 1)))
    for a in range(0, n_ep, block):
        b = min(a + block, n_ep)
        if contiguous:
            ep = x[:, a * n : b * n].reshape(n_ch, b - a, n).transpose(1, 0, 2)
        else:
            ep = x[:, starts[a:b, np.newaxis] + np.arange(n)].transpose(1, 0, 2)
        fin = np.isfinite(ep)
        if fin.all():
            e = np.ascontiguousarray(ep)  # 2 MB; keeps the row sums bit-identical
        else:
            gap[a:b] = ~fin.all(axis=-1)
            e = np.where(fin, ep, 0.0)
        det = detrend_linear(e)
        # np.ptp (maximum - minimum) and np.std by the same operations
        ptp[a:b] = np.maximum.reduce(det, axis=-1) - np.minimum.reduce(det, axis=-1)
        sd[a:b] = std_last(det)
        # max |value| (missing samples count as 0) without an |x| temporary
        np.maximum(
            np.maximum.reduce(e, axis=-1, initial=0.0),
            -np.minimum.reduce(e, axis=-1, initial=0.0),
            out=peak[a:b],
        )
    return ptp, sd, peak, gap
