"""Notifications of many stream hubs in one call: the one entry point of the stream layer.

:func:`feed_notifications` is what :meth:`StreamHub.on_notification
<addictidx.acquire.hub.StreamHub.on_notification>` runs for one notification and what a server
serving many sessions runs once per BLE connection interval for the notifications of all its
sessions. For a batch it

1. routes every notification (:meth:`StreamHub.route <addictidx.acquire.hub.StreamHub.route>`,
   cached per hub) and groups them by device;
2. takes the devices with no host-clock step among their notifications whose classic-Muse
   EEG assemblers are steady
   (:func:`~addictidx.acquire.assemble.steady_states`) and whose EEG packets
   continue each device's blocks in order: their clock and counters are updated once per
   device, their EEG packets decoded in one
   :func:`~addictidx.acquire.decoders.muse_classic.decode_muse_eeg_batch` call and assembled in
   one pass over all devices (:mod:`addictidx.acquire.eeg_runs`); their other notifications
   (Heart Rate, ECG, battery, Athena) go to their handlers in order;
3. hands every other device's notifications, in their order, to :meth:`StreamHub.feed_one
   <addictidx.acquire.hub.StreamHub.feed_one>` (packet by packet): lost/late/repeated/reordered
   EEG blocks, disconnects, clock steps, malformed EEG payloads, the ``lstsq`` clock.

The buffers, gap records, counters and decode errors are those of one
:meth:`~addictidx.acquire.hub.StreamHub.feed_one` call per notification in order; each stream's
subscribers get the same chunks in the same order. Across *devices*, gap records and chunks may
come in another order within one call (each device's own order is kept).
"""

from __future__ import annotations

from operator import itemgetter

import numpy as np

from addictidx._core.errors import DecodeError
from addictidx.acquire.assemble import steady_states
from addictidx.acquire.decoders.muse_classic import (
    EEG_SAMPLES_PER_PACKET,
    NOTIFICATION_BYTES,
    decode_muse_eeg_joined,
)
from addictidx.acquire.ecg_runs import feed_ecg_frames
from addictidx.acquire.eeg_runs import apply_eeg_runs, plan_eeg_runs
from addictidx.acquire.hrs_runs import feed_hr_notes
from addictidx.acquire.stream_handlers import HrsHandler, PmdHandler

__all__ = [
    "feed_notifications",
    "feed_routed",
    "RouteBook",
    "MIN_BATCH_DECODE",
    "MIN_BATCH_HR",
    "MIN_BATCH_ECG",
]

#: Notifications in one :func:`feed_notifications` call from which the batched assembly pays
#: (fewer: packet by packet). Its fixed cost (some 100 numpy calls) equals the packet-by-packet
#: cost of about 100 notifications on the benchmark machine: a server's 20 sessions' batching
#: window of 50 ms (some 90 notifications) costs less packet by packet, 30 sessions' (130) less
#: batched; the index updates due in one tick of 500 sessions (48-80 notifications, their
#: sessions' state not in the CPU caches) cost 48 -> 40 us each packet by packet.
MIN_BATCH_DECODE = 96
#: Heart Rate Measurements of distinct straps in one call from which decoding them together
#: pays (fewer: one by one, some 7-16 us each; acquire.hrs_runs costs about as much as 30).
MIN_BATCH_HR = 32
#: ECG frames of one length of distinct straps in one call from which assembling them together
#: pays (fewer: frame by frame; acquire.ecg_runs costs about as much as 4 frames).
MIN_BATCH_ECG = 4

# fields of StreamHub.route's tuples and of the device states / hubs, read in one C-level pass
_DEV_SERIAL = itemgetter(5)
_CODE = itemgetter(6)


def _one_by_one(hubs, devices, characteristics, payloads, received_at) -> None:
    for hub, d, c, p, t in zip(hubs, devices, characteristics, payloads, received_at):
        hub.feed_one(d, c, p, t)


