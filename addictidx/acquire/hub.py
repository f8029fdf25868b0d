"""Stream layer: notifications and link events in, gap-marked buffers and gap records out.

:class:`StreamHub` is the consumer side of every transport. Register :meth:`StreamHub.on_notification`
as the transport's notification callback (``callback(device_name, characteristic, payload,
received_at)``, the same for :class:`~addictidx.acquire.replay.ReplayTransport` and
:class:`~addictidx.acquire.ble.BleakTransport`) and :meth:`StreamHub.on_link_event` as its event
callback (:meth:`StreamHub.attach` does both). Per device, notifications are routed by
characteristic UUID (from the device's profile) to an assembler:

* classic Muse EEG (decoder ``muse.eeg``): :class:`~addictidx.acquire.assemble.MuseEegAssembler`
  (blocks by sequence number, lost blocks NaN, per-device dejittering ``anchor``/``lstsq``);
* Heart Rate Measurement (``hrs.measurement``): :class:`~addictidx.acquire.assemble.HrsAssembler`
  into the ``rr`` and ``hr`` streams;
* Polar PMD ECG (``pmd.ecg``): device timestamps (the H10's own clock), frame loss from the
  timestamps, NaN fill;
* battery level (``battery.level``);
* Muse S Athena (profile protocol ``muse-athena``, decoder ``athena.packet``): one handler per
  device for both Athena characteristics; EEG blocks (TAG 0x11/0x12) go to
  :class:`~addictidx.acquire.athena_assemble.AthenaEegAssembler` (per-TAG block indices, lost
  blocks NaN, host-arrival least-squares clock, see ``athena_clock``) into an ``eeg`` stream of
  the four electrodes (AUX rows dropped), battery blocks (0x98/0x88) into ``battery``.

Other streams (Muse PPG/IMU/telemetry, Athena optics/IMU, PMD ACC) and control replies are
counted, not assembled.

Gaps are never interpolated. Regularly sampled streams get NaN samples at the times the missing
samples were due; every gap also becomes a :class:`~addictidx.acquire.events.GapRecord` with its
start and duration (reason ``disconnect``, ``loss`` or ``silence``). After a reconnect the EEG
assembler is reset (a headband may restart its counter) and the gap length is measured on the
session clock.

Threading: all ``on_*`` methods run on one thread (the event loop's); the buffers may be read
from any thread (:meth:`get_window`), see :mod:`addictidx.acquire.buffers`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from typing import Any

import numpy as np

from addictidx._core.errors import DecodeError
from addictidx._core.types import Chunk, StreamSpec, Window
from addictidx._core.validate import check_option, check_positive
from addictidx.acquire.assemble import HrsAssembler, MuseEegAssembler
from addictidx.acquire.athena_assemble import (
    AthenaEegAssembler,
    athena_eeg_tag_channels,
    athena_session_profile,
    is_athena_profile,
)
from addictidx.acquire.buffers import EventBuffer, RingBuffer
from addictidx.acquire.decoders.hrs import decode_battery_level
from addictidx.acquire.decoders.muse_athena import (
    ATHENA_TAGS,
    decode_athena_block,
    split_athena_notification,
)
from addictidx.acquire.decoders.polar_pmd import decode_pmd_ecg
from addictidx.acquire.events import GapRecord, LinkEvent
from addictidx.acquire.profiles import DeviceProfile, load_profile

__all__ = ["StreamHub"]


class _Handler:
    """Base: one assembler fed by one or more characteristics of one device."""

    streams: tuple[str, ...] = ()

    def __init__(self, hub: StreamHub, device: str) -> None:
        self.hub = hub
        self.device = device
        self.pending_gap = False  # a disconnect happened; resolve at the next data

    def feed(self, characteristic: str, payload: bytes, t: float) -> None:
        raise NotImplementedError

    def on_disconnect(self, t: float) -> None:
        self.pending_gap = True

    def close(self, t_end: float) -> None:
        """Record a gap left open by a disconnect that never came back."""


class _EegHandler(_Handler):
    def __init__(self, hub, device, profile: DeviceProfile, stream: str) -> None:
        super().__init__(hub, device)
        sp = profile.stream(stream)
        self.streams = (stream,)
        self.spec = sp.spec(device)
        chan = {u: chans[0] for u, chans in sp.routes.items()}
        self.asm = MuseEegAssembler(
            self.spec, chan, clock=hub.eeg_clock, max_lag_blocks=hub.max_lag_blocks
        )
        self.sfreq = float(self.spec.sfreq)
        self.buf = hub._add_buffer(RingBuffer(self.spec, hub.capacity_s))
        self.last_time: float | None = None

    def feed(self, characteristic, payload, t):
        self._write(self.asm.feed(characteristic, payload, t))

    def _write(self, chunks: list[Chunk]) -> None:
        dt = 1.0 / self.sfreq
        for ch in chunks:
            if ch.times.size == 0:
                continue
            if self.pending_gap:
                self.pending_gap = False
                if self.last_time is not None:
                    n_fill = int(round((ch.times[0] - self.last_time) * self.sfreq)) - 1
                    start = self.last_time + dt
                    if n_fill > 0:
                        times = start + np.arange(n_fill) * dt
                        data = np.full((self.spec.n_channels, n_fill), np.nan)
                        self.hub._emit(
                            Chunk(self.spec, data, times, n_missing=data.size), self.buf
                        )
                    self.hub._gap(
                        GapRecord(
                            self.device,
                            self.spec.name,
                            float(start),
                            max(n_fill, 0) * dt,
                            "disconnect",
                            max(n_fill, 0),
                        )
                    )
            if ch.n_missing == ch.data.size:
                n = ch.times.size
                self.hub._gap(
                    GapRecord(self.device, self.spec.name, float(ch.times[0]), n * dt, "loss", n)
                )
            self.hub._emit(ch, self.buf)
            self.last_time = float(ch.times[-1])

    def on_disconnect(self, t):
        self._write(self.asm.flush())
        self.asm.reset()
        self.pending_gap = True

    def close(self, t_end):
        self._write(self.asm.flush())
        if self.pending_gap and self.last_time is not None:
            start = self.last_time + 1.0 / self.sfreq
            self.hub._gap(
                GapRecord(
                    self.device, self.spec.name, start, max(0.0, t_end - start), "disconnect", 0
                )
            )
            self.pending_gap = False


class _AthenaHandler(_EegHandler):
    """Both Athena characteristics of one device: EEG assembled, battery buffered, rest counted."""

    def __init__(self, hub, device, profile: DeviceProfile) -> None:
        _Handler.__init__(self, hub, device)
        profile = athena_session_profile(profile)
        self.last_time = None
        self.asm = None
        self.spec = None
        streams: list[str] = []
        if "eeg" in profile.stream_names and profile.stream("eeg").decoder == "athena.packet":
            sp = profile.stream("eeg")
            self.spec = sp.spec(device)
            self.asm = AthenaEegAssembler(
                self.spec,
                athena_eeg_tag_channels(profile),
                scale=sp.scale,
                offset=sp.offset,
                clock=hub.athena_clock,
                max_lag_blocks=hub.max_lag_blocks,
            )
            self.sfreq = float(self.spec.sfreq)
            self.buf = hub._add_buffer(RingBuffer(self.spec, hub.capacity_s))
            streams.append("eeg")
        self.battery_spec = None
        self.battery_buf = None
        for sp in profile.streams:
            if sp.decoder == "athena.packet" and sp.kind == "battery":
                self.battery_spec = sp.spec(device)
                self.battery_scale = (float(sp.scale), float(sp.offset))
                self.battery_buf = hub._add_buffer(
                    EventBuffer(self.battery_spec, hub.event_capacity)
                )
                streams.append(sp.name)
                break
        self.streams = tuple(streams)

    def feed(self, characteristic, payload, t):
        blocks = split_athena_notification(payload)  # DecodeError before any state changes
        if self.battery_buf is not None:
            for b in blocks:
                if ATHENA_TAGS[b.tag].sensor == "battery":
                    raw = decode_athena_block(b)
                    scale, offset = self.battery_scale
                    pct = (float(raw[0, 0]) + offset) * scale
                    self.hub._emit(
                        Chunk(self.battery_spec, np.array([[pct]]), np.array([t]), received_at=t),
                        self.battery_buf,
                    )
        if self.asm is not None:
            self._write(self.asm.feed_blocks(blocks, t))

    def on_disconnect(self, t):
        if self.asm is not None:
            super().on_disconnect(t)
        else:
            self.pending_gap = True

    def close(self, t_end):
        if self.asm is not None:
            super().close(t_end)


class _IrregularHandler(_Handler):
    """Shared gap logic of event streams: silence while connected, disconnect gaps."""

    def __init__(self, hub, device, streams: tuple[str, ...], silence_s: float | None):
        super().__init__(hub, device)
        self.streams = streams
        self.silence_s = silence_s
        self.last_rx: float | None = None

    def _check_gap(self, t: float) -> None:
        if self.last_rx is None:
            self.pending_gap = False
            return
        if self.pending_gap:
            reason = "disconnect"
        elif self.silence_s is not None and t - self.last_rx > self.silence_s:
            reason = "silence"
        else:
            return
        self.pending_gap = False
        for s in self.streams:
            self.hub._gap(GapRecord(self.device, s, self.last_rx, t - self.last_rx, reason, 0))

    def close(self, t_end):
        if self.pending_gap and self.last_rx is not None:
            for s in self.streams:
                self.hub._gap(
                    GapRecord(
                        self.device,
                        s,
                        self.last_rx,
                        max(0.0, t_end - self.last_rx),
                        "disconnect",
                        0,
                    )
                )
            self.pending_gap = False


class _HrsHandler(_IrregularHandler):
    def __init__(self, hub, device, profile: DeviceProfile, rr: str | None, hr: str | None):
        streams = tuple(s for s in (hr, rr) if s is not None)
        super().__init__(hub, device, streams, hub.silence_s)
        spec_rr = (
            profile.stream(rr).spec(device)
            if rr
            else StreamSpec(device, "rr", "rr", ("rr",), None, "s")
        )
        spec_hr = (
            profile.stream(hr).spec(device)
            if hr
            else StreamSpec(device, "hr", "hr", ("hr",), None, "bpm")
        )
        self.asm = HrsAssembler(spec_rr, spec_hr)
        self.buf_rr = hub._add_buffer(EventBuffer(spec_rr, hub.event_capacity)) if rr else None
        self.buf_hr = hub._add_buffer(EventBuffer(spec_hr, hub.event_capacity)) if hr else None
        self.last_payload: bytes | None = None

    def feed(self, characteristic, payload, t):
        if (
            payload == self.last_payload
            and self.last_rx is not None
            and t - self.last_rx < self.hub.dedupe_window_s
        ):
            self.hub._count(self.device, "n_duplicates")
            return
        chunks = self.asm.feed(payload, t)  # raises DecodeError before any state changes
        self._check_gap(t)
        self.last_payload = payload
        self.last_rx = t
        for ch in chunks:
            buf = self.buf_rr if ch.spec is self.asm.spec_rr else self.buf_hr
            if buf is not None:
                self.hub._emit(ch, buf)


class _BatteryHandler(_IrregularHandler):
    def __init__(self, hub, device, profile: DeviceProfile, stream: str):
        super().__init__(hub, device, (stream,), None)
        self.spec = profile.stream(stream).spec(device)
        self.buf = hub._add_buffer(EventBuffer(self.spec, hub.event_capacity))

    def feed(self, characteristic, payload, t):
        pct = decode_battery_level(payload)
        self._check_gap(t)
        self.last_rx = t
        self.hub._emit(
            Chunk(self.spec, np.array([[float(pct)]]), np.array([t]), received_at=t), self.buf
        )


class _PmdHandler(_Handler):
    """PMD data characteristic: ECG frames assembled on the device clock; others counted."""

    def __init__(self, hub, device, profile: DeviceProfile, ecg: str | None):
        super().__init__(hub, device)
        self.streams = (ecg,) if ecg else ()
        self.spec = profile.stream(ecg).spec(device) if ecg else None
        self.buf = hub._add_buffer(RingBuffer(self.spec, hub.capacity_s)) if ecg else None
        self.nominal_dt = 1.0 / float(self.spec.sfreq) if ecg else 0.0
        self.dt = self.nominal_dt
        self.host_offset: float | None = None  # session time - device time (s)
        self.prev_ts: float | None = None

    def feed(self, characteristic, payload, t):
        if not payload or payload[0] & 0x3F != 0 or self.spec is None:
            self.hub._count(self.device, "n_unhandled")
            return
        ts_ns, uv = decode_pmd_ecg(payload)
        ts = ts_ns / 1e9
        n = uv.size
        if n == 0:
            return
        if self.host_offset is None:
            self.host_offset = t - ts
        spacing = self.dt
        if self.prev_ts is not None:
            step = ts - self.prev_ts
            if step <= 0:  # repeated or out-of-order frame (device time does not go back)
                self.hub._count(self.device, "n_duplicates")
                return
            missing = int(round(step / self.dt)) - n
            if missing > n // 2:
                start = self.host_offset + self.prev_ts + self.dt
                times = start + np.arange(missing) * self.dt
                data = np.full((1, missing), np.nan)
                self.hub._emit(Chunk(self.spec, data, times, n_missing=missing), self.buf)
                reason = "disconnect" if self.pending_gap else "loss"
                self.hub._gap(
                    GapRecord(
                        self.device,
                        self.spec.name,
                        float(start),
                        missing * self.dt,
                        reason,
                        missing,
                    )
                )
            else:
                spacing = step / n
                if abs(spacing / self.nominal_dt - 1.0) < 0.1:
                    self.dt = 0.9 * self.dt + 0.1 * spacing
        self.pending_gap = False
        self.prev_ts = ts
        times = self.host_offset + ts - spacing * np.arange(n - 1, -1, -1, dtype=np.float64)
        self.hub._emit(Chunk(self.spec, uv[None, :], times, received_at=t), self.buf)


class _DeviceState:
    def __init__(self, name: str, profile: DeviceProfile) -> None:
        self.name = name
        self.profile = profile
        self.connected = True
        self.last_rx: float | None = None
        self.offset = 0.0
        self.routes: dict[str, _Handler] = {}
        self.handlers: list[_Handler] = []
        self.control: set[str] = set()
        self.counts = {
            "n_notifications": 0,
            "n_decode_errors": 0,
            "n_unhandled": 0,
            "n_control": 0,
            "n_duplicates": 0,
            "n_disconnects": 0,
            "n_clock_steps": 0,
        }
        self.last_error = ""


class StreamHub:
    """Per-device assemblers, ring buffers and gap records behind a transport.

    Parameters
    ----------
    devices : mapping of str to (str | DeviceProfile)
        Device name (as the transport reports it) -> profile (name or object).
    capacity_s : float
        Seconds kept per regularly sampled stream.
    event_capacity : int
        Events kept per irregular stream (RR, HR, battery).
    eeg_clock : {"anchor", "lstsq"}
        EEG timestamping (see :class:`~addictidx.acquire.assemble.MuseEegAssembler`).
    athena_clock : {"lstsq", "anchor"}
        EEG timestamping of Muse S Athena headbands (see
        :class:`~addictidx.acquire.athena_assemble.AthenaEegAssembler`; default ``"lstsq"``:
        the Athena device clock field is unreliable, PROTOCOLS §2.5).
    max_lag_blocks : int
        EEG blocks a late notification may lag behind (tolerated reordering).
    silence_s : float | None
        An HR/RR stream quiet for longer than this while connected gets a ``silence`` gap.
    dedupe_window_s : float
        A Heart Rate notification identical to the previous one and arriving within this time is
        a duplicate and dropped (straps send about one per second and have no counter).
    clock_step_tolerance_s : float
        Arrival times going back by more than this are a host-clock step: the device's later
        times are shifted to continue from the last arrival, and the step is recorded.

    Attributes
    ----------
    gaps : list of GapRecord
        Every gap, in the order found.
    link_events : list of LinkEvent
        Every link event received.
    clock_steps : list of (device, t, step_s)
        Host-clock steps detected and compensated.
    now : float
        Latest (compensated) arrival time seen.
    """

    def __init__(
        self,
        devices: Mapping[str, str | DeviceProfile],
        *,
        capacity_s: float = 600.0,
        event_capacity: int = 8192,
        eeg_clock: str = "anchor",
        max_lag_blocks: int = 4,
        silence_s: float | None = 5.0,
        dedupe_window_s: float = 0.5,
        clock_step_tolerance_s: float = 1e-3,
        athena_clock: str = "lstsq",
    ) -> None:
        self.capacity_s = check_positive("capacity_s", capacity_s)
        self.event_capacity = int(event_capacity)
        self.eeg_clock = check_option("eeg_clock", eeg_clock, ("anchor", "lstsq"))
        self.athena_clock = check_option("athena_clock", athena_clock, ("anchor", "lstsq"))
        self.max_lag_blocks = int(max_lag_blocks)
        self.silence_s = None if silence_s is None else check_positive("silence_s", silence_s)
        self.dedupe_window_s = float(dedupe_window_s)
        self.clock_step_tolerance_s = float(clock_step_tolerance_s)
        self.buffers: dict[tuple[str, str], RingBuffer | EventBuffer] = {}
        self.gaps: list[GapRecord] = []
        self.link_events: list[LinkEvent] = []
        self.clock_steps: list[tuple[str, float, float]] = []
        self.now = float("-inf")
        self._subscribers: list[asyncio.Queue] = []
        self.n_subscriber_overflow = 0
        self._closed = False
        self._devices: dict[str, _DeviceState] = {}
        if not devices:
            raise ValueError("StreamHub needs at least one device.")
        for name, prof in devices.items():
            profile = prof if isinstance(prof, DeviceProfile) else load_profile(prof)
            self._devices[str(name)] = self._build(str(name), profile)

    # -- construction -----------------------------------------------------------------------
    def _add_buffer(self, buf):
        self.buffers[(buf.spec.device, buf.spec.name)] = buf
        return buf

    def _build(self, name: str, profile: DeviceProfile) -> _DeviceState:
        st = _DeviceState(name, profile)
        by_decoder: dict[str, list[str]] = {}
        for s in profile.streams:
            by_decoder.setdefault(s.decoder, []).append(s.name)
        handlers: list[tuple[_Handler, tuple[str, ...]]] = []
        for s in by_decoder.get("muse.eeg", []):
            handlers.append(
                (_EegHandler(self, name, profile, s), profile.stream(s).characteristics)
            )
        hrs = by_decoder.get("hrs.measurement", [])
        if hrs:
            kinds = {profile.stream(s).kind: s for s in hrs}
            h = _HrsHandler(self, name, profile, kinds.get("rr"), kinds.get("hr"))
            chars = {c for s in hrs for c in profile.stream(s).characteristics}
            handlers.append((h, tuple(sorted(chars))))
        for s in by_decoder.get("battery.level", []):
            handlers.append(
                (_BatteryHandler(self, name, profile, s), profile.stream(s).characteristics)
            )
        pmd = by_decoder.get("pmd.ecg", []) + by_decoder.get("pmd.acc", [])
        if pmd:
            ecg = next(iter(by_decoder.get("pmd.ecg", [])), None)
            chars = {c for s in pmd for c in profile.stream(s).characteristics}
            handlers.append((_PmdHandler(self, name, profile, ecg), tuple(sorted(chars))))
        athena = by_decoder.get("athena.packet", [])
        if athena and is_athena_profile(profile):
            chars = {c for s in athena for c in profile.stream(s).characteristics}
            handlers.append((_AthenaHandler(self, name, profile), tuple(sorted(chars))))
        for h, chars in handlers:
            st.handlers.append(h)
            for c in chars:
                st.routes[c.lower()] = h
        if profile.control is not None:
            st.control.add(profile.control.characteristic.lower())
        return st

    @property
    def device_names(self) -> tuple[str, ...]:
        """Names of the devices, in construction order."""
        return tuple(self._devices)

    def attach(self, transport: Any) -> None:
        """Register this hub's callbacks on a transport (``add_callback``/``add_event_callback``)."""
        transport.add_callback(self.on_notification)
        transport.add_event_callback(self.on_link_event)

    # -- input ------------------------------------------------------------------------------
    def _state(self, device: str) -> _DeviceState:
        try:
            return self._devices[device]
        except KeyError:
            raise KeyError(
                f"Unknown device {device!r}; the hub has {list(self._devices)}."
            ) from None

    def on_notification(
        self, device: str, characteristic: str, payload: bytes, received_at: float
    ) -> None:
        """Transport callback: decode, assemble, buffer one notification.

        Malformed payloads are counted (``n_decode_errors``, ``last_error`` in :meth:`stats`) and
        dropped; they never raise.
        """
        st = self._state(device)
        t = float(received_at) + st.offset
        if st.last_rx is not None and t < st.last_rx - self.clock_step_tolerance_s:
            step = t - st.last_rx
            st.offset -= step
            t = st.last_rx
            st.counts["n_clock_steps"] += 1
            self.clock_steps.append((device, t, step))
        st.last_rx = t if st.last_rx is None else max(st.last_rx, t)
        self.now = max(self.now, t)
        st.counts["n_notifications"] += 1
        if not st.connected:  # data without a 'connected' event: the link is back
            st.connected = True
        uuid = characteristic.lower()
        h = st.routes.get(uuid)
        if h is None:
            st.counts["n_control" if uuid in st.control else "n_unhandled"] += 1
            return
        try:
            h.feed(uuid, bytes(payload), t)
        except DecodeError as err:
            st.counts["n_decode_errors"] += 1
            st.last_error = str(err)

    def on_link_event(self, event: LinkEvent) -> None:
        """Transport event callback: a ``disconnected`` event flushes, resets and marks a gap."""
        self.link_events.append(event)
        st = self._devices.get(event.device)
        if st is None:
            return
        if event.kind == "disconnected" and st.connected:
            st.connected = False
            st.counts["n_disconnects"] += 1
            for h in st.handlers:
                h.on_disconnect(event.t)
        elif event.kind == "connected":
            st.connected = True

    def close(self) -> None:
        """End of acquisition: flush assemblers; gaps of links that never came back end now."""
        if self._closed:
            return
        self._closed = True
        for st in self._devices.values():
            for h in st.handlers:
                h.close(self.now)

    # -- output -----------------------------------------------------------------------------
    def _count(self, device: str, key: str) -> None:
        self._devices[device].counts[key] += 1

    def _emit(self, chunk: Chunk, buf) -> None:
        buf.write(chunk)
        self._publish(chunk)

    def _gap(self, gap: GapRecord) -> None:
        self.gaps.append(gap)
        self._publish(gap)

    def _publish(self, item: Chunk | GapRecord) -> None:
        for q in self._subscribers:
            if q.maxsize and q.full():
                q.get_nowait()
                self.n_subscriber_overflow += 1
            q.put_nowait(item)

    def subscribe(self, maxsize: int = 4096) -> asyncio.Queue:
        """Return a queue receiving every new :class:`Chunk` and :class:`GapRecord`.

        When full, the oldest item is dropped (counted in ``n_subscriber_overflow``): a slow
        consumer never blocks acquisition. Use from the event loop's thread.
        """
        q: asyncio.Queue = asyncio.Queue(maxsize=int(maxsize))
        self._subscribers.append(q)
        return q

    def unsubscribe(self, queue: asyncio.Queue) -> None:
        """Stop feeding ``queue``."""
        if queue in self._subscribers:
            self._subscribers.remove(queue)

    async def items(self, maxsize: int = 4096) -> AsyncIterator[Chunk | GapRecord]:
        """Async iterator over new chunks and gap records (the async API for sessions)."""
        q = self.subscribe(maxsize)
        try:
            while True:
                yield await q.get()
        finally:
            self.unsubscribe(q)

    def buffer(self, device: str | None, stream: str) -> RingBuffer | EventBuffer:
        """The buffer of ``stream`` of ``device`` (``None``: the only device that has it)."""
        if device is None:
            found = [k for k in self.buffers if k[1] == stream]
            if len(found) != 1:
                raise KeyError(
                    f"{len(found)} devices have a stream {stream!r} ({found}); pass device=. "
                    f"Streams: {sorted(self.buffers)}."
                )
            return self.buffers[found[0]]
        try:
            return self.buffers[(device, stream)]
        except KeyError:
            raise KeyError(
                f"No buffer for stream {stream!r} of device {device!r}; have {sorted(self.buffers)}."
            ) from None

    def get_window(self, seconds: float, stream: str = "eeg", device: str | None = None) -> Window:
        """The latest ``seconds`` of a stream, NaN where samples are missing.

        Regularly sampled streams return the last ``round(seconds * sfreq)`` samples; irregular
        ones the events with ``now - seconds < t <= now`` (``now`` = latest arrival of any
        device, so a silent strap yields an empty window, not an old one).
        """
        buf = self.buffer(device, stream)
        if isinstance(buf, RingBuffer):
            return buf.latest(seconds)
        return buf.latest(seconds, now=self.now if np.isfinite(self.now) else None)

    def stats(self) -> dict[str, dict]:
        """Counters per device (notifications, decode errors, duplicates, disconnects, ...)."""
        out = {}
        for name, st in self._devices.items():
            d = dict(st.counts)
            d["connected"] = st.connected
            d["n_gaps"] = sum(g.device == name for g in self.gaps)
            d["last_error"] = st.last_error
            for h in st.handlers:
                asm = getattr(h, "asm", None)
                if isinstance(asm, MuseEegAssembler):
                    d["eeg_partial_blocks"] = asm.n_partial_blocks
                    d["eeg_late"] = asm.n_late
                elif isinstance(asm, AthenaEegAssembler):
                    d["eeg_partial_blocks"] = 0
                    d["eeg_late"] = asm.n_late
                    d["eeg_duplicate_blocks"] = asm.n_duplicate
                    d["eeg_missing_blocks"] = asm.n_missing_blocks
            out[name] = d
        return out
