"""Synchronous facade for notebooks: acquisition in a daemon thread, windows on demand.

>>> from addictidx.acquire import ReplayTransport, SimulatedHeadband
>>> from addictidx.acquire.hub import StreamHub
>>> from addictidx.acquire.background import run_in_background
>>> head = SimulatedHeadband(duration_s=2.0)
>>> hub = StreamHub({head.name: head.profile})
>>> with run_in_background(ReplayTransport(head, speed=0), hub) as bg:
...     bg.join(timeout=30)
...     bg.get_window(1.0).data.shape
(4, 256)

The transport (:class:`~addictidx.acquire.replay.ReplayTransport` or
:class:`~addictidx.acquire.ble.BleakTransport`) runs on its own event loop in a daemon thread;
:meth:`BackgroundStream.get_window` reads the hub's buffers (they are safe to read from another
thread) and never blocks acquisition.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from addictidx._core.types import Window
from addictidx.acquire.events import GapRecord
from addictidx.acquire.hub import StreamHub

__all__ = ["BackgroundStream", "run_in_background"]


class BackgroundStream:
    """A transport + :class:`StreamHub` running in a daemon thread.

    Use :func:`run_in_background` to create one.

    Attributes
    ----------
    hub : StreamHub
        The stream layer (buffers, gaps, stats).
    transport : object
        The transport.
    error : BaseException | None
        What ended the acquisition thread abnormally, if anything.
    n_delivered : int | None
        Notifications delivered (once the transport returned).
    """

    def __init__(self, transport: Any, hub: StreamHub, until_s: float | None = None) -> None:
        self.transport = transport
        self.hub = hub
        self.until_s = until_s
        self.error: BaseException | None = None
        self.n_delivered: int | None = None
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._main, name="addictidx-acquire", daemon=True)

    def _main(self) -> None:
        try:
            asyncio.run(self._run())
        except BaseException as err:  # noqa: BLE001 - reported through .error
            self.error = err
        finally:
            self._started.set()

    async def _run(self) -> None:
        self.hub.attach(self.transport)
        self._started.set()
        try:
            self.n_delivered = await self.transport.run(self.until_s)
        finally:
            self.hub.close()

    def start(self) -> BackgroundStream:
        """Start the thread (done by :func:`run_in_background`)."""
        self._thread.start()
        self._started.wait(timeout=10.0)
        return self

    @property
    def is_running(self) -> bool:
        """Whether the acquisition thread is alive."""
        return self._thread.is_alive()

    def get_window(self, seconds: float, stream: str = "eeg", device: str | None = None) -> Window:
        """The latest ``seconds`` of a stream (see :meth:`StreamHub.get_window`)."""
        return self.hub.get_window(seconds, stream, device)

    @property
    def gaps(self) -> list[GapRecord]:
        """A copy of the gap records so far."""
        return list(self.hub.gaps)

    def stats(self) -> dict[str, dict]:
        """Per-device counters (see :meth:`StreamHub.stats`)."""
        return self.hub.stats()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the transport to finish; return whether it did within ``timeout``."""
        self._thread.join(timeout)
        if self.error is not None and not self._thread.is_alive():
            err, self.error = self.error, None
            raise err
        return not self._thread.is_alive()

    def stop(self, timeout: float | None = 10.0) -> bool:
        """Stop the transport (devices get their ``stop`` sequence) and wait for the thread."""
        self.transport.stop()
        return self.join(timeout)

    def __enter__(self) -> BackgroundStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def run_in_background(
    transport: Any, hub: StreamHub, *, until_s: float | None = None
) -> BackgroundStream:
    """Run ``transport`` feeding ``hub`` in a daemon thread; return the handle.

    Parameters
    ----------
    transport : ReplayTransport | BleakTransport
        Anything with ``add_callback``, ``add_event_callback``, ``async run(until_s)`` and a
        thread-safe ``stop()``.
    hub : StreamHub
        The stream layer receiving the notifications.
    until_s : float | None
        Passed to ``transport.run``.

    Returns
    -------
    stream : BackgroundStream
        Started; call :meth:`BackgroundStream.get_window` any time and
        :meth:`BackgroundStream.stop` at the end.
    """
    return BackgroundStream(transport, hub, until_s).start()