class RouteBook:
    """Routes of many hubs' notifications taken once, as integer ids (:func:`feed_routed`).

    A BLE notification callback is registered per (device, characteristic), so its route is
    known when the transport subscribes: :meth:`add` resolves it once
    (:meth:`StreamHub.route <addictidx.acquire.hub.StreamHub.route>`) and returns an id;
    :func:`feed_routed` then reads every notification's device and handler from arrays indexed
    by the ids, with no per-notification lookup.

    A hub's routes never change: its devices, their handlers and the characteristics they
    listen to are fixed when the hub is built (a disconnect or reconnect changes a handler's
    state, which the feed reads at feeding time, not its route). An id therefore stays valid
    for the hub's life and feeds exactly what ``hub.feed_one(device, characteristic, ...)``
    would.

    Attributes
    ----------
    hubs, devices, characteristics : list
        Per id: the hub, device name and characteristic given to :meth:`add`.
    routes : list of tuple
        Per id: the hub's :meth:`~addictidx.acquire.hub.StreamHub.route`.
    """

    def __init__(self) -> None:
        self.hubs: list = []
        self.devices: list[str] = []
        self.characteristics: list[str] = []
        self.routes: list[tuple] = []
        self._serial = np.empty(0, dtype=np.int64)
        self._code = np.empty(0, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.routes)

    def add(self, hub, device: str, characteristic: str) -> int:
        """The id of notifications of ``device``'s ``characteristic`` fed to ``hub``.

        Raises
        ------
        KeyError
            A device unknown to ``hub``.
        """
        route = hub.route(device, characteristic)
        self.hubs.append(hub)
        self.devices.append(device)
        self.characteristics.append(characteristic)
        self.routes.append(route)
        return len(self.routes) - 1

    def tables(self) -> tuple[np.ndarray, np.ndarray]:
        """``(device serial, code)`` of every id, as :meth:`StreamHub.route
        <addictidx.acquire.hub.StreamHub.route>` gives them."""
        n = len(self.routes)
        if self._serial.size != n:
            self._serial = np.fromiter(map(_DEV_SERIAL, self.routes), np.int64, n)
            self._code = np.fromiter(map(_CODE, self.routes), np.int64, n)
        return self._serial, self._code


def feed_routed(book: RouteBook, ids, payloads, received_at) -> None:
    """Hand many notifications to their hubs by route id (see :class:`RouteBook`).

    Equivalent to ``book.hubs[r].feed_one(book.devices[r], book.characteristics[r],
    payloads[i], received_at[i])`` with ``r = ids[i]`` for every ``i`` in order, and to
    :func:`feed_notifications` of those hubs, devices and characteristics.

    Parameters
    ----------
    book : RouteBook
        Where the ids were taken.
    ids : sequence of int
        The route id of each notification.
    payloads, received_at : sequence
        As :meth:`StreamHub.on_notification <addictidx.acquire.hub.StreamHub.on_notification>`,
        one per notification.

    Raises
    ------
    ValueError
        ``ids`` not integers of ``book`` (``0 <= id < len(book)``), or not one per payload;
        nothing is fed then.
    """
    n = len(payloads)
    rid = np.asarray(ids)
    if rid.shape != (n,) or (n and (rid.dtype.kind not in "iu" or rid.min() < 0)):
        raise ValueError(f"ids must be {n} route ids of the book (integers >= 0).")
    if n and rid.max() >= len(book.routes):
        raise ValueError(f"Route id {int(rid.max())} was not taken ({len(book.routes)} routes).")
    if n < MIN_BATCH_DECODE:
        hubs, devs, chars = book.hubs, book.devices, book.characteristics
        for r, p, t in zip(rid.tolist(), payloads, received_at):
            hubs[r].feed_one(devs[r], chars[r], p, t)
        return
    rid = rid.astype(np.intp, copy=False)
    serial, code = book.tables()
    _feed(
        book.routes,
        book.hubs,
        book.devices,
        book.characteristics,
        rid,
        serial[rid],
        code[rid],
        payloads,
        received_at,
    )


