"""Heart Rate Measurement notifications of many straps assembled in one pass (steady case).

:meth:`HrsHandler.feed <addictidx.acquire.stream_handlers.HrsHandler.feed>` decodes one
notification (:func:`~addictidx.acquire.decoders.hrs.decode_heart_rate_measurement`), notes
the skin contact, turns the RR intervals into beat times
(:meth:`~addictidx.acquire.assemble.HrsAssembler.feed_measurement`) and writes the ``rr`` and
``hr`` buffers. :func:`feed_hr_notes` does the same for one notification of each of many straps
at once when nothing but that happens: the strap's stream continues (an earlier notification,
no disconnect pending, no silence longer than the hub's ``silence_s``), the notification is not
a repeat within ``dedupe_window_s``, nobody subscribed to the hub. The notifications are
grouped by flags byte (one field layout per group, any number of RR intervals) and RR
conversion, decoded with numpy and written with :func:`~addictidx.acquire.buffers.write_many`.
Buffers, counters, contact and the handler's last notification equal the one-by-one result
(the same floating-point operations); every other notification is left to :meth:`HrsHandler.feed`
(nothing of its strap is changed), including malformed ones, which raise there.
"""

from __future__ import annotations

import numpy as np

from addictidx.acquire.buffers import write_many
from addictidx.acquire.decoders.hrs import HR_PLAUSIBLE_BPM, RR_PLAUSIBLE_S
from addictidx.devices import scaler

__all__ = ["feed_hr_notes"]

# flags bits of 0x2A37 (PROTOCOLS.md §4.1), as decode_heart_rate_measurement reads them
_F_UINT16, _F_DETECTED, _F_SUPPORTED, _F_ENERGY, _F_RR = 0x01, 0x02, 0x04, 0x08, 0x10
_LAYOUT = _F_UINT16 | _F_DETECTED | _F_SUPPORTED | _F_ENERGY  # the same in one group


def feed_hr_notes(handlers, payloads, t) -> np.ndarray:
    """Assemble one Heart Rate Measurement of each of ``handlers`` (distinct
    :class:`~addictidx.acquire.stream_handlers.HrsHandler` objects).

    Parameters
    ----------
    handlers : list of HrsHandler
        Distinct handlers.
    payloads : list of bytes
        One 0x2A37 notification each.
    t : ndarray, shape (m,)
        Arrival times on each hub's session clock (s), accepted by the hub already.

    Returns
    -------
    done : ndarray of bool
        The notifications assembled; feed the others with ``handler.feed`` in their order.
    """
    m = len(handlers)
    done = np.zeros(m, dtype=bool)
    tl = t.tolist()
    groups: dict[tuple, list[int]] = {}
    for i, (h, p, ti) in enumerate(zip(handlers, payloads, tl)):
        last = h.last_rx
        hub = h.hub
        if (
            last is None
            or h.pending_gap
            or hub.publishing
            or type(p) is not bytes
            or not p
            or (h.silence_s is not None and ti - last > h.silence_s)
            or (p == h.last_payload and ti - last < hub.dedupe_window_s)
        ):
            continue
        groups.setdefault((p[0] & _LAYOUT, h.asm.rr_scaling), []).append(i)
    for (flags, scaling), idx in groups.items():
        ok = _feed_group(
            [handlers[i] for i in idx], [payloads[i] for i in idx], t[idx], flags, scaling
        )
        done[np.asarray(idx)[ok]] = True
    return done


