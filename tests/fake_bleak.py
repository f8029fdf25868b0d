"""Fake ``bleak`` classes for tests: a virtual world of simulated peripherals.

Shared by tests/test_ble_transport.py, test_session_loop.py and test_dashboard.py so that they
drive :class:`~addictidx.acquire.BleakTransport` unmodified without real Bluetooth; the world can
also be stopped from outside (:attr:`FakeWorld.closed`), as a session ends the acquisition itself.
Load it by path (tests run with ``--import-mode=importlib``)::

    spec = importlib.util.spec_from_file_location("fake_bleak",
    Path(__file__).with_name("fake_bleak.py"))
"""

from __future__ import annotations

import asyncio
import time

from addictidx.acquire.replay import iter_notifications

HR_UUID = "00002a37-0000-1000-8000-00805f9b34fb"
BATTERY_UUID = "00002a19-0000-1000-8000-00805f9b34fb"


class FakeBleakError(Exception):
    """Stands in for bleak.exc.BleakError."""


class FakeChar:
    def __init__(self, uuid: str) -> None:
        self.uuid = uuid


class FakeServices:
    def __init__(self, uuids) -> None:
        self._chars = {u.lower(): FakeChar(u.lower()) for u in uuids}

    def get_characteristic(self, uuid):
        return self._chars.get(str(uuid).lower())


class FakeBLEDevice:
    def __init__(self, address: str, name: str) -> None:
        self.address = address
        self.name = name


class FakeAdv:
    def __init__(self, local_name, service_uuids) -> None:
        self.local_name = local_name
        self.service_uuids = list(service_uuids)


class FakePeripheral:
    """One device: what it advertises, its GATT table, its notifications, its scripted faults."""

    def __init__(
        self, source, address, adv_name, *, chars=None, connect_errors=0, battery=85
    ) -> None:
        self.source = source
        self.name = source.name
        self.profile = source.profile
        self.device = FakeBLEDevice(address, adv_name)
        self.adv = FakeAdv(adv_name, self.profile.service_uuids)
        default = set()
        for s in self.profile.streams:
            default.update(s.characteristics)
        if self.profile.control is not None:
            default.add(self.profile.control.characteristic)
        self.chars = default if chars is None else set(chars)
        self.connect_errors = connect_errors
        self.battery = battery
        ctl = self.profile.control
        self.start_payloads = {p for p, _ in ctl.encoded("start")} if ctl else set()
        self.client = None  # the FakeClient (made by make_fakes) connected to it
        self.streaming = False
        self.down_until: float | None = None
        self.writes: list[bytes] = []
        self.delivered: list = []
        self.n_connects = 0

    def in_range(self, t: float) -> bool:
        return self.down_until is None or t >= self.down_until


