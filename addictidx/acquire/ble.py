"""Supervised BLE transport on ``bleak``: scan, connect, start, stream, reconnect.

:class:`BleakTransport` connects one or more devices (e.g. a Muse headband and a chest strap) at
once on one session clock and calls ``callback(device_name, characteristic, payload, received_at)``
for every notification, exactly as :class:`~addictidx.acquire.replay.ReplayTransport` does, plus
``event_callback(LinkEvent)`` for link changes. Per device a supervisor task:

1. scans with ``BleakScanner.find_device_by_filter`` for the profile's name prefix (or, for
   profiles without one, its service UUIDs); after the first connection only the same address is
   accepted (a re-scan never switches to another person's strap);
2. connects with the scanned ``BLEDevice`` (never an address string: bleak then scans again
   implicitly, which breaks concurrent connects) and a ``disconnected_callback``;
3. subscribes to the control characteristic, runs the profile's ``init`` sequence, subscribes to
   the data characteristics of the selected streams (optional streams only when the device has
   them) and runs the ``start`` sequence;
4. streams: notifications are routed by the characteristic UUID they were subscribed under; the
   ``keep_alive`` sequence is written every ``keep_alive_interval_s``; characteristics with a
   ``poll_interval_s`` (battery) are read periodically; a watchdog declares the link ``stale``
   after ``watchdog_s`` without data and drops it;
5. after a drop or a failed attempt it waits (exponential backoff with jitter), re-scans and
   reconnects, until :meth:`BleakTransport.stop` or ``max_attempts`` failures in a row.

Scan + connect + setup of all devices are serialized by one :class:`asyncio.Lock` (BlueZ handles
concurrent scans/connects badly). Notifications of a dropped connection are never delivered after
its ``disconnected`` event, so a consumer may reset its state on that event.

``bleak`` is imported lazily (only when no scanner/client classes are injected): tests pass
in-process fakes of ``BleakScanner``/``BleakClient`` and run this code unmodified.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from addictidx.acquire.events import LinkEvent, TransportCallbacks
from addictidx.acquire.replay import Clock, EventCallback, MonotonicClock, NotificationCallback
from addictidx.devices import DeviceProfile, load_profile

__all__ = ["Backoff", "BleTarget", "BleakTransport"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff between reconnect attempts.

    Attempt ``k`` (1-based) waits ``min(max_s, initial_s * factor**(k-1))`` seconds, scaled by
    a random factor in ``[1 - jitter, 1 + jitter]``.
    """

    initial_s: float = 0.5
    factor: float = 2.0
    max_s: float = 30.0
    jitter: float = 0.2

    def delay(self, attempt: int, rng: random.Random) -> float:
        """Seconds to wait before attempt ``attempt`` (>= 1)."""
        d = min(self.max_s, self.initial_s * self.factor ** max(0, attempt - 1))
        return max(0.0, d * (1.0 + self.jitter * rng.uniform(-1.0, 1.0)))


@dataclass(frozen=True, slots=True)
class BleTarget:
    """One device to acquire from.

    Parameters
    ----------
    profile : DeviceProfile | str
        Device profile (or its name / path).
    name : str | None
        Device name reported to callbacks (default: the profile name).
    address : str | None
        Accept only this address (default: the first device matching the profile).
    streams : tuple of str | None
        Streams to subscribe (default: every stream the device has; required ones must exist).
    init_sequences, start_sequences : tuple of str
        Control sequences run before / after subscribing to the data characteristics.
    """

    profile: DeviceProfile | str
    name: str | None = None
    address: str | None = None
    streams: tuple[str, ...] | None = None
    init_sequences: tuple[str, ...] = ("init",)
    start_sequences: tuple[str, ...] = ("start",)


class _SetupError(Exception):
    """The device was found and connected but does not fit the profile."""


class _Conn:
    """State of one connection."""

    def __init__(self) -> None:
        self.alive = False
        self.lost = asyncio.Event()
        self.lost_at: float | None = None
        self.last_rx = 0.0


def _as_target(t: Any) -> BleTarget:
    if isinstance(t, BleTarget):
        return t
    if isinstance(t, (str, DeviceProfile)):
        return BleTarget(t)
    raise TypeError(f"A target must be a BleTarget, a profile or a profile name, got {t!r}.")


