"""Incremental index features: each 2-s EEG epoch is checked and transformed once.

:class:`RollingEpochs` keeps, for many EEG streams at once, the per-epoch results of
:func:`~addictidx.features.eeg_epoch_checks` (pass flags, failed checks, peak-to-peak, EMG
share, line-noise ratio, missing samples) and the epochs' alpha/beta/total band powers
(:func:`~addictidx.features.epoch_band_powers`) for the epochs of a sliding window.
:meth:`RollingEpochs.index_features` rebuilds the window's epoch checks from them and calls the
production functions, :func:`~addictidx.features.eeg_index_features` and
:func:`~addictidx.features.rr_index_features`, so a window's features and quality report are
those of :func:`~addictidx.features.index_features_with_emg` on the window's samples (band power
is linear in the periodogram, so the mean of the epochs' band powers is the band power of their
mean periodogram; tests hold the two to 1e-12).

Epochs lie on each stream's own sample grid: epoch ``e`` holds samples ``[e n, (e + 1) n)``
(``n`` = samples per epoch) and spans ``[e * epoch_s, (e + 1) * epoch_s)`` of stream time
(sample index / sfreq). A window ending at ``t_end_s`` holds the epochs that lie entirely in
``[t_end_s - window_s, t_end_s]``.

Checking many streams' epochs in one call (:meth:`RollingEpochs.add`) batches their FFTs; this
is how a server scoring hundreds of sessions every second keeps the EEG work at one epoch per
stream per 2 s.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from .eeg_quality import DEFAULT_EEG_THRESHOLDS, EEGEpochChecks, eeg_epoch_checks
from .index_features import (
    INDEX_EEG_BANDS,
    IndexFeatureSet,
    eeg_index_features,
    epoch_band_powers,
    merge_index_parts,
    rr_index_features,
)

__all__ = ["RollingEpochs"]

_FLAGS = ("ok", "gap", "flat", "amp", "rail")
_VALUES = ("ptp_uv", "emg_share", "line_ratio")


class RollingEpochs:
    """Per-epoch EEG results of ``n_streams`` streams over a sliding window.

    Parameters
    ----------
    n_streams : int
        Streams (sessions) kept.
    sfreq : float
        Sampling frequency (Hz) of every stream.
    ch_names : sequence of str
        Channel names in row order (the same for every stream).
    window_s : float
        Window length (s); whole epochs.
    thresholds : Mapping | None
        EEG quality thresholds (device profile), as for
        :func:`~addictidx.features.eeg_epoch_checks`.

    Attributes
    ----------
    n_per_epoch : int
        Samples per epoch.
    n_slots : int
        Epochs kept per stream (``floor(window_s / epoch_s)``).
    """

    def __init__(
        self,
        n_streams: int,
        sfreq: float,
        ch_names: Sequence[str],
        *,
        window_s: float = 30.0,
        thresholds: Mapping | None = None,
    ) -> None:
        self.sfreq = float(sfreq)
        self.ch_names = tuple(str(c) for c in ch_names)
        self.thresholds = dict(thresholds) if thresholds else None
        th = {**DEFAULT_EEG_THRESHOLDS, **(self.thresholds or {})}
        self.epoch_s = float(th["epoch_s"])
        self.n_per_epoch = int(round(self.epoch_s * self.sfreq))
        self.window_s = float(window_s)
        if self.window_s < self.epoch_s:
            raise ValueError(f"window_s must be >= one epoch ({self.epoch_s} s), got {window_s}.")
        self.n_slots = int(math.floor(self.window_s / self.epoch_s + 1e-9))
        D, K, C = int(n_streams), self.n_slots, len(self.ch_names)
        self.epoch = np.full((D, K), np.iinfo(np.int64).min // 2, dtype=np.int64)
        # one array per kind, so a batch of windows gathers them in one indexing operation;
        # ``flags[name]`` and ``values[name]`` are views of them
        self.flag_array = np.zeros((D, K, len(_FLAGS), C), dtype=bool)
        self.value_array = np.full((D, K, len(_VALUES), C), np.nan)
        self.flags = {k: self.flag_array[:, :, j, :] for j, k in enumerate(_FLAGS)}
        self.values = {k: self.value_array[:, :, j, :] for j, k in enumerate(_VALUES)}
        self.n_nonfinite = np.zeros((D, K, C), dtype=np.int64)
        self.powers = np.full((D, K, len(INDEX_EEG_BANDS), C), np.nan)
        self._th_full: Mapping | None = None

    def add(self, streams, epochs, data) -> None:
        """Check and keep complete epochs of any streams (one batched call).

        Parameters
        ----------
        streams : array of int, shape (m,)
            Stream index of each epoch.
        epochs : array of int, shape (m,)
            Epoch number of each (on its stream's sample grid).
        data : array, shape (m, n_channels, n_per_epoch)
            The epochs' samples in µV (``NaN`` = missing).
        """
        x = np.asarray(data, dtype=np.float64)
        m, C, n = x.shape
        if m == 0:
            return
        if C != len(self.ch_names) or n != self.n_per_epoch:
            raise ValueError(
                f"data must be (m, {len(self.ch_names)}, {self.n_per_epoch}), got {x.shape}."
            )
        # the m epochs side by side on each channel: (C, m * n), epoch j = samples [j n, (j+1) n)
        checks = eeg_epoch_checks(
            x.transpose(1, 0, 2).reshape(C, m * n),
            self.sfreq,
            self.ch_names,
            thresholds=self.thresholds,
        )
        if self._th_full is None:
            self._th_full = checks.thresholds
        s = np.asarray(streams, dtype=np.int64)
        e = np.asarray(epochs, dtype=np.int64)
        slot = e % self.n_slots
        self.epoch[s, slot] = e
        # the checks' arrays side by side, (m, kinds, C) (np.stack's result, without its
        # Python layer)
        fl = np.empty((m, len(_FLAGS), C), dtype=bool)
        for j, k in enumerate(_FLAGS):
            fl[:, j] = getattr(checks, k)
        va = np.empty((m, len(_VALUES), C))
        for j, k in enumerate(_VALUES):
            va[:, j] = getattr(checks, k)
        self.flag_array[s, slot] = fl
        self.value_array[s, slot] = va
        # missing samples per epoch and channel (none unless the epoch failed the gap check)
        if checks.gap.any():
            self.n_nonfinite[s, slot] = np.count_nonzero(~np.isfinite(x), axis=-1)
        else:
            self.n_nonfinite[s, slot] = 0
        self.powers[s, slot] = epoch_band_powers(checks)  # (m, 3, C)

    def copy_stream(self, src: RollingEpochs, src_stream: int, streams) -> None:
        """Copy the epochs of ``src_stream`` of ``src`` (same layout) into ``streams`` of this
        one (e.g. the same pre-recorded epochs for many sessions, checked once)."""
        if (src.n_slots, src.ch_names, src.n_per_epoch) != (
            self.n_slots,
            self.ch_names,
            self.n_per_epoch,
        ):
            raise ValueError("copy_stream needs the same window, channels and epoch length.")
        d = np.asarray(streams, dtype=np.int64)
        self.epoch[d] = src.epoch[src_stream]
        self.flag_array[d] = src.flag_array[src_stream]
        self.value_array[d] = src.value_array[src_stream]
        self.n_nonfinite[d] = src.n_nonfinite[src_stream]
        self.powers[d] = src.powers[src_stream]
        self._th_full = self._th_full or src._th_full

    def window_slots(self, stream: int, t_end_s: float) -> np.ndarray:
        """Slots of the epochs of ``stream`` lying entirely in the window ending at ``t_end_s``,
        oldest first."""
        e = self.epoch[stream]
        inside = (e * self.epoch_s >= t_end_s - self.window_s - 1e-9) & (
            (e + 1) * self.epoch_s <= t_end_s + 1e-9
        )
        slots = np.flatnonzero(inside)
        return slots[np.argsort(e[slots], kind="stable")]

    def merged_thresholds(self) -> Mapping:
        """The thresholds in force (defaults merged with the profile's)."""
        if self._th_full is None:
            C, n = len(self.ch_names), self.n_per_epoch
            self._th_full = eeg_epoch_checks(
                np.zeros((C, n)), self.sfreq, self.ch_names, thresholds=self.thresholds
            ).thresholds
        return self._th_full

    def window_checks(self, stream: int, t_end_s: float) -> tuple[EEGEpochChecks, np.ndarray]:
        """The window's :class:`~addictidx.features.EEGEpochChecks` (``psd`` empty) and the
        epochs' band powers, shape (n_epochs, 3, n_channels)."""
        sl = self.window_slots(stream, t_end_s)
        k, C, n = sl.size, len(self.ch_names), self.n_per_epoch
        th = self.merged_thresholds()
        nonfinite = self.n_nonfinite[stream, sl].sum(axis=0)
        checks = EEGEpochChecks(
            ch_names=self.ch_names,
            sfreq=self.sfreq,
            starts=(self.epoch[stream, sl] * n),
            ok=self.flags["ok"][stream, sl],
            gap=self.flags["gap"][stream, sl],
            flat=self.flags["flat"][stream, sl],
            amp=self.flags["amp"][stream, sl],
            rail=self.flags["rail"][stream, sl],
            ptp_uv=self.values["ptp_uv"][stream, sl],
            emg_share=self.values["emg_share"][stream, sl],
            line_ratio=self.values["line_ratio"][stream, sl],
            gap_fraction=nonfinite / float(k * n) if k else np.full(C, np.nan),
            freqs=np.empty(0),
            psd=np.empty((k, C, 0)),
            thresholds=th,
        )
        return checks, self.powers[stream, sl]

    def index_features(self, stream: int, t_end_s: float, rr_s) -> IndexFeatureSet:
        """The index features of the window ending at ``t_end_s`` and the RR ``rr_s``.

        Equal to :func:`~addictidx.features.index_features_with_emg` on the window's EEG
        samples and the same RR (features to 1e-12; the same quality report and EMG
        indicator).
        """
        checks, pw = self.window_checks(stream, t_end_s)
        return merge_index_parts(eeg_index_features(checks, pw), rr_index_features(rr_s))

    def index_features_batch(self, streams, t_ends, rr_list) -> list[IndexFeatureSet]:
        """:meth:`index_features` of many windows at once (array operations over all of them;
        the same features, reports and EMG indicators)."""
        from .index_batch import (
            eeg_window_features_batch,
            merge_index_parts_batch,
            rr_index_features_batch,
        )

        eeg = eeg_window_features_batch(self, streams, t_ends)
        rr = rr_index_features_batch(rr_list)
        return merge_index_parts_batch(eeg, rr)
