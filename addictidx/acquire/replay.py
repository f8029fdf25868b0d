"""Replay simulated devices or recorded notifications as if they came over BLE.

:class:`ReplayTransport` is an asyncio transport with the callback contract a bleak-based
transport has: for every notification it calls
``callback(device_name, characteristic, payload, received_at)`` on the event-loop thread, in
time order across all devices, paced at ``speed`` x real time. :func:`iter_notifications` is the
same merged stream as a plain generator for tests and benchmarks without asyncio.

A *device* (notification source) is either an object with a ``notifications(until_s)`` method
returning time-ordered :class:`~addictidx.acquire.notification.Notification` (the simulated
devices), or a recorded sequence of notifications (``Notification`` objects or ``(t,
characteristic, payload)`` tuples, ``t`` in seconds from the start of the recording), which is
sorted by time.

A source may also yield :class:`~addictidx.acquire.events.LinkEvent` items (a
:class:`~addictidx.acquire.faults.FaultInjector` does for injected disconnects): the transport
passes them to its event callbacks with ``device`` set and ``t`` on the session clock, as the BLE
transport does for real link changes. A notification with a ``clock_offset`` attribute (faulted
notifications) is stamped ``received_at + clock_offset`` (an injected host-clock jump).
"""

from __future__ import annotations

import asyncio
import heapq
import inspect
import math
import time
from collections.abc import Iterator, Mapping
from dataclasses import replace
from typing import Any, Protocol

from addictidx._core.validate import check_option
from addictidx.acquire.events import (
    EventCallback,
    LinkEvent,
    NotificationCallback,
    TransportCallbacks,
)
from addictidx.acquire.notification import Notification, iter_source

__all__ = [
    "Clock",
    "EventCallback",
    "MonotonicClock",
    "NotificationCallback",
    "ReplayTransport",
    "iter_notifications",
]


class Clock(Protocol):
    """What the transport needs from a clock: a monotonic ``now()`` and an async ``sleep``."""

    def now(self) -> float:
        """Current session-clock time in seconds."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds``."""
        ...


class MonotonicClock:
    """The real session clock: :func:`time.perf_counter` and :func:`asyncio.sleep`."""

    def now(self) -> float:
        """Return ``time.perf_counter()``."""
        return time.perf_counter()

    async def sleep(self, seconds: float) -> None:
        """``await asyncio.sleep(seconds)``."""
        await asyncio.sleep(seconds)


def _named_sources(devices: Any) -> list[tuple[str, Any]]:
    if isinstance(devices, Mapping):
        return [(str(k), v) for k, v in devices.items()]
    if hasattr(devices, "notifications"):
        return [(str(getattr(devices, "name", "device")), devices)]
    out = []
    for i, d in enumerate(devices):
        if not hasattr(d, "notifications"):
            raise ValueError(
                f"devices[{i}] has no notifications() method; pass recorded notification lists "
                "as a mapping {device_name: notifications}."
            )
        out.append((str(getattr(d, "name", f"device{i}")), d))
    names = [n for n, _ in out]
    if len(set(names)) != len(names):
        raise ValueError(f"Device names must be unique, got {names}; pass a mapping to rename.")
    return out


def iter_notifications(
    devices: Any, until_s: float | None = None
) -> Iterator[tuple[str, Notification]]:
    """Merge the notifications of several devices into one time-ordered stream.

    Parameters
    ----------
    devices : device | sequence of devices | mapping of str to device or recorded list
        Simulated devices (named by their ``name``) or ``{name: source}``.
    until_s : float | None
        Last device time to include (default: until every source is exhausted).

    Yields
    ------
    device_name : str
        Name of the device that sent the notification.
    notification : Notification | LinkEvent
        The notification (or a link event yielded by the source); ties in ``t`` keep the order
        of ``devices``, then of each source.
    """
    streams = [_tagged(name, src, until_s) for name, src in _named_sources(devices)]
    yield from heapq.merge(*streams, key=lambda item: item[1].t)


def _tagged(name: str, source: Any, until_s: float | None) -> Iterator[tuple[str, Notification]]:
    for n in iter_source(source, until_s):
        yield name, n


