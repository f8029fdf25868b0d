"""Polar PMD ECG frames of many straps assembled in one pass (one frame per strap, steady case).

:meth:`PmdHandler.feed <addictidx.acquire.stream_handlers.PmdHandler.feed>` places each frame on
the session clock from the strap's own timestamps. :func:`feed_ecg_frames` does the same for one
frame of each of many straps at once when the frame simply continues the strap's stream: a
whole raw ECG frame (measurement 0, frame type 0, the batch's common length), later than the
strap's previous frame and with no hole of more than half a frame, clock anchored, no
disconnect pending, nobody subscribed to the hub. The samples, sample times (the same
floating-point operations), spacing filter and buffers equal the frame-by-frame result; every
other frame is left to :meth:`PmdHandler.feed` (nothing of its strap is changed).
"""

from __future__ import annotations

from itertools import chain
from operator import attrgetter

import numpy as np

from addictidx.acquire.buffers import write_many

_CLOCK = attrgetter("prev_ts", "dt", "nominal_dt", "host_offset")

__all__ = ["feed_ecg_frames"]

_HEADER = 10  # measurement type, uint64 timestamp (ns), frame type


def feed_ecg_frames(handlers, payloads) -> np.ndarray:
    """Assemble one ECG frame of each of ``handlers`` (distinct :class:`PmdHandler` objects).

    Parameters
    ----------
    handlers : list of PmdHandler
        Distinct handlers.
    payloads : list of bytes
        One PMD data notification each, all of one length.

    Returns
    -------
    done : ndarray of bool
        The frames assembled; feed the others with ``handler.feed`` in their order.
    """
    m = len(handlers)
    L = len(payloads[0])
    n = (L - _HEADER) // 3
    done = np.zeros(m, dtype=bool)
    if n < 1 or _HEADER + 3 * n != L:
        return done
    ready = np.fromiter(
        (
            h.spec is not None
            and h.prev_ts is not None
            and not h.pending_gap
            and not h.hub.publishing
            and n >= (h.spec.samples_per_packet or 0)
            for h in handlers
        ),
        bool,
        m,
    )
    if not ready.any():
        return done
    joined = b"".join(payloads)
    a = np.frombuffer(joined, dtype=np.uint8).reshape(m, L)
    ready &= ((a[:, 0] & 0x3F) == 0) & (a[:, 9] == 0)  # ECG, raw uncompressed frame type 0
    ts = np.ascontiguousarray(a[:, 1:9]).view("<u8")[:, 0] / 1e9  # as int / 1e9 in Python
    idx = np.flatnonzero(ready)
    hs = [handlers[i] for i in idx.tolist()]
    # prev_ts, dt, nominal_dt, host_offset of each (one pass)
    st = np.fromiter(chain.from_iterable(map(_CLOCK, hs)), np.float64, 4 * len(hs))
    prev, dt, nominal, offset = st.reshape(-1, 4).T
    ts = ts[idx]
    step = ts - prev
    # PmdHandler.feed: a repeated/older frame or a hole of more than half a frame: one by one
    # (dt > 0: the nominal spacing, moved only towards spacings within 10 % of it)
    ok = (step > 0) & (np.round(step / dt) - n <= n // 2)
    if not ok.any():
        return done
    spacing = step / n
    follow = np.abs(spacing / nominal - 1.0) < 0.1
    new_dt = np.where(follow, 0.9 * dt + 0.1 * spacing, dt)
    # int24 LE samples: each read as an int32 over its 3 bytes and the next, sign shifted back
    raw = np.ndarray((m, n), dtype="<i4", buffer=joined + b"\0", offset=_HEADER, strides=(L, 3))
    keep = idx[ok]
    uv = ((raw[keep] << 8) >> 8).astype(np.float64)
    ramp = np.arange(n - 1, -1, -1, dtype=np.float64)
    times = (offset[ok] + ts[ok])[:, None] - spacing[ok][:, None] * ramp
    kept = [h for h, k in zip(hs, ok.tolist()) if k]
    write_many([h.buf for h in kept], uv.reshape(-1, 1), times.reshape(-1), [n] * len(kept))
    for h, t, d in zip(kept, ts[ok].tolist(), new_dt[ok].tolist()):
        h.prev_ts = t
        h.dt = d
    done[keep] = True
    return done
