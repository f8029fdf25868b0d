"""What a live session shows and counts, and who watches it.

:class:`LiveView` is the state a live view reads (current heart rate, channel quality, contact,
battery, links); :class:`SessionCounts` the samples, beats and notifications received;
:class:`Observers` the observers' callbacks of a :class:`~addictidx.sessions.live.LiveAssessment`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from addictidx.features.heart_rate import HeartRateTracker

__all__ = ["LiveView", "SessionCounts", "Observers", "Timers"]


@dataclass
class LiveView:
    """What a live view shows, updated as data arrive.

    Attributes
    ----------
    heart_rate : HeartRateTracker
        Current heart rate from RR (``hr_bpm``).
    channel_quality : dict of str to float
        Per-channel EEG pass fraction (device check, then each trend window).
    strap_contact : bool | None
        Skin contact of the strap (``None``: not reported).
    battery : dict of str to float
        Latest battery level per device (%).
    connected : dict of str to bool
        Link state per device.
    last_eeg_t, last_beat_t, last_data_t : float
        Session time of the last EEG sample, beat and notification.
    """

    heart_rate: HeartRateTracker = field(default_factory=HeartRateTracker)
    channel_quality: dict[str, float] = field(default_factory=dict)
    strap_contact: bool | None = None
    battery: dict[str, float] = field(default_factory=dict)
    connected: dict[str, bool] = field(default_factory=dict)
    last_eeg_t: float = 0.0
    last_beat_t: float = 0.0
    last_data_t: float = 0.0


@dataclass
class SessionCounts:
    """Samples, beats and notifications received (and missing) in a session."""

    eeg_samples: int = 0
    eeg_missing: int = 0
    rr_beats: int = 0
    notifications: int = 0
    hr_no_contact: int = 0
    extra: dict = field(default_factory=dict)


@dataclass
class Timers:
    """Session times of the next trend window and device check."""

    next_trend: float = 10.0
    next_check: float = 0.0
    check_ok: bool = False


class Observers:
    """The observers' ``on_chunk`` / ``on_event`` methods, looked up once."""

    def __init__(self, observers: Sequence[Any]) -> None:
        self.chunk = [o.on_chunk for o in observers if hasattr(o, "on_chunk")]
        self.event = [o.on_event for o in observers if hasattr(o, "on_event")]
