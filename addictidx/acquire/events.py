"""Link and gap records shared by the transports and the stream layer.

* :class:`LinkEvent` is what a transport reports besides notifications: a device connected,
  disconnected, went silent, failed to connect. The BLE transport emits them from its supervisor;
  the replay transport emits them for injected disconnects
  (:class:`~addictidx.acquire.faults.FaultInjector`).
* :class:`GapRecord` is what the stream layer records for every stretch of a stream with no data:
  a disconnect, lost packets, a silent link. Gaps are marked with NaN in the buffers of regularly
  sampled streams and never interpolated.

Both are frozen dataclasses with plain fields (numbers and strings) so they can cross layers and
be written to JSON as they are (:meth:`GapRecord.to_dict`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

__all__ = [
    "LINK_EVENT_KINDS",
    "GAP_REASONS",
    "LinkEvent",
    "GapRecord",
    "SkinContact",
    "NotificationCallback",
    "EventCallback",
    "TransportCallbacks",
]

#: ``callback(device_name, characteristic_uuid, payload, received_at)``, as bleak handlers get.
NotificationCallback = Callable[[str, str, bytes, float], Any]
#: ``callback(event)`` for :class:`LinkEvent`.
EventCallback = Callable[["LinkEvent"], Any]


class TransportCallbacks:
    """The callback registry every transport shares (replay, BLE).

    Transports call :meth:`_init_callbacks` in ``__init__`` and iterate ``_callbacks`` /
    ``_event_callbacks`` when they deliver.
    """

    def _init_callbacks(
        self, callback: NotificationCallback | None, event_callback: EventCallback | None
    ) -> None:
        self._callbacks: list[NotificationCallback] = []
        self._event_callbacks: list[EventCallback] = []
        if callback is not None:
            self.add_callback(callback)
        if event_callback is not None:
            self.add_event_callback(event_callback)

    def add_callback(self, callback: NotificationCallback) -> None:
        """Register ``callback(device_name, characteristic, payload, received_at)``."""
        if not callable(callback):
            raise TypeError(f"callback must be callable, got {callback!r}.")
        self._callbacks.append(callback)

    def add_event_callback(self, callback: EventCallback) -> None:
        """Register ``callback(event: LinkEvent)``."""
        if not callable(callback):
            raise TypeError(f"event callback must be callable, got {callback!r}.")
        self._event_callbacks.append(callback)


#: Kinds of :class:`LinkEvent`.
LINK_EVENT_KINDS = (
    "scanning",  # looking for the device (scan by service UUID / name prefix)
    "connecting",  # a connect attempt starts
    "connected",  # connected, subscribed and the start sequence was sent: data expected
    "disconnected",  # the link dropped (disconnected_callback, or injected in a replay)
    "stale",  # no notification for the watchdog time while connected
    "connect_failed",  # a scan or connect attempt failed (detail says why); a retry follows
    "gave_up",  # max_attempts reached; the device is not retried
    "stopped",  # the transport was stopped on request
)

#: Reasons of :class:`GapRecord`.
GAP_REASONS = ("disconnect", "loss", "silence")


@dataclass(frozen=True, slots=True)
class LinkEvent:
    """A change of a device's link state, on the session clock.

    Parameters
    ----------
    t : float
        Session-clock time in seconds (in a recorded source before replay: seconds from the
        start of the recording, like :attr:`Notification.t`).
    kind : str
        One of :data:`LINK_EVENT_KINDS`.
    device : str
        Device name (filled in by the transport; ``""`` inside a source).
    detail : str
        Free text (the error of a failed connect, the attempt number, ...).
    """

    t: float
    kind: str
    device: str = ""
    detail: str = ""

    def __post_init__(self) -> None:
        if self.kind not in LINK_EVENT_KINDS:
            raise ValueError(
                f"Unknown link event kind {self.kind!r}; allowed: {', '.join(LINK_EVENT_KINDS)}."
            )


@dataclass(frozen=True, slots=True)
class GapRecord:
    """A stretch of one stream without data.

    Parameters
    ----------
    device : str
        Device name.
    stream : str
        Stream name (``eeg``, ``rr``, ...).
    start_s : float
        Session time where the gap starts: the time the first missing sample was due (regular
        streams) or the arrival of the last notification before the gap (irregular streams).
    duration_s : float
        Length of the gap in seconds.
    reason : str
        ``"disconnect"`` (the link dropped and came back), ``"loss"`` (packets missing while
        connected, found from the sequence counter) or ``"silence"`` (an irregular stream was
        quiet for longer than its watchdog time while connected).
    n_missing : int
        Samples marked NaN for this gap in the stream's buffer (per channel; 0 for irregular
        streams, where missing events cannot be counted).
    """

    device: str
    stream: str
    start_s: float
    duration_s: float
    reason: str
    n_missing: int = 0

    @property
    def end_s(self) -> float:
        """``start_s + duration_s``."""
        return self.start_s + self.duration_s

    def to_dict(self) -> dict:
        """The fields as a plain dict (JSON-ready)."""
        return asdict(self)


@dataclass(frozen=True, slots=True)
class SkinContact:
    """Skin contact of a heart-rate strap, as its Heart Rate Measurement notifications report it.

    Parameters
    ----------
    detected : bool | None
        Contact reported by the latest notification; ``None`` when the strap does not report
        contact (or sent nothing yet).
    n_no_contact : int
        Notifications (duplicates included) that reported "contact supported, not detected".
    """

    detected: bool | None
    n_no_contact: int
