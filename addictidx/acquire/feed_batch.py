"""Notifications of many stream hubs in one call: the one entry point of the stream layer.

:func:`feed_notifications` is what :meth:`StreamHub.on_notification
<addictidx.acquire.hub.StreamHub.on_notification>` runs for one notification and what a server
serving many sessions runs once per BLE connection interval for the notifications of all its
sessions. For a batch it

1. routes every notification (:meth:`StreamHub.route <addictidx.acquire.hub.StreamHub.route>`,
   cached per hub) and groups them by device;
2. takes the devices whose notifications are all classic-Muse EEG packets (or counted-only
   ones), with no host-clock step among them, and whose EEG assemblers are steady
   (:meth:`~addictidx.acquire.assemble.MuseEegAssembler.steady_state`): their packets are
   decoded in one :func:`~addictidx.acquire.decoders.muse_classic.decode_muse_eeg_batch` call
   and assembled in one pass over all devices (:mod:`addictidx.acquire.eeg_runs`) when they
   continue each device's blocks in order;
3. hands every other device's notifications, in their order, to :meth:`StreamHub.feed_one
   <addictidx.acquire.hub.StreamHub.feed_one>` (packet by packet): Heart Rate, ECG, battery,
   Athena, lost/late/repeated/reordered EEG blocks, disconnects, clock steps, malformed
   payloads.

The buffers, gap records, counters and decode errors are those of one
:meth:`~addictidx.acquire.hub.StreamHub.feed_one` call per notification in order; each stream's
subscribers get the same chunks in the same order. Across *devices*, gap records and chunks may
come in another order within one call (each device's own order is kept).
"""

from __future__ import annotations

import numpy as np

from addictidx.acquire.decoders.muse_classic import (
    EEG_SAMPLES_PER_PACKET,
    NOTIFICATION_BYTES,
    decode_muse_eeg_batch,
)
from addictidx.acquire.eeg_runs import apply_eeg_runs, plan_eeg_runs

__all__ = ["feed_notifications", "MIN_BATCH_DECODE"]

#: Notifications in one :func:`feed_notifications` call from which the batched assembly pays
#: (fewer: packet by packet).
MIN_BATCH_DECODE = 8


def _one_by_one(hubs, devices, characteristics, payloads, received_at) -> None:
    for hub, d, c, p, t in zip(hubs, devices, characteristics, payloads, received_at):
        hub.feed_one(d, c, p, t)


