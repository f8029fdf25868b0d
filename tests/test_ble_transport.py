"""BleakTransport run unmodified against an in-process fake of bleak's BleakScanner/BleakClient.

The fake world plays simulated devices (real bundled EEG / RR recordings encoded as the devices
send them) on a virtual session clock that is also the transport's clock. Link drops, silences and
connect errors are scripted in device time; the world pauses while a device that is back in range
is not streaming yet, so what is lost is exactly what was sent while the link was down.
"""

from __future__ import annotations

import asyncio
import dataclasses
import subprocess
import sys

import numpy as np
import pytest

from addictidx.acquire.ble import Backoff, BleakTransport, BleTarget
from addictidx.acquire.hub import StreamHub
from addictidx.acquire.profiles import load_profile
from addictidx.acquire.replay import iter_notifications
from addictidx.acquire.simulate import SimulatedHeadband, SimulatedStrap

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

    def __init__(self, source, address, adv_name, *, chars=None, connect_errors=0,
                 battery=85) -> None:
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
        self.client: FakeClient | None = None
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

    def now(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(0)

    async def _wait_streaming(self, p: FakePeripheral) -> None:
        for _ in range(20000):
            if p.streaming:
                return
            await asyncio.sleep(0.0005)
        raise AssertionError(f"{p.name} did not (re)start streaming")

    async def run(self, transport) -> None:
        sources = {name: p.source for name, p in self.peripherals.items()}
        for name, n in iter_notifications(sources):
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
            p.client._notify(n)
            p.delivered.append(n)
            await asyncio.sleep(self.pace_s)
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
        def __init__(self, device, disconnected_callback=None, services=None, *, timeout=30,
                     **kwargs) -> None:
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


def _transport(world, targets, **kw):
    scanner, client = make_fakes(world)
    kw.setdefault("watchdog_s", None)
    return BleakTransport(
        targets, clock=world, scanner_cls=scanner, client_cls=client, check_interval_s=0.001,
        backoff=Backoff(initial_s=0.001, max_s=0.002), command_delay_scale=0.0, seed=0, **kw
    ), scanner


async def _run(world, transport):
    await asyncio.wait_for(asyncio.gather(transport.run(), world.run(transport)), timeout=60)


def _eeg_expected(head: SimulatedHeadband, blocks: np.ndarray) -> np.ndarray:
    """The recording's samples of ``blocks`` on the Muse's 12-bit grid (0.48828125 uV steps)."""
    uv = head.data[:, head.sample_index(blocks)].reshape(head.data.shape[0], -1)
    return np.round(uv / 0.48828125) * 0.48828125


def test_headband_and_strap_survive_drops_keep_every_sample_and_record_gaps():
    head = SimulatedHeadband(duration_s=12.0, seed=2)
    strap = SimulatedStrap(duration_s=20.0)
    ph = FakePeripheral(head, "00:55:DA:B0:00:01", "SimMuse-0001")
    ps = FakePeripheral(strap, "A0:9E:1A:00:00:02", "SimHRS 2", connect_errors=1)
    world = FakeWorld([ph, ps], drops=[("sim-muse", 5.0, 2.0), ("sim-hrs", 8.0, 3.0)])
    transport, scanner = _transport(world, ["sim-muse", "sim-hrs"])
    got = []
    transport.add_callback(lambda *a: got.append(a))
    hub = StreamHub({"sim-muse": "sim-muse", "sim-hrs": "sim-hrs"}, silence_s=None)
    hub.attach(transport)
    asyncio.run(_run(world, transport))
    hub.close()

    # the transport delivered exactly what the devices sent while connected, on their clock
    for p in (ph, ps):
        mine = [(c, pl, t) for d, c, pl, t in got if d == p.name and c != BATTERY_UUID
                and c != getattr(p.profile.control, "characteristic", None)]
        assert mine == [(n.characteristic, n.payload, n.t) for n in p.delivered]
    assert ph.n_connects == 2 and ps.n_connects == 2 and transport.n_connects == {
        "sim-muse": 2, "sim-hrs": 2}
    kinds = [(e.device, e.kind) for e in transport.events]
    assert ("sim-hrs", "connect_failed") in kinds  # the scripted connect error, then a retry
    assert kinds.count(("sim-muse", "disconnected")) == 1
    assert kinds.count(("sim-hrs", "disconnected")) == 1
    assert kinds[-2:] in ([("sim-muse", "stopped"), ("sim-hrs", "stopped")],
                          [("sim-hrs", "stopped"), ("sim-muse", "stopped")])
    # the init + start sequences were written on each connection (same bytes both times)
    ctl = load_profile("sim-muse").control
    seq = [p for p, _ in ctl.encoded("init") + ctl.encoded("start")]
    assert ph.writes[: 2 * len(seq)] == seq + seq

    # EEG: every delivered block is in the buffer, blocks sent during the drop are NaN
    block_t = (12 * np.arange(head.n_blocks) + 11) / 256.0
    lost = (block_t >= 5.0) & (block_t < 7.0)
    n_lost = int(lost.sum())
    w = hub.get_window(60.0, "eeg")
    expected = _eeg_expected(head, np.arange(head.n_blocks))
    expected[:, np.repeat(lost, 12)] = np.nan
    np.testing.assert_array_equal(w.data, expected)
    eeg_gaps = [g for g in hub.gaps if g.stream == "eeg"]
    assert len(eeg_gaps) == 1 and eeg_gaps[0].reason == "disconnect"
    assert eeg_gaps[0].n_missing == 12 * n_lost
    first_lost = int(np.flatnonzero(lost)[0])
    assert eeg_gaps[0].start_s == pytest.approx(12 * first_lost / 256.0, abs=1e-9)
    assert eeg_gaps[0].duration_s == pytest.approx(12 * n_lost / 256.0, abs=1e-9)
    np.testing.assert_allclose(w.times, np.arange(w.times.size) / 256.0, atol=1e-9)

    # RR: every interval the strap delivered, in order; one gap from the last to the next
    rr_sent = np.concatenate([
        np.asarray(_rr_of(n.payload)) for n in ps.delivered
    ])
    rr_buf = hub.get_window(1e6, "rr")
    np.testing.assert_array_equal(rr_buf.data[0], rr_sent / 1024.0)
    rr_gaps = [g for g in hub.gaps if g.stream == "rr"]
    before = max(n.t for n in ps.delivered if n.t < 8.0)
    after = min(n.t for n in ps.delivered if n.t >= 8.0)
    assert [(g.reason, g.start_s, g.duration_s) for g in rr_gaps] == [
        ("disconnect", before, pytest.approx(after - before))]
    # battery read (poll) on each connection
    np.testing.assert_array_equal(hub.get_window(1e6, "battery").data, [[85.0, 85.0]])


def _rr_of(payload: bytes):
    from addictidx.acquire.decoders import decode_heart_rate_measurement

    return decode_heart_rate_measurement(payload).rr_1024


def test_watchdog_drops_a_silent_link_and_reconnects():
    head = SimulatedHeadband(duration_s=8.0, seed=3)
    ph = FakePeripheral(head, "00:55:DA:B0:00:03", "SimMuse-0003")
    world = FakeWorld([ph], silences=[("sim-muse", 3.0, 6.0)])
    transport, _ = _transport(world, ["sim-muse"], watchdog_s=1.0)
    hub = StreamHub({"sim-muse": "sim-muse"})
    hub.attach(transport)
    asyncio.run(_run(world, transport))
    hub.close()
    kinds = [e.kind for e in transport.events]
    assert "stale" in kinds and kinds.index("stale") < kinds.index("disconnected")
    # a reconnect during the silence goes stale again: one connection more per stale event
    assert ph.n_connects == 1 + kinds.count("stale") == 1 + kinds.count("disconnected")
    block_t = (12 * np.arange(head.n_blocks) + 11) / 256.0
    silent = (block_t >= 3.0) & (block_t < 6.0)
    w = hub.get_window(60.0, "eeg")
    expected = _eeg_expected(head, np.arange(head.n_blocks))
    expected[:, np.repeat(silent, 12)] = np.nan
    np.testing.assert_array_equal(w.data, expected)
    (gap,) = hub.gaps
    assert gap.reason == "disconnect" and gap.n_missing == 12 * int(silent.sum())


def test_keep_alive_is_written_and_optional_streams_may_be_absent():
    prof = load_profile("sim-muse")
    prof = dataclasses.replace(prof, control=dataclasses.replace(prof.control,
                                                                 keep_alive_interval_s=1.0))
    head = SimulatedHeadband(duration_s=4.0, seed=4, profile=prof)
    strap = SimulatedStrap(duration_s=4.0)
    ph = FakePeripheral(head, "00:55:DA:B0:00:04", "SimMuse-0004")
    # a strap without the Battery Service: battery is optional, so this is fine
    ps = FakePeripheral(strap, "A0:9E:1A:00:00:05", "SimHRS 5", chars=[HR_UUID])
    world = FakeWorld([ph, ps], pace_s=0.001)
    transport, _ = _transport(world, [BleTarget(prof), "sim-hrs"])
    asyncio.run(_run(world, transport))
    keep_alive = prof.control.encoded("keep_alive")[0][0]
    assert ph.writes.count(keep_alive) >= 2  # every virtual second over ~4 s
    assert ps.n_connects == 1 and ps.delivered
    assert not [e for e in transport.events if e.kind == "connect_failed"]


def test_missing_required_characteristic_fails_and_gives_up():
    strap = SimulatedStrap(duration_s=2.0)
    ps = FakePeripheral(strap, "A0:9E:1A:00:00:06", "SimHRS 6", chars=[BATTERY_UUID])
    world = FakeWorld([ps])
    transport, _ = _transport(world, ["sim-hrs"], max_attempts=3)
    asyncio.run(asyncio.wait_for(transport.run(), timeout=30))
    kinds = [e.kind for e in transport.events]
    assert kinds.count("connect_failed") == 3 and kinds[-1] == "gave_up"
    failed = [e.detail for e in transport.events if e.kind == "connect_failed"]
    assert all(HR_UUID in d and "'hr'" in d for d in failed)
    assert ps.client is None  # every failed setup disconnected again


def test_scan_finds_nothing_then_gives_up_and_matches_by_name_or_service():
    strap = SimulatedStrap(duration_s=2.0)
    # advertises as a Muse: the sim-hrs name prefix does not match, so it is never chosen
    ps = FakePeripheral(strap, "A0:9E:1A:00:00:07", "SimMuse-0007")
    world = FakeWorld([ps])
    transport, scanner = _transport(world, ["sim-hrs"], max_attempts=2)
    asyncio.run(asyncio.wait_for(transport.run(), timeout=30))
    assert scanner.scans == 2 and ps.n_connects == 0
    assert [e.kind for e in transport.events][-1] == "gave_up"
    # generic-hrs has no name prefix: any strap advertising the Heart Rate service matches
    world2 = FakeWorld([FakePeripheral(SimulatedStrap(duration_s=2.0), "A0:9E:1A:00:00:08",
                                       "Whatever 8")])
    transport2, _ = _transport(world2, [BleTarget("generic-hrs", name="sim-hrs")])
    asyncio.run(_run(world2, transport2))
    assert transport2.n_connects == {"sim-hrs": 1}


def test_connects_are_serialized():
    heads = [SimulatedHeadband(duration_s=1.0, seed=i, name=f"h{i}") for i in range(3)]
    ps = [FakePeripheral(h, f"00:55:DA:B0:01:0{i}", f"SimMuse-10{i}") for i, h in
          enumerate(heads)]
    world = FakeWorld(ps)
    transport, scanner = _transport(world, [BleTarget("sim-muse", name=f"h{i}")
                                            for i in range(3)])
    active = [0]
    peak = [0]
    orig = scanner.find_device_by_filter.__func__

    async def spy(cls, f, timeout=10.0, **kw):
        active[0] += 1
        peak[0] = max(peak[0], active[0])
        await asyncio.sleep(0.002)
        try:
            return await orig(cls, f, timeout, **kw)
        finally:
            active[0] -= 1

    scanner.find_device_by_filter = classmethod(spy)
    asyncio.run(_run(world, transport))
    assert peak[0] == 1
    assert sorted(transport.n_connects.values()) == [1, 1, 1]
    assert len({p.client for p in ps}) == 1  # all disconnected (None) after stop


def test_import_acquire_does_not_import_bleak():
    code = "import sys, addictidx.acquire, addictidx.acquire.ble; print('bleak' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
