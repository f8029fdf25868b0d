"""acquire.hub.feed_notifications (EEG of many hubs decoded in one call) == one
on_notification call per notification: same buffers, gaps and counters, faults included."""

from __future__ import annotations

import numpy as np
import pytest

from addictidx import bench as B
from addictidx.acquire import StreamHub
from addictidx.acquire.feed_batch import RouteBook, feed_routed
from addictidx.acquire.hub import feed_notifications


def _hubs(var, n):
    return [
        StreamHub(
            {"muse": var.headband.profile, "strap": var.strap.profile},
            capacity_s=30.0,
            max_lag_blocks=1,
        )
        for _ in range(n)
    ]


@pytest.mark.parametrize("entry", ["names", "ids"])  # feed_notifications / feed_routed
@pytest.mark.parametrize("min_batch", [1, 10**9])
def test_batched_feed_equals_one_by_one(monkeypatch, min_batch, entry):
    import addictidx.acquire.feed_batch as FB

    monkeypatch.setattr(FB, "MIN_BATCH_DECODE", min_batch)  # vectorized decode / per payload
    src = B.make_sources(12.0, B.BenchConfig(), n_variants=2)
    rng = np.random.default_rng(7)
    streams = []
    for v in src.variants:
        notes = list(zip(v.devices, v.chars, v.payloads, v.t_l))
        keep = rng.random(len(notes)) > 0.03  # 3 % lost
        notes = [n for n, k in zip(notes, keep) if k]
        for i in rng.integers(5, len(notes) - 5, 20):  # swaps (reordering) and duplicates
            notes[i], notes[i + 1] = notes[i + 1], notes[i]
        for i in rng.integers(5, len(notes) - 5, 10):
            notes.insert(i, notes[i])
        d, c, _p, t = notes[40]
        notes.insert(41, (d, c, b"\x00" * 7, t))  # a malformed payload
        notes.insert(60, (d, c.upper(), notes[60][2], notes[60][3]))  # upper-case UUID
        streams.append(notes)
    one = _hubs(src.variants[0], 2)
    many = _hubs(src.variants[0], 2)
    book, ids = RouteBook(), {}  # routes taken once per (hub, device, characteristic)
    for k, notes in enumerate(streams):
        for d, c, _p, _t in notes:
            if (k, d, c) not in ids:
                ids[(k, d, c)] = book.add(many[k], d, c)
    for h, notes in zip(one, streams):
        for d, c, p, t in notes:
            h.on_notification(d, c, p, t)
    # batches of ~25 ms across both hubs, as a server tick hands them over
    pos = [0, 0]
    for T in [*np.arange(0.025, 13.0, 0.025), np.inf]:
        hubs, ds, cs, ps, ts, rid = [], [], [], [], [], []
        for k, notes in enumerate(streams):
            while pos[k] < len(notes) and notes[pos[k]][3] <= T:
                d, c, p, t = notes[pos[k]]
                rid.append(ids[(k, d, c)])
                hubs.append(many[k])
                ds.append(d)
                cs.append(c)
                ps.append(p)
                ts.append(t)
                pos[k] += 1
        if entry == "ids":
            feed_routed(book, rid, ps, ts)
        else:
            feed_notifications(hubs, ds, cs, ps, ts)
    for a, b in zip(one, many):
        a.close()
        b.close()
        for key in a.buffers:
            wa, wb = a.buffers[key], b.buffers[key]
            xa = wa.latest(1e3) if hasattr(wa, "sfreq") else wa.latest(1e3, now=1e3)
            xb = wb.latest(1e3) if hasattr(wb, "sfreq") else wb.latest(1e3, now=1e3)
            np.testing.assert_array_equal(xa.data, xb.data)
            np.testing.assert_array_equal(xa.times, xb.times)
        assert a.gaps == b.gaps
        assert a.stats() == b.stats()
        assert a.stats()["muse"]["n_decode_errors"] == 1