def feed_notifications(hubs, devices, characteristics, payloads, received_at) -> None:
    """Hand many notifications to their hubs (see the module doc).

    Equivalent to ``hubs[i].feed_one(devices[i], characteristics[i], payloads[i],
    received_at[i])`` for every ``i`` in order. A caller that feeds the same routes again and
    again takes them once instead (:class:`RouteBook`, :func:`feed_routed`).

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
    dev = np.fromiter(map(_DEV_SERIAL, routes), np.int64, n)
    code = np.fromiter(map(_CODE, routes), np.int64, n)  # handler serial, row, kind
    _feed(routes, hubs, devices, characteristics, None, dev, code, payloads, received_at)


def _pick(table, rid, js: list) -> list:
    """``table[rid[j]]`` (``rid`` None: ``table[j]``) for each ``j`` in ``js``."""
    if rid is not None:
        js = rid[js].tolist()
    return [table[j] for j in js]


def _feed(routes, hubs, devices, characteristics, rid, dev, code, payloads, received_at) -> None:
    """The batched feed: notification ``j``'s route, hub, device and characteristic are
    ``table[rid[j]]`` of ``routes``, ``hubs``, ``devices``, ``characteristics`` (``rid`` None:
    ``table[j]``); ``dev`` and ``code`` its route's device serial and code."""
    n = len(payloads)
    kind = code & 3
    if set(map(type, payloads)) == {bytes}:
        good = np.fromiter(map(len, payloads), np.intp, n) == NOTIFICATION_BYTES
    else:
        good = np.fromiter(
            (type(p) is bytes and len(p) == NOTIFICATION_BYTES for p in payloads), bool, n
        )
    first, gid = _groups(dev)
    first = first.tolist()
    states = [r[0] for r in _pick(routes, rid, first)]
    ghub = _pick(hubs, rid, first)
    G = len(states)
    gok = np.ones(G, dtype=bool)
    gok[gid[(kind == 0) & ~good]] = False
    # host-clock steps (StreamHub.feed_one): none when every arrival is within the tolerance of
    # the latest one, or when a device's arrivals never go back in time (a server's batch of
    # several connection intervals) and the first is not before its last arrival by more than
    # the tolerance; otherwise the device goes packet by packet
    t = np.asarray(received_at, dtype=np.float64)
    # the per-device fields read with list comprehensions (faster than attrgetter maps on
    # CPython 3.11+)
    offset = np.fromiter([st.offset for st in states], np.float64, G)
    if offset.any():
        t = t + offset[gid]
    last = np.array([st.last_rx for st in states], dtype=np.float64)  # None: NaN
    tol = np.fromiter([hub.clock_step_tolerance_s for hub in ghub], np.float64, G)
    gmin = np.full(G, np.inf)
    np.minimum.at(gmin, gid, t)
    gmax = np.full(G, -np.inf)
    np.maximum.at(gmax, gid, t)
    within = gmin >= np.fmax(last, gmax) - tol  # fmax: no arrival yet (NaN) counts as -inf
    if not within.all():
        # (a NaN arrival makes gmin NaN: packet by packet, as before)
        within |= _in_order(gid, t, G) & (gmin >= np.fmax(last - tol, -np.inf))
    gok &= within

    # clears gok of unsteady devices
    plans = _plan_eeg(routes, rid, payloads, gid, code, gok, t)

    slow = np.flatnonzero(~gok[gid])
    if slow.size:
        for j in slow.tolist():
            r = j if rid is None else rid[j]
            hubs[r].feed_one(devices[r], characteristics[r], payloads[j], received_at[j])
    fast = np.flatnonzero(gok)
    if fast.size == 0:
        return
    n_per = np.bincount(gid, minlength=G)
    if fast.size == G:
        accepted = zip(states, ghub, gmax.tolist(), n_per.tolist())
    else:
        fl = fast.tolist()
        accepted = zip(
            [states[g] for g in fl],
            [ghub[g] for g in fl],
            gmax[fast].tolist(),
            n_per[fast].tolist(),
        )
    for st, hub, m, k in accepted:  # StreamHub.feed_one's clock and counters
        lr = st.last_rx
        if lr is None or m > lr:
            st.last_rx = m
        if m > hub.now:
            hub.now = m
        st.counts["n_notifications"] += k
        st.connected = True
    kf = kind[gok[gid]] if fast.size < G else kind
    if (kf == 2).any():
        counted = np.flatnonzero((kind == 2) & gok[gid]).tolist()
        for route in _pick(routes, rid, counted):
            route[0].counts[route[4]] += 1
    if (kf == 1).any():
        direct = np.flatnonzero((kind == 1) & gok[gid]).tolist()  # Heart Rate, ECG: accepted
        droutes = dict(zip(direct, _pick(routes, rid, direct)))
        if len(direct) > 1:
            direct = _direct_runs(droutes, payloads, direct, t)
        for j in direct:
            st, _k, h, uuid = droutes[j][:4]
            pay = payloads[j]
            try:
                h.feed(uuid, pay if type(pay) is bytes else bytes(pay), t[j].item())
            except DecodeError as err:
                st.counts["n_decode_errors"] += 1
                st.last_error = str(err)
    for plan, hgroup in plans:
        which = np.flatnonzero(plan.ok & gok[hgroup])
        if which.size:
            apply_eeg_runs(plan, which)


