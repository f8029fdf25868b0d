"""Simulated devices: real recordings turned into the BLE notifications a real device sends.

:class:`SimulatedHeadband` plays EEG as a classic-protocol Muse does (one 20-byte notification
per electrode per 12-sample block, PROTOCOLS.md §1.3); :class:`SimulatedStrap` plays RR intervals
as a standard Heart Rate Service strap does (0x2A37 about once a second, §4.1). Both yield a
time-ordered stream of :class:`Notification` and can inject the faults real links have (random
lost notifications, silent intervals, arrival jitter, channel reordering), reproducibly from a
``seed``.

The payloads are produced by the protocol encoders of :mod:`addictidx.acquire.decoders`, so the
simulated bytes are exactly what the matching decoders (and real devices) use.

Notes
-----
**EEG quantization.** The classic Muse sends 12-bit samples, ``µV = 0.48828125 * (raw - 2048)``.
Encoding rounds each sample to the nearest 0.48828125 µV step (error <= 0.244 µV) and clips it to
the representable range -1000.0 .. +999.51171875 µV. The bundled recording is already on this
grid (muse-lsl wrote it from the same packets, with 3 decimals) and never exceeds ±410 µV.

**Sequence numbers.** Block ``b`` (counted from 0 since the start of the simulation) carries the
16-bit sequence ``(start_sequence + b) % 65536`` on every electrode; the recording loops (sample
index modulo its length) when ``duration_s`` is longer than it, and the sequence keeps counting.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterator, Mapping, Sequence

import numpy as np

from addictidx._core.types import StreamSpec
from addictidx._core.validate import check_data_2d, check_positive
from addictidx.acquire.decoders.hrs import encode_heart_rate_measurement
from addictidx.acquire.decoders.muse_classic import encode_muse_eeg
from addictidx.acquire.notification import Notification
from addictidx.devices import DeviceProfile, load_profile

__all__ = [
    "Notification",
    "SimulatedHeadband",
    "SimulatedStrap",
    "as_profile",
    "check_dropouts",
    "check_fraction",
    "in_dropout",
    "set_link_faults",
    "load_eeg_source",
]

_MAX_RR_PER_NOTIFICATION = 9  # 20-byte ATT payload (default MTU 23): flags + uint8 HR + 9 x uint16
BATCH_BLOCKS = 256


def as_profile(profile: str | DeviceProfile) -> DeviceProfile:
    """``profile`` itself, or the built-in / file profile it names."""
    return profile if isinstance(profile, DeviceProfile) else load_profile(profile)


def check_dropouts(dropouts) -> tuple[tuple[float, float], ...]:
    """Validated ``((t0, t1), ...)`` link-down intervals in seconds (finite, ``t0 < t1``)."""
    out = []
    for i, iv in enumerate(dropouts or ()):
        try:
            t0, t1 = (float(v) for v in iv)
        except (TypeError, ValueError):
            raise ValueError(
                f"dropouts[{i}] must be a (t0, t1) pair of seconds, got {iv!r}."
            ) from None
        if not (math.isfinite(t0) and math.isfinite(t1) and t1 > t0):
            raise ValueError(f"dropouts[{i}] must have finite t0 < t1, got {iv!r}.")
        out.append((t0, t1))
    return tuple(out)


def check_fraction(name: str, value: float) -> float:
    """``value`` as a float in ``[0, 1)`` (a probability such as ``drop_fraction``)."""
    v = float(value)
    if not 0.0 <= v < 1.0:
        raise ValueError(f"{name!r} must be in [0, 1), got {value!r}.")
    return v


def in_dropout(t: np.ndarray, dropouts: tuple[tuple[float, float], ...]) -> np.ndarray:
    """Boolean mask of the times ``t`` inside any ``[t0, t1)`` of ``dropouts``."""
    silent = np.zeros(t.shape, dtype=bool)
    for t0, t1 in dropouts:
        silent |= (t >= t0) & (t < t1)
    return silent


def set_link_faults(dev, jitter_s, drop_fraction, dropouts, seed, name) -> None:
    """Validate and set the fault options and name every simulated device shares."""
    dev.jitter_s = check_positive("jitter_s", jitter_s, allow_zero=True)
    dev.drop_fraction = check_fraction("drop_fraction", drop_fraction)
    dev.dropouts = check_dropouts(dropouts)
    dev.seed = seed
    dev.name = dev.profile.name if name is None else str(name)


def load_eeg_source(
    data, sfreq, ch_names, default_names
) -> tuple[np.ndarray, float, tuple[str, ...]]:
    """Validated ``(data, sfreq, ch_names)`` of a simulated headband's recording.

    ``data=None`` takes the bundled real Muse recording (its rate and names unless given);
    ``default_names`` (the profile's EEG channels) name the rows when ``ch_names`` is None.
    """
    if data is None:
        from addictidx.readers import bundled_muse_eeg

        rec = bundled_muse_eeg()
        data = rec.data
        sfreq = rec.sfreq if sfreq is None else sfreq
        ch_names = rec.ch_names if ch_names is None else ch_names
    elif sfreq is None:
        raise ValueError("sfreq is required when data is given.")
    data = check_data_2d(data, name="data")
    names = tuple(ch_names) if ch_names is not None else tuple(default_names)
    if len(names) != data.shape[0]:
        raise ValueError(f"ch_names has {len(names)} names but data has {data.shape[0]} rows.")
    return data, check_positive("sfreq", sfreq), names


class SimulatedHeadband:
    """A classic-protocol Muse (Muse 2016 / Muse 2 / Muse S gen 1-2) playing a recording.

    Parameters
    ----------
    data : array-like, shape (n_channels, n_times) | None
        EEG in µV. ``None`` uses the bundled real recording
        (:func:`~addictidx.readers.bundled_muse_eeg`).
    sfreq : float | None
        Sampling frequency of ``data`` in Hz (the device sends at this rate; a Muse: 256).
        Required with ``data``.
    ch_names : sequence of str | None
        Electrode names of the rows (default: the channels of the profile's ``eeg`` stream,
        ``TP9, AF7, AF8, TP10``).
    profile : str | DeviceProfile
        Device profile whose ``eeg`` stream gives the characteristic of each electrode
        (default the ``sim-muse`` profile, classic Muse UUIDs ``273e0003``..``273e0006``).
    characteristics : mapping of str to str | None
        Characteristic UUID per electrode, overriding the profile.
    duration_s : float | None
        How long to stream; the recording loops when this is longer. Default: one pass
        (``n_times // 12`` whole blocks).
    start_sequence : int
        Sequence number of the first block (e.g. ``65530`` to exercise the wrap to 0).
    shuffle : bool
        Send the electrodes of each block in a random order (real headbands do not keep one).
    jitter_s : float
        Add a uniform random delay in ``[0, jitter_s)`` to each notification's time.
    drop_fraction : float
        Probability that any one notification is lost.
    dropouts : sequence of (t0, t1)
        Intervals (device seconds) with no notifications at all, ``t0 <= t < t1``.
    seed : int | None
        Seed of the random choices (order, jitter, drops). Separate random streams are used for
        each, so e.g. turning on drops does not change the channel order.
    name : str | None
        Device name reported to the transport (default: the profile name).

    Notes
    -----
    Block ``b`` holds samples ``12 b .. 12 b + 11`` (modulo the recording length) and is sent at
    ``t = (12 b + 11) / sfreq`` (+ jitter): the time of its last sample. A block whose samples
    are NaN for an electrode (a gap in the source) is not sent for that electrode.
    """

    def __init__(
        self,
        data=None,
        sfreq: float | None = None,
        *,
        ch_names: Sequence[str] | None = None,
        profile: str | DeviceProfile = "sim-muse",
        characteristics: Mapping[str, str] | None = None,
        duration_s: float | None = None,
        start_sequence: int = 0,
        shuffle: bool = True,
        jitter_s: float = 0.0,
        drop_fraction: float = 0.0,
        dropouts: Sequence[tuple[float, float]] = (),
        seed: int | None = 0,
        name: str | None = None,
    ) -> None:
        self.profile = as_profile(profile)
        eeg = self.profile.stream("eeg")
        self.data, self.sfreq, self.ch_names = load_eeg_source(data, sfreq, ch_names, eeg.channels)
        # samples per notification: a device fact of the profile (12 on every classic Muse)
        self.spp = int(eeg.samples_per_packet or 0)
        if self.spp < 1:
            raise ValueError(
                f"Profile {self.profile.name!r}: its eeg stream has no samples_per_packet."
            )
        if characteristics is None:
            chars = {ch: uuid for uuid, chans in eeg.routes.items() for ch in chans}
        else:
            chars = dict(characteristics)
        missing = [c for c in self.ch_names if c not in chars]
        if missing:
            raise ValueError(
                f"No characteristic UUID for channel(s) {missing} (profile {self.profile.name!r})."
            )
        self.characteristics = {c: str(chars[c]).lower() for c in self.ch_names}
        n_times = self.data.shape[1]
        if duration_s is None:
            self.n_blocks = n_times // self.spp
        else:
            duration_s = check_positive("duration_s", duration_s)
            self.n_blocks = int(math.floor(duration_s * self.sfreq / self.spp + 1e-9))
        if self.n_blocks < 1:
            raise ValueError(f"Need at least {self.spp} samples to send one block.")
        if not 0 <= int(start_sequence) <= 0xFFFF:
            raise ValueError(f"start_sequence must be in 0..65535, got {start_sequence!r}.")
        self.start_sequence = int(start_sequence)
        self.shuffle = bool(shuffle)
        set_link_faults(self, jitter_s, drop_fraction, dropouts, seed, name)

    @property
    def stream_spec(self) -> StreamSpec:
        """The EEG :class:`~addictidx._core.types.StreamSpec` of what this headband sends."""
        eeg = self.profile.stream("eeg")
        return StreamSpec(
            self.name, eeg.name, eeg.kind, self.ch_names, self.sfreq, eeg.unit, self.spp
        )

    @property
    def channel_by_uuid(self) -> dict[str, str]:
        """Electrode name per characteristic UUID (what an assembler needs)."""
        return {u: c for c, u in self.characteristics.items()}

    @property
    def duration_s(self) -> float:
        """Time of the last sample sent, in seconds (``12 * n_blocks / sfreq``)."""
        return self.n_blocks * self.spp / self.sfreq

    def sample_index(self, block: int | np.ndarray) -> np.ndarray:
        """Indices into ``data`` (columns) of the 12 samples of block(s) ``block``."""
        b = np.asarray(block, dtype=np.int64)
        idx = b[..., None] * self.spp + np.arange(self.spp)
        return idx % self.data.shape[1]

    def __iter__(self) -> Iterator[Notification]:
        return self.notifications()

    def notifications(self, until_s: float | None = None) -> Iterator[Notification]:
        """Yield the notifications in time order (ties keep the per-block electrode order).

        Parameters
        ----------
        until_s : float | None
            Stop after the last notification with ``t <= until_s`` (default: all).

        Yields
        ------
        notification : Notification
        """
        ss = np.random.SeedSequence(self.seed)
        rng_order, rng_jitter, rng_drop = (np.random.default_rng(s) for s in ss.spawn(3))
        n_ch = len(self.ch_names)
        uuids = [self.characteristics[c] for c in self.ch_names]
        last_t = (self.spp - 1) / self.sfreq
        block_dt = self.spp / self.sfreq
        heap: list[tuple[float, int, Notification]] = []
        counter = 0
        for b0 in range(0, self.n_blocks, BATCH_BLOCKS):
            b = np.arange(b0, min(b0 + BATCH_BLOCKS, self.n_blocks))
            nb = b.size
            t_base = b * block_dt + last_t
            if until_s is not None and t_base[0] > until_s:
                break
            uv = self.data[:, self.sample_index(b)]  # (n_ch, nb, 12)
            order = np.tile(np.arange(n_ch), (nb, 1))
            if self.shuffle:
                order = rng_order.permuted(order, axis=1)
            t = np.repeat(t_base[:, None], n_ch, axis=1)  # (nb, n_ch), in arrival-slot order
            if self.jitter_s > 0:
                t = t + rng_jitter.uniform(0.0, self.jitter_s, size=t.shape)
            keep = np.ones(t.shape, dtype=bool)
            if self.drop_fraction > 0:
                keep &= rng_drop.random(t.shape) >= self.drop_fraction
            if self.dropouts:
                keep &= ~in_dropout(t, self.dropouts)
            if until_s is not None:
                keep &= t <= until_s
            finite = np.all(np.isfinite(uv), axis=2)  # (n_ch, nb)
            seqs = (self.start_sequence + b) % 65536
            for i in range(nb):
                seq = int(seqs[i])
                for slot in range(n_ch):
                    if not keep[i, slot]:
                        continue
                    ch = int(order[i, slot])
                    if not finite[ch, i]:
                        continue
                    payload = encode_muse_eeg(seq, uv[ch, i])
                    heapq.heappush(
                        heap,
                        (
                            float(t[i, slot]),
                            counter,
                            Notification(float(t[i, slot]), uuids[ch], payload),
                        ),
                    )
                    counter += 1
            # every later notification has t >= the next block's base time
            horizon = (b[-1] + 1) * block_dt + last_t
            while heap and heap[0][0] <= horizon:
                yield heapq.heappop(heap)[2]
        while heap:
            yield heapq.heappop(heap)[2]


class SimulatedStrap:
    """A Heart Rate Service chest strap (Polar H7/H9/H10, Garmin, Wahoo, ...) playing RR intervals.

    Parameters
    ----------
    rr_s : array-like, shape (n_beats,) | None
        RR intervals in seconds. ``None`` uses the bundled real series
        (:func:`~addictidx.readers.bundled_rr`).
    duration_s : float | None
        How long to stream; the series loops when this is longer. Default: one pass
        (``sum(rr_s)``).
    interval_s : float
        Time between notifications (straps send about one per second).
    jitter_s : float
        Add a uniform random delay in ``[0, jitter_s)`` to each notification (``< interval_s``).
    hr_beats : int
        The HR field is ``round(60 / mean(RR))`` over the last ``hr_beats`` completed beats
        (0 before the first beat), clipped to 0..255.
    drop_fraction : float
        Probability that any one notification is lost (with the RR intervals it carried).
    dropouts : sequence of (t0, t1)
        Intervals (device seconds) in which the link is down: no notification with
        ``t0 <= t < t1`` is received.
    seed : int | None
        Seed of jitter and drops (separate random streams).
    profile : str | DeviceProfile
        Device profile whose ``rr`` and ``hr`` streams describe the strap (default ``sim-hrs``;
        the characteristic is the standard Heart Rate Measurement 0x2A37).
    name : str | None
        Device name reported to the transport (default: the profile name).

    Notes
    -----
    Beat ``k`` happens at ``T_k = rr_0 + ... + rr_k`` (the beat before the first interval is at
    0). Notification ``n = 1, 2, ...`` is sent at ``t_n = n * interval_s`` (+ jitter) and carries,
    oldest first, the intervals ``round(rr * 1024)`` of the beats with ``t_{n-1} < T_k <= t_n``
    (0 to several per notification, as real straps do). At most 9 fit a 20-byte notification;
    any more wait for the next one (extra notifications follow ``duration_s`` until every beat is
    sent). Beats after ``duration_s`` are not sent; the last regular notification is the first at
    or after ``duration_s``.

    A lost notification (``drop_fraction``, ``dropouts``) loses the intervals it carried; the
    strap keeps detecting beats, so the first interval after a gap is still the true one. This
    models a radio-link loss; loss of skin contact is not simulated (the contact bit is always
    "detected").
    """

    def __init__(
        self,
        rr_s=None,
        *,
        duration_s: float | None = None,
        interval_s: float = 1.0,
        jitter_s: float = 0.0,
        hr_beats: int = 4,
        drop_fraction: float = 0.0,
        dropouts: Sequence[tuple[float, float]] = (),
        seed: int | None = 0,
        profile: str | DeviceProfile = "sim-hrs",
        name: str | None = None,
    ) -> None:
        self.profile = as_profile(profile)
        routes = self.profile.stream("rr").routes
        if len(routes) != 1:
            raise ValueError(
                f"Profile {self.profile.name!r}: the rr stream needs exactly one characteristic."
            )
        if rr_s is None:
            from addictidx.readers import bundled_rr

            rr_s = bundled_rr()
        rr = np.asarray(rr_s, dtype=np.float64)
        if rr.ndim != 1 or rr.size == 0:
            raise ValueError(f"rr_s must be a non-empty 1D array, got shape {rr.shape}.")
        if not np.all(np.isfinite(rr) & (rr > 0)):
            i = int(np.flatnonzero(~(np.isfinite(rr) & (rr > 0)))[0])
            raise ValueError(f"rr_s must be finite and > 0 s; position {i} holds {rr[i]!r}.")
        if np.any(np.rint(rr * 1024) > 0xFFFF):
            raise ValueError("rr_s values must be < 64 s (uint16 in 1/1024 s).")
        self.rr_s = rr
        self.duration_s = (
            float(rr.sum()) if duration_s is None else check_positive("duration_s", duration_s)
        )
        self.interval_s = check_positive("interval_s", interval_s)
        self.jitter_s = check_positive("jitter_s", jitter_s, allow_zero=True)
        if self.jitter_s >= self.interval_s:
            raise ValueError(f"jitter_s must be < interval_s, got {jitter_s!r} >= {interval_s!r}.")
        if int(hr_beats) < 1:
            raise ValueError(f"hr_beats must be >= 1, got {hr_beats!r}.")
        self.hr_beats = int(hr_beats)
        self.drop_fraction = check_fraction("drop_fraction", drop_fraction)
        self.dropouts = check_dropouts(dropouts)
        self.seed = seed
        self.characteristic = next(iter(routes))
        self.name = self.profile.name if name is None else str(name)

    @property
    def rr_spec(self) -> StreamSpec:
        """The RR stream spec of the profile (seconds, irregular), named after this device."""
        return self.profile.stream("rr").spec(self.name)

    @property
    def hr_spec(self) -> StreamSpec:
        """The HR stream spec of the profile (bpm, irregular), named after this device."""
        return self.profile.stream("hr").spec(self.name)

    def beats(self) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(T, rr)``: beat times (device s) and RR intervals (s) of every beat sent.

        The series is looped to cover ``duration_s``; beats after ``duration_s`` are excluded.
        """
        rr = self.rr_s
        n_loops = int(math.ceil(self.duration_s / rr.sum() + 1e-12))
        rr_all = np.tile(rr, max(n_loops, 1))
        t = np.cumsum(rr_all)
        n = int(np.searchsorted(t, self.duration_s * (1 + 1e-12), side="right"))
        return t[:n], rr_all[:n]

    def __iter__(self) -> Iterator[Notification]:
        return self.notifications()

    def notifications(self, until_s: float | None = None) -> Iterator[Notification]:
        """Yield the notifications in time order.

        Parameters
        ----------
        until_s : float | None
            Stop after the last notification with ``t <= until_s`` (default: all).

        Yields
        ------
        notification : Notification
        """
        ss = np.random.SeedSequence(self.seed)
        rng_jitter, rng_drop = (np.random.default_rng(s) for s in ss.spawn(2))
        beat_t, rr = self.beats()
        rr_1024 = np.rint(rr * 1024).astype(np.int64)
        n_base = int(math.ceil(self.duration_s / self.interval_s - 1e-9))
        # spare notifications after duration_s, used only if capped ones left beats unsent
        n_notif = n_base + (beat_t.size // _MAX_RR_PER_NOTIFICATION + 1 if n_base else 0)
        t = np.arange(1, n_notif + 1) * self.interval_s
        if self.jitter_s > 0:
            t = t + rng_jitter.uniform(0.0, self.jitter_s, size=t.shape)
        keep = np.ones(t.shape, dtype=bool)
        if self.drop_fraction > 0:
            keep &= rng_drop.random(t.shape) >= self.drop_fraction
        if self.dropouts:
            keep &= ~in_dropout(t, self.dropouts)
        t_assign = t.copy()
        if n_base:  # from the last regular notification on, every remaining beat is due
            last_beat = beat_t[-1] if beat_t.size else 0.0
            t_assign[n_base - 1 :] = np.maximum(t_assign[n_base - 1 :], last_beat)
        complete = np.searchsorted(beat_t, t_assign, side="right")  # beats done by each t_n
        # HR: mean of the last hr_beats intervals completed by t_n
        cs = np.concatenate(([0.0], np.cumsum(rr)))
        m = np.minimum(complete, self.hr_beats)
        with np.errstate(divide="ignore", invalid="ignore"):
            mean_rr = (cs[complete] - cs[complete - m]) / m
            hr = np.where(m > 0, np.rint(60.0 / mean_rr), 0.0)
        hr = np.clip(hr, 0, 255).astype(np.int64)
        sent = 0
        for n in range(n_notif):
            if (until_s is not None and t[n] > until_s) or (n >= n_base and sent >= beat_t.size):
                break
            stop = min(int(complete[n]), sent + _MAX_RR_PER_NOTIFICATION)
            values = rr_1024[sent:stop]
            sent = stop
            if keep[n]:
                payload = encode_heart_rate_measurement(int(hr[n]), values.tolist(), contact=True)
                yield Notification(float(t[n]), self.characteristic, payload)
