"""Replay transport: ordering, pacing with a fake clock (no timing asserts), callback contract."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from addictidx.acquire.assemble import HrsAssembler, MuseEegAssembler
from addictidx.acquire.profiles import load_profile
from addictidx.acquire.replay import ReplayTransport, iter_notifications
from addictidx.acquire.simulate import Notification, SimulatedHeadband, SimulatedStrap

EEG = load_profile("sim-muse").stream_spec("eeg")
RR = load_profile("sim-hrs").stream_spec("rr")
HR = load_profile("sim-hrs").stream_spec("hr")


class FakeClock:
    """``sleep`` advances ``now`` exactly; nothing waits."""

    def __init__(self, t: float = 100.0) -> None:
        self.t = t
        self.sleeps: list[float] = []

    def now(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.t += seconds


def _devices():
    return [SimulatedHeadband(duration_s=5.0, seed=1), SimulatedStrap(duration_s=5.0)]


def test_iter_notifications_merges_in_time_order():
    head, strap = _devices()
    merged = list(iter_notifications([head, strap]))
    assert len(merged) == len(list(head)) + len(list(strap))
    t = [n.t for _, n in merged]
    assert t == sorted(t)
    assert {name for name, _ in merged} == {"sim-muse", "sim-hrs"}
    assert [n for name, n in merged if name == "sim-muse"] == list(head)  # per-device order kept
    assert all(n.t <= 2.0 for _, n in iter_notifications([head, strap], until_s=2.0))


def test_recorded_notifications_are_sorted_and_ties_keep_device_order():
    rec_a = [(0.2, "AA", b"\x02"), (0.1, "AA", b"\x01")]
    rec_b = [Notification(0.1, "bb", b"\x03")]
    merged = list(iter_notifications({"a": rec_a, "b": rec_b}))
    assert [(name, n.t, n.payload) for name, n in merged] == [
        ("a", 0.1, b"\x01"),
        ("b", 0.1, b"\x03"),
        ("a", 0.2, b"\x02"),
    ]
    assert merged[0][1].characteristic == "aa"
    with pytest.raises(ValueError, match="mapping"):
        list(iter_notifications([rec_a]))


async def test_replay_paces_with_fake_clock_and_stamps_device_time():
    clock = FakeClock(100.0)
    got = []
    transport = ReplayTransport(
        _devices(), speed=2.0, clock=clock, callback=lambda *a: got.append(a)
    )
    n = await transport.run()
    expected = list(iter_notifications(_devices()))
    assert n == len(expected) == len(got)
    assert [(g[0], g[1], g[2]) for g in got] == [
        (name, x.characteristic, x.payload) for name, x in expected
    ]
    assert [g[3] for g in got] == [100.0 + x.t for _, x in expected]
    # at 2x, the last notification is delivered half its device time after the start
    assert clock.t == pytest.approx(100.0 + expected[-1][1].t / 2)
    assert all(s > 0 for s in clock.sleeps) and transport.max_lateness_s == pytest.approx(0.0)


async def test_replay_clock_stamps_and_until():
    clock = FakeClock(0.0)
    got = []
    transport = ReplayTransport(_devices(), clock=clock, stamp="clock")
    transport.add_callback(lambda *a: got.append(a))
    await transport.run(until_s=1.0)
    expected = list(iter_notifications(_devices(), until_s=1.0))
    assert len(got) == len(expected) and expected[-1][1].t <= 1.0
    np.testing.assert_allclose([g[3] for g in got], [x.t for _, x in expected], atol=1e-12)


async def test_replay_unpaced_awaits_async_callbacks_and_stops():
    clock = FakeClock()
    seen = []

    async def cb(name, char, payload, received_at):
        seen.append(received_at)
        await asyncio.sleep(0)
        if len(seen) == 10:
            transport.stop()

    transport = ReplayTransport(_devices(), speed=float("inf"), clock=clock, callback=cb)
    assert await transport.run() == 10
    assert clock.sleeps == [] and len(seen) == 10
    transport0 = ReplayTransport(_devices(), speed=0, clock=clock)
    assert await transport0.run() == len(list(iter_notifications(_devices())))


async def test_replay_into_assemblers_matches_sync_path():
    head, strap = (
        SimulatedHeadband(duration_s=20.0, seed=3, drop_fraction=0.02),
        SimulatedStrap(duration_s=20.0),
    )
    eeg = MuseEegAssembler(EEG, head.channel_by_uuid)
    hrs = HrsAssembler(RR, HR)
    chunks = []

    def route(name, char, payload, received_at):
        if name == "sim-muse":
            chunks.extend(eeg.feed(char, payload, received_at))
        else:
            chunks.extend(hrs.feed(payload, received_at))

    await ReplayTransport(
        [head, strap], speed=float("inf"), clock=FakeClock(0.0), callback=route
    ).run()
    chunks.extend(eeg.flush())
    eeg_data = np.concatenate([c.data for c in chunks if c.spec is EEG], axis=1)
    rr = np.concatenate([c.data[0] for c in chunks if c.spec is RR])
    n = 12 * head.n_blocks
    assert eeg_data.shape == (4, n)
    ok = ~np.isnan(eeg_data)
    assert np.max(np.abs(eeg_data - head.data[:, :n])[ok]) <= 0.48828125 / 2 + 1e-9
    assert eeg.n_partial_blocks > 0  # the drops show up as NaN, not as shifted time
    np.testing.assert_array_equal(rr, strap.beats()[1])


def test_bad_arguments():
    with pytest.raises(ValueError, match="speed"):
        ReplayTransport(_devices(), speed=-1)
    with pytest.raises(ValueError, match="stamp"):
        ReplayTransport(_devices(), stamp="wall")
    with pytest.raises(ValueError, match="unique"):
        ReplayTransport([SimulatedStrap(), SimulatedStrap()])