def _direct_runs(routes: dict, payloads, direct: list[int], t) -> list[int]:
    """Assemble together the ECG frames (:func:`~addictidx.acquire.ecg_runs.feed_ecg_frames`)
    and the Heart Rate Measurements (:func:`~addictidx.acquire.hrs_runs.feed_hr_notes`) of
    handlers with one notification in ``direct`` (``routes[j]``: the route of note ``j``);
    return the notes left to feed."""
    seen: dict = {}
    for j in direct:
        h = routes[j][2]
        seen[h] = -1 if h in seen else j
    ecg: dict[int, list[int]] = {}
    hrs: list[int] = []
    for h, j in seen.items():
        if j >= 0 and type(payloads[j]) is bytes:
            if type(h) is PmdHandler:
                ecg.setdefault(len(payloads[j]), []).append(j)
            elif type(h) is HrsHandler:
                hrs.append(j)
    done: set[int] = set()
    for js in ecg.values():
        if len(js) >= MIN_BATCH_ECG:
            ok = feed_ecg_frames([routes[j][2] for j in js], [payloads[j] for j in js])
            done.update(j for j, k in zip(js, ok.tolist()) if k)
    if len(hrs) >= MIN_BATCH_HR:
        ok = feed_hr_notes([routes[j][2] for j in hrs], [payloads[j] for j in hrs], t[hrs])
        done.update(j for j, k in zip(hrs, ok.tolist()) if k)
    return [j for j in direct if j not in done] if done else direct


def _in_order(gid: np.ndarray, t: np.ndarray, G: int) -> np.ndarray:
    """Per group of ``gid`` (``0..G-1``): whether its times ``t`` never decrease in order
    (then each arrival is the latest so far: no clock step, whatever the tolerance)."""
    order = np.argsort(gid, kind="stable")
    tg, gg = t[order], gid[order]
    back = (gg[1:] == gg[:-1]) & (tg[1:] < tg[:-1])
    ok = np.ones(G, dtype=bool)
    ok[gg[1:][back]] = False
    return ok


