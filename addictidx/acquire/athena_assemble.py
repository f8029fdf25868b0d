"""Muse S Athena notifications -> gap-marked EEG :class:`~addictidx._core.types.Chunk` s.

An Athena notification multiplexes tagged blocks (PROTOCOLS.md §2.3-2.5,
:mod:`addictidx.acquire.decoders.muse_athena`). :class:`AthenaEegAssembler` takes the EEG blocks
(TAG ``0x11``: 4 channels x 4 samples, ``0x12``: 8 channels x 2 samples, 256 Hz) and keeps the
electrode rows ``TP9, AF7, AF8, TP10`` (the AUX rows 4-7 of ``0x12`` are not part of this
stream). Loss is found from the **per-TAG 8-bit block index** (never from arrival order); lost
blocks become NaN samples at the times they were due and are never interpolated, as for the
classic Muse (:class:`~addictidx.acquire.assemble.MuseEegAssembler`). The device clock field is
unreliable (§2.5, ``decisions.device_clock``), so sample times come from host arrival times by an
exponentially weighted least-squares line (``clock="lstsq"``, the classic assembler's fit).

:func:`athena_session_profile` gives the view of an Athena profile a session uses: its ``eeg``
stream holds the four electrodes only (what :class:`~addictidx.acquire.hub.StreamHub` buffers),
so the recording metadata, quality thresholds and features see the same channels as a classic
Muse.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from types import MappingProxyType

import numpy as np

from addictidx._core.types import Chunk, StreamSpec
from addictidx.acquire.decoders.muse_athena import (
    ATHENA_TAGS,
    AthenaBlock,
    decode_athena_block,
    split_athena_notification,
)
from addictidx.acquire.eeg_clock import ArrivalFit, init_eeg_timing
from addictidx.devices import DeviceProfile, StreamProfile, scaler

__all__ = [
    "AthenaEegAssembler",
    "athena_eeg_tag_channels",
    "athena_session_profile",
    "is_athena_profile",
]

_EEG_TAGS = tuple(t for t, s in ATHENA_TAGS.items() if s.sensor == "eeg")


def is_athena_profile(profile: DeviceProfile) -> bool:
    """True when ``profile`` speaks the multiplexed Athena protocol (``protocol =
    "muse-athena"``)."""
    return profile.protocol == "muse-athena"


def athena_eeg_tag_channels(profile: DeviceProfile) -> dict[int, tuple[str, ...]]:
    """EEG TAG -> channel names of its rows, merged over the profile's Athena EEG streams.

    Read from each ``athena.packet`` stream of kind ``eeg``: ``layout.tag_channels`` (keys
    ``"0x11"``/``"0x12"``), or the stream's channels for TAGs without a list.
    """
    out: dict[int, tuple[str, ...]] = {}
    for s in profile.streams:
        if s.decoder != "athena.packet" or s.kind != "eeg":
            continue
        tc = s.layout.get("tag_channels") or {}
        for tag in s.layout.get("tags", ()):
            if tag not in _EEG_TAGS:
                continue
            names = tc.get(f"0x{tag:02x}")
            out[int(tag)] = tuple(names) if names is not None else tuple(s.channels)
    return out


def _electrodes(profile: DeviceProfile) -> tuple[str, ...]:
    eeg = profile.stream("eeg")
    tags = athena_eeg_tag_channels(profile)
    common = set.intersection(*(set(v) for v in tags.values())) if tags else set()
    return tuple(c for c in eeg.channels if c in common)


def athena_session_profile(profile: DeviceProfile) -> DeviceProfile:
    """The Athena profile as a session sees it: ``eeg`` = the electrodes only.

    The ``eeg`` stream keeps the channels every EEG TAG carries (``TP9, AF7, AF8, TP10``) and
    TAG ``0x11``; the TAGs that also carry AUX rows (``0x12``) move to a non-required stream
    ``eeg_<tag>`` with all their channels, so :func:`~addictidx.acquire.decode` still decodes
    every block of the derived profile. Classic profiles (and already derived ones) are
    returned unchanged.

    Parameters
    ----------
    profile : DeviceProfile

    Returns
    -------
    profile : DeviceProfile
        Same name, identity and commands.
    """
    if not is_athena_profile(profile) or "eeg" not in profile.stream_names:
        return profile
    eeg = profile.stream("eeg")
    electrodes = _electrodes(profile)
    if not electrodes or electrodes == eeg.channels:
        return profile
    tag_ch = athena_eeg_tag_channels(profile)
    own = [t for t in eeg.layout.get("tags", ()) if set(tag_ch.get(t, ())) <= set(electrodes)]
    extra = [t for t in eeg.layout.get("tags", ()) if t not in own]
    if not own:
        return profile

    def layout(tags: Sequence[int], names: tuple[str, ...]) -> Mapping:
        d = dict(eeg.layout)
        d["tags"] = list(tags)
        d["tag_channels"] = MappingProxyType({f"0x{t:02x}": list(tag_ch[t]) for t in tags})
        if "tag_samples" in d:
            d["tag_samples"] = MappingProxyType(
                {k: v for k, v in d["tag_samples"].items() if int(k, 16) in tags}
            )
        return MappingProxyType(d)

    quality_channels = MappingProxyType(
        {c: q for c, q in eeg.quality_channels.items() if c in electrodes}
    )
    main = dataclasses.replace(
        eeg, channels=electrodes, layout=layout(own, electrodes), quality_channels=quality_channels
    )
    streams: list[StreamProfile] = []
    for s in profile.streams:
        if s is eeg:
            streams.append(main)
            for t in extra:
                streams.append(
                    dataclasses.replace(
                        eeg,
                        name=f"eeg_0x{t:02x}",
                        channels=tag_ch[t],
                        layout=layout([t], tag_ch[t]),
                        required=False,
                        quality=MappingProxyType({}),
                        quality_channels=MappingProxyType({}),
                    )
                )
        else:
            streams.append(s)
    return dataclasses.replace(profile, streams=tuple(streams))


class AthenaEegAssembler:
    """Assemble Athena EEG blocks into gap-marked chunks on the host clock.

    Parameters
    ----------
    spec : StreamSpec
        The EEG stream (``sfreq`` 256; its channels, e.g. ``TP9, AF7, AF8, TP10``, in row order).
    tag_channels : mapping of int to sequence of str
        Channel names of the rows of each EEG TAG's blocks (``{0x11: [...4], 0x12: [...8]}``);
        every channel of ``spec`` must be among each TAG's names (other rows, e.g. AUX, are
        dropped).
    scale, offset : float
        µV = ``scale * (raw + offset)`` (the profile's values; same arithmetic as
        :func:`~addictidx.acquire.decode`).
    clock : {"lstsq", "anchor"}
        ``"lstsq"`` (default): sample times from a least-squares line through (sample index,
        arrival) pairs, as :class:`~addictidx.acquire.assemble.MuseEegAssembler`'s ``"lstsq"``;
        ``"anchor"``: the first notification's last sample is at its arrival, then nominal rate.
    max_lag_blocks : int
        A run of missing blocks is declared lost (NaN) once a block at least this many blocks
        newer than its last one has arrived; until then later blocks wait (tolerated
        reordering). Each run becomes one NaN chunk.
    fit_memory_s : float
        Time constant of the fit's exponential forgetting.

    Attributes
    ----------
    tag : int | None
        The EEG TAG this stream follows (the first one seen; a headband sends one EEG TAG per
        preset). Blocks of another EEG TAG are counted in ``n_other_tag`` and dropped.
    n_notifications, n_blocks : int
        Notifications with EEG blocks and EEG blocks accepted.
    n_duplicate : int
        Blocks whose index was already pending (the first copy is kept).
    n_late : int
        Blocks older than what was already emitted (discarded).
    n_missing_blocks : int
        Blocks emitted as NaN.
    n_other_tag : int
        EEG blocks of a TAG other than :attr:`tag`.

    Notes
    -----
    Block index unwrapping: the index is 8-bit (wraps after 256 blocks: 4 s of ``0x11``, 2 s of
    ``0x12``). A step ``d = (index - last) mod 256`` is taken as ``d + 256 k`` with ``k`` chosen
    so that the step is closest to the number of blocks the host time since the last block
    predicts (``k = -1``: a late, reordered block). When the 16-bit packet counter shows that no
    notification was lost in between (step 0 or 1), ``k`` is 0 (or -1 for ``d > 128``) whatever
    the host clock says, so a host-clock jump does not invent a gap. Only an outage that is both
    longer than half the index range and hides lost notifications relies on host time.

    Sample ``j`` of unwrapped block ``s`` has index ``n_spb (s - s0) + j`` (``s0`` = first
    block). With ``clock="lstsq"`` each notification adds the point (index of its newest block's
    last sample, arrival time) to the fit; chunks are timestamped with the fit at emission.
    Call :meth:`reset` after a reconnect (the headband may restart its counters).
    """

    def __init__(
        self,
        spec: StreamSpec,
        tag_channels: Mapping[int, Sequence[str]],
        *,
        scale: float,
        offset: float = 0.0,
        clock: str = "lstsq",
        max_lag_blocks: int = 1,
        fit_memory_s: float = 600.0,
    ) -> None:
        init_eeg_timing(self, spec, clock, max_lag_blocks, fit_memory_s)
        self._rows: dict[int, list[int]] = {}
        for tag, names in tag_channels.items():
            tag = int(tag)
            layout = ATHENA_TAGS.get(tag)
            if layout is None or layout.sensor != "eeg":
                raise ValueError(f"tag_channels: 0x{tag:02x} is not an Athena EEG TAG.")
            names = list(names)
            if len(names) != layout.n_channels:
                raise ValueError(
                    f"tag_channels[0x{tag:02x}]: {len(names)} names for "
                    f"{layout.n_channels} channels."
                )
            missing = [c for c in spec.channels if c not in names]
            if missing:
                raise ValueError(
                    f"tag_channels[0x{tag:02x}] lacks channel(s) {missing} of {spec.key!r}."
                )
            self._rows[tag] = [names.index(c) for c in spec.channels]
        if not self._rows:
            raise ValueError("tag_channels names no EEG TAG.")
        self._conv = scaler(scale, offset)
        self._n_ch = spec.n_channels
        self.reset()

    def reset(self) -> None:
        """Forget all state (after a reconnect); the next block re-anchors the clock."""
        self.tag: int | None = None
        self.spb = 0
        self._high: int | None = None
        self._high_rx = 0.0
        self._last_packet: int | None = None
        self._next = 0
        self._s0 = 0
        self._t0 = 0.0
        self._pending: dict[int, tuple[np.ndarray, float]] = {}
        self._fit: ArrivalFit | None = None
        self._last_rx = float("nan")
        self.n_notifications = 0
        self.n_blocks = 0
        self.n_duplicate = 0
        self.n_late = 0
        self.n_missing_blocks = 0
        self.n_other_tag = 0

    # -- feeding ----------------------------------------------------------------------------
    def feed(self, payload: bytes, received_at: float) -> list[Chunk]:
        """Add one notification; return the chunks it completed (oldest first).

        Raises
        ------
        DecodeError
            Malformed notification (nothing is changed).
        """
        return self.feed_blocks(split_athena_notification(payload), received_at)

    def feed_blocks(self, blocks: Iterable[AthenaBlock], received_at: float) -> list[Chunk]:
        """Like :meth:`feed` for the blocks of one notification already split (non-EEG blocks
        are ignored).

        Returns
        -------
        chunks : list of Chunk
            Data chunks (one per run of consecutive blocks) and NaN chunks (one per run of lost
            blocks), in time order.
        """
        t = float(received_at)
        eeg = [b for b in blocks if b.tag in self._rows]
        if not eeg:
            return []
        if self.tag is None:
            self.tag = eeg[0].tag
            self.spb = ATHENA_TAGS[self.tag].n_samples
        decoded = []
        for b in eeg:
            if b.tag != self.tag:
                self.n_other_tag += 1
                continue
            raw = decode_athena_block(b)  # may raise DecodeError before any state changes
            decoded.append((b, self._conv(raw[self._rows[b.tag]])))
        if not decoded:
            return []
        packet = decoded[0][0].packet_seq
        dp = None if self._last_packet is None else (packet - self._last_packet) % 65536
        if dp is None or 0 < dp <= 32768:
            self._last_packet = packet
        self.n_notifications += 1
        self._last_rx = t
        advanced = False
        for b, uv in decoded:
            s = self._unwrap(b.index, t, dp)
            dp = 0  # further blocks of this notification: no notification in between
            if self._high is None:
                self._high = self._next = self._s0 = s
                self._t0 = t
                if self.clock == "lstsq":
                    per_s = self.sfreq / self.spb
                    self._fit = ArrivalFit(
                        self.sfreq, self.fit_memory_s * per_s / 4.0, int(self.sfreq), 0.01
                    )
            if s < self._next:
                self.n_late += 1
                continue
            if s in self._pending:
                self.n_duplicate += 1
                continue
            self._pending[s] = (uv, t)
            self.n_blocks += 1
            if s > self._high:
                self._high = s
                advanced = True
            self._high_rx = t
        if self._high is None:
            return []
        if self._fit is not None and (advanced or self._fit.x0 is None):
            self._fit.add(self.spb * (self._high - self._s0 + 1) - 1, t)
        if self.clock == "anchor" and self.n_notifications == 1:
            # the newest block's last sample of the first notification is at its arrival
            self._t0 = t - (self.spb * (self._high - self._s0 + 1) - 1) / self.sfreq
        return self._emit(final_upto=self._high - self.max_lag_blocks, now=t)

    def _unwrap(self, index: int, t: float, dp: int | None) -> int:
        if self._high is None:
            return int(index)
        d = (int(index) - self._high) % 256
        if dp is not None and dp <= 1:
            k = 0 if d <= 128 else -1
        else:
            expected = max(0.0, (t - self._high_rx) * self.sfreq / self.spb)
            k = max(-1, round((expected - d) / 256.0))
        return self._high + d + 256 * k

    def flush(self) -> list[Chunk]:
        """Emit every pending block now (lost blocks in between as NaN)."""
        if self._high is None:
            return []
        return self._emit(final_upto=self._high, now=self._last_rx)

    # -- output -----------------------------------------------------------------------------
    def _times(self, first_block: int, n_blocks: int) -> np.ndarray:
        idx = self.spb * (first_block - self._s0) + np.arange(self.spb * n_blocks, dtype=float)
        if self._fit is not None:
            a, b = self._fit.coefficients()
            return a + b * idx
        return self._t0 + idx / self.sfreq

    def _emit(self, final_upto: int, now: float) -> list[Chunk]:
        out: list[Chunk] = []
        pending = self._pending
        while self._next <= self._high:
            x = self._next
            if x in pending:
                end = x + 1
                while end in pending:
                    end += 1
                parts = [pending.pop(k) for k in range(x, end)]
                data = (
                    parts[0][0]
                    if len(parts) == 1
                    else np.concatenate([p[0] for p in parts], axis=1)
                )
                out.append(
                    Chunk(
                        self.spec, data, self._times(x, end - x), seq=x, received_at=parts[-1][1]
                    )
                )
                self._next = end
                continue
            # a hole ends at the next block that arrived (x < high, so there is one); it is
            # declared lost as a whole, so one lost notification gives one NaN run / gap
            end = x + 1
            while end not in pending:
                end += 1
            if end - 1 > final_upto:
                break
            n = end - x
            self.n_missing_blocks += n
            data = np.full((self._n_ch, self.spb * n), np.nan)
            out.append(
                Chunk(
                    self.spec, data, self._times(x, n), seq=x, received_at=now, n_missing=data.size
                )
            )
            self._next = end
        return out
