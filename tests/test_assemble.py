"""Block assembly by sequence number, gap marking and timestamps; HRS RR/HR chunks.

References: hand-counted gaps and hand-computed beat times, the source recordings (bundled, read
by the simulated devices), and the PROTOCOLS.md §4.1 real Polar H7 vector ``163c1104``.
"""

from __future__ import annotations

import numpy as np
import pytest

from addictidx._core.errors import DecodeError
from addictidx.acquire.assemble import HrsAssembler, MuseEegAssembler, steady_states
from addictidx.acquire.decoders.hrs import encode_heart_rate_measurement, heart_rate_fields
from addictidx.acquire.decoders.muse_classic import decode_muse_eeg
from addictidx.acquire.profiles import load_profile
from addictidx.acquire.simulate import SimulatedHeadband, SimulatedStrap

EEG = load_profile("sim-muse").stream_spec("eeg")
RR = load_profile("sim-hrs").stream_spec("rr")
HR = load_profile("sim-hrs").stream_spec("hr")
STEP_UV = 0.48828125


def _assemble(notes, head, **kw):
    asm = MuseEegAssembler(EEG, head.channel_by_uuid, **kw)
    chunks = []
    for n in notes:
        chunks += asm.feed(n.characteristic, n.payload, n.t)
    chunks += asm.flush()
    data = np.concatenate([c.data for c in chunks], axis=1)
    times = np.concatenate([c.times for c in chunks])
    return asm, chunks, data, times


def test_assembled_equals_source_with_exact_times():
    head = SimulatedHeadband(duration_s=20.0, seed=0)
    asm, chunks, data, times = _assemble(list(head), head)
    n = 12 * head.n_blocks
    assert data.shape == (4, n)
    # anchor clock: the first block's last sample at its arrival (11/256 s) -> sample k at k/256
    np.testing.assert_allclose(times, np.arange(n) / 256, rtol=0, atol=1e-12)
    assert np.max(np.abs(data - head.data[:, :n])) <= STEP_UV / 2 + 1e-9
    assert all(c.data.shape == (4, 12) and c.n_missing == 0 for c in chunks)
    assert [c.seq for c in chunks] == list(range(head.n_blocks))
    assert asm.n_packets == 4 * head.n_blocks and asm.n_late == asm.n_duplicate == 0


def test_channel_order_does_not_change_output():
    outs = []
    for kw in ({"shuffle": False}, {"seed": 1}, {"seed": 2}):
        head = SimulatedHeadband(duration_s=10.0, **kw)
        _, _, data, times = _assemble(list(head), head)
        outs.append((data, times))
    for data, times in outs[1:]:
        np.testing.assert_array_equal(data, outs[0][0])
        np.testing.assert_array_equal(times, outs[0][1])


def test_sequence_wrap_keeps_time_continuous():
    head = SimulatedHeadband(duration_s=10.0, start_sequence=65500, seed=4)
    _, chunks, data, times = _assemble(list(head), head)
    seqs = [c.seq for c in chunks]
    assert seqs == list(range(65500, 65500 + head.n_blocks))  # unwrapped past 65535
    assert 65536 in seqs
    np.testing.assert_allclose(np.diff(times), 1 / 256, rtol=0, atol=1e-12)
    assert not np.isnan(data).any()


def test_dropped_blocks_become_nan_at_the_right_times():
    head = SimulatedHeadband(duration_s=1.0, seed=5)  # 21 blocks
    tp9 = head.characteristics["TP9"]
    notes = [
        n
        for n in head
        if decode_muse_eeg(n.payload)[0] not in (5, 6)  # blocks 5 and 6 lost entirely
        and not (
            decode_muse_eeg(n.payload)[0] == 10 and n.characteristic == tp9
        )  # TP9 of block 10
    ]
    assert len(notes) == 4 * 21 - 8 - 1
    asm, chunks, data, times = _assemble(notes, head)
    # by hand: blocks 5-6 = samples 60..83 on all 4 rows (96 values); block 10 TP9 = samples
    # 120..131 on row 0 (12 values)
    assert np.isnan(data).sum() == 96 + 12
    assert np.isnan(data[:, 60:84]).all()
    assert np.isnan(data[0, 120:132]).all() and not np.isnan(data[1:, 120:132]).any()
    np.testing.assert_allclose(times, np.arange(252) / 256, rtol=0, atol=1e-12)
    gap = [c for c in chunks if c.seq == 5]
    assert len(gap) == 1 and gap[0].data.shape == (4, 24) and gap[0].n_missing == 96
    assert [c.n_missing for c in chunks if c.seq == 10] == [12]
    assert asm.n_missing_blocks == 2 and asm.n_partial_blocks == 1
    assert sum(c.n_missing for c in chunks) == 108


