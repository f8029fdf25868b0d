"""Declarative assessment protocols: an ordered list of timed phases.

EVIDENCE.md §7(i): core features are recorded at seated rest, 3 min eyes closed plus 2 min eyes
open, never from exercise data. The device check comes first and is not scored.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Phase", "Protocol", "DEMO_PROTOCOL", "STANDARD_PROTOCOL"]


@dataclass(frozen=True, slots=True)
class Phase:
    """One timed phase of a session.

    Parameters
    ----------
    name : str
        Machine name, e.g. ``"eyes_closed_rest"``.
    duration_s : float
        Length in seconds of session time.
    scored : bool
        Whether the phase's data feeds the index.
    instruction : str
        What staff read to the participant.
    """

    name: str
    duration_s: float
    scored: bool
    instruction: str = ""


@dataclass(frozen=True, slots=True)
class Protocol:
    """An ordered tuple of phases with a name."""

    name: str
    phases: tuple[Phase, ...]

    @property
    def duration_s(self) -> float:
        """Total session time in seconds."""
        return float(sum(p.duration_s for p in self.phases))

    def spans(self) -> list[tuple[Phase, float, float]]:
        """``(phase, t_start_s, t_end_s)`` on the session clock, in order."""
        out, t = [], 0.0
        for p in self.phases:
            out.append((p, t, t + p.duration_s))
            t += p.duration_s
        return out


STANDARD_PROTOCOL = Protocol(
    "resting-assessment-v1",
    (
        Phase("device_check", 20.0, False, "Sit still, relax your face; checking the sensors."),
        Phase("eyes_closed_rest", 180.0, True, "Close your eyes and rest quietly for 3 minutes."),
        Phase("eyes_open_rest", 120.0, True, "Open your eyes, look at the dot, rest for 2 minutes."),
    ),
)

# The demo runs the same protocol as staff do; only the replay speed differs.
DEMO_PROTOCOL = STANDARD_PROTOCOL
