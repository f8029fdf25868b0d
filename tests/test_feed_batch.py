"""acquire.feed_batch: EEG of many headbands assembled in one pass (acquire.eeg_runs) == the
packet-by-packet path (StreamHub.feed_one, the assembler of tests/test_assemble.py).

The reference is always one ``feed_one`` call per notification in arrival order; the streams are
simulated headbands and straps (shuffled electrodes, jitter that splits blocks across batches,
loss, silences with link events, a 16-bit counter wrapping, a host-clock step, an AUX stream of
another block shape, subscribers) and the test vectors of tests/data/ble_test_vectors.json.
Every scenario also checks that the batched assembly really ran (a spy on apply_eeg_runs).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import addictidx.acquire.buffers as buffers
import addictidx.acquire.feed_batch as FB
from addictidx.acquire import SimulatedHeadband, SimulatedStrap, StreamHub, iter_notifications
from addictidx.acquire.buffers import RingPool
from addictidx.acquire.decoders.muse_classic import encode_muse_eeg
from addictidx.acquire.events import LinkEvent
from addictidx.acquire.feed_batch import RouteBook, feed_notifications, feed_routed
from addictidx.acquire.notification import Notification
from addictidx.devices import load_profile

VECTORS = {
    v["id"]: v
    for v in json.loads((Path(__file__).parent / "data" / "ble_test_vectors.json").read_text())[
        "vectors"
    ]
}


@pytest.fixture
def spy(monkeypatch):
    """Number of handler runs assembled by the batched path (batched from 8 notifications on
    and ring buffers written with write_many's indexed copy however few, so that a few
    simulated sessions exercise it)."""
    monkeypatch.setattr(FB, "MIN_BATCH_DECODE", 8)
    monkeypatch.setattr(buffers, "WRITE_MANY_MIN_RINGS", 0)  # the indexed copy for 5 rings
    runs = {"n": 0}
    real = FB.apply_eeg_runs

    def counting(plan, which):
        runs["n"] += len(which)
        return real(plan, which)

    monkeypatch.setattr(FB, "apply_eeg_runs", counting)
    return runs


def _eeg(seconds=20.0, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(0.0, 30.0, (4, int(seconds * 256)))


def _streams(n_hubs, *, hb_kw=None, strap=True, seconds=12.0):
    """Per hub: its time-ordered items, Notification or LinkEvent, tagged by device."""
    out = []
    for k in range(n_hubs):
        hb = SimulatedHeadband(
            _eeg(seconds + 2, seed=k),
            256.0,
            ch_names=("TP9", "AF7", "AF8", "TP10"),
            duration_s=seconds,
            seed=k,
            name="muse",
            **(hb_kw or {}),
        )
        devs = {"muse": hb}
        if strap:
            devs["strap"] = SimulatedStrap(
                0.8 + 0.05 * np.sin(np.arange(40)), duration_s=seconds, seed=k, name="strap"
            )
        out.append([(d, n) for d, n in iter_notifications(devs)])
    return out


def _hub(profiles, **kw):
    kw = {"capacity_s": 60.0, "max_lag_blocks": 1, **kw}
    return StreamHub(profiles, **kw)


def _run(streams, profiles, *, tick=0.025, subscribe=False, hub_kw=None, pool=None, entry="names"):
    """Feed ``streams`` one by one and in batches of ``tick`` (the batched hubs' buffers in
    ``pool``; ``entry`` "ids": by route ids taken before anything is fed, feed_routed);
    return both hub lists and the chunks their subscribers got."""
    one = [_hub(profiles, **(hub_kw or {})) for _ in streams]
    many = [_hub(profiles, ring_pool=pool, **(hub_kw or {})) for _ in streams]
    if entry == "ids":
        book, ids = RouteBook(), {}
        for k, items in enumerate(streams):
            for dev, it in items:
                if not isinstance(it, LinkEvent) and (k, dev, it.characteristic) not in ids:
                    ids[(k, dev, it.characteristic)] = book.add(many[k], dev, it.characteristic)

        def feed_batch(hubs, devs, chars, pays, ts):
            rid = [ids[(many.index(h), d, c)] for h, d, c in zip(hubs, devs, chars)]
            feed_routed(book, np.array(rid, dtype=np.intp), pays, ts)
    else:
        feed_batch = feed_notifications
    queues = ([h.subscribe(0) for h in one], [h.subscribe(0) for h in many]) if subscribe else None
    for hub, items in zip(one, streams):
        for dev, it in items:
            if isinstance(it, LinkEvent):
                hub.on_link_event(LinkEvent(it.t, it.kind, dev))
            else:
                hub.feed_one(dev, it.characteristic, it.payload, it.t)
    pos = [0] * len(streams)
    end = max(items[-1][1].t for items in streams) + tick
    for T in np.arange(tick, end + tick, tick):
        batch = ([], [], [], [], [])
        for k, items in enumerate(streams):
            while pos[k] < len(items) and items[pos[k]][1].t <= T:
                dev, it = items[pos[k]]
                pos[k] += 1
                if isinstance(it, LinkEvent):  # the notes before it first, as a server would
                    feed_batch(*batch)
                    batch = ([], [], [], [], [])
                    many[k].on_link_event(LinkEvent(it.t, it.kind, dev))
                    continue
                for lst, x in zip(batch, (many[k], dev, it.characteristic, it.payload, it.t)):
                    lst.append(x)
        feed_batch(*batch)
    for a, b in zip(one, many):
        a.close()
        b.close()
    chunks = None
    if subscribe:
        chunks = [[_drain(q) for q in qs] for qs in queues]
    return one, many, chunks


def _drain(q):
    out = {}
    while not q.empty():
        item = q.get_nowait()
        if hasattr(item, "spec"):
            out.setdefault(item.spec.key, []).append(item)
    return out


def _assert_same(one, many):
    for a, b in zip(one, many):
        assert sorted(a.buffers) == sorted(b.buffers)
        for key, wa in a.buffers.items():
            wb = b.buffers[key]
            assert (wa.total_written, wa.n_missing) == (wb.total_written, wb.n_missing)
            xa = wa.latest(1e3) if hasattr(wa, "sfreq") else wa.latest(1e3, now=1e3)
            xb = wb.latest(1e3) if hasattr(wb, "sfreq") else wb.latest(1e3, now=1e3)
            np.testing.assert_array_equal(xa.data, xb.data)
            np.testing.assert_array_equal(xa.times, xb.times)
        assert a.gaps == b.gaps
        assert a.stats() == b.stats()
        assert a.clock_steps == b.clock_steps
        assert a.now == b.now


PROFILES = {"muse": "muse-2", "strap": "polar-h10"}


@pytest.mark.parametrize(
    "hb_kw",
    [
        {},  # electrodes shuffled within each block
        {"shuffle": False, "start_sequence": 65_500},  # the counter wraps to 0 mid-stream
        {"jitter_s": 0.02},  # blocks split across batches: partial blocks carried over
        {"drop_fraction": 0.02, "jitter_s": 0.004},  # lost packets: NaN rows, packet by packet
        {"dropouts": [(3.0, 4.5)]},  # a silence with link events
    ],
)
@pytest.mark.parametrize(
    "capacity_s, pool",
    [
        (60.0, None),  # every buffer its own storage
        (1.3, "one page"),  # rings wrap inside one write (333 samples, not whole blocks)
        (2.0, "pages of 2"),  # one indexed write per page
    ],
)
@pytest.mark.parametrize("entry", ["names", "ids"])
def test_batched_equals_one_by_one(spy, hb_kw, capacity_s, pool, entry):
    streams = _streams(5, hb_kw=hb_kw)
    pool = {None: None, "one page": RingPool(), "pages of 2": RingPool(max_per_page=2)}[pool]
    one, many, _ = _run(
        streams, PROFILES, hub_kw={"capacity_s": capacity_s}, pool=pool, entry=entry
    )
    _assert_same(one, many)
    assert spy["n"] > 100  # the batched assembly did the steady part
    for h in many:
        assert h.buffer("muse", "eeg").total_written > 11 * 256
    n_pages = len({h.buffer("muse", "eeg")._page for h in many})
    assert n_pages == {60.0: 5, 1.3: 1, 2.0: 3}[capacity_s]


@pytest.mark.parametrize("tick", [0.05, 0.1])  # a server's batch of 2 or 4 connection events
@pytest.mark.parametrize(
    "hb_kw",
    [{}, {"jitter_s": 0.02}, {"drop_fraction": 0.02, "jitter_s": 0.004}],
)
@pytest.mark.parametrize("entry", ["names", "ids"])
def test_batches_spanning_several_arrivals_equal_one_by_one(monkeypatch, spy, tick, hb_kw, entry):
    """A device's notifications arriving at several times in one batch (in order) take the
    batched path; the result is the one-by-one result."""
    real = FB._in_order
    took = {"n": 0}

    def counting(gid, t, G):
        ok = real(gid, t, G)
        took["n"] += int(ok.sum())
        return ok

    monkeypatch.setattr(FB, "_in_order", counting)
    streams = _streams(5, hb_kw=hb_kw)
    one, many, _ = _run(streams, PROFILES, tick=tick, entry=entry)
    _assert_same(one, many)
    assert took["n"] > 50 and spy["n"] > 100  # several-arrival batches were batched


@pytest.mark.parametrize("back_s", [0.0005, 0.002, 0.3])  # within / beyond the 1-ms tolerance
def test_arrivals_going_back_within_a_batch_equal_one_by_one(spy, back_s):
    """An arrival earlier than the one before it in the same batch (reordered by the host, or
    a host-clock step) is handled as one by one: within the tolerance no step, beyond it a
    clock step; the batch still equals feeding one by one."""
    streams = _streams(5)
    for k in (1, 3):
        items = streams[k]
        i = next(j for j, (d, n) in enumerate(items) if d == "muse" and n.t > 3.0 + k)
        d, n = items[i]
        latest = max(m.t for e, m in items[:i] if e == "muse")  # its device's latest arrival
        items[i] = (d, Notification(latest - back_s, n.characteristic, n.payload))
    one, many, _ = _run(streams, PROFILES, tick=0.1)
    _assert_same(one, many)
    assert bool(many[1].clock_steps) == (back_s > 0.001)
    assert spy["n"] > 100


@pytest.mark.parametrize("entry", ["names", "ids"])
def test_subscribers_get_the_same_one_block_chunks(spy, entry):
    streams = _streams(5, hb_kw={"jitter_s": 0.01, "drop_fraction": 0.01})
    one, many, (ca, cb) = _run(streams, PROFILES, subscribe=True, pool=RingPool(), entry=entry)
    _assert_same(one, many)
    assert spy["n"] > 100
    for a, b in zip(ca, cb):
        assert sorted(a) == sorted(b)
        for key in a:
            assert len(a[key]) == len(b[key])
            for x, y in zip(a[key], b[key]):
                assert (x.seq, x.received_at, x.n_missing) == (y.seq, y.received_at, y.n_missing)
                np.testing.assert_array_equal(x.data, y.data)
                np.testing.assert_array_equal(x.times, y.times)


@pytest.mark.parametrize(
    "hb_kw",
    [
        {"start_sequence": 65_500},  # the counter wraps
        {"drop_fraction": 0.03, "jitter_s": 0.004},
        {"dropouts": [(3.0, 4.5), (7.0, 7.2)]},
    ],
)
def test_one_by_one_without_subscribers_equals_the_chunk_path(hb_kw):
    """feed_one of a hub nobody subscribed to (steady EEG blocks straight into the buffer,
    MuseEegAssembler.feed_block) == a subscribed hub's (every block a chunk): buffers, gaps,
    counters."""
    streams = _streams(3, hb_kw=hb_kw)
    rng = np.random.default_rng(2)
    for items in streams:  # packets swapped across blocks (arrival times kept in order)
        muse = [i for i, (d, n) in enumerate(items) if d == "muse"]
        for k in rng.integers(0, len(muse) - 8, 30).tolist():
            i, j = muse[k], muse[k + 5]
            (d, a), (_, b) = items[i], items[j]
            items[i] = (d, Notification(a.t, b.characteristic, b.payload))
            items[j] = (d, Notification(b.t, a.characteristic, a.payload))
    quiet, loud = [_hub(PROFILES) for _ in streams], [_hub(PROFILES) for _ in streams]
    for h in loud:
        h.subscribe(0)
    for hubs in (quiet, loud):
        for hub, items in zip(hubs, streams):
            for dev, it in items:
                if isinstance(it, LinkEvent):
                    hub.on_link_event(LinkEvent(it.t, it.kind, dev))
                else:
                    hub.feed_one(dev, it.characteristic, it.payload, it.t)
            hub.close()
    _assert_same(loud, quiet)
    assert all(h.buffer("muse", "eeg").n_missing > 0 and h.gaps for h in quiet)  # not steady


@pytest.mark.parametrize("entry", ["names", "ids"])
def test_clock_step_and_lstsq_clock_go_packet_by_packet(spy, entry):
    streams = _streams(5)
    items = streams[1]
    k = next(i for i, (d, n) in enumerate(items) if d == "muse" and n.t > 4.0)
    d, n = items[k]
    items[k] = (d, Notification(n.t - 0.2, n.characteristic, n.payload))  # host clock steps
    ecg = load_profile("polar-h10").stream("ecg").characteristics[0]
    for items in streams[2:]:  # malformed Heart Rate and ECG payloads of a steady device
        k = next(i for i, (d, n) in enumerate(items) if d == "strap" and n.t > 2.0)
        hr, t = items[k][1].characteristic, items[k][1].t
        items.insert(k + 1, ("strap", Notification(t, hr, b"\x10")))
        items.insert(k + 2, ("strap", Notification(t, ecg, bytes(12))))  # 2 sample bytes
    one, many, _ = _run(streams, PROFILES, entry=entry)
    _assert_same(one, many)
    assert many[1].clock_steps and spy["n"] > 100
    assert all(h.stats()["strap"]["n_decode_errors"] == 2 for h in many[2:])
    spy["n"] = 0
    one, many, _ = _run(_streams(5), PROFILES, hub_kw={"eeg_clock": "lstsq"}, entry=entry)
    _assert_same(one, many)
    assert spy["n"] == 0  # the fitted clock is not batched


def test_aux_stream_of_another_block_shape(spy):
    """Muse 2 with its AUX electrode: two EEG streams of one device, (4, 12) and (1, 12)."""
    aux = load_profile("muse-2").stream("eeg_aux").characteristics[0]
    rng = np.random.default_rng(3)
    streams = []
    for items in _streams(4, strap=False, hb_kw={"shuffle": False}):
        out = []
        for d, n in items:
            out.append((d, n))
            if n.characteristic.startswith("273e0006"):  # after TP10: the block's AUX
                seq = (n.payload[0] << 8) | n.payload[1]
                uv = 0.48828125 * (rng.integers(0, 4096, 12) - 2048.0)
                out.append((d, Notification(n.t, aux, encode_muse_eeg(seq, uv))))
        streams.append(out)
    one, many, _ = _run(streams, {"muse": "muse-2"}, entry="ids")
    _assert_same(one, many)
    assert spy["n"] > 100
    aux_one, aux_many = one[0].buffer("muse", "eeg_aux"), many[0].buffer("muse", "eeg_aux")
    assert aux_many.total_written == aux_one.total_written > 11 * 256


def test_test_vector_payloads_and_counter_wrap(spy):
    """Every electrode sends the muse-js test vector's samples; the block counter wraps
    65535 -> 0 (vector muse.eeg.sequence_wrap: 1 block, 46.875 ms)."""
    vec = VECTORS["muse.eeg.notification_tp10"]
    expected = vec["expected"]["uV"]
    samples = bytes.fromhex(vec["hex"])[2:]
    wrap = VECTORS["muse.eeg.sequence_wrap"]
    step_ms = wrap["expected"]["timestamp_delta_ms"]
    chars = [u for u, _ in load_profile("muse-2").stream("eeg").routes.items()]
    streams = []
    for k in range(4):
        items = []
        for b in range(300):
            seq = (65_400 + 7 * k + b) & 0xFFFF
            t = (b + 1) * step_ms / 1e3
            for c in chars:
                items.append(("muse", Notification(t, c, bytes([seq >> 8, seq & 0xFF]) + samples)))
        streams.append(items)
    one, many, _ = _run(streams, {"muse": "muse-2"})
    _assert_same(one, many)
    assert spy["n"] > 100
    for h in many:
        w = h.buffer("muse", "eeg").latest(1e3)
        assert w.data.shape == (4, 300 * 12)
        np.testing.assert_array_equal(w.data, np.tile(expected, (4, 300)))
        np.testing.assert_allclose(np.diff(w.times[11::12]) * 1e3, step_ms, rtol=0, atol=1e-9)


def test_unknown_device_raises_after_the_notes_before_it(spy):
    streams = _streams(1, strap=False)[0][:40]
    hub, ref = _hub({"muse": "muse-2"}), _hub({"muse": "muse-2"})
    args = [
        [hub] * 40,
        [d for d, _ in streams],
        *zip(*[(n.characteristic, n.payload, n.t) for _, n in streams]),
    ]
    args[1][30] = "nobody"
    with pytest.raises(KeyError, match="nobody"):
        feed_notifications(*args)
    for d, n in streams[:30]:
        ref.feed_one(d, n.characteristic, n.payload, n.t)
    _assert_same([ref], [hub])


@pytest.mark.parametrize("min_batch", [8, 10**9])  # batched / one by one
def test_route_ids_taken_before_reconnects_and_of_look_alike_hubs(monkeypatch, spy, min_batch):
    """Stale route attack: ids taken once, then every device disconnects and reconnects (a
    headband restarting its counter, a strap silent), hubs whose devices have the same names
    fed in one batch, and ids fed after the hub closed: each id feeds exactly its own hub's
    device and characteristic, as feed_one would."""
    monkeypatch.setattr(FB, "MIN_BATCH_DECODE", min_batch)
    streams = _streams(4)
    for k, items in enumerate(streams):  # a reconnect every 3 s (2 s for the strap)
        for dev, every in (("muse", 3.0), ("strap", 2.0)):
            for t0 in np.arange(every, 11.0, every).tolist():
                t = t0 + 0.01 * k
                # what the device sent while the link was down is lost
                items[:] = [x for x in items if not (x[0] == dev and t <= x[1].t < t + 0.2)]
                items.append((dev, LinkEvent(t, "disconnected", dev)))
                items.append((dev, LinkEvent(t + 0.2, "connected", dev)))
        items.sort(key=lambda x: x[1].t)
    one = [_hub(PROFILES) for _ in streams]
    many = [_hub(PROFILES, ring_pool=RingPool()) for _ in streams]
    book = RouteBook()
    chars = sorted(
        {
            (d, n.characteristic)
            for items in streams
            for d, n in items
            if not isinstance(n, LinkEvent)
        }
    )
    ids = {(k, d, c): book.add(many[k], d, c) for k in range(len(many)) for d, c in chars}
    with pytest.raises(KeyError, match="nobody"):
        book.add(many[0], "nobody", chars[0][1])
    assert len(book) == len(ids)
    n_taken = len(book)
    for bad in ([-1], [n_taken], [0.0], [[0]], [0, 1]):  # ids never taken, not ids, too many
        with pytest.raises(ValueError, match="ids|not taken"):
            feed_routed(book, bad, [b"\x00" * 20], [0.0])
    assert all(h.stats()["muse"]["n_notifications"] == 0 for h in many)  # nothing fed
    merged = sorted(
        ((it.t, k, d, it) for k, items in enumerate(streams) for d, it in items),
        key=lambda x: (x[0], x[1]),
    )
    for _t, k, d, it in merged:
        if isinstance(it, LinkEvent):
            one[k].on_link_event(LinkEvent(it.t, it.kind, d))
        else:
            one[k].feed_one(d, it.characteristic, it.payload, it.t)
    batch: list = []

    def flush():
        if batch:
            rid, pays, ts = zip(*batch)
            feed_routed(book, np.array(rid), list(pays), np.array(ts))
            batch.clear()

    T = 0.025
    for t, k, d, it in merged:
        if t > T:
            flush()
            T = (np.floor(t / 0.025) + 1) * 0.025
        if isinstance(it, LinkEvent):
            flush()
            many[k].on_link_event(LinkEvent(it.t, it.kind, d))
        else:
            batch.append((ids[(k, d, it.characteristic)], it.payload, it.t))
    flush()
    _assert_same(one, many)
    assert (spy["n"] > 100) == (min_batch == 8)  # the batched assembly ran (or not)
    for a, b in zip(one, many):
        assert a.stats()["muse"]["n_disconnects"] == 3
        assert {g.reason for g in b.gaps} >= {"disconnect"}
    # after close, an id still feeds its own hub only, as feed_one does
    late = [(k, d, it) for t, k, d, it in merged[-60:] if not isinstance(it, LinkEvent)]
    for a, b in zip(one, many):
        a.close()
        b.close()
    for k, d, it in late:
        one[k].feed_one(d, it.characteristic, it.payload, it.t + 1.0)
    feed_routed(
        book,
        [ids[(k, d, it.characteristic)] for k, d, it in late],
        [it.payload for _, _, it in late],
        [it.t + 1.0 for _, _, it in late],
    )
    _assert_same(one, many)


def test_ecg_frames_of_many_straps(monkeypatch):
    """Bench streams (Muse + H10 with PMD ECG): frames lost, repeated and swapped, a malformed
    and a cut frame; the ECG of many straps assembled together (acquire.ecg_runs) == frame by
    frame."""
    from addictidx import bench as B
    from addictidx.acquire.buffers import RingPool

    monkeypatch.setattr(FB, "MIN_BATCH_DECODE", 8)
    monkeypatch.setattr(FB, "MIN_BATCH_ECG", 2)
    monkeypatch.setattr(buffers, "WRITE_MANY_MIN_RINGS", 0)
    frames = {"n": 0}
    real = FB.feed_ecg_frames

    def counting(handlers, payloads):
        done = real(handlers, payloads)
        frames["n"] += int(done.sum())
        return done

    monkeypatch.setattr(FB, "feed_ecg_frames", counting)
    src = B.make_sources(10.0, B.BenchConfig(), n_variants=3)
    rng = np.random.default_rng(11)
    streams = []
    for k in range(6):
        v = src.variants[k % 3]
        notes = [
            (d, Notification(t, c, p)) for d, c, p, t in zip(v.devices, v.chars, v.payloads, v.t_l)
        ]
        ecg = [i for i, (d, n) in enumerate(notes) if n.characteristic.startswith("fb005c82")]
        for i in rng.choice(ecg[2:], 4, replace=False):  # lost frames (holes > half a frame)
            notes[i] = None
        notes = [x for x in notes if x is not None]
        ecg = [i for i, (d, n) in enumerate(notes) if n.characteristic.startswith("fb005c82")]
        f9, f12 = notes[ecg[9]][1], notes[ecg[12]][1]
        extra = {
            ecg[5]: [notes[ecg[5]]],  # a repeated frame
            ecg[9]: [("strap", Notification(f9.t, f9.characteristic, f9.payload[:-3]))],  # cut
            ecg[12]: [("strap", Notification(f12.t, f12.characteristic, bytes(12)))],  # malformed
        }
        notes = [x for i, n in enumerate(notes) for x in [n, *extra.get(i, [])]]
        streams.append(notes)
    profiles = {"muse": src.variants[0].headband.profile, "strap": src.variants[0].strap.profile}
    for entry in ("names", "ids"):
        frames["n"] = 0
        one, many, _ = _run(
            streams, profiles, hub_kw={"capacity_s": 3.0}, pool=RingPool(), entry=entry
        )
        _assert_same(one, many)
        assert frames["n"] > 20  # sessions k and k + 3 send their frames in the same tick
    assert all(h.stats()["strap"]["n_decode_errors"] == 2 for h in many)


def _hr_streams(n_hubs, seconds=30.0, seed=5):
    """Per hub: Heart Rate Measurements every 0.25 s, all hubs at the same times (one batch),
    of every layout: uint8/uint16 heart rate, energy field, contact unsupported/absent/present,
    0-3 RR intervals (incl. the RR flag without bytes), implausible heart rates and RR, repeats
    inside and outside the dedupe window, malformed payloads, silences and a disconnect."""
    from addictidx.acquire.decoders.hrs import encode_heart_rate_measurement

    rng = np.random.default_rng(seed)
    hr_uuid = load_profile("polar-h10").stream("hr").characteristics[0]
    out = []
    for k in range(n_hubs):
        items, last = [], None
        for t in np.arange(0.25, seconds, 0.25).tolist():
            if k == 1 and 10.0 < t < 13.0:  # silence longer than the hub's silence_s
                continue
            if k == 2 and t == 15.0:
                items.append(("strap", LinkEvent(t - 0.01, "disconnected", "strap")))
                items.append(("strap", LinkEvent(t - 0.005, "connected", "strap")))
            r = rng.random()
            if last is not None and r < 0.08:  # the previous payload again
                items.append(("strap", Notification(t, hr_uuid, last)))
                if r < 0.04:  # a repeat inside the dedupe window
                    items.append(("strap", Notification(t + 0.1, hr_uuid, last)))
                continue
            if r < 0.11:  # malformed: the RR field has an odd length / flags demand more bytes
                bad = b"\x10\x48\x00\x04\x01" if r < 0.095 else b"\x01\x48"
                items.append(("strap", Notification(t, hr_uuid, bad)))
                continue
            layout = k % 4 if r < 0.85 else int(rng.integers(4))  # mostly one layout per hub
            hr = int(rng.choice([0, 12, 72, 140, 251] + [300] * (layout >= 2)))
            n_rr = int(rng.integers(0, 4))
            rr = rng.integers(150, 3500, n_rr).tolist()  # some outside 0.2-3 s
            p = encode_heart_rate_measurement(
                hr,
                rr,
                contact=(True, False, None, True)[layout],
                energy_kj=int(rng.integers(0, 65536)) if layout == 3 else None,
                uint16=layout >= 2,
            )
            if layout == 1 and n_rr == 0 and r < 0.5:
                p = bytes([p[0] | 0x10]) + p[1:]  # RR flag set, no RR bytes
            items.append(("strap", Notification(t, hr_uuid, p)))
            last = p
        out.append(items)
    return out


def test_heart_rate_measurements_of_many_straps(monkeypatch, spy):
    """The Heart Rate Measurements of many straps assembled together (acquire.hrs_runs) ==
    one by one: rr and hr buffers (NaN heart rates counted as gap fill), gaps of silences and
    disconnects, counters, skin contact and the duplicate check of the next notification."""
    monkeypatch.setattr(FB, "MIN_BATCH_HR", 2)
    notes = {"n": 0}
    real = FB.feed_hr_notes

    def counting(handlers, payloads, t):
        done = real(handlers, payloads, t)
        notes["n"] += int(done.sum())
        return done

    monkeypatch.setattr(FB, "feed_hr_notes", counting)
    streams = _hr_streams(12)
    for pool, entry in ((None, "names"), (RingPool(), "names"), (RingPool(), "ids")):
        notes["n"] = 0
        one, many, _ = _run(
            streams, {"strap": "polar-h10"}, hub_kw={"silence_s": 2.0}, pool=pool, entry=entry
        )
        _assert_same(one, many)
        assert notes["n"] > 800  # most notes went the batched way
        for a, b in zip(one, many):
            assert a.skin_contact("strap") == b.skin_contact("strap")
            hrs_a = [h for h in a._devices["strap"].handlers if hasattr(h, "last_payload")][0]
            hrs_b = [h for h in b._devices["strap"].handlers if hasattr(h, "last_payload")][0]
            assert (hrs_a.last_payload, hrs_a.last_rx) == (hrs_b.last_payload, hrs_b.last_rx)
            assert vars(hrs_a.asm).keys() == vars(hrs_b.asm).keys()
            for key in (
                "n_notifications",
                "n_beats",
                "n_no_contact",
                "n_implausible_hr",
                "n_implausible_rr",
                "contact_detected",
            ):
                assert getattr(hrs_a.asm, key) == getattr(hrs_b.asm, key), key
    st = many[0].stats()["strap"]
    assert st["n_decode_errors"] > 0 and st["n_duplicates"] > 0 and st["hr_implausible"] > 0
    kinds = {g.reason for h in many for g in h.gaps}
    assert {"silence", "disconnect"} <= kinds
    hr = many[0].buffer("strap", "hr")
    assert hr.n_missing > 0 and many[0].buffer("strap", "rr").total_written > 50