def test_partial_block_waits_for_next_block_or_flush():
    head = SimulatedHeadband(duration_s=0.2, shuffle=False)  # 4 blocks
    notes = list(head)
    asm = MuseEegAssembler(EEG, head.channel_by_uuid)
    out = [asm.feed(n.characteristic, n.payload, n.t) for n in notes[:3]]  # block 0, 3 of 4
    assert out == [[], [], []]
    first_next = asm.feed(notes[4].characteristic, notes[4].payload, notes[4].t)  # block 1 starts
    assert len(first_next) == 1 and first_next[0].seq == 0 and first_next[0].n_missing == 12
    assert np.isnan(first_next[0].data[3]).all()  # TP10 is the 4th in unshuffled order
    # the late TP10 packet of block 0 is counted, not inserted
    assert asm.feed(notes[3].characteristic, notes[3].payload, notes[3].t) == []
    assert asm.n_late == 1
    flushed = asm.flush()
    assert [c.seq for c in flushed] == [1] and flushed[0].n_missing == 36


def test_reordering_across_blocks_with_max_lag():
    head = SimulatedHeadband(duration_s=30.0, seed=6, jitter_s=0.08)  # blocks every 47 ms
    _, _, ref, _ = _assemble(list(SimulatedHeadband(duration_s=30.0, seed=6)), head)
    asm, _, data, times = _assemble(list(head), head, max_lag_blocks=3)
    assert asm.n_late == 0
    np.testing.assert_array_equal(data, ref)
    np.testing.assert_allclose(np.diff(times), 1 / 256, rtol=0, atol=1e-12)
    strict, _, data1, _ = _assemble(list(head), head, max_lag_blocks=1)
    assert strict.n_late > 0 and np.isnan(data1).sum() == 12 * strict.n_late


def test_lstsq_clock_follows_device_drift():
    # host clock runs 400 ppm fast against the device; latency 10 ms + exponential(5 ms)
    head = SimulatedHeadband(duration_s=60.0, seed=8)
    rng = np.random.default_rng(0)
    notes = list(head)
    t_dev = np.array([n.t for n in notes])
    arrival = t_dev * (1 + 400e-6) + 0.010 + rng.exponential(0.005, len(notes))
    results = {}
    for clock in ("anchor", "lstsq"):
        asm = MuseEegAssembler(EEG, head.channel_by_uuid, clock=clock)
        last = None
        for n, t in zip(notes, arrival):
            for c in asm.feed(n.characteristic, n.payload, float(t)):
                last = c
        results[clock] = last
    k = 12 * (head.n_blocks - 1) + np.arange(12)
    truth = k / 256 * (1 + 400e-6) + 0.010 + 0.005  # true sample time + mean latency
    err_anchor = np.max(np.abs(results["anchor"].times - truth))
    err_fit = np.max(np.abs(results["lstsq"].times - truth))
    assert err_anchor > 0.015  # 400 ppm x 60 s = 24 ms of drift the anchor cannot see
    assert err_fit < 0.002


def test_steady_states_equal_steady_state_one_by_one():
    # assemblers fed 0, 1, 2, ... notifications of a link that drops, repeats and reorders
    # (partial, missing and pending blocks), both clocks, blocks held back (max_lag_blocks 3):
    # steady_states reads each as steady_state does
    head = SimulatedHeadband(duration_s=2.0, seed=3)
    notes = list(head)[:60]
    notes = notes[:9] + notes[10:20] + notes[25:30] + notes[34:33:-1] + notes[33:]
    notes = notes[:40] + notes[38:40] + notes[40:]
    asms = []
    for clock, lag in (("anchor", 1), ("anchor", 3), ("lstsq", 1)):
        for k in range(len(notes) + 1):
            asm = MuseEegAssembler(EEG, head.channel_by_uuid, clock=clock, max_lag_blocks=lag)
            for n in notes[:k]:
                asm.feed(n.characteristic, n.payload, n.t)
            asms.append(asm)
    steady, blocks, clock_, pending = steady_states(asms)
    one = [a.steady_state() for a in asms]
    assert steady.tolist() == [s is not None for s in one]
    assert 0 < steady.sum() < len(asms) and any(p is not None for p in pending)
    for k in np.flatnonzero(steady).tolist():
        nxt, s0, t0, sfreq, part = one[k]
        assert (blocks[0, k], blocks[1, k], clock_[0, k], clock_[1, k]) == (nxt, s0, t0, sfreq)
        if part is None:
            assert pending[k] is None
        else:
            assert pending[k][0] is part[0] and pending[k][1] is part[1]