def feed_notifications(hubs, devices, characteristics, payloads, received_at) -> None:
    """Hand many notifications to their hubs (see the module doc).

    Equivalent to ``hubs[i].feed_one(devices[i], characteristics[i], payloads[i],
    received_at[i])`` for every ``i`` in order.

    Parameters
    ----------
    hubs : sequence of StreamHub
        The hub of each notification (may repeat).
    devices, characteristics, payloads, received_at : sequence
        As :meth:`StreamHub.on_notification <addictidx.acquire.hub.StreamHub.on_notification>`,
        one per notification.

    Raises
    ------
    KeyError
        A device unknown to its hub (the notifications before it are fed).
    """
    n = len(payloads)
    if n < MIN_BATCH_DECODE:
        _one_by_one(hubs, devices, characteristics, payloads, received_at)
        return
    try:
        routes = [
            hub.route_table.get((d, c)) or hub.route(d, c)
            for hub, d, c in zip(hubs, devices, characteristics)
        ]
    except KeyError:  # an unknown device: raise where one-by-one feeding would
        _one_by_one(hubs, devices, characteristics, payloads, received_at)
        return
    groups: dict = {}  # device state -> group number, in order of first notification
    gid = np.array([groups.setdefault(r[0], len(groups)) for r in routes], dtype=np.intp)
    kind = np.array([r[1] for r in routes], dtype=np.int8)
    good = np.fromiter(
        (type(p) is bytes and len(p) == NOTIFICATION_BYTES for p in payloads), bool, n
    )
    states = list(groups)
    G = len(states)
    first = np.unique(gid, return_index=True)[1].tolist()
    ghub = [hubs[j] for j in first]
    gok = np.ones(G, dtype=bool)
    gok[gid[(kind == 1) | ((kind == 0) & ~good)]] = False
    # host-clock steps (StreamHub._accept): none when every arrival is within the tolerance of
    # the latest one; otherwise the device goes packet by packet
    t = (
        np.asarray(received_at, dtype=np.float64)
        + np.fromiter((st.offset for st in states), np.float64, G)[gid]
    )
    last = np.fromiter(
        (-np.inf if st.last_rx is None else st.last_rx for st in states), np.float64, G
    )
    tol = np.fromiter((h.clock_step_tolerance_s for h in ghub), np.float64, G)
    gmin = np.full(G, np.inf)
    np.minimum.at(gmin, gid, t)
    gmax = np.full(G, -np.inf)
    np.maximum.at(gmax, gid, t)
    gok &= gmin >= np.maximum(last, gmax) - tol

    plans = _plan_eeg(routes, payloads, gid, kind, gok, t)  # clears gok of unsteady devices

    slow = np.flatnonzero(~gok[gid])
    if slow.size:
        for j in slow.tolist():
            hubs[j].feed_one(devices[j], characteristics[j], payloads[j], received_at[j])
    fast = np.flatnonzero(gok)
    if fast.size == 0:
        return
    n_per = np.bincount(gid, minlength=G).tolist()
    gmax_l = gmax.tolist()
    for g in fast.tolist():  # StreamHub._accept of the device's notifications
        st, hub, m = states[g], ghub[g], gmax_l[g]
        if st.last_rx is None or m > st.last_rx:
            st.last_rx = m
        if m > hub.now:
            hub.now = m
        st.counts["n_notifications"] += n_per[g]
        st.connected = True
    counted = np.flatnonzero((kind == 2) & gok[gid])
    for j in counted.tolist():
        st = routes[j][0]
        st.counts[routes[j][4]] += 1
    for plan, hgroup in plans:
        which = np.flatnonzero(plan.ok & gok[hgroup])
        if which.size:
            apply_eeg_runs(plan, which.tolist())


def _plan_eeg(routes, payloads, gid, kind, gok, t) -> list:
    """Plans of the EEG packets of the devices still marked in ``gok`` (cleared for devices
    whose packets are not a steady run)."""
    eeg = np.flatnonzero((kind == 0) & gok[gid])
    if eeg.size == 0:
        return []
    eeg_l = eeg.tolist()
    hmap: dict = {}
    hn = np.array([hmap.setdefault(routes[j][2], len(hmap)) for j in eeg_l], dtype=np.intp)
    handlers = list(hmap)
    hgroup = gid[eeg[np.unique(hn, return_index=True)[1]]]
    steady = [None if h.pending_gap else h.asm.steady_state() for h in handlers]
    shapes = [(h.spec.n_channels, h.asm.spp) for h in handlers]
    for k, (s, shape) in enumerate(zip(steady, shapes)):
        if s is None or shape[1] != EEG_SAMPLES_PER_PACKET:
            gok[hgroup[k]] = False
    keep = gok[hgroup[hn]]
    if not keep.any():
        return []
    eeg, hn = eeg[keep], hn[keep]
    eeg_l = eeg.tolist()
    seq, uv = decode_muse_eeg_batch([payloads[j] for j in eeg_l])
    rows = np.array([routes[j][3] for j in eeg_l], dtype=np.intp)
    tt = t[eeg]
    plans = []
    for shape in sorted(set(shapes[k] for k in np.unique(hn).tolist())):
        ks = [k for k in np.unique(hn).tolist() if shapes[k] == shape]
        local = np.full(len(handlers), -1, dtype=np.intp)
        local[ks] = np.arange(len(ks))
        sel = np.flatnonzero(local[hn] >= 0)
        order = sel[np.argsort(local[hn[sel]], kind="stable")]
        plan = plan_eeg_runs(
            [handlers[k] for k in ks],
            [steady[k] for k in ks],
            local[hn[order]],
            seq[order],
            rows[order],
            uv[order],
            tt[order],
        )
        hg = hgroup[ks]
        gok[hg[~plan.ok]] = False
        plans.append((plan, hg))
    return plans