class BleakTransport(TransportCallbacks):
    """Acquire from BLE devices with supervision (see the module docstring).

    Parameters
    ----------
    targets : sequence of BleTarget | str | DeviceProfile
        Devices; names must be unique.
    callback : callable | None
        ``callback(device_name, characteristic, payload, received_at)`` (more with
        :meth:`add_callback`). Called on the event-loop thread; an awaitable result is scheduled
        as a task (bleak's own rule for async callbacks).
    event_callback : callable | None
        ``event_callback(LinkEvent)`` (more with :meth:`add_event_callback`).
    clock : Clock | None
        Session clock stamping ``received_at`` and timing keep-alive, polls and the watchdog
        (default :class:`~addictidx.acquire.replay.MonotonicClock`).
    scanner_cls, client_cls : type | None
        ``BleakScanner`` / ``BleakClient`` or compatible fakes (default: bleak's).
    scan_timeout_s : float
        Timeout of one scan.
    connect_timeout_s : float
        Passed to ``BleakClient(timeout=...)``.
    watchdog_s : float | None
        Drop a connection without notifications for this long (``None``: never).
    check_interval_s : float
        How often (event-loop seconds) the supervisor checks watchdog, keep-alive and polls.
    backoff : Backoff
        Waits between attempts.
    max_attempts : int | None
        Give up a device after this many failed attempts in a row (``None``: never).
    command_delay_scale : float
        Multiplies the profile's command delays (0 in tests with fake devices).
    write_response : bool | None
        Write commands with response; default: ``True`` for ``hex`` framing (Polar PMD control
        point, which answers), ``False`` for ``muse-ascii`` (as muse-lsl and BrainFlow write).
    seed : int | None
        Seed of the backoff jitter.

    Attributes
    ----------
    events : list of LinkEvent
        Every link event emitted.
    n_delivered : int
        Notifications delivered since :meth:`run` started.
    n_connects : dict of str to int
        Successful connections per device.
    """

    def __init__(
        self,
        targets: Sequence[BleTarget | str | DeviceProfile],
        *,
        callback: NotificationCallback | None = None,
        event_callback: EventCallback | None = None,
        clock: Clock | None = None,
        scanner_cls: type | None = None,
        client_cls: type | None = None,
        scan_timeout_s: float = 10.0,
        connect_timeout_s: float = 30.0,
        watchdog_s: float | None = 5.0,
        check_interval_s: float = 0.25,
        backoff: Backoff = Backoff(),
        max_attempts: int | None = None,
        command_delay_scale: float = 1.0,
        write_response: bool | None = None,
        seed: int | None = None,
    ) -> None:
        self.targets = [_as_target(t) for t in targets]
        if not self.targets:
            raise ValueError("BleakTransport needs at least one target.")
        self.profiles: dict[str, DeviceProfile] = {}
        self._target_by_name: dict[str, BleTarget] = {}
        for t in self.targets:
            prof = t.profile if isinstance(t.profile, DeviceProfile) else load_profile(t.profile)
            name = t.name or prof.name
            if name in self.profiles:
                raise ValueError(f"Device names must be unique; {name!r} appears twice.")
            self.profiles[name] = prof
            self._target_by_name[name] = t
            for s in t.streams or ():
                prof.stream(s)  # KeyError naming the streams if unknown
        self.clock: Clock = clock if clock is not None else MonotonicClock()
        self._scanner_cls = scanner_cls
        self._client_cls = client_cls
        self.scan_timeout_s = float(scan_timeout_s)
        self.connect_timeout_s = float(connect_timeout_s)
        self.watchdog_s = None if watchdog_s is None else float(watchdog_s)
        self.check_interval_s = float(check_interval_s)
        self.backoff = backoff
        self.max_attempts = None if max_attempts is None else int(max_attempts)
        self.command_delay_scale = float(command_delay_scale)
        self.write_response = write_response
        self._rng = random.Random(seed)
        self._init_callbacks(callback, event_callback)
        self.events: list[LinkEvent] = []
        self.n_delivered = 0
        self.n_connects = {name: 0 for name in self.profiles}
        self._addresses: dict[str, str] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_ev: asyncio.Event | None = None
        self._lock: asyncio.Lock | None = None
        self._stopping = False
        self._tasks: set[asyncio.Task] = set()
        self._polls: dict[str, list[tuple[str, float]]] = {}

    # -- public -----------------------------------------------------------------------------
    def stop(self) -> None:
        """Ask :meth:`run` to stop every device (send ``stop``, disconnect) and return.

        Safe to call from any thread.
        """
        self._stopping = True
        loop, ev = self._loop, self._stop_ev
        if loop is None or ev is None:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            ev.set()
        else:
            try:
                loop.call_soon_threadsafe(ev.set)
            except RuntimeError:  # loop already closed
                pass

    async def __aenter__(self) -> BleakTransport:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.stop()

    async def run(self, until_s: float | None = None) -> int:
        """Acquire until :meth:`stop`, ``until_s`` session seconds, or every device gave up.

        Returns
        -------
        n_delivered : int
            Notifications delivered.
        """
        self._loop = asyncio.get_running_loop()
        self._stop_ev = asyncio.Event()
        self._lock = asyncio.Lock()
        if self._stopping:
            self._stop_ev.set()
        self.n_delivered = 0
        sups = [asyncio.create_task(self._supervise(name)) for name in self.profiles]
        timer = None
        if until_s is not None:

            async def _timer():
                await self.clock.sleep(float(until_s))
                self.stop()

            timer = asyncio.create_task(_timer())
        try:
            await asyncio.gather(*sups)
        finally:
            if timer is not None:
                timer.cancel()
            for t in sups:
                t.cancel()
        return self.n_delivered

    # -- classes ----------------------------------------------------------------------------
    def _classes(self) -> tuple[type, type]:
        scanner, client = self._scanner_cls, self._client_cls
        if scanner is None or client is None:
            try:
                import bleak
            except ImportError as err:  # pragma: no cover - bleak is a dependency
                raise ImportError("BleakTransport needs the 'bleak' package.") from err
            scanner = scanner or bleak.BleakScanner
            client = client or bleak.BleakClient
        return scanner, client

    # -- events and delivery ----------------------------------------------------------------
    def _event(self, name: str, kind: str, detail: str = "", t: float | None = None) -> None:
        ev = LinkEvent(self.clock.now() if t is None else t, kind, name, detail)
        self.events.append(ev)
        logger.info("%s: %s %s", name, kind, detail)
        for cb in self._event_callbacks:
            self._call(cb, ev)

    def _call(self, cb: Callable, *args: Any) -> None:
        result = cb(*args)
        if inspect.isawaitable(result):
            task = asyncio.ensure_future(result)
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _notify_handler(self, name: str, uuid: str, conn: _Conn) -> Callable:
        def on_notify(sender: Any, data: bytearray) -> None:
            if not conn.alive:
                return
            t = self.clock.now()
            conn.last_rx = t
            self.n_delivered += 1
            payload = bytes(data)
            for cb in self._callbacks:
                self._call(cb, name, uuid, payload, t)

        return on_notify

    # -- supervision ------------------------------------------------------------------------
    async def _wait(self, events: Iterable[asyncio.Event], timeout: float | None) -> None:
        waiters = [asyncio.ensure_future(e.wait()) for e in events]
        try:
            await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waiters:
                w.cancel()

    async def _supervise(self, name: str) -> None:
        failures = 0
        while not self._stopping:
            try:
                client, conn = await self._connect(name)
            except asyncio.CancelledError:
                raise
            except Exception as err:  # noqa: BLE001 - any failure of scan/connect/setup: retry
                if self._stopping:
                    break
                failures += 1
                self._event(
                    name, "connect_failed", f"attempt {failures}: {type(err).__name__}: {err}"
                )
                if self.max_attempts is not None and failures >= self.max_attempts:
                    self._event(name, "gave_up", f"{failures} failed attempts in a row")
                    return
                await self._wait([self._stop_ev], self.backoff.delay(failures, self._rng))
                continue
            if client is None:  # stopped while waiting for the lock
                break
            failures = 0
            reason = await self._stream(name, client, conn)
            conn.alive = False
            if reason == "stop":
                await self._shutdown(name, client)
                self._event(name, "stopped")
                return
            if reason == "stale":
                self._event(name, "stale", f"no data for {self.watchdog_s} s")
                self._event(name, "disconnected", "watchdog")
            else:
                self._event(name, "disconnected", "link lost", t=conn.lost_at)
            await self._safe_disconnect(client)
            await self._wait([self._stop_ev], self.backoff.delay(1, self._rng))
        self._event(name, "stopped")

    def _filter(self, name: str, prof: DeviceProfile) -> Callable[[Any, Any], bool]:
        target = self._target_by_name[name]
        fixed = target.address or self._addresses.get(name)
        taken = {a.upper() for n, a in self._addresses.items() if n != name}
        services = set(prof.service_uuids)

        def match(device: Any, adv: Any) -> bool:
            address = str(getattr(device, "address", "")).upper()
            if fixed is not None:
                return address == fixed.upper()
            if address in taken:
                return False
            local = getattr(adv, "local_name", None) or getattr(device, "name", None)
            if prof.name_prefixes:
                return prof.matches_name(local)
            adv_services = {str(u).lower() for u in (getattr(adv, "service_uuids", None) or ())}
            return bool(services & adv_services)

        return match

    async def _connect(self, name: str) -> tuple[Any, _Conn]:
        scanner_cls, client_cls = self._classes()
        prof = self.profiles[name]
        assert self._lock is not None
        async with self._lock:
            if self._stopping:
                return None, _Conn()
            self._event(name, "scanning")
            device = await scanner_cls.find_device_by_filter(
                self._filter(name, prof), timeout=self.scan_timeout_s
            )
            if device is None:
                raise TimeoutError(
                    f"no device for profile {prof.name!r} found in {self.scan_timeout_s} s"
                )
            conn = _Conn()

            def on_disconnect(_client: Any) -> None:
                if conn.lost_at is None:
                    conn.lost_at = self.clock.now()
                conn.alive = False
                conn.lost.set()

            client = client_cls(
                device, disconnected_callback=on_disconnect, timeout=self.connect_timeout_s
            )
            self._event(name, "connecting", str(getattr(device, "address", "")))
            try:
                await client.connect()
                await self._setup(name, prof, client, conn)
            except BaseException:
                await self._safe_disconnect(client)
                raise
            self._addresses[name] = str(getattr(device, "address", ""))
            self.n_connects[name] += 1
            self._event(name, "connected", f"mtu={getattr(client, 'mtu_size', '?')}")
            return client, conn

    async def _write_sequence(self, prof: DeviceProfile, client: Any, sequence: str) -> None:
        ctl = prof.control
        if ctl is None:
            return
        response = self.write_response if self.write_response is not None else ctl.framing == "hex"
        for payload, delay in ctl.encoded(sequence):
            await client.write_gatt_char(ctl.characteristic, payload, response=response)
            if delay and self.command_delay_scale > 0:
                await asyncio.sleep(delay * self.command_delay_scale)

    async def _setup(self, name: str, prof: DeviceProfile, client: Any, conn: _Conn) -> None:
        target = self._target_by_name[name]
        services = client.services

        def has(uuid: str) -> bool:
            return services.get_characteristic(uuid) is not None

        if prof.discriminator_characteristic and not has(prof.discriminator_characteristic):
            raise _SetupError(
                f"device lacks {prof.discriminator_characteristic} required by profile "
                f"{prof.name!r} (another model?)"
            )
        wanted = target.streams or prof.stream_names
        subscribe: list[str] = []
        polls: list[tuple[str, float]] = []
        for sname in wanted:
            s = prof.stream(sname)
            missing = [u for u in s.characteristics if not has(u)]
            if missing:
                if s.required or target.streams is not None:
                    raise _SetupError(f"stream {sname!r}: characteristic(s) {missing} not found")
                continue  # optional stream this model does not have
            for u in s.characteristics:
                if s.poll_interval_s is not None:
                    polls.append((u, s.poll_interval_s))
                elif u not in subscribe:
                    subscribe.append(u)
        self._polls[name] = polls
        conn.alive = True  # control replies count as data from here on
        conn.last_rx = self.clock.now()
        if prof.control is not None:
            ctl_uuid = prof.control.characteristic
            if has(ctl_uuid):
                await client.start_notify(ctl_uuid, self._notify_handler(name, ctl_uuid, conn))
            for seq in target.init_sequences:
                await self._write_sequence(prof, client, seq)
        for u in subscribe:
            await client.start_notify(u, self._notify_handler(name, u, conn))
        for seq in target.start_sequences:
            await self._write_sequence(prof, client, seq)
        conn.last_rx = self.clock.now()

    async def _stream(self, name: str, client: Any, conn: _Conn) -> str:
        prof = self.profiles[name]
        ctl = prof.control
        ka = ctl.keep_alive_interval_s if ctl is not None else None
        now = self.clock.now()
        next_ka = now + ka if ka else None
        next_poll = {u: now for u, _ in self._polls.get(name, [])}
        interval = dict(self._polls.get(name, []))
        assert self._stop_ev is not None
        while True:
            if self._stop_ev.is_set():
                return "stop"
            if conn.lost.is_set() or not conn.alive:
                return "disconnected"
            now = self.clock.now()
            if self.watchdog_s is not None and now - conn.last_rx > self.watchdog_s:
                return "stale"
            try:
                if next_ka is not None and now >= next_ka:
                    next_ka = now + ka
                    await self._write_sequence(prof, client, "keep_alive")
                for u, due in next_poll.items():
                    if now >= due:
                        next_poll[u] = now + interval[u]
                        data = await client.read_gatt_char(u)
                        if conn.alive:
                            self._notify_handler(name, u, conn)(None, data)
            except Exception as err:  # noqa: BLE001 - a failed write/read: the link decides
                logger.warning("%s: keep-alive/poll failed: %s", name, err)
            await self._wait([conn.lost, self._stop_ev], self.check_interval_s)

    async def _shutdown(self, name: str, client: Any) -> None:
        try:
            if getattr(client, "is_connected", False):
                await self._write_sequence(self.profiles[name], client, "stop")
        except Exception as err:  # noqa: BLE001
            logger.warning("%s: stop sequence failed: %s", name, err)
        await self._safe_disconnect(client)

    async def _safe_disconnect(self, client: Any) -> None:
        try:
            await client.disconnect()
        except Exception as err:  # noqa: BLE001 - already gone
            logger.debug("disconnect failed: %s", err)
