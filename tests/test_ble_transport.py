"""BleakTransport run unmodified against an in-process fake of bleak's BleakScanner/BleakClient.

The fake world plays simulated devices (real bundled EEG / RR recordings encoded as the devices
send them) on a virtual session clock that is also the transport's clock. Link drops, silences and
connect errors are scripted in device time; the world pauses while a device that is back in range
is not streaming yet, so what is lost is exactly what was sent while the link was down.
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from addictidx.acquire.ble import Backoff, BleakTransport, BleTarget
from addictidx.acquire.hub import StreamHub
from addictidx.acquire.profiles import load_profile
from addictidx.acquire.simulate import SimulatedHeadband, SimulatedStrap


def _load_fakes():
    spec = importlib.util.spec_from_file_location(
        "addictidx_tests_fake_bleak", Path(__file__).with_name("fake_bleak.py")
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


_fb = _load_fakes()
HR_UUID, BATTERY_UUID = _fb.HR_UUID, _fb.BATTERY_UUID
FakePeripheral, FakeWorld, make_fakes = _fb.FakePeripheral, _fb.FakeWorld, _fb.make_fakes


def _transport(world, targets, **kw):
    scanner, client = make_fakes(world)
    kw.setdefault("watchdog_s", None)
    return BleakTransport(
        targets,
        clock=world,
        scanner_cls=scanner,
        client_cls=client,
        check_interval_s=0.001,
        backoff=Backoff(initial_s=0.001, max_s=0.002),
        command_delay_scale=0.0,
        seed=0,
        **kw,
    ), scanner


async def _run(world, transport):
    await asyncio.wait_for(asyncio.gather(transport.run(), world.run(transport)), timeout=600)


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
        mine = [
            (c, pl, t)
            for d, c, pl, t in got
            if d == p.name
            and c != BATTERY_UUID
            and c != getattr(p.profile.control, "characteristic", None)
        ]
        assert mine == [(n.characteristic, n.payload, n.t) for n in p.delivered]
    assert (
        ph.n_connects == 2
        and ps.n_connects == 2
        and transport.n_connects == {"sim-muse": 2, "sim-hrs": 2}
    )
    kinds = [(e.device, e.kind) for e in transport.events]
    assert ("sim-hrs", "connect_failed") in kinds  # the scripted connect error, then a retry
    assert kinds.count(("sim-muse", "disconnected")) == 1
    assert kinds.count(("sim-hrs", "disconnected")) == 1
    assert kinds[-2:] in (
        [("sim-muse", "stopped"), ("sim-hrs", "stopped")],
        [("sim-hrs", "stopped"), ("sim-muse", "stopped")],
    )
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
    rr_sent = np.concatenate([np.asarray(_rr_of(n.payload)) for n in ps.delivered])
    rr_buf = hub.get_window(1e6, "rr")
    np.testing.assert_array_equal(rr_buf.data[0], rr_sent / 1024.0)
    rr_gaps = [g for g in hub.gaps if g.stream == "rr"]
    before = max(n.t for n in ps.delivered if n.t < 8.0)
    after = min(n.t for n in ps.delivered if n.t >= 8.0)
    assert [(g.reason, g.start_s, g.duration_s) for g in rr_gaps] == [
        ("disconnect", before, pytest.approx(after - before))
    ]
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
    prof = dataclasses.replace(
        prof, control=dataclasses.replace(prof.control, keep_alive_interval_s=1.0)
    )
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
    asyncio.run(asyncio.wait_for(transport.run(), timeout=600))  # bounds a hang only
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
    asyncio.run(asyncio.wait_for(transport.run(), timeout=600))  # bounds a hang only
    assert scanner.scans == 2 and ps.n_connects == 0
    assert [e.kind for e in transport.events][-1] == "gave_up"
    # generic-hrs has no name prefix: any strap advertising the Heart Rate service matches
    world2 = FakeWorld(
        [FakePeripheral(SimulatedStrap(duration_s=2.0), "A0:9E:1A:00:00:08", "Whatever 8")]
    )
    transport2, _ = _transport(world2, [BleTarget("generic-hrs", name="sim-hrs")])
    asyncio.run(_run(world2, transport2))
    assert transport2.n_connects == {"sim-hrs": 1}


def test_connects_are_serialized():
    heads = [SimulatedHeadband(duration_s=1.0, seed=i, name=f"h{i}") for i in range(3)]
    ps = [FakePeripheral(h, f"00:55:DA:B0:01:0{i}", f"SimMuse-10{i}") for i, h in enumerate(heads)]
    world = FakeWorld(ps)
    transport, scanner = _transport(world, [BleTarget("sim-muse", name=f"h{i}") for i in range(3)])
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
