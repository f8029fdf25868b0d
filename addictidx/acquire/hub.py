"""Stream layer: notifications and link events in, gap-marked buffers and gap records out.

:class:`StreamHub` is the consumer side of every transport. Register
:meth:`StreamHub.on_notification` as the transport's notification callback (``callback(device_name,
characteristic, payload, received_at)``, the same for
:class:`~addictidx.acquire.replay.ReplayTransport` and
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
import itertools
from collections.abc import AsyncIterator, Mapping
from typing import Any

import numpy as np

from addictidx._core.errors import DecodeError
from addictidx._core.types import Chunk, Window
from addictidx._core.validate import check_option, check_positive
from addictidx.acquire.assemble import HrsAssembler, MuseEegAssembler
from addictidx.acquire.athena_assemble import AthenaEegAssembler, is_athena_profile
from addictidx.acquire.buffers import EventBuffer, RingBuffer, RingPool
from addictidx.acquire.events import GapRecord, LinkEvent, SkinContact
from addictidx.acquire.feed_batch import MIN_BATCH_DECODE, feed_notifications
from addictidx.acquire.routing import CONTROL_FAMILIES, decoder_routes
from addictidx.acquire.stream_handlers import (
    AthenaHandler,
    BatteryHandler,
    EegHandler,
    Handler,
    HrsHandler,
    PmdHandler,
)
from addictidx.devices import DeviceProfile, load_profile

__all__ = ["StreamHub", "feed_notifications", "MIN_BATCH_DECODE"]

#: Route families the hub assembles into buffers; the others (Muse PPG/IMU/telemetry, ...) are
#: counted as ``n_unhandled``.
_ASSEMBLED = ("muse.eeg", "hrs.measurement", "battery.level", "pmd", "athena.packet")
_PER_STREAM = ("muse.eeg", "battery.level")


_SERIALS = itertools.count(1)


class _DeviceState:
    def __init__(self, name: str, profile: DeviceProfile) -> None:
        self.serial = next(_SERIALS)  # unique in the process (batched feeds group by it)
        self.name = name
        self.profile = profile
        self.connected = True
        self.last_rx: float | None = None
        self.offset = 0.0
        self.routes: dict[str, Handler] = {}
        # characteristic as received -> (lower-case UUID, handler or None); routes never change
        self.route_cache: dict[str, tuple[str, Handler | None]] = {}
        self.handlers: list[Handler] = []
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
    ring_pool : RingPool | None
        Storage shared by the ring buffers of many hubs (a server's sessions: their EEG of one
        batch is then written with one indexed copy, see
        :func:`~addictidx.acquire.buffers.write_many`); None: each buffer its own.
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
        ring_pool: RingPool | None = None,
    ) -> None:
        self.ring_pool = ring_pool
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
        #: Whether anyone subscribed to the chunks (:meth:`subscribe`); kept by
        #: :meth:`subscribe`/:meth:`unsubscribe` (read per notification by the handlers)
        self.publishing = False
        self.n_subscriber_overflow = 0
        self._closed = False
        self._devices: dict[str, _DeviceState] = {}
        #: (device, characteristic as received) -> :meth:`route`, for batched feeds
        self.route_table: dict[tuple[str, str], tuple] = {}
        if not devices:
            raise ValueError("StreamHub needs at least one device.")
        for name, prof in devices.items():
            profile = prof if isinstance(prof, DeviceProfile) else load_profile(prof)
            self._devices[str(name)] = self._build(str(name), profile)

    # -- construction -----------------------------------------------------------------------
    def add_buffer(self, buf):
        self.buffers[(buf.spec.device, buf.spec.name)] = buf
        return buf

    def _build(self, name: str, profile: DeviceProfile) -> _DeviceState:
        """Handlers of one device, from the same routing table :func:`decode` uses."""
        st = _DeviceState(name, profile)
        # one handler per EEG / battery stream (the 4 characteristics of a classic Muse EEG
        # stream share it) and one per shared family (HRS, PMD, Athena) and device
        groups: dict[tuple[str, ...], tuple[list[str], dict[str, None]]] = {}
        for uuid, route in decoder_routes(profile).items():
            if route.family in CONTROL_FAMILIES and not route.streams:
                st.control.add(uuid.lower())
            elif route.family in _ASSEMBLED:
                key = (route.family,) + (route.stream_names if route.family in _PER_STREAM else ())
                chars, streams = groups.setdefault(key, ([], {}))
                chars.append(uuid)
                streams.update(dict.fromkeys(route.stream_names))
        for key, (chars, streams) in groups.items():
            h = self._handler(name, profile, key[0], tuple(streams))
            if h is None:
                continue
            st.handlers.append(h)
            for c in chars:
                st.routes[c.lower()] = h
        return st

    def _handler(
        self, name: str, profile: DeviceProfile, family: str, streams: tuple[str, ...]
    ) -> Handler | None:
        if family == "muse.eeg":
            return EegHandler(self, name, profile, streams[0])
        if family == "hrs.measurement":
            kinds = {profile.stream(s).kind: s for s in streams}
            return HrsHandler(self, name, profile, kinds.get("rr"), kinds.get("hr"))
        if family == "battery.level":
            return BatteryHandler(self, name, profile, streams[0])
        if family == "pmd":
            ecg = next((s for s in streams if profile.stream(s).decoder == "pmd.ecg"), None)
            return PmdHandler(self, name, profile, ecg)
        if family == "athena.packet" and is_athena_profile(profile):
            return AthenaHandler(self, name, profile)
        return None

    @property
    def device_names(self) -> tuple[str, ...]:
        """Names of the devices, in construction order."""
        return tuple(self._devices)

    def attach(self, transport: Any) -> None:
        """Register this hub's callbacks on a transport
        (``add_callback``/``add_event_callback``)."""
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
        dropped; they never raise. The same path as
        :func:`~addictidx.acquire.feed_batch.feed_notifications` for one notification.
        """
        feed_notifications((self,), (device,), (characteristic,), (payload,), (received_at,))

    def feed_one(
        self, device: str, characteristic: str, payload: bytes, received_at: float
    ) -> None:
        """One notification, packet by packet (what :func:`feed_notifications` does for the
        notifications it does not assemble in a batch): the device's clock and counters, then
        its handler (a notification of no handler is counted only)."""
        st = self._devices.get(device)
        if st is None:
            st = self._state(device)  # raises KeyError naming the known devices
        t = float(received_at) + st.offset
        last = st.last_rx
        if last is not None and t < last - self.clock_step_tolerance_s:
            step = t - last
            st.offset -= step
            t = last
            st.counts["n_clock_steps"] += 1
            self.clock_steps.append((device, t, step))
        if last is None or t > last:
            st.last_rx = t
        if t > self.now:
            self.now = t
        st.counts["n_notifications"] += 1
        if not st.connected:  # data without a 'connected' event: the link is back
            st.connected = True
        route = st.route_cache.get(characteristic)
        if route is None:  # first time this spelling of the UUID is seen
            uuid = characteristic.lower()
            route = st.route_cache[characteristic] = (uuid, st.routes.get(uuid))
        uuid, h = route
        if h is None:
            st.counts["n_control" if uuid in st.control else "n_unhandled"] += 1
            return
        try:
            h.feed(uuid, payload if type(payload) is bytes else bytes(payload), t)
        except DecodeError as err:
            st.counts["n_decode_errors"] += 1
            st.last_error = str(err)

    def route(self, device: str, characteristic: str) -> tuple:
        """How :func:`feed_notifications` routes a notification (cached in :attr:`route_table`).

        Returns ``(device state, kind, handler, row, counter, device serial, code)``: kind 0 a
        classic-Muse EEG electrode (``row`` its row), 1 another handler (``row``: the lower-case
        UUID), 2 counted only (``counter``); ``code = handler serial << 12 | row << 2 | kind``
        (EEG; else ``kind``).
        Raises KeyError for an unknown device.
        """
        st = self._state(device)
        uuid = characteristic.lower()
        h = st.routes.get(uuid)
        if h is None:
            counter = "n_control" if uuid in st.control else "n_unhandled"
            r = (st, 2, None, -1, counter, st.serial, 2)
        elif type(h) is EegHandler and h.spec.n_channels < 1024:
            row = h.asm.row_of(characteristic)
            r = (st, 0, h, row, None, st.serial, (h.serial << 12) | (row << 2))
        else:
            r = (st, 1, h, uuid, None, st.serial, 1)
        self.route_table[(device, characteristic)] = r
        return r

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
    def count(self, device: str, key: str) -> None:
        self._devices[device].counts[key] += 1

    def emit(self, chunk: Chunk, buf) -> None:
        buf.write(chunk)
        if self._subscribers:
            self._publish(chunk)

    def record_gap(self, gap: GapRecord) -> None:
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
        self.publishing = True
        return q

    def unsubscribe(self, queue: asyncio.Queue) -> None:
        """Stop feeding ``queue``."""
        if queue in self._subscribers:
            self._subscribers.remove(queue)
            self.publishing = bool(self._subscribers)

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
                f"No buffer for stream {stream!r} of device {device!r}; have "
                f"{sorted(self.buffers)}."
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

    def skin_contact(self, device: str) -> SkinContact:
        """Skin contact of a strap, from the Heart Rate Measurements the hub decoded.

        Every notification is decoded once, by the hub; read the contact here instead of
        decoding the payload again.

        Raises
        ------
        KeyError
            Unknown device, or a device without a Heart Rate Measurement stream.
        """
        for h in self._state(device).handlers:
            if isinstance(h, HrsHandler):
                return h.contact
        raise KeyError(f"Device {device!r} has no Heart Rate Measurement stream.")

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
                elif isinstance(asm, HrsAssembler):
                    d["hr_implausible"] = asm.n_implausible_hr
                    d["rr_implausible"] = asm.n_implausible_rr
            out[name] = d
        return out
