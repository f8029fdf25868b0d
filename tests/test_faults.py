"""Fault injection, the stream hub's gap handling, and real recordings replayed as
notifications."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from addictidx._core.errors import DecodeError
from addictidx.acquire.decoders import (
    decode_heart_rate_measurement,
    decode_muse_eeg,
    decode_pmd_ecg,
    split_athena_notification,
)
from addictidx.acquire.events import LinkEvent
from addictidx.acquire.faults import FaultedNotification, FaultInjector
from addictidx.acquire.hub import StreamHub
from addictidx.acquire.replay import ReplayTransport
from addictidx.acquire.simulate import SimulatedHeadband, SimulatedStrap

STEP = 0.48828125  # Muse classic EEG resolution, uV


def _shared() -> Path:
    env = os.environ.get("ADDICTIDX_SHARED")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "shared"


def _need(rel: str) -> Path:
    p = _shared() / rel
    if not p.exists():
        pytest.skip(f"shared data not available: {p} (set ADDICTIDX_SHARED)")
    return p


def _replay(sources, hub):
    tr = ReplayTransport(sources, speed=0)
    hub.attach(tr)
    asyncio.run(tr.run())
    hub.close()


# -- the injector on its own -------------------------------------------------------------------


def test_no_faults_is_identity_and_iteration_is_reproducible():
    strap = SimulatedStrap(duration_s=30.0)
    inj = FaultInjector(strap, seed=1)
    out = list(inj)
    assert [(n.t, n.characteristic, n.payload) for n in out] == [
        (n.t, n.characteristic, n.payload) for n in strap
    ]
    faulty = FaultInjector(
        strap,
        seed=5,
        drop=0.2,
        duplicate=0.3,
        reorder=0.3,
        corrupt=0.2,
        disconnects=[(10.0, 4.0)],
        clock_jumps=[(20.0, -2.0)],
    )
    assert list(faulty) == list(faulty)


def test_each_fault_kind_against_hand_checks():
    strap = SimulatedStrap(duration_s=60.0)
    src = list(strap)
    inj = FaultInjector(strap, seed=3, drop=0.3)
    out = list(inj)
    assert len(out) == len(src) - inj.stats.n_dropped and inj.stats.n_dropped > 0
    assert all(n.payload == src[n.origin].payload and n.t == src[n.origin].t for n in out)

    inj = FaultInjector(strap, seed=3, duplicate=0.5, duplicate_delay_s=0.1)
    out = list(inj)
    dups = [n for n in out if n.duplicate]
    assert len(dups) == inj.stats.n_duplicated > 0
    for d in dups:
        orig = src[d.origin]
        assert d.payload == orig.payload and orig.t <= d.t <= orig.t + 0.1

    inj = FaultInjector(strap, seed=3, corrupt=0.5)
    for n in inj:
        if n.corrupted:
            assert n.payload == src[n.origin].payload[:-1]
            with pytest.raises(DecodeError):
                decode_heart_rate_measurement(n.payload)

    inj = FaultInjector(strap, seed=3, reorder=0.5, reorder_max_s=3.0)
    out = list(inj)
    assert [n.t for n in out] == sorted(n.t for n in out)  # arrival order
    assert [n.origin for n in out] != sorted(n.origin for n in out)  # overtaken
    assert all(src[n.origin].t <= n.t <= src[n.origin].t + 3.0 for n in out)

    inj = FaultInjector(
        strap,
        seed=3,
        reorder=0.5,
        reorder_max_s=3.0,
        disconnects=[(20.0, 5.0)],
        clock_jumps=[(40.0, 1.5), (50.0, -4.0)],
    )
    out = list(inj)
    events = [x for x in out if isinstance(x, LinkEvent)]
    assert [(e.t, e.kind) for e in events] == [(20.0, "disconnected"), (25.0, "connected")]
    notes = [x for x in out if isinstance(x, FaultedNotification)]
    # nothing arrives during the drop, and nothing sent before it arrives after it
    assert not [n for n in notes if 20.0 <= n.t < 25.0]
    assert not [n for n in notes if n.t >= 25.0 and src[n.origin].t < 20.0]
    for n in notes:
        assert n.clock_offset == (0.0 if n.t < 40 else 1.5 if n.t < 50 else -2.5)


def test_replay_passes_link_events_and_clock_offsets_to_callbacks():
    strap = SimulatedStrap(duration_s=10.0)
    inj = FaultInjector(strap, disconnects=[(3.0, 2.0)], clock_jumps=[(7.0, 100.0)])
    got, events = [], []
    tr = ReplayTransport(
        inj, speed=0, callback=lambda *a: got.append(a), event_callback=events.append
    )
    asyncio.run(tr.run())
    assert [(e.device, e.kind) for e in events] == [
        ("sim-hrs", "disconnected"),
        ("sim-hrs", "connected"),
    ]
    t0 = events[0].t - 3.0  # session time of device time 0
    assert [round(a[3] - t0, 9) for a in got] == [
        round(n.t + (100.0 if n.t >= 7.0 else 0.0), 9)
        for n in inj
        if isinstance(n, FaultedNotification)
    ]


# -- the hub against injected faults --------------------------------------------------------------


def _expected_eeg_rows(head, inj_items, n_ch=4):
    """Ground truth from the injector's own output: per connection segment, the blocks from the
    first to the last delivered one, NaN where an electrode's notification never arrived intact."""
    src = list(head)
    seg_blocks: list[dict] = [{}]
    seq0 = head.start_sequence
    for x in inj_items:
        if isinstance(x, LinkEvent):
            if x.kind == "connected":
                seg_blocks.append({})
            continue
        if x.corrupted:
            continue
        n = src[x.origin]
        seq, uv = decode_muse_eeg(n.payload)
        block = (seq - seq0) % 65536
        ch = [head.characteristics[c] for c in head.ch_names].index(n.characteristic)
        seg_blocks[-1].setdefault(block, {})[ch] = uv
    segments = []
    for blocks in seg_blocks:
        if not blocks:
            continue
        lo, hi = min(blocks), max(blocks)
        seg = np.full((n_ch, 12 * (hi - lo + 1)), np.nan)
        for b, chans in blocks.items():
            for ch, uv in chans.items():
                seg[ch, 12 * (b - lo) : 12 * (b - lo + 1)] = uv
        segments.append((lo, hi, seg))
    return segments


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**31 - 1),
    drop=st.sampled_from([0.0, 0.05, 0.2]),
    duplicate=st.sampled_from([0.0, 0.1, 0.3]),
    reorder=st.sampled_from([0.0, 0.1, 0.5]),
    corrupt=st.sampled_from([0.0, 0.05, 0.2]),
    disc=st.lists(st.tuples(st.floats(0.5, 6.0), st.floats(0.05, 2.0)), max_size=3),
    jump=st.sampled_from([0.0, -3.0]),
)
def test_faulty_replay_loses_no_delivered_sample_and_reports_every_gap(
    seed, drop, duplicate, reorder, corrupt, disc, jump
):
    # non-overlapping disconnect windows
    windows, end = [], -1.0
    for t0, d in sorted(disc):
        if t0 > end + 0.2:
            windows.append((t0, d))
            end = t0 + d
    head = SimulatedHeadband(duration_s=8.0, seed=seed % 1000)
    strap = SimulatedStrap(duration_s=10.0, seed=seed % 997)
    reorder_max = 0.1  # < max_lag_blocks (4) x 12 / 256 s = 0.1875 s
    kw = dict(
        drop=drop,
        duplicate=duplicate,
        reorder=reorder,
        reorder_max_s=reorder_max,
        corrupt=corrupt,
        disconnects=windows,
        clock_jumps=[(4.0, jump)] if jump else (),
    )
    ih = FaultInjector(head, seed=seed, **kw)
    is_ = FaultInjector(strap, seed=seed + 1, **kw)
    hub = StreamHub(
        {"sim-muse": "sim-muse", "sim-hrs": "sim-hrs"}, max_lag_blocks=4, silence_s=None
    )
    _replay([ih, is_], hub)

    # EEG: buffer = segment 1 + NaN fill + segment 2 + ...; every delivered sample in place
    segs = _expected_eeg_rows(head, list(ih))
    data = hub.get_window(1e4, "eeg").data
    eeg_gaps = [g for g in hub.gaps if g.stream == "eeg" and g.reason == "disconnect"]
    # A disconnect after the last delivered sample never comes back: the hub still records it
    # when it closes (with no NaN fill, as no later sample exists).
    eeg_arrivals = [x.t for x in ih if isinstance(x, FaultedNotification) and not x.corrupted]
    trailing_eeg = int(bool(eeg_arrivals) and any(w0 > max(eeg_arrivals) for w0, _ in windows))
    assert len(eeg_gaps) == max(0, len(segs) - 1) + trailing_eeg
    if trailing_eeg:
        assert eeg_gaps[-1].n_missing == 0
    parts = [segs[0][2]] if segs else []
    for (_lo_prev, hi_prev, _), (lo, _, seg), gap in zip(segs, segs[1:], eeg_gaps):
        true_missing = 12 * (lo - hi_prev - 1)
        # the gap is measured on the host clock from the first packet after the reconnect,
        # which may itself have been delayed by up to reorder_max_s
        tol = int(np.ceil(reorder_max * 256)) + 1 + (int(abs(jump) * 256) + 12 if jump else 0)
        assert abs(gap.n_missing - true_missing) <= tol
        parts += [np.full((4, gap.n_missing), np.nan), seg]
    expected = np.concatenate(parts, axis=1) if parts else np.empty((4, 0))
    np.testing.assert_array_equal(data, expected)
    # every NaN of the buffer is accounted for: partial/lost blocks inside segments + gap fill
    assert int(np.isnan(data).sum()) == int(np.isnan(expected).sum())
    loss = [g for g in hub.gaps if g.stream == "eeg" and g.reason == "loss"]
    n_nan_blocks = sum(
        int(np.all(np.isnan(seg.reshape(4, -1, 12)), axis=(0, 2)).sum()) for _, _, seg in segs
    )
    assert sum(g.n_missing for g in loss) == 12 * n_nan_blocks

    # RR: exactly the intervals of the first intact copy of each delivered notification, in
    # arrival order; each disconnect that interrupted the strap has a gap record covering it
    src = list(strap)
    seen, rr, arrivals = set(), [], []
    for x in is_:
        if isinstance(x, FaultedNotification) and not x.corrupted and x.origin not in seen:
            seen.add(x.origin)
            arrivals.append(x.t)
            rr += decode_heart_rate_measurement(src[x.origin].payload).rr_1024
    got = hub.get_window(1e6, "rr").data[0]
    np.testing.assert_array_equal(got, np.asarray(rr, dtype=float) / 1024.0)
    rr_gaps = [g for g in hub.gaps if g.stream == "rr"]
    assert all(g.reason == "disconnect" for g in rr_gaps)
    # one gap per pair (last intact arrival before a drop, first after it); drops with no data
    # between them share a gap
    pairs = {
        (max(t for t in arrivals if t < w0), min(t for t in arrivals if t >= w0 + d))
        for w0, d in windows
        if any(t < w0 for t in arrivals) and any(t >= w0 + d for t in arrivals)
    }
    # ... plus one left open at the end when the strap never came back after a drop
    trailing_rr = int(bool(arrivals) and any(w0 > max(arrivals) for w0, _ in windows))
    assert len(rr_gaps) == len(pairs) + trailing_rr
    if not jump:
        closed = rr_gaps[: len(rr_gaps) - trailing_rr]
        assert sorted(g.duration_s for g in closed) == pytest.approx(
            sorted(b - a for a, b in pairs)
        )


