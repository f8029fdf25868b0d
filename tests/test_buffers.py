"""Ring and event buffers against a naive ``np.concatenate`` reference."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from addictidx._core.types import Chunk, StreamSpec
from addictidx.acquire.buffers import EventBuffer, RingBuffer

SPEC = StreamSpec("dev", "eeg", "eeg", ("a", "b"), 8.0, "uV", 12)
RR = StreamSpec("dev", "rr", "rr", ("rr",), None, "s")


def _chunks(sizes, nan_every=0):
    out, start = [], 0
    for n in sizes:
        idx = np.arange(start, start + n, dtype=float)
        data = np.vstack([idx, -idx])
        n_missing = 0
        if nan_every:
            mask = (idx.astype(int) % nan_every) == 0
            data[:, mask] = np.nan
            n_missing = int(mask.sum()) * 2
        out.append(Chunk(SPEC, data, idx / 8.0, n_missing=n_missing))
        start += n
    return out


@settings(max_examples=60, deadline=None)
@given(
    sizes=st.lists(st.integers(0, 50), min_size=1, max_size=30),
    capacity_s=st.floats(0.2, 8.0),
    seconds=st.floats(0.1, 10.0),
)
def test_ring_buffer_matches_concatenate(sizes, capacity_s, seconds):
    buf = RingBuffer(SPEC, capacity_s)
    chunks = _chunks(sizes, nan_every=7)
    for c in chunks:
        buf.write(c)
    all_data = np.concatenate([c.data for c in chunks], axis=1)
    all_times = np.concatenate([c.times for c in chunks])
    cap = int(np.ceil(capacity_s * 8.0 - 1e-9))
    n = min(int(round(seconds * 8.0)), cap, all_times.size)
    w = buf.latest(seconds)
    np.testing.assert_array_equal(w.data, all_data[:, all_times.size - n :])
    np.testing.assert_array_equal(w.times, all_times[all_times.size - n :])
    assert buf.total_written == all_times.size
    assert buf.n_missing == int(np.isnan(all_data).sum())
    expected_gap = float(np.isnan(w.data).mean()) if n else 0.0
    assert w.gap_fraction == pytest.approx(expected_gap)
    assert w.sfreq == 8.0 and w.spec is SPEC


def test_ring_buffer_gap_fraction_by_hand():
    buf = RingBuffer(SPEC, 10.0)
    data = np.ones((2, 10))
    data[:, 2:5] = np.nan  # 3 of 10 samples missing on both channels
    data[0, 9] = np.nan  # plus one value on one channel
    buf.write(Chunk(SPEC, data, np.arange(10) / 8.0, n_missing=7))
    w = buf.latest(10 / 8.0)
    assert w.gap_fraction == pytest.approx(7 / 20)
    assert buf.latest(0.5).gap_fraction == pytest.approx(1 / 8)  # last 4 samples: 1 NaN of 8
    assert w.data is not buf._data and np.shares_memory(w.data, buf._data) is False


def test_ring_buffer_rejects_wrong_stream():
    with pytest.raises(ValueError, match="EventBuffer"):
        RingBuffer(RR, 10.0)
    buf = RingBuffer(SPEC, 1.0)
    other = StreamSpec("dev", "ppg", "ppg", ("a", "b"), 8.0, "raw")
    with pytest.raises(ValueError, match="dev/ppg"):
        buf.write(Chunk(other, np.zeros((2, 1)), np.zeros(1)))
    assert buf.latest(1.0).data.shape == (2, 0)


def test_ring_buffer_one_writer_many_readers():
    buf = RingBuffer(SPEC, 4.0)
    chunks = _chunks([12] * 2000)
    errors = []

    def read():
        for _ in range(300):
            w = buf.latest(3.0)
            if w.times.size > 1 and not np.allclose(np.diff(w.times), 1 / 8.0):
                errors.append(w.times)
            if w.times.size and not np.array_equal(w.data[0], w.times * 8.0):
                errors.append(w.data)

    readers = [threading.Thread(target=read) for _ in range(2)]
    for r in readers:
        r.start()
    for c in chunks:
        buf.write(c)
    for r in readers:
        r.join()
    assert errors == []


def _rr_chunks(rr_lists, t0=0.0):
    out, t = [], t0
    for rr in rr_lists:
        rr = np.asarray(rr, dtype=float)
        times = t + np.cumsum(rr)
        if rr.size:
            out.append(Chunk(RR, rr[None], times))
            t = times[-1]
    return out


@settings(max_examples=60, deadline=None)
@given(
    rr_lists=st.lists(st.lists(st.sampled_from([0.5, 0.75, 1.0, 1.25]), max_size=5), max_size=40),
    capacity=st.integers(1, 30),
    seconds=st.floats(0.5, 40.0),
    since=st.floats(-1.0, 50.0),
)
def test_event_buffer_matches_reference(rr_lists, capacity, seconds, since):
    buf = EventBuffer(RR, capacity)
    chunks = _rr_chunks(rr_lists)
    for c in chunks:
        buf.write(c)
    if not chunks:
        assert buf.latest(seconds).times.size == 0
        return
    vals = np.concatenate([c.data[0] for c in chunks])[-capacity:]
    times = np.concatenate([c.times for c in chunks])[-capacity:]
    now = times[-1]
    w = buf.latest(seconds)
    keep = (times > now - seconds) & (times <= now)
    np.testing.assert_array_equal(w.times, times[keep])
    np.testing.assert_array_equal(w.data[0], vals[keep])
    assert w.sfreq is None
    s = buf.values_since(since)
    np.testing.assert_array_equal(s.times, times[times > since])


def test_event_buffer_by_hand():
    buf = EventBuffer(RR, 4)
    for c in _rr_chunks([[1.0, 1.0], [0.5], [1.0, 1.0]]):  # beats at 1, 2, 2.5, 3.5, 4.5
        buf.write(c)
    assert buf.total_written == 5 and buf.n_available == 4
    assert buf.latest(2.0).times.tolist() == [3.5, 4.5]  # (2.5, 4.5]
    assert buf.latest(2.5).times.tolist() == [2.5, 3.5, 4.5]  # (2.0, 4.5]
    # capacity 4: the beat at 1 s was overwritten
    assert buf.latest(10.0).times.tolist() == [2.0, 2.5, 3.5, 4.5]
    assert buf.latest(1.0, now=3.0).times.tolist() == [2.5]
    assert buf.values_since(2.5).data.tolist() == [[1.0, 1.0]]


@pytest.mark.parametrize("min_rings", [0, 12])  # 0: the indexed copy even for 5 rings
@pytest.mark.parametrize("max_per_page", [256, 2, 1])
def test_write_many_equals_one_write_per_buffer(max_per_page, min_rings, monkeypatch):
    """acquire.buffers.write_many (one indexed copy per pool page) == write_arrays per buffer:
    rings wrapping inside a write, a write longer than a ring (overwritten whole), pages,
    writes of one length and of different lengths."""
    import addictidx.acquire.buffers as B
    from addictidx.acquire.buffers import RingPool, write_many

    monkeypatch.setattr(B, "WRITE_MANY_MIN_RINGS", min_rings)

    spec = StreamSpec("sim", "eeg", "eeg", ("a", "b", "c"), 10.0, "uV")
    rng = np.random.default_rng(5)
    pool = RingPool(max_per_page=max_per_page)
    many = [RingBuffer(spec, 2.3, pool=pool) for _ in range(5)]  # 23 samples each
    one = [RingBuffer(spec, 2.3) for _ in range(5)]
    t = 0.0
    for step in range(40):
        lens = rng.integers(0, 30 if step % 9 == 8 else 9, 5)  # sometimes > 23: whole ring
        if step % 3 == 1:  # the same length each (the (buffer, sample) grid path)
            lens[:] = lens[0]
        vals = rng.normal(size=(int(lens.sum()), 3))
        times = t + np.arange(lens.sum()) / 10.0
        t = times[-1] + 1.0 if times.size else t
        write_many(many, vals, times, lens)
        a = 0
        for b, k in zip(one, lens.tolist()):
            b.write_arrays(vals[a : a + k].T, times[a : a + k])
            a += k
        for x, y in zip(one, many):
            assert (x.total_written, x.n_available) == (y.total_written, y.n_available)
            wx, wy = x.latest(10.0), y.latest(10.0)
            np.testing.assert_array_equal(wx.data, wy.data)
            np.testing.assert_array_equal(wx.times, wy.times)
    assert len({b._page for b in many}) == -(-5 // max_per_page)


def test_ring_holds_the_last_samples_written_whatever_the_write_sizes():
    """RingBuffer.latest == the tail of everything written (kept here in plain lists), and
    RingBuffer.samples == any stretch of it still held: writes shorter than, equal to and
    longer than the ring (23 samples), wrapping anywhere."""
    spec = StreamSpec("sim", "eeg", "eeg", ("a", "b"), 10.0, "uV")
    rng = np.random.default_rng(1)
    for _ in range(50):
        buf = RingBuffer(spec, 2.3)
        vals, times = np.empty((2, 0)), np.empty(0)
        for step in range(30):
            n = int(rng.integers(0, 60))
            v, t = rng.normal(size=(2, n)), np.arange(n) + 1000.0 * step
            buf.write_arrays(v, t)
            vals, times = np.concatenate((vals, v), axis=1), np.concatenate((times, t))
            k = int(rng.integers(1, 40))
            w = buf.latest(k / 10.0)
            kk = min(k, times.size, 23)
            np.testing.assert_array_equal(w.data, vals[:, times.size - kk :])
            np.testing.assert_array_equal(w.times, times[times.size - kk :])
            assert buf.n_available == min(23, times.size)
            assert buf.total_written == times.size
            # samples by number: any held stretch, and an error for one not all held
            held = times.size - min(23, times.size)
            a = int(rng.integers(held, times.size + 1))
            b = int(rng.integers(a, times.size + 1))
            np.testing.assert_array_equal(buf.samples(a, b), vals[:, a:b])
            if held:
                with pytest.raises(ValueError, match="not all held"):
                    buf.samples(held - 1, b)
            with pytest.raises(ValueError, match="not all held"):
                buf.samples(a, times.size + 1)


def test_event_selection_equals_a_mask_over_everything_held():
    """EventBuffer.latest / values_since / values_between == the events held (the last 37
    written, kept here in plain lists) whose times fall in the span, in write order: unordered
    times, wrapped rings, spans holding none, some or all of them."""
    spec = StreamSpec("strap", "rr", "rr", ("rr",), None, "s")
    rng = np.random.default_rng(2)
    buf = EventBuffer(spec, 37)
    vals, times = [], []
    for _ in range(60):
        n = int(rng.integers(0, 9))
        v, t = rng.normal(size=n), rng.uniform(0.0, 100.0, n)  # times in no order
        buf.write_arrays(v[None, :], t)
        vals, times = (vals + v.tolist())[-37:], (times + t.tolist())[-37:]
        now, span = float(rng.uniform(0.0, 110.0)), float(rng.uniform(0.1, 120.0))
        w = buf.latest(span, now=now)
        want = [(x, y) for x, y in zip(vals, times) if now - span < y <= now]
        assert w.data.tolist() == [[x for x, _ in want]] and w.times.tolist() == [
            y for _, y in want
        ]
        assert buf.values_between(now - span, now).tolist() == [[x for x, _ in want]]
        after = float(rng.uniform(-5.0, 100.0))
        w = buf.values_since(after)
        want = [(x, y) for x, y in zip(vals, times) if y > after]
        assert w.data.tolist() == [[x for x, _ in want]] and w.times.tolist() == [
            y for _, y in want
        ]
        if times:
            assert buf.latest(1e9).times.tolist() == times  # now = the latest event time held


def test_write_values_equals_write_arrays():
    """write_values (Python floats, element by element) == write_arrays of the same samples:
    writes of 0-9 values wrapping a 7-event ring anywhere, n_missing counted, a write longer
    than the ring, and a two-channel ring (which takes the array path)."""
    spec = StreamSpec("strap", "rr", "rr", ("rr",), None, "s")
    rng = np.random.default_rng(4)
    a, b = EventBuffer(spec, 7), EventBuffer(spec, 7)
    for _ in range(80):
        n = int(rng.integers(0, 10))
        v, t = rng.normal(size=n), rng.uniform(0.0, 100.0, n)
        miss = int(rng.integers(0, 2))
        a.write_arrays(v[None, :], t, miss)
        b.write_values(v.tolist(), t.tolist(), miss)
        assert (a.total_written, a.n_missing) == (b.total_written, b.n_missing)
        np.testing.assert_array_equal(a._data, b._data)
        np.testing.assert_array_equal(a._times, b._times)
    spec2 = StreamSpec("sim", "eeg", "eeg", ("a", "b"), 10.0, "uV")
    c = RingBuffer(spec2, 1.0)
    c.write_values([[1.0, 2.0], [3.0, 4.0]], [0.0, 0.1])
    assert c.latest(1.0).data.tolist() == [[1.0, 2.0], [3.0, 4.0]]