class FakeWorld:
    """Virtual clock + scheduler of all peripherals (also the transport's session clock)."""

    def __init__(self, peripherals, *, drops=(), silences=(), pace_s=0.0) -> None:
        self.t = 0.0
        self.pace_s = pace_s  # real seconds per notification (lets periodic tasks run)
        self.peripherals = {p.name: p for p in peripherals}
        self.by_address = {p.device.address: p for p in peripherals}
        self.drops = sorted(drops, key=lambda d: d[1])  # (name, t_drop, down_s)
        self.silences = list(silences)  # (name, t0, t1): connected but sending nothing
        self.closed = False

    def now(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(0)

    async def _wait_streaming(self, p: FakePeripheral) -> None:
        # until the transport has (re)subscribed; the deadline bounds a hang only (it was a
        # fixed 20000 polls, a bound in loop turns rather than in time)
        deadline = time.monotonic() + 300
        while not (p.streaming or self.closed):
            if time.monotonic() > deadline:
                raise AssertionError(f"{p.name} did not (re)start streaming")
            await asyncio.sleep(0.0005)

    async def run(self, transport=None) -> None:
        """Play every peripheral; stops at the end, or once :attr:`closed` is set."""
        sources = {name: p.source for name, p in self.peripherals.items()}
        for name, n in iter_notifications(sources):
            if self.closed:
                return
            self.t = n.t
            while self.drops and self.drops[0][1] <= n.t:
                dname, t_drop, down_s = self.drops.pop(0)
                dp = self.peripherals[dname]
                dp.down_until = t_drop + down_s
                if dp.client is not None:
                    dp.client._lost()
            p = self.peripherals[name]
            if any(s[0] == name and s[1] <= n.t < s[2] for s in self.silences):
                await asyncio.sleep(0.002)  # let the watchdog see virtual time pass
                continue
            if not p.in_range(n.t):
                continue
            if not p.streaming:
                await self._wait_streaming(p)
                if self.closed:
                    return
            p.client._notify(n)
            p.delivered.append(n)
            await asyncio.sleep(self.pace_s)
        if transport is not None:
            transport.stop()


def make_fakes(world: FakeWorld):
    class FakeScanner:
        scans = 0

        def __init__(self, *args, **kwargs) -> None:
            raise AssertionError("the transport must use find_device_by_filter")

        @classmethod
        async def find_device_by_filter(cls, filterfunc, timeout=10.0, **kwargs):
            cls.scans += 1
            await asyncio.sleep(0)
            for p in world.peripherals.values():
                if p.in_range(world.t) and p.client is None and filterfunc(p.device, p.adv):
                    return p.device
            await asyncio.sleep(0.001)
            return None

    class FakeClient:
        def __init__(
            self, device, disconnected_callback=None, services=None, *, timeout=30, **kwargs
        ) -> None:
            assert isinstance(device, FakeBLEDevice), "connect with the scanned BLEDevice"
            self.p = world.by_address[device.address]
            self._cb = disconnected_callback
            self.is_connected = False
            self.callbacks = {}
            self.mtu_size = 23

        async def connect(self, **kwargs) -> None:
            await asyncio.sleep(0)
            if self.p.connect_errors > 0:
                self.p.connect_errors -= 1
                raise FakeBleakError("le-connection-abort-by-local")
            if not self.p.in_range(world.t):
                raise FakeBleakError("device not in range")
            self.is_connected = True
            self.p.client = self
            self.p.n_connects += 1

        @property
        def services(self):
            if not self.is_connected:
                raise FakeBleakError("Service Discovery has not been performed yet")
            return FakeServices(self.p.chars)

        async def start_notify(self, char, callback, **kwargs) -> None:
            if not self.is_connected:
                raise FakeBleakError("Not connected")
            uuid = str(char).lower()
            if uuid not in self.p.chars:
                raise FakeBleakError(f"Characteristic {uuid} not found")
            self.callbacks[uuid] = callback
            if not self.p.start_payloads and uuid in {
                c for s in self.p.profile.streams for c in s.characteristics
            }:
                self.p.streaming = True  # plain HRS strap: notifies once subscribed

        async def write_gatt_char(self, char, data, response=None) -> None:
            if not self.is_connected:
                raise FakeBleakError("Not connected")
            self.p.writes.append(bytes(data))
            if bytes(data) in self.p.start_payloads:
                self.p.streaming = True

        async def read_gatt_char(self, char, **kwargs):
            if not self.is_connected:
                raise FakeBleakError("Not connected")
            assert str(char).lower() == BATTERY_UUID
            return bytearray([self.p.battery])

        def _notify(self, n) -> None:
            cb = self.callbacks.get(n.characteristic)
            if cb is not None:
                cb(FakeChar(n.characteristic), bytearray(n.payload))

        def _lost(self) -> None:
            if not self.is_connected:
                return
            self.is_connected = False
            self.p.client = None
            self.p.streaming = False
            self.callbacks.clear()
            if self._cb is not None:
                self._cb(self)

        async def disconnect(self) -> None:
            await asyncio.sleep(0)
            self._lost()  # BlueZ also calls disconnected_callback on a local disconnect

    return FakeScanner, FakeClient