def _feed_group(handlers, payloads, t, flags: int, scaling) -> np.ndarray:
    """Notifications of one heart-rate/energy/contact layout (RR field or not, any number of RR
    intervals); return which were assembled (the others are malformed:
    decode_heart_rate_measurement raises)."""
    off = 3 if flags & _F_UINT16 else 2  # first byte after the heart rate
    energy_at = off if flags & _F_ENERGY else -1
    if energy_at >= 0:
        off += 2
    lens = np.fromiter(map(len, payloads), np.int64, len(payloads))
    with_rr = np.fromiter((p[0] & _F_RR for p in payloads), bool, len(payloads))
    n_rr = np.where(with_rr, (lens - off) // 2, 0)
    ok = (lens >= off) & ~(with_rr & ((lens - off) % 2 == 1))
    if not ok.all():
        keep = np.flatnonzero(ok).tolist()
        handlers = [handlers[k] for k in keep]
        payloads = [payloads[k] for k in keep]
        t, lens, n_rr = t[keep], lens[keep], n_rr[keep]
    m = len(handlers)
    if m == 0:
        return ok
    a = np.frombuffer(b"".join(payloads), dtype=np.uint8)
    start = np.cumsum(lens) - lens
    hr = a[start + 1].astype(np.int64)
    if flags & _F_UINT16:
        hr |= a[start + 2].astype(np.int64) << 8
    supported = bool(flags & _F_SUPPORTED)
    detected = bool(flags & _F_DETECTED) if supported else None
    lo_hr, hi_hr = HR_PLAUSIBLE_BPM
    plausible = (hr >= lo_hr) & (hr <= hi_hr)
    R = int(n_rr.max())
    n_rr_l = n_rr.tolist()
    # the rr and hr rings written in one write_many call (rr rings first, then hr rings)
    bufs, vals, tms, lens = [], [], [], []
    if R:
        # RR intervals as an (m, R) grid (zeros after each one's own); cumulative sums along
        # each row add the same values in the same order as feed_measurement's np.cumsum
        k = np.arange(R)
        valid = k < n_rr[:, None]
        at = np.where(valid, start[:, None] + off + 2 * k, 0)
        raw = a[at].astype(np.int64) | (a[at + 1].astype(np.int64) << 8)
        rr = scaler(*scaling)(np.where(valid, raw, 0))  # elementwise: per-notification values
        rr[~valid] = 0.0
        cs = np.cumsum(rr, axis=1)
        last = cs[np.arange(m), np.maximum(n_rr - 1, 0)]
        times = t[:, None] - (last[:, None] - cs)
        lo, hi = RR_PLAUSIBLE_S
        bad_rr = (valid & ~((rr >= lo) & (rr <= hi))).sum(axis=1).tolist()
        w = [i for i, h in enumerate(handlers) if h.buf_rr is not None and n_rr_l[i]]
        if w:
            bufs += [handlers[i].buf_rr for i in w]
            vals.append(rr[w][valid[w]])
            tms.append(times[w][valid[w]])
            lens.append(n_rr[w])
    hr_w = [i for i, h in enumerate(handlers) if h.buf_hr is not None]
    if hr_w:
        bufs += [handlers[i].buf_hr for i in hr_w]
        vals.append(np.where(plausible, hr.astype(np.float64), np.nan)[hr_w])
        tms.append(t[hr_w])
        lens.append(np.ones(len(hr_w), np.int64))
    if bufs:
        write_many(
            bufs,
            np.concatenate(vals).reshape(-1, 1),
            np.concatenate(tms),
            np.concatenate(lens),
        )
    no_contact = detected is False
    for i, (h, p, ti, n, good) in enumerate(
        zip(handlers, payloads, t.tolist(), n_rr_l, plausible.tolist())
    ):
        h.contact_detected = detected  # HrsHandler._note_contact
        h.n_no_contact += no_contact
        asm = h.asm  # HrsAssembler.feed_measurement's counters
        asm.n_notifications += 1
        asm.contact_detected = detected
        if no_contact:
            asm.n_no_contact += 1
        if n:
            asm.n_beats += n
            asm.n_implausible_rr += bad_rr[i]
        if not good:
            asm.n_implausible_hr += 1
            if h.buf_hr is not None:  # a missing heart rate: counted as gap fill
                h.buf_hr.n_missing += 1
        h.last_payload = p
        h.last_rx = ti
    return ok