def _asm_state(asm):
    out = {
        k: v.tobytes() if isinstance(v, np.ndarray) else repr(v)  # repr: NaN == NaN
        for k, v in vars(asm).items()
        if k not in ("_pending", "_row_cache", "_fit")
    }
    out["_pending"] = {
        s: (b[0].tobytes(), list(b[1]), b[2], b[3]) for s, b in asm._pending.items()
    }
    return out


@pytest.mark.parametrize(
    "kw, lag",
    [
        ({"seed": 1}, 1),
        ({"seed": 2, "start_sequence": 65_480}, 1),  # the counter wraps
        ({"seed": 3, "jitter_s": 0.06}, 1),  # reordered across blocks: late packets
        ({"seed": 4, "jitter_s": 0.06}, 3),
        ({"seed": 5, "drop_fraction": 0.05, "jitter_s": 0.01}, 1),  # lost and partial blocks
    ],
)
def test_feed_block_equals_feed(kw, lag):
    """feed_block == feed packet by packet: the state after every packet (counters, pending
    blocks, next/high, clock) and the samples and times emitted; the steady shortcut ran."""
    head = SimulatedHeadband(duration_s=6.0, **kw)
    notes = list(head)
    rng = np.random.default_rng(0)
    for i in rng.integers(50, len(notes) - 5, 12).tolist():  # duplicates
        notes.insert(i, notes[i])
    notes.insert(400, notes[350])  # an old block (after the reset)
    a = MuseEegAssembler(EEG, head.channel_by_uuid, max_lag_blocks=lag)
    b = MuseEegAssembler(EEG, head.channel_by_uuid, max_lag_blocks=lag)
    n_short = 0
    for k, n in enumerate(notes):
        if k == 300:  # a reconnect: both reset
            a.reset()
            b.reset()
        chunks = a.feed(n.characteristic, n.payload, n.t)
        out = b.feed_block(n.characteristic, n.payload, n.t)
        if type(out) is tuple:
            n_short += 1
            assert len(chunks) == 1 and chunks[0].n_missing == 0
            assert chunks[0].seq == b._next - 1 and chunks[0].received_at == n.t
            np.testing.assert_array_equal(out[0], chunks[0].data)
            np.testing.assert_array_equal(out[1], chunks[0].times)
        else:
            assert len(out) == len(chunks)
            for x, y in zip(chunks, out):
                assert (x.seq, x.received_at, x.n_missing) == (y.seq, y.received_at, y.n_missing)
                np.testing.assert_array_equal(x.data, y.data)
                np.testing.assert_array_equal(x.times, y.times)
        assert _asm_state(a) == _asm_state(b)
    assert n_short > 50
    assert a.n_duplicate > 0 and a.n_late > 0
    with pytest.raises(DecodeError):
        b.feed_block(notes[0].characteristic, bytes(19), 0.0)
    with pytest.raises(ValueError, match="not an EEG characteristic"):
        b.feed_block("00002a37-0000-1000-8000-00805f9b34fb", bytes(20), 0.0)


def test_bad_input():
    head = SimulatedHeadband(duration_s=0.1)
    asm = MuseEegAssembler(EEG, head.channel_by_uuid)
    with pytest.raises(ValueError, match="not an EEG characteristic"):
        asm.feed("00002a37-0000-1000-8000-00805f9b34fb", bytes(20), 0.0)
    with pytest.raises(DecodeError):
        asm.feed(head.characteristics["TP9"], bytes(19), 0.0)
    with pytest.raises(ValueError, match="TP10"):
        MuseEegAssembler(EEG, {u: c for u, c in head.channel_by_uuid.items() if c != "TP10"})
    with pytest.raises(ValueError, match="clock"):
        MuseEegAssembler(EEG, head.channel_by_uuid, clock="wall")


def test_hrs_real_polar_h7_vector():
    asm = HrsAssembler(RR, HR)
    rr, hr = asm.feed(bytes.fromhex("163c1104"), 10.0)  # 60 bpm, RR 1041/1024 s, contact
    assert rr.data.tolist() == [[1041 / 1024]] and rr.times.tolist() == [10.0]
    assert hr.data.tolist() == [[60.0]] and hr.times.tolist() == [10.0]
    assert asm.contact_detected is True
    (hr_only,) = asm.feed(bytes.fromhex("063c"), 11.0)  # no RR in this notification
    assert hr_only.spec is HR and hr_only.data.tolist() == [[60.0]]