class ReplayTransport(TransportCallbacks):
    """Play devices' notifications through notification callbacks, paced in real time.

    Parameters
    ----------
    devices : device | sequence of devices | mapping of str to device or recorded list
        What to play (see :func:`iter_notifications`).
    speed : float
        Playback speed relative to real time; ``float("inf")`` or ``0`` plays as fast as
        possible (yielding to the event loop every ``yield_every`` notifications).
    clock : Clock | None
        Session clock (default :class:`MonotonicClock`); tests pass a fake clock whose ``sleep``
        only advances ``now()``.
    callback : callable | None
        A first notification callback (more with :meth:`add_callback`).
    event_callback : callable | None
        A first link-event callback (more with :meth:`add_event_callback`).
    stamp : {"device", "clock"}
        What ``received_at`` is. ``"device"``: the replay's session time of the notification,
        ``t_start + t`` (``t_start`` = ``clock.now()`` when :meth:`run` starts), independent of
        ``speed`` and of scheduling delays, so timestamps downstream equal those of the recording
        at any speed. ``"clock"``: ``clock.now()`` at delivery, as a live BLE handler would stamp
        (meaningful at ``speed=1`` only).
    yield_every : int
        With unpaced playback, ``await asyncio.sleep(0)`` after this many notifications so that
        consumer tasks run.

    Attributes
    ----------
    n_delivered : int
        Notifications delivered by the last :meth:`run`.
    max_lateness_s : float
        Largest delay between a notification's scheduled and actual delivery (paced runs).

    Notes
    -----
    Callbacks are called synchronously on the event-loop thread in the order they were added;
    a callback returning an awaitable is awaited before the next notification (bleak instead
    schedules async callbacks as tasks). Keep callbacks short: decode, assemble, enqueue.
    """

    def __init__(
        self,
        devices: Any,
        *,
        speed: float = 1.0,
        clock: Clock | None = None,
        callback: NotificationCallback | None = None,
        event_callback: EventCallback | None = None,
        stamp: str = "device",
        yield_every: int = 256,
    ) -> None:
        speed = float(speed)
        if math.isnan(speed) or speed < 0:
            raise ValueError(f"speed must be > 0, 0 or inf (as fast as possible), got {speed!r}.")
        self.devices = devices
        _named_sources(devices)  # validate early
        self.speed = speed
        self.paced = 0 < speed < math.inf
        self.clock: Clock = clock if clock is not None else MonotonicClock()
        self.stamp = check_option("stamp", stamp, ("device", "clock"))
        if int(yield_every) < 1:
            raise ValueError(f"yield_every must be >= 1, got {yield_every!r}.")
        self.yield_every = int(yield_every)
        self._init_callbacks(callback, event_callback)
        self._stop = False
        self.n_delivered = 0
        self.max_lateness_s = 0.0

    def stop(self) -> None:
        """Ask a running :meth:`run` to return after the current notification."""
        self._stop = True

    async def __aenter__(self) -> ReplayTransport:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.stop()

    async def run(self, until_s: float | None = None) -> int:
        """Deliver notifications until device time ``until_s`` (default: all), or :meth:`stop`.

        Parameters
        ----------
        until_s : float | None
            Last device time (s from the start of the replay) to deliver.

        Returns
        -------
        n_delivered : int
            Number of notifications delivered.
        """
        self._stop = False
        self.n_delivered = 0
        self.max_lateness_s = 0.0
        clock = self.clock
        t_start = clock.now()
        for name, note in iter_notifications(self.devices, until_s):
            if self._stop:
                break
            if self.paced:
                target = t_start + note.t / self.speed
                delay = target - clock.now()
                if delay > 0:
                    await clock.sleep(delay)
                self.max_lateness_s = max(self.max_lateness_s, clock.now() - target)
            elif self.n_delivered % self.yield_every == self.yield_every - 1:
                await asyncio.sleep(0)
            offset = getattr(note, "clock_offset", 0.0)
            if isinstance(note, LinkEvent):
                t_ev = (t_start + note.t if self.stamp == "device" else clock.now()) + offset
                event = replace(note, device=name, t=t_ev)
                for ecb in self._event_callbacks:
                    result = ecb(event)
                    if inspect.isawaitable(result):
                        await result
                continue
            received_at = (t_start + note.t if self.stamp == "device" else clock.now()) + offset
            for cb in self._callbacks:
                result = cb(name, note.characteristic, note.payload, received_at)
                if inspect.isawaitable(result):
                    await result
            self.n_delivered += 1
        return self.n_delivered