def test_hub_records_silence_and_compensates_a_backward_clock_step():
    strap = SimulatedStrap(duration_s=30.0, dropouts=[(10.0, 17.0)])
    inj = FaultInjector(strap, clock_jumps=[(20.0, -50.0)])
    hub = StreamHub({"sim-hrs": "sim-hrs"}, silence_s=3.0)
    _replay(inj, hub)
    (g_hr, g_rr) = hub.gaps
    assert (g_rr.stream, g_rr.reason) == ("rr", "silence")
    assert g_rr.duration_s == pytest.approx(8.0)  # last notification at 9 s, next at 17 s
    assert len(hub.clock_steps) == 1 and hub.clock_steps[0][2] == pytest.approx(-49.0)
    times = hub.get_window(1e6, "hr").times
    assert np.all(np.diff(times) >= 0)  # session time keeps going forward


# -- real recordings ---------------------------------------------------------------------------


@pytest.mark.shared_data
def test_polar_h10_csv_replays_byte_exact_through_hrs_and_pmd():
    from addictidx.acquire.h10_replay import PolarH10Recording

    path = _need("data/polar-h10-ecg-130hz-detectPVC/polar_h10_ecg.csv.gz")
    rec = PolarH10Recording(path)
    # independent reading of the file: stdlib csv
    import csv
    import gzip

    with gzip.open(path, "rt") as f:
        rows = list(csv.DictReader(f))
    ecg_uv = np.array([round(float(r["ecg_mV"]) * 1000) for r in rows])
    rr_ms = np.array([float(r["rr_ms"]) for r in rows if r["rr_ms"]])
    assert rr_ms.size == 798 and ecg_uv.size == 78096

    hub = StreamHub({"polar-h10": "polar-h10"}, capacity_s=700.0)
    _replay(rec, hub)
    assert hub.gaps == [] and hub.stats()["polar-h10"]["n_decode_errors"] == 0
    ecg = hub.get_window(700.0, "ecg")
    n = ecg.data.shape[1]
    assert n == 73 * (78096 // 73)
    np.testing.assert_array_equal(ecg.data[0], ecg_uv[:n])
    # device clock: the frame's last sample sits at its CSV time
    t_ns = np.array([int(r["time_ns"]) for r in rows[:n]])
    np.testing.assert_allclose(
        ecg.times[72::73] - ecg.times[72], (t_ns[72::73] - t_ns[72]) / 1e9, atol=1e-6
    )
    rr = hub.get_window(1e6, "rr").data[0] * 1000.0
    assert rr.size == 798
    assert np.max(np.abs(rr - rr_ms)) <= 1000 / 1024 / 2 + 1e-9  # 1/1024 s quantization

    # a 5 s disconnect: the ECG gap is measured on the H10's own clock, exactly whole frames
    inj = FaultInjector(rec, disconnects=[(100.0, 5.0)])
    hub2 = StreamHub({"polar-h10": "polar-h10"}, capacity_s=700.0)
    _replay(inj, hub2)
    frames = [x for x in inj if isinstance(x, FaultedNotification) and x.payload[0] == 0]
    n_lost = 78096 // 73 - len(frames)
    (g,) = [g for g in hub2.gaps if g.stream == "ecg"]
    assert g.reason == "disconnect" and g.n_missing == 73 * n_lost
    data = hub2.get_window(700.0, "ecg").data[0]
    assert int(np.isnan(data).sum()) == 73 * n_lost
    kept = np.concatenate([decode_pmd_ecg(f.payload)[1] for f in frames])
    np.testing.assert_array_equal(data[~np.isnan(data)], kept)


@pytest.mark.shared_data
def test_athena_packet_log_replays_byte_exact():
    from addictidx.acquire.h10_replay import read_athena_log

    path = _need("data/muse-s-athena-raw-ble-packets-openmuse/data_p21.txt.gz")
    notes = read_athena_log(path)
    import gzip

    with gzip.open(path, "rt") as f:
        lines = [ln.rstrip("\n").split("\t") for ln in f if ln.strip()]
    assert len(notes) == len(lines) == 837
    assert [n.payload.hex() for n in notes] == [ln[2] for ln in lines]
    assert notes[-1].t == pytest.approx(60.585, abs=1e-3)
    got = []
    inj = FaultInjector(notes, name="muse-s-athena", seed=1, drop=0.1)
    tr = ReplayTransport(inj, speed=0, callback=lambda *a: got.append(a))
    asyncio.run(tr.run())
    assert [a[2] for a in got] == [notes[x.origin].payload for x in inj]
    for a in got:
        split_athena_notification(a[2])  # every notification still frames correctly
