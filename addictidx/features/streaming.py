"""Incremental (streaming) feature extractors with O(hop) work per update.

:class:`StreamingBandPower`
    EEG band powers of the last ``window_s`` seconds, updated every Welch segment (the hop).
    Each segment of ``n_fft`` samples is mean-removed, tapered and transformed **once**, and its
    band-integrated periodogram is kept; a window's band power is the mean over its segments,
    i.e. exactly ``band_power(*compute_psd(window, ...))`` with MNE's defaults (non-overlapping
    segments, Hamming taper), because band integration is linear.
:class:`StreamingHrv`
    Time-domain HRV (mean NN, SDNN, RMSSD, pNN50, HR) of the beats in the last ``window_s``
    seconds, from running sums updated per beat (add the new beats, evict the old ones), equal to
    :func:`compute_hrv` (Kubios convention) on the same beats.

Both take plain arrays (the acquisition ring buffers' output) and are numpy-only.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np

from .bands import EEG_BANDS, _resolve_band, band_weights
from .psd import get_taper

__all__ = ["StreamingBandPower", "StreamingHrv"]


class StreamingBandPower:
    """Sliding-window EEG band powers updated per segment.

    Parameters
    ----------
    sfreq : float
        Sampling frequency in Hz.
    n_channels : int
        Number of channels of the pushed chunks.
    window_s : float
        Window length in seconds (a whole number of segments).
    n_fft : int
        Segment length in samples (the hop is one segment).
    bands : sequence of str
        Names of :data:`~addictidx.features.EEG_BANDS`.
    taper : str
        Segment taper (``"hamming"`` as MNE).
    """

    def __init__(
        self,
        sfreq: float,
        n_channels: int,
        *,
        window_s: float = 4.0,
        n_fft: int = 256,
        bands=("delta", "theta", "alpha", "beta", "total"),
        taper: str = "hamming",
    ):
        self.sfreq = float(sfreq)
        self.n_channels = int(n_channels)
        self.n_fft = int(n_fft)
        n_win = int(round(window_s * self.sfreq))
        if n_win % self.n_fft:
            raise ValueError(f"window_s * sfreq ({n_win}) must be a multiple of n_fft ({n_fft}).")
        self.n_seg = n_win // self.n_fft
        self.bands = tuple(bands)
        self._w = get_taper(taper, self.n_fft)
        freqs = np.arange(self.n_fft // 2 + 1) * (self.sfreq / self.n_fft)
        scale = np.full(freqs.size, 2.0 / (self.sfreq * float(np.sum(self._w**2))))
        scale[0] /= 2.0
        if self.n_fft % 2 == 0:
            scale[-1] /= 2.0
        W = band_weights(freqs, [_resolve_band(b, EEG_BANDS) for b in self.bands])
        self._bw = np.nan_to_num(W, nan=0.0) * scale[:, np.newaxis]  # periodogram -> band power
        self._pending = np.zeros((self.n_channels, 0))
        self._seg_powers: deque[np.ndarray] = deque(maxlen=self.n_seg)

    def push(self, chunk) -> np.ndarray:
        """Add samples; return the band powers of every window completed by them.

        Parameters
        ----------
        chunk : array, shape (n_channels, n_new)
            New samples in µV.

        Returns
        -------
        powers : ndarray, shape (n_windows, n_channels, n_bands)
            µV² per band, one row per window end (one per completed segment once the first
            window is full).
        """
        x = np.asarray(chunk, dtype=np.float64)
        if x.ndim != 2 or x.shape[0] != self.n_channels:
            raise ValueError(f"chunk must be ({self.n_channels}, n_new), got shape {x.shape}.")
        buf = np.concatenate([self._pending, x], axis=1)
        n_new = buf.shape[1] // self.n_fft
        self._pending = buf[:, n_new * self.n_fft :]
        if n_new == 0:
            return np.zeros((0, self.n_channels, len(self.bands)))
        seg = buf[:, : n_new * self.n_fft].reshape(self.n_channels, n_new, self.n_fft)
        seg = (seg - seg.mean(axis=-1, keepdims=True)) * self._w
        spec = np.fft.rfft(seg, axis=-1)
        pw = (spec.real**2 + spec.imag**2) @ self._bw  # (n_ch, n_new, n_bands)
        out = []
        for k in range(n_new):
            self._seg_powers.append(pw[:, k, :])  # the deque drops the oldest segment
            if len(self._seg_powers) == self.n_seg:
                # Mean of the n_seg cached segment powers (no running sum, so no drift).
                out.append(np.sum(self._seg_powers, axis=0) / self.n_seg)
        if not out:
            return np.zeros((0, self.n_channels, len(self.bands)))
        return np.stack(out)


class StreamingHrv:
    """Time-domain HRV over a sliding time window, updated per beat from running sums.

    Parameters
    ----------
    window_s : float
        Window length in seconds of RR (beats are evicted from the left while the remaining
        intervals sum to more than this).
    """

    def __init__(self, window_s: float = 60.0):
        self.window_s = float(window_s)
        self._rr: deque[float] = deque()
        self._ref: float | None = None
        self._s1 = self._s2 = self._d2 = self._total = 0.0
        self._n50 = 0

    def push(self, rr_s) -> dict[str, float]:
        """Add RR intervals (s) and return the features of the current window.

        Returns
        -------
        features : dict
            ``hrv_mean_nn_ms``, ``hrv_sdnn_ms``, ``hrv_rmssd_ms``, ``hrv_pnn50_pct`` (Kubios
            denominator), ``hr_mean_bpm``, ``n_rr``.
        """
        for v in np.asarray(rr_s, dtype=np.float64).ravel().tolist():
            if not (v > 0 and math.isfinite(v)):
                raise ValueError(f"RR intervals must be finite and > 0 s, got {v!r}.")
            ms = v * 1000.0
            if self._ref is None:
                self._ref = ms  # shift for numerically stable variance
            if self._rr:
                dd = ms - self._rr[-1]
                self._d2 += dd * dd
                self._n50 += abs(dd) > 50
            self._rr.append(ms)
            c = ms - self._ref
            self._s1 += c
            self._s2 += c * c
            self._total += ms
            while self._total > self.window_s * 1000.0 and len(self._rr) > 1:
                old = self._rr.popleft()
                nxt = self._rr[0]
                dd = nxt - old
                self._d2 -= dd * dd
                self._n50 -= abs(dd) > 50
                c = old - self._ref
                self._s1 -= c
                self._s2 -= c * c
                self._total -= old
        return self.features()

    def features(self) -> dict[str, float]:
        """The current window's features (NaN where fewer than 2 intervals)."""
        n = len(self._rr)
        out = {
            "hrv_mean_nn_ms": math.nan,
            "hrv_sdnn_ms": math.nan,
            "hrv_rmssd_ms": math.nan,
            "hrv_pnn50_pct": math.nan,
            "hr_mean_bpm": math.nan,
            "n_rr": float(n),
        }
        if n == 0:
            return out
        mean_c = self._s1 / n
        out["hrv_mean_nn_ms"] = mean_c + self._ref
        out["hr_mean_bpm"] = 60000.0 / out["hrv_mean_nn_ms"]
        if n > 1:
            var = max(self._s2 - n * mean_c * mean_c, 0.0) / (n - 1)
            out["hrv_sdnn_ms"] = math.sqrt(var)
            out["hrv_rmssd_ms"] = math.sqrt(max(self._d2, 0.0) / (n - 1))
            out["hrv_pnn50_pct"] = 100.0 * self._n50 / (n - 1)
        return out