def _groups(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(one, label)``: dense labels ``0..G-1`` of ``keys`` in key order, and for each label
    the index of one element that has it."""
    n = keys.size
    if n <= 64:  # a few keys: a set and a dict cost less than numpy's sort (np.unique)
        kl = keys.tolist()
        u = sorted(set(kl))
        pos = dict(zip(u, range(len(u))))
        label = np.fromiter(map(pos.__getitem__, kl), np.intp, n)
        one = np.empty(len(u), dtype=np.intp)
        one[label] = np.arange(n)  # any element of each label will do
        return one, label
    lo, hi = int(keys.min()), int(keys.max())
    span = hi - lo + 1
    if span > 8 * n + 64:  # keys far apart: sort
        _, one, label = np.unique(keys, return_index=True, return_inverse=True)
        return one, label
    k = keys - lo
    present = np.zeros(span, dtype=bool)
    present[k] = True
    dense = np.cumsum(present) - 1
    label = dense[k]
    one = np.empty(int(dense[-1]) + 1, dtype=np.intp)
    one[label] = np.arange(keys.size)  # any element of each label will do
    return one, label


def _plan_eeg(routes, rid, payloads, gid, code, gok, t) -> list:
    """Plans of the EEG packets of the devices still marked in ``gok`` (cleared for devices
    whose packets are not a steady run); note ``j``'s route is ``routes[rid[j]]`` (``rid``
    None: ``routes[j]``)."""
    eeg = np.flatnonzero(((code & 3) == 0) & gok[gid])
    if eeg.size == 0:
        return []
    c = code[eeg]
    hfirst, hn = _groups(c >> 12)
    hj = eeg[hfirst]
    handlers = [r[2] for r in _pick(routes, rid, hj.tolist())]
    hgroup = gid[hj]
    H = len(handlers)
    steady, blocks, clock, pending = steady_states([h.asm for h in handlers])
    steady &= ~np.fromiter([h.pending_gap for h in handlers], bool, H)
    shapes = [h.block_shape for h in handlers]
    one_shape = shapes.count(shapes[0]) == H
    if one_shape:
        if shapes[0][1] != EEG_SAMPLES_PER_PACKET:
            steady[:] = False
    else:
        steady &= np.array([sh[1] == EEG_SAMPLES_PER_PACKET for sh in shapes])
    if not steady.all():
        gok[hgroup[~steady]] = False
    keep_h = gok[hgroup]
    if not keep_h.any():
        return []
    if keep_h.all():
        live = None
    else:
        keep = keep_h[hn]
        eeg, hn, c = eeg[keep], hn[keep], c[keep]
        live = np.flatnonzero(keep_h).tolist()
    # payloads of 20 bytes each (``good``): joined and decoded unchecked
    picked = (payloads[eeg[0]],) if eeg.size == 1 else itemgetter(*eeg.tolist())(payloads)
    seq, uv = decode_muse_eeg_joined(b"".join(picked), eeg.size)
    rows = (c >> 2) & 1023
    tt = t[eeg]
    if live is None and one_shape:  # the usual case: one shape, every handler steady
        # packets grouped by handler, each handler's in arrival order
        order = np.argsort(hn, kind="stable")
        plan = plan_eeg_runs(
            handlers,
            blocks,
            clock,
            pending,
            hn[order],
            seq[order],
            rows[order],
            uv[order],
            tt[order],
        )
        gok[hgroup[~plan.ok]] = False
        return [(plan, hgroup)]
    if live is None:
        live = list(range(len(handlers)))
    plans = []
    for shape in sorted({shapes[k] for k in live}):
        ks = [k for k in live if shapes[k] == shape]
        lmap = np.full(len(handlers), -1, dtype=np.intp)
        lmap[ks] = np.arange(len(ks))
        local = lmap[hn]
        sel = np.flatnonzero(local >= 0)
        order = sel[np.argsort(local[sel], kind="stable")]
        plan = plan_eeg_runs(
            [handlers[k] for k in ks],
            blocks[:, ks],
            clock[:, ks],
            [pending[k] for k in ks],
            local[order],
            seq[order],
            rows[order],
            uv[order],
            tt[order],
        )
        hg = hgroup[ks]
        gok[hg[~plan.ok]] = False
        plans.append((plan, hg))
    return plans