def test_hrs_beat_times_back_computed_from_arrival():
    asm = HrsAssembler(RR, HR)
    payload = encode_heart_rate_measurement(70, [1000, 1024, 512])
    rr, hr = asm.feed(payload, 5.0)
    # by hand: t_k = 5 - sum of the later intervals
    assert rr.times.tolist() == [5.0 - 1.5, 5.0 - 0.5, 5.0]
    assert rr.data.tolist() == [[1000 / 1024, 1.0, 0.5]]
    assert hr.data.tolist() == [[70.0]] and asm.n_beats == 3


def test_hrs_feed_fields_equal_numpy_by_hand():
    """feed_fields (Python floats, what the hub writes when nobody subscribed) == the numpy
    reference: scaler() of the raw intervals, np.cumsum, t - (sum - cumsum); 0-9 intervals of
    every 16-bit value range, RR scales of the profiles and a made-up one with an offset."""
    from addictidx.devices import scaler

    rng = np.random.default_rng(8)
    for scale, offset in ((1 / 1024, 0.0), (0.001, 0.0), (1.0, 0.0), (0.37, 3.0)):
        asm = HrsAssembler(RR, HR, rr_scale=scale, rr_offset=offset)
        conv = scaler(scale, offset)
        n_beats = n_bad = 0
        for _ in range(300):
            raw = rng.integers(0, 65536, int(rng.integers(0, 10))).tolist()
            t = float(rng.uniform(0.0, 1e5))
            hr = int(rng.choice([0, 60, 251]))
            rr, times, tf, hr_v = asm.feed_fields(
                heart_rate_fields(encode_heart_rate_measurement(hr, raw)), t
            )
            want = conv(np.asarray(raw, dtype=np.float64))
            cs = np.cumsum(want)
            assert rr == want.tolist()
            assert times == (t - (cs[-1] - cs)).tolist() if raw else times == []
            assert tf == t and (hr_v == hr if 20 <= hr <= 250 else hr_v != hr_v)
            n_beats += len(raw)
            n_bad += int(((want < 0.2) | (want > 3.0)).sum())  # outside 0.2-3 s
        assert (asm.n_beats, asm.n_implausible_rr) == (n_beats, n_bad)


def _run_strap(strap):
    asm = HrsAssembler(RR, HR)
    rr_chunks, hr_chunks = [], []
    for n in strap:
        for c in asm.feed(n.payload, n.t):
            (rr_chunks if c.spec is RR else hr_chunks).append(c)
    rr = np.concatenate([c.data[0] for c in rr_chunks])
    t = np.concatenate([c.times for c in rr_chunks])
    return asm, rr, t, hr_chunks


def test_strap_to_assembler_loses_nothing():
    strap = SimulatedStrap(seed=0)
    asm, rr, t, hr_chunks = _run_strap(strap)
    np.testing.assert_array_equal(rr, strap.rr_s)  # all 1019 source intervals, exact
    assert asm.n_beats == 1019 and len(hr_chunks) == asm.n_notifications == 901
    beat_t, _ = strap.beats()
    lag = t - beat_t
    # arrival-based beat times: never before the true beat, at most one notification late
    assert lag.min() >= 0 and lag.max() < 1.0


def test_strap_dropout_loses_exactly_the_beats_inside():
    strap = SimulatedStrap(dropouts=[(10.5, 20.5)])  # notifications at 11..20 s are lost
    _, rr, t, _ = _run_strap(strap)
    beat_t, src = strap.beats()
    lost = (beat_t > 10.0) & (beat_t <= 20.0)  # beats those 10 notifications carried
    assert lost.sum() > 5
    np.testing.assert_array_equal(rr, src[~lost])
    # the beat times show the gap: the step over it is much longer than the RR it reports
    i = int(np.flatnonzero(~lost)[np.flatnonzero(~lost) < np.flatnonzero(lost)[0]][-1])
    j = np.searchsorted(np.flatnonzero(~lost), i)
    step = t[j + 1] - t[j]
    assert step > 9.0 and rr[j + 1] < 2.0
    steps = np.diff(t)
    assert int(np.argmax(steps)) == j and np.all(np.delete(steps, j) < 3.0)  # nowhere else
