"""A simulated Muse S Athena: a recording played as byte-exact multiplexed notifications.

:class:`SimulatedAthenaHeadband` is the Athena counterpart of
:class:`~addictidx.acquire.simulate.SimulatedHeadband` (same fault options, same source
recording); its payloads come from :mod:`addictidx.acquire.decoders.muse_athena_encode`, the
exact inverse of the Athena decoder (PROTOCOLS.md §2.3).
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterator, Sequence

import numpy as np

from addictidx._core.types import StreamSpec
from addictidx._core.validate import check_positive
from addictidx.acquire.notification import Notification
from addictidx.acquire.simulate import (
    BATCH_BLOCKS,
    as_profile,
    in_dropout,
    load_eeg_source,
    set_link_faults,
)
from addictidx.devices import DeviceProfile

__all__ = ["SimulatedAthenaHeadband", "athena_uv_to_raw"]

_ATHENA_EEG_TAG = 0x11
_ATHENA_SAMPLES_PER_BLOCK = 4
_ATHENA_RAW_MAX = (1 << 14) - 1


def athena_uv_to_raw(uv, scale: float, offset: float) -> np.ndarray:
    """µV -> the nearest 14-bit Athena EEG code (inverse of ``µV = scale * (raw + offset)``).

    Values outside the representable range are clipped to 0 / 16383 (the rails).
    """
    raw = np.rint(np.asarray(uv, dtype=np.float64) / scale - offset)
    return np.clip(raw, 0, _ATHENA_RAW_MAX).astype(np.int64)


class SimulatedAthenaHeadband:
    """A Muse S Athena (gen 3) playing a recording as byte-exact multiplexed notifications.

    Each notification is one Athena packet of ``blocks_per_notification`` EEG blocks of TAG
    ``0x11`` (4 electrodes x 4 samples, 14-bit, PROTOCOLS.md §2.3), encoded by
    :mod:`addictidx.acquire.decoders.muse_athena_encode` (the exact inverse of the decoder), on
    the profile's first Athena characteristic (``273e0013``).

    Parameters
    ----------
    data : array-like, shape (n_channels, n_times) | None
        EEG in µV. ``None`` uses the bundled real recording
        (:func:`~addictidx.readers.bundled_muse_eeg`).
    sfreq : float | None
        Sampling frequency of ``data`` (256 Hz for a Muse). Required with ``data``.
    ch_names : sequence of str | None
        Names of the rows (default: the profile's electrodes ``TP9, AF7, AF8, TP10``); rows are
        sent in the profile's electrode order, so every electrode must be present.
    profile : str | DeviceProfile
        An Athena profile (default ``muse-s-athena``); kept as
        :func:`~addictidx.acquire.athena_assemble.athena_session_profile` of it (``eeg`` = the
        four electrodes), which is what sessions and the stream hub use.
    duration_s : float | None
        How long to stream; the recording loops. Default: one pass (whole notifications).
    blocks_per_notification : int
        EEG blocks per notification, 1..7 (default 3 = 12 samples, the timing of a classic Muse's
        blocks; real headbands send 1-7 blocks mixed with IMU/optics blocks).
    start_index : int
        8-bit block index of the first block (e.g. 250 to exercise the wrap).
    start_packet : int
        16-bit packet counter of the first notification.
    jitter_s : float
        Uniform random delay in ``[0, jitter_s)`` added to each notification's time.
    drop_fraction : float
        Probability that any one notification is lost.
    dropouts : sequence of (t0, t1)
        Intervals (device seconds) with no notifications, ``t0 <= t < t1``.
    seed : int | None
        Seed of jitter and drops (separate random streams).
    name : str | None
        Device name reported to the transport (default: the profile name).

    Notes
    -----
    Notification ``n`` carries blocks ``n B .. n B + B - 1`` (``B = blocks_per_notification``),
    i.e. samples ``4 n B .. 4 n B + 4 B - 1`` (modulo the recording length), and is sent at the
    time of its last sample ``(4 B (n + 1) - 1) / sfreq`` (+ jitter). Block ``b`` has index
    ``(start_index + b) % 256``; the packet counter steps by one per notification, also across
    lost ones. µV are rounded to the nearest code of the 14-bit grid
    (``1450 / 16383 ≈ 0.0885 µV``, error <= 0.0443 µV) and clipped to about ±725 µV. A block with
    a NaN sample in the source is not sent (it looks like a lost block).
    """

    def __init__(
        self,
        data=None,
        sfreq: float | None = None,
        *,
        ch_names: Sequence[str] | None = None,
        profile: str | DeviceProfile = "muse-s-athena",
        duration_s: float | None = None,
        blocks_per_notification: int = 3,
        start_index: int = 0,
        start_packet: int = 0,
        jitter_s: float = 0.0,
        drop_fraction: float = 0.0,
        dropouts: Sequence[tuple[float, float]] = (),
        seed: int | None = 0,
        name: str | None = None,
    ) -> None:
        from addictidx.acquire.athena_assemble import athena_session_profile, is_athena_profile

        prof = as_profile(profile)
        if not is_athena_profile(prof):
            raise ValueError(
                f"Profile {prof.name!r} is not a Muse S Athena profile (protocol "
                f"{prof.protocol!r}, need 'muse-athena')."
            )
        self.profile = athena_session_profile(prof)
        eeg = self.profile.stream("eeg")
        data, self.sfreq, names = load_eeg_source(data, sfreq, ch_names, eeg.channels)
        missing = [c for c in eeg.channels if c not in names]
        if missing:
            raise ValueError(
                f"data has no row for electrode(s) {missing} of profile {self.profile.name!r}."
            )
        self.ch_names = eeg.channels
        self.data = data[[names.index(c) for c in eeg.channels]]
        self.scale, self.offset = float(eeg.scale), float(eeg.offset)
        self.characteristic = eeg.characteristics[0].lower()
        bpn = int(blocks_per_notification)
        if not 1 <= bpn <= 7:
            raise ValueError(
                f"blocks_per_notification must be in 1..7, got {blocks_per_notification!r}."
            )
        self.blocks_per_notification = bpn
        self.samples_per_notification = bpn * _ATHENA_SAMPLES_PER_BLOCK
        n_times = self.data.shape[1]
        if duration_s is None:
            self.n_notifications = n_times // self.samples_per_notification
        else:
            duration_s = check_positive("duration_s", duration_s)
            self.n_notifications = int(
                math.floor(duration_s * self.sfreq / self.samples_per_notification + 1e-9)
            )
        if self.n_notifications < 1:
            raise ValueError(
                f"Need at least {self.samples_per_notification} samples to send one notification."
            )
        if not 0 <= int(start_index) <= 0xFF:
            raise ValueError(f"start_index must be in 0..255, got {start_index!r}.")
        if not 0 <= int(start_packet) <= 0xFFFF:
            raise ValueError(f"start_packet must be in 0..65535, got {start_packet!r}.")
        self.start_index = int(start_index)
        self.start_packet = int(start_packet)
        set_link_faults(self, jitter_s, drop_fraction, dropouts, seed, name)

    @property
    def stream_spec(self) -> StreamSpec:
        """The EEG :class:`~addictidx._core.types.StreamSpec` (the four electrodes, 256 Hz)."""
        eeg = self.profile.stream("eeg")
        return StreamSpec(
            self.name,
            eeg.name,
            eeg.kind,
            self.ch_names,
            self.sfreq,
            eeg.unit,
            _ATHENA_SAMPLES_PER_BLOCK,
        )

    @property
    def duration_s(self) -> float:
        """Time of the last sample sent, in seconds."""
        return self.n_notifications * self.samples_per_notification / self.sfreq

    def sample_index(self, notification: int | np.ndarray) -> np.ndarray:
        """Indices into ``data`` (columns) of the samples of notification(s) ``notification``."""
        n = np.asarray(notification, dtype=np.int64)
        spn = self.samples_per_notification
        return (n[..., None] * spn + np.arange(spn)) % self.data.shape[1]

    def raw(self, notification: int) -> np.ndarray:
        """The 14-bit codes sent in notification ``notification``, shape (4, 4 B)."""
        return athena_uv_to_raw(
            self.data[:, self.sample_index(notification)], self.scale, self.offset
        )

    def __iter__(self) -> Iterator[Notification]:
        return self.notifications()

    def notifications(self, until_s: float | None = None) -> Iterator[Notification]:
        """Yield the notifications in time order.

        Parameters
        ----------
        until_s : float | None
            Stop after the last notification with ``t <= until_s`` (default: all).
        """
        from addictidx.acquire.decoders.muse_athena_encode import (
            encode_athena_eeg_block,
            encode_athena_packet,
        )

        ss = np.random.SeedSequence(self.seed)
        rng_jitter, rng_drop = (np.random.default_rng(s) for s in ss.spawn(2))
        spn, spb, bpn = (
            self.samples_per_notification,
            _ATHENA_SAMPLES_PER_BLOCK,
            self.blocks_per_notification,
        )
        heap: list[tuple[float, int, Notification]] = []
        for n0 in range(0, self.n_notifications, BATCH_BLOCKS):
            n = np.arange(n0, min(n0 + BATCH_BLOCKS, self.n_notifications))
            t_base = ((n + 1) * spn - 1) / self.sfreq
            if until_s is not None and t_base[0] > until_s:
                break
            t = t_base + (
                rng_jitter.uniform(0.0, self.jitter_s, size=n.size) if self.jitter_s > 0 else 0.0
            )
            keep = np.ones(n.size, dtype=bool)
            if self.drop_fraction > 0:
                keep &= rng_drop.random(n.size) >= self.drop_fraction
            if self.dropouts:
                keep &= ~in_dropout(t, self.dropouts)
            if until_s is not None:
                keep &= t <= until_s
            uv = self.data[:, self.sample_index(n)]  # (4, nb, spn)
            raw = athena_uv_to_raw(uv, self.scale, self.offset)
            finite = np.isfinite(uv).all(axis=0).reshape(n.size, bpn, spb).all(axis=2)
            for i in np.flatnonzero(keep):
                k = int(n[i])
                blocks = [
                    (
                        _ATHENA_EEG_TAG,
                        (self.start_index + k * bpn + j) % 256,
                        encode_athena_eeg_block(
                            raw[:, i, j * spb : (j + 1) * spb], _ATHENA_EEG_TAG
                        ),
                    )
                    for j in range(bpn)
                    if finite[i, j]
                ]
                if not blocks:
                    continue
                payload = encode_athena_packet((self.start_packet + k) % 65536, blocks)
                heapq.heappush(
                    heap, (float(t[i]), k, Notification(float(t[i]), self.characteristic, payload))
                )
            horizon = (n[-1] + 2) * spn / self.sfreq - 1 / self.sfreq
            while heap and heap[0][0] <= horizon:
                yield heapq.heappop(heap)[2]
        while heap:
            yield heapq.heappop(heap)[2]
