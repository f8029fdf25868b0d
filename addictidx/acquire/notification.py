"""The notification record every source yields, and reading any source in time order.

A *notification source* is either an object with a ``notifications(until_s)`` method returning
time-ordered :class:`Notification` (the simulated devices, recordings, a
:class:`~addictidx.acquire.faults.FaultInjector`), or a recorded sequence of notifications
(``Notification`` objects or ``(t, characteristic, payload)`` tuples, ``t`` in seconds from the
start of the recording). :func:`iter_source` reads both the same way; the replay transport and
the fault injector use it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from addictidx.acquire.events import LinkEvent

__all__ = ["Notification", "as_notification", "iter_source"]


@dataclass(frozen=True, slots=True)
class Notification:
    """One BLE notification as a device sends it.

    Parameters
    ----------
    t : float
        Device time in seconds since the start of the simulation (or recording).
    characteristic : str
        Characteristic UUID (lower-case, 128-bit form).
    payload : bytes
        The notification value.
    """

    t: float
    characteristic: str
    payload: bytes


def as_notification(item: Any) -> Notification | LinkEvent:
    """A recorded item as a :class:`Notification` (or the :class:`LinkEvent` it already is).

    Parameters
    ----------
    item : Notification | LinkEvent | tuple
        A notification, a link event, or a ``(t, characteristic, payload)`` tuple.

    Raises
    ------
    ValueError
        For anything else.
    """
    if isinstance(item, (Notification, LinkEvent)):
        return item
    try:
        t, characteristic, payload = item
    except (TypeError, ValueError):
        raise ValueError(
            f"A recorded notification must be a Notification or a (t, characteristic, payload) "
            f"tuple, got {item!r}."
        ) from None
    return Notification(float(t), str(characteristic).lower(), bytes(payload))


def iter_source(source: Any, until_s: float | None = None) -> Iterator[Notification | LinkEvent]:
    """Yield a source's notifications (and link events) in time order.

    Parameters
    ----------
    source : object with ``notifications(until_s)`` | iterable of recorded notifications
        A device-like source (its own order is kept) or a recorded list (sorted by time).
    until_s : float | None
        Stop after the last item with ``t <= until_s`` (default: everything).
    """
    if hasattr(source, "notifications"):
        yield from source.notifications(until_s)
        return
    items = sorted((as_notification(x) for x in source), key=lambda n: n.t)
    for n in items:
        if until_s is not None and n.t > until_s:
            return
        yield n
