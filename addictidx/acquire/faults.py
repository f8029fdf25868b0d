"""Seeded fault injection around any notification source.

:class:`FaultInjector` wraps a simulated device, a recording (a list of notifications) or another
injector and yields what an unreliable link would deliver: notifications dropped, duplicated,
delayed past later ones (reordered), corrupted, lost during injected disconnects, and stamped
by a host clock that jumps. It is itself a notification source, so
:class:`~addictidx.acquire.replay.ReplayTransport` plays it like any device and emits the
:class:`~addictidx.acquire.events.LinkEvent` items it yields (``disconnected`` / ``connected``)
through its event callbacks.

Every call of :meth:`FaultInjector.notifications` yields the same sequence (the random choices are
re-drawn from ``seed``), so a test can iterate once for its ground truth and replay once through
the system under test. Each yielded notification is a :class:`FaultedNotification` carrying the
index of the source notification it came from and whether this copy was corrupted.

Order of the faults for each source notification (time ``t``): drop; duplicate (a copy at
``t + U(0, duplicate_delay_s)``); per copy: delay (``reorder``: arrival ``+ U(0, reorder_max_s)``)
and corruption; then a copy is lost if a disconnect window ``[t0, t0 + T)`` covers its arrival or
it was in flight when the link dropped (``arrival >= t0`` and ``t < t0 + T``: a notification from
before a disconnect never arrives on the next connection). The output is in arrival order.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from addictidx._core.validate import check_option
from addictidx.acquire.events import LinkEvent
from addictidx.acquire.notification import Notification, iter_source

__all__ = ["CORRUPT_MODES", "FaultedNotification", "FaultStats", "FaultInjector"]

#: ``truncate``: drop the last byte (always rejected by the decoders of Muse classic, HRS, PMD
#: ECG and battery payloads: wrong length / odd RR field / partial int24). ``flip``: flip one
#: random bit (may decode to wrong values undetected, as a buggy stack would deliver; the BLE link
#: layer's CRC makes this rare on real links).
CORRUPT_MODES = ("truncate", "flip")


@dataclass(frozen=True, slots=True)
class FaultedNotification(Notification):
    """A :class:`Notification` as delivered through a :class:`FaultInjector`.

    Parameters
    ----------
    t, characteristic, payload
        As :class:`Notification`; ``t`` is the arrival time (source time plus any delay).
    clock_offset : float
        Host clock error at arrival (sum of the clock jumps so far); the replay transport adds it
        to ``received_at``.
    origin : int
        Index of the source notification this is a copy of.
    corrupted : bool
        Whether this copy's payload was corrupted.
    duplicate : bool
        Whether this is the extra copy of a duplicated notification.
    """

    clock_offset: float = 0.0
    origin: int = -1
    corrupted: bool = False
    duplicate: bool = False


@dataclass(slots=True)
class FaultStats:
    """Counts of the last complete iteration of a :class:`FaultInjector`."""

    n_source: int = 0
    n_dropped: int = 0
    n_duplicated: int = 0
    n_delayed: int = 0
    n_corrupted: int = 0
    n_lost_disconnected: int = 0
    n_delivered: int = 0
    disconnects: list[tuple[float, float]] = field(default_factory=list)


def _pairs(name: str, values, *, positive_second: bool) -> tuple[tuple[float, float], ...]:
    out = []
    for i, v in enumerate(values or ()):
        try:
            a, b = (float(x) for x in v)
        except (TypeError, ValueError):
            raise ValueError(f"{name}[{i}] must be a pair of numbers, got {v!r}.") from None
        if not (math.isfinite(a) and math.isfinite(b)) or (positive_second and b <= 0):
            what = "finite with a duration > 0" if positive_second else "finite"
            raise ValueError(f"{name}[{i}] must be {what}, got {v!r}.")
        out.append((a, b))
    return tuple(sorted(out))


def _prob(name: str, p: float) -> float:
    p = float(p)
    if not 0.0 <= p < 1.0:
        raise ValueError(f"{name} must be a probability in [0, 1), got {p!r}.")
    return p


class FaultInjector:
    """Wrap a notification source and inject link faults reproducibly.

    Parameters
    ----------
    source : device | sequence of Notification or (t, characteristic, payload)
        Anything :class:`~addictidx.acquire.replay.ReplayTransport` plays as one device.
    seed : int | None
        Seed of every random choice (separate random streams per fault kind, so e.g. enabling
        corruption does not change which notifications are dropped).
    drop : float
        Probability that a notification is lost.
    duplicate : float
        Probability that a notification arrives twice.
    duplicate_delay_s : float
        The copy arrives ``U(0, duplicate_delay_s)`` after the original.
    reorder : float
        Probability that a notification is delayed by ``U(0, reorder_max_s)`` (so later ones
        overtake it).
    reorder_max_s : float
        Largest delay of a reordered notification.
    corrupt : float
        Probability that a delivered copy is corrupted (see :data:`CORRUPT_MODES`).
    corrupt_mode : {"truncate", "flip"}
        How a payload is corrupted.
    disconnects : sequence of (t0, duration_s)
        Link drops: nothing arrives in ``[t0, t0 + duration_s)``; a ``disconnected`` link event
        is yielded at ``t0`` and a ``connected`` one at ``t0 + duration_s``. Windows must not
        overlap.
    clock_jumps : sequence of (t, step_s)
        From arrival time ``t`` on, the host clock is off by ``step_s`` more (cumulative;
        negative = the clock steps back). Carried as :attr:`FaultedNotification.clock_offset`.
    name : str | None
        Device name (default: the source's ``name``; required for a plain list).

    Attributes
    ----------
    stats : FaultStats
        Counts of the last complete iteration.
    """

    def __init__(
        self,
        source,
        *,
        seed: int | None = 0,
        drop: float = 0.0,
        duplicate: float = 0.0,
        duplicate_delay_s: float = 0.02,
        reorder: float = 0.0,
        reorder_max_s: float = 0.1,
        corrupt: float = 0.0,
        corrupt_mode: str = "truncate",
        disconnects: Sequence[tuple[float, float]] = (),
        clock_jumps: Sequence[tuple[float, float]] = (),
        name: str | None = None,
    ) -> None:
        self.source = source
        name = name if name is not None else getattr(source, "name", None)
        if name is None:
            raise ValueError("name is required when the source has no 'name' attribute.")
        self.name = str(name)
        self.profile = getattr(source, "profile", None)
        self.seed = seed
        self.drop = _prob("drop", drop)
        self.duplicate = _prob("duplicate", duplicate)
        self.reorder = _prob("reorder", reorder)
        self.corrupt = _prob("corrupt", corrupt)
        self.duplicate_delay_s = float(duplicate_delay_s)
        self.reorder_max_s = float(reorder_max_s)
        if not self.duplicate_delay_s >= 0 or not self.reorder_max_s >= 0:
            raise ValueError("duplicate_delay_s and reorder_max_s must be >= 0.")
        self.corrupt_mode = check_option("corrupt_mode", corrupt_mode, CORRUPT_MODES)
        self.disconnects = _pairs("disconnects", disconnects, positive_second=True)
        for (a0, ad), (b0, _) in zip(self.disconnects, self.disconnects[1:]):
            if b0 < a0 + ad:
                raise ValueError(f"disconnects overlap: ({a0}, {ad}) and one starting at {b0}.")
        self.clock_jumps = _pairs("clock_jumps", clock_jumps, positive_second=False)
        self.stats = FaultStats()

    def __iter__(self) -> Iterator:
        return self.notifications()

    def _lost_to_disconnect(self, t_gen: float, t_arr: float) -> bool:
        return any(t_arr >= t0 and t_gen < t0 + d for t0, d in self.disconnects)

    def _offset(self, t_arr: float) -> float:
        return sum(step for tj, step in self.clock_jumps if t_arr >= tj)

    def _corrupt(self, payload: bytes, rng: np.random.Generator) -> bytes:
        if not payload:
            return payload
        if self.corrupt_mode == "truncate":
            return payload[:-1]
        b = bytearray(payload)
        i = int(rng.integers(len(b) * 8))
        b[i // 8] ^= 1 << (i % 8)
        return bytes(b)

    def notifications(self, until_s: float | None = None) -> Iterator:
        """Yield :class:`FaultedNotification` and :class:`LinkEvent` items in arrival order.

        Parameters
        ----------
        until_s : float | None
            Last arrival time to yield (default: everything).
        """
        ss = np.random.SeedSequence(self.seed)
        r_drop, r_dup, r_delay, r_corrupt = (np.random.default_rng(s) for s in ss.spawn(4))
        st = FaultStats(disconnects=list(self.disconnects))
        heap: list[tuple[float, int, int, object]] = []
        counter = 0
        for t0, d in self.disconnects:
            heap.append((t0, 0, counter, LinkEvent(t0, "disconnected", detail="injected")))
            heap.append(
                (t0 + d, 0, counter + 1, LinkEvent(t0 + d, "connected", detail="injected"))
            )
            counter += 2
        heapq.heapify(heap)

        def ready(horizon: float):
            while heap and heap[0][0] <= horizon:
                item = heapq.heappop(heap)[3]
                if until_s is not None and item.t > until_s:
                    heap.clear()
                    return
                if isinstance(item, FaultedNotification):
                    st.n_delivered += 1
                yield item

        for i, n in enumerate(iter_source(self.source, until_s)):
            if isinstance(n, LinkEvent):  # events of a wrapped injector pass through
                heapq.heappush(heap, (n.t, 0, counter, n))
                counter += 1
                continue
            yield from ready(n.t)
            st.n_source += 1
            if r_drop.random() < self.drop:
                st.n_dropped += 1
                continue
            copies = [(n.t, False)]
            if r_dup.random() < self.duplicate:
                st.n_duplicated += 1
                copies.append((n.t + r_dup.uniform(0.0, self.duplicate_delay_s), True))
            for t_copy, is_dup in copies:
                t_arr = t_copy
                if r_delay.random() < self.reorder:
                    st.n_delayed += 1
                    t_arr += r_delay.uniform(0.0, self.reorder_max_s)
                payload, bad = n.payload, False
                if r_corrupt.random() < self.corrupt:
                    payload, bad = self._corrupt(n.payload, r_corrupt), True
                if self._lost_to_disconnect(n.t, t_arr):
                    st.n_lost_disconnected += 1
                    continue
                st.n_corrupted += bad
                item = FaultedNotification(
                    t_arr, n.characteristic, payload, self._offset(t_arr), i, bad, is_dup
                )
                heapq.heappush(heap, (t_arr, 1, counter, item))
                counter += 1
        yield from ready(math.inf)
        self.stats = st
