"""Sync facade: acquisition in a daemon thread, windows read from the caller's thread."""

from __future__ import annotations

import numpy as np

from addictidx.acquire.background import run_in_background
from addictidx.acquire.hub import StreamHub
from addictidx.acquire.replay import ReplayTransport
from addictidx.acquire.simulate import SimulatedHeadband, SimulatedStrap


def _grid(x):
    return np.round(x / 0.48828125) * 0.48828125  # Muse classic 12-bit resolution


def test_background_replay_then_get_window_equals_the_recording_tail():
    head = SimulatedHeadband(duration_s=6.0, seed=1)
    strap = SimulatedStrap(duration_s=6.0)
    hub = StreamHub({head.name: head.profile, strap.name: strap.profile})
    bg = run_in_background(ReplayTransport([head, strap], speed=0), hub)
    assert bg.join(timeout=60)
    n = 12 * head.n_blocks
    w = bg.get_window(1.0)
    np.testing.assert_array_equal(w.data, _grid(head.data[:, n - 256 : n]))
    assert w.gap_fraction == 0.0 and bg.gaps == []
    beats_t, rr = strap.beats()
    np.testing.assert_array_equal(bg.get_window(1e6, "rr").data[0], np.rint(rr * 1024) / 1024)
    assert bg.stats()["sim-muse"]["n_notifications"] == 4 * head.n_blocks


def test_background_stop_ends_a_real_time_replay_early():
    head = SimulatedHeadband(duration_s=120.0, seed=2)
    hub = StreamHub({head.name: head.profile})
    with run_in_background(ReplayTransport(head, speed=1.0), hub) as bg:
        assert bg.is_running
    assert not bg.is_running  # __exit__ stopped and joined long before 120 s
    got = hub.get_window(1e3).data
    assert got.shape[1] < 12 * head.n_blocks
    np.testing.assert_array_equal(got, _grid(head.data[:, : got.shape[1]]))
