"""Heart Rate Measurement notifications of many straps assembled in one pass (steady case).

:meth:`HrsHandler.feed <addictidx.acquire.stream_handlers.HrsHandler.feed>` decodes one
notification (:func:`~addictidx.acquire.decoders.hrs.decode_heart_rate_measurement`), notes
the skin contact, turns the RR intervals into beat times
(:meth:`~addictidx.acquire.assemble.HrsAssembler.feed_measurement`) and writes the ``rr`` and
``hr`` buffers. :func:`feed_hr_notes` does the same for one notification of each of many straps
at once when nothing but that happens: the strap's stream continues (an earlier notification,
no disconnect pending, no silence longer than the hub's ``silence_s``), the notification is not
a repeat within ``dedupe_window_s``, nobody subscribed to the hub. The notifications are
grouped by length and flags byte (one byte layout per group) and RR conversion, decoded with
numpy and written with :func:`~addictidx.acquire.buffers.write_many`. Buffers, counters,
contact and the handler's last notification equal the one-by-one result (the same
floating-point operations); every other notification is left to :meth:`HrsHandler.feed`
(nothing of its strap is changed), including malformed ones, which raise there.
"""

from __future__ import annotations

import numpy as np

from addictidx.acquire.buffers import write_many
from addictidx.acquire.decoders.hrs import (
    HR_PLAUSIBLE_BPM,
    RR_PLAUSIBLE_S,
    HeartRateMeasurement,
)
from addictidx.acquire.events import SkinContact
from addictidx.devices import scaler

__all__ = ["feed_hr_notes"]

# flags bits of 0x2A37 (PROTOCOLS.md §4.1), as decode_heart_rate_measurement reads them
_F_UINT16, _F_DETECTED, _F_SUPPORTED, _F_ENERGY, _F_RR = 0x01, 0x02, 0x04, 0x08, 0x10


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
        groups.setdefault((len(p), p[0], h.asm.rr_scaling), []).append(i)
    for (n_bytes, flags, scaling), idx in groups.items():
        if _feed_group(
            [handlers[i] for i in idx], [payloads[i] for i in idx], t[idx], n_bytes, flags, scaling
        ):
            done[idx] = True
    return done


def _feed_group(handlers, payloads, t, n_bytes: int, flags: int, scaling) -> bool:
    """Notifications of one length and flags byte; False (nothing changed) if that layout is
    malformed (decode_heart_rate_measurement raises for each of them)."""
    off = 3 if flags & _F_UINT16 else 2
    energy_at = off if flags & _F_ENERGY else -1
    if energy_at >= 0:
        off += 2
    n_rr = (n_bytes - off) // 2 if flags & _F_RR else 0
    if n_bytes < off or (flags & _F_RR and (n_bytes - off) % 2):
        return False
    m = len(handlers)
    a = np.frombuffer(b"".join(payloads), dtype=np.uint8).reshape(m, n_bytes)
    hr = a[:, 1].astype(np.int64)
    if flags & _F_UINT16:
        hr |= a[:, 2].astype(np.int64) << 8
    hr_l = hr.tolist()
    energy = None
    if energy_at >= 0:
        energy = a[:, energy_at].astype(np.int64) | (a[:, energy_at + 1].astype(np.int64) << 8)
        energy = energy.tolist()
    supported = bool(flags & _F_SUPPORTED)
    detected = bool(flags & _F_DETECTED) if supported else None
    no_contact = supported and not detected
    lo_hr, hi_hr = HR_PLAUSIBLE_BPM
    plausible = ((hr >= lo_hr) & (hr <= hi_hr)).tolist()
    uint16 = bool(flags & _F_UINT16)
    if n_rr:
        raw = a[:, off:].copy().view("<u2").astype(np.int64)  # (m, n_rr)
        rr_l = list(map(tuple, raw.tolist()))
        rr = scaler(*scaling)(raw)  # elementwise: the per-notification conversion
        cs = np.cumsum(rr, axis=1)
        times = t[:, None] - (cs[:, -1:] - cs)
        lo, hi = RR_PLAUSIBLE_S
        bad_rr = (~((rr >= lo) & (rr <= hi))).sum(axis=1).tolist()
        with_rr = [k for k, h in enumerate(handlers) if h.buf_rr is not None]
        if with_rr:
            write_many(
                [handlers[k].buf_rr for k in with_rr],
                rr[with_rr].reshape(-1, 1),
                times[with_rr].reshape(-1),
                [n_rr] * len(with_rr),
            )
    else:
        rr_l = [()] * m
    hr_ok = [k for k, h in enumerate(handlers) if h.buf_hr is not None and plausible[k]]
    if hr_ok:
        write_many(
            [handlers[k].buf_hr for k in hr_ok],
            hr[hr_ok].astype(np.float64).reshape(-1, 1),
            t[hr_ok],
            [1] * len(hr_ok),
        )
    nan = np.array([[np.nan]])
    for k, (h, p, ti) in enumerate(zip(handlers, payloads, t.tolist())):
        mm = HeartRateMeasurement(
            hr_bpm=hr_l[k],
            contact_supported=supported,
            contact_detected=detected,
            energy_kj=None if energy is None else energy[k],
            rr_1024=rr_l[k],
            hr_uint16=uint16,
        )
        # HrsHandler._note_contact
        h.contact = SkinContact(detected, h.contact.n_no_contact + (detected is False))
        asm = h.asm  # HrsAssembler.feed_measurement's counters
        asm.n_notifications += 1
        asm.contact_detected = detected
        if no_contact:
            asm.n_no_contact += 1
        if n_rr:
            asm.n_beats += n_rr
            asm.n_implausible_rr += bad_rr[k]
        if not plausible[k]:
            asm.n_implausible_hr += 1
            if h.buf_hr is not None:  # a missing heart rate: NaN, counted as gap fill
                h.buf_hr.write_arrays(nan, np.array([ti]), 1)
        h.last_payload = p
        h.last_m = mm
        h.last_rx = ti
    return True
