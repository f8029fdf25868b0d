"""scikit-learn transformers over :func:`compute_psd` / :func:`band_power` and :func:`compute_hrv`.

This module imports scikit-learn, so :mod:`addictidx.features` loads it lazily (attribute
access ``addictidx.features.BandPowerTransformer`` imports it on first use).
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from .bands import EEG_BANDS, band_power
from .hrv import HRV_NAMES, compute_hrv
from .psd import compute_psd

__all__ = ["BandPowerTransformer", "HrvTransformer"]


class BandPowerTransformer(TransformerMixin, BaseEstimator):
    """EEG epochs -> absolute or relative band powers per channel.

    Parameters
    ----------
    sfreq : float
        Sampling frequency in Hz.
    ch_names : sequence of str | None
        Channel names used in the output feature names (``ch0, ch1, ...`` when ``None``).
    bands : sequence of str
        Names of :data:`~addictidx.features.EEG_BANDS`.
    relative : bool
        Divide by the ``"total"`` (1-25 Hz) power.
    n_fft : int | None
        Welch FFT length (MNE's ``n_fft``; ``None`` = ``min(256, n_times)``); segments of
        ``n_fft`` samples without overlap, Hamming taper, as ``psd_array_welch``'s defaults.

    Notes
    -----
    ``X`` is ``(n_epochs, n_channels, n_times)`` in µV; output ``(n_epochs, n_channels *
    n_bands)`` in channel-major order, names ``eeg_<band>_uv2_<ch>`` (absolute, µV²) or
    ``eeg_<band>_rel_<ch>``.
    """

    def __init__(
        self,
        sfreq=256.0,
        ch_names=None,
        bands=("delta", "theta", "alpha", "beta"),
        relative=False,
        n_fft=None,
    ):
        self.sfreq = sfreq
        self.ch_names = ch_names
        self.bands = bands
        self.relative = relative
        self.n_fft = n_fft

    def fit(self, X, y=None):
        """Check ``X``'s shape and remember the channel count; nothing is learned."""
        X = self._check(X)
        self.n_channels_ = X.shape[1]
        for b in self.bands:
            if b not in EEG_BANDS:
                raise KeyError(f"Unknown band {b!r}; known bands are {sorted(EEG_BANDS)}.")
        return self

    def _check(self, X):
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 3:
            raise ValueError(f"X must be (n_epochs, n_channels, n_times), got shape {X.shape}.")
        return X

    def transform(self, X):
        """Band powers of every epoch, shape ``(n_epochs, n_channels * n_bands)``."""
        X = self._check(X)
        if X.shape[1] != getattr(self, "n_channels_", X.shape[1]):
            raise ValueError(f"X has {X.shape[1]} channels, fit saw {self.n_channels_}.")
        n_ep, n_ch, n_t = X.shape
        n_fft = int(self.n_fft) if self.n_fft is not None else min(256, n_t)
        cont = np.ascontiguousarray(X.transpose(1, 0, 2).reshape(n_ch, n_ep * n_t))
        ep_s = n_t / float(self.sfreq)
        freqs, psd = compute_psd(cont, self.sfreq, window_s=ep_s, step_s=ep_s, n_fft=n_fft)
        p = band_power(
            freqs, psd, list(self.bands), relative_to="total" if self.relative else None
        )
        out = np.stack([p[b] for b in self.bands], axis=-1)  # (n_ep, n_ch, n_bands)
        return out.reshape(n_ep, n_ch * len(self.bands))

    def get_feature_names_out(self, input_features=None):
        """``eeg_<band>_{uv2|rel}_<channel>`` in output column order."""
        n_ch = getattr(self, "n_channels_", None)
        names = (
            self.ch_names if self.ch_names is not None else [f"ch{i}" for i in range(n_ch or 0)]
        )
        unit = "rel" if self.relative else "uv2"
        return np.asarray(
            [f"eeg_{b}_{unit}_{ch}" for ch in names for b in self.bands], dtype=object
        )


class HrvTransformer(TransformerMixin, BaseEstimator):
    """RR series -> HRV features (:func:`~addictidx.features.compute_hrv`).

    Parameters
    ----------
    convention : {"kubios", "neurokit"}
        Passed to :func:`compute_hrv`.
    features : sequence of str | None
        Keys of :data:`~addictidx.features.HRV_NAMES` to output (all when ``None``).

    Notes
    -----
    ``X`` is a sequence of 1D RR arrays in seconds (one per recording; lengths may differ);
    output ``(n_recordings, n_features)``.
    """

    def __init__(self, convention="kubios", features=None):
        self.convention = convention
        self.features = features

    def _names(self):
        names = tuple(self.features) if self.features is not None else HRV_NAMES
        bad = [n for n in names if n not in HRV_NAMES]
        if bad:
            raise KeyError(f"Unknown HRV feature(s) {bad}; see addictidx.features.HRV_NAMES.")
        return names

    def fit(self, X, y=None):
        """Validate the feature list; nothing is learned."""
        self.feature_names_ = self._names()
        return self

    def transform(self, X):
        """HRV features of every RR series, shape ``(n_recordings, n_features)``."""
        names = self._names()
        from .hrv_frequency import HRV_FREQUENCY_NAMES

        need_freq = any(n in HRV_FREQUENCY_NAMES for n in names)
        rows = []
        for rr in X:
            h = compute_hrv(rr, convention=self.convention, frequency=need_freq)
            rows.append([h[n] for n in names])
        return np.asarray(rows, dtype=np.float64).reshape(len(rows), len(names))

    def get_feature_names_out(self, input_features=None):
        """Our HRV feature names, in output column order."""
        return np.asarray(self._names(), dtype=object)
