"""Declarative assessment protocols and the clock that walks through them.

EVIDENCE.md §7(i): core features are recorded at seated rest, 3 min eyes closed plus 2 min eyes
open, never from exercise data. The device check comes first and is not scored: it ends only
when every EEG channel and the strap pass their signal check, so no recording counts before.

:class:`PhaseClock` turns session time into protocol progress. Phase time only runs while the
signal is present: when the headband or the strap goes silent the session **pauses** (an event
is logged) and resumes where it stopped when the signal is back, so a dropped strap lengthens the
session instead of shortening a phase.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "Phase",
    "Protocol",
    "PhaseClock",
    "PhaseSpan",
    "DEMO_PROTOCOL",
    "STANDARD_PROTOCOL",
    "GUIDED_PROTOCOL",
    "PHASE_KINDS",
]

#: ``check`` = device check (gated on signal quality), ``rest`` = resting recording,
#: ``intervention`` = guided exercise/music with the closed loop, ``recovery`` = rest after it.
PHASE_KINDS = ("check", "rest", "intervention", "recovery")


@dataclass(frozen=True, slots=True)
class Phase:
    """One timed phase of a session.

    Parameters
    ----------
    name : str
        Machine name, e.g. ``"eyes_closed_rest"``.
    duration_s : float
        Length in seconds of (unpaused) session time; for a ``check`` phase, the shortest length.
    scored : bool
        Whether the phase's data feeds the index.
    instruction : str
        What staff read to the participant.
    kind : str
        One of :data:`PHASE_KINDS`.
    """

    name: str
    duration_s: float
    scored: bool
    instruction: str = ""
    kind: str = "rest"

    def __post_init__(self) -> None:
        if self.kind not in PHASE_KINDS:
            raise ValueError(
                f"Phase {self.name!r}: kind must be one of {PHASE_KINDS}, got {self.kind!r}."
            )
        if not self.duration_s > 0:
            raise ValueError(
                f"Phase {self.name!r}: duration_s must be > 0, got {self.duration_s!r}."
            )


@dataclass(frozen=True, slots=True)
class Protocol:
    """An ordered tuple of phases with a name."""

    name: str
    phases: tuple[Phase, ...]

    @property
    def duration_s(self) -> float:
        """Total session time in seconds (without pauses)."""
        return float(sum(p.duration_s for p in self.phases))

    def spans(self) -> list[tuple[Phase, float, float]]:
        """``(phase, t_start_s, t_end_s)`` on the session clock when nothing pauses, in order."""
        out, t = [], 0.0
        for p in self.phases:
            out.append((p, t, t + p.duration_s))
            t += p.duration_s
        return out

    def to_dict(self) -> dict:
        """JSON-ready description (stored with every raw recording)."""
        return {
            "name": self.name,
            "phases": [
                {
                    "name": p.name,
                    "duration_s": p.duration_s,
                    "scored": p.scored,
                    "kind": p.kind,
                    "instruction": p.instruction,
                }
                for p in self.phases
            ],
        }

    @classmethod
    def from_dict(cls, d: dict) -> Protocol:
        """Inverse of :meth:`to_dict`."""
        return cls(
            str(d["name"]),
            tuple(
                Phase(
                    str(p["name"]),
                    float(p["duration_s"]),
                    bool(p["scored"]),
                    str(p.get("instruction", "")),
                    str(p.get("kind", "rest")),
                )
                for p in d["phases"]
            ),
        )


@dataclass
class PhaseSpan:
    """Where a phase actually ran on the session clock (``t_end_s`` None while running)."""

    name: str
    kind: str
    scored: bool
    t_start_s: float
    t_end_s: float | None = None
    pauses: list[tuple[float, float]] = field(default_factory=list)


class PhaseClock:
    """Walk through a protocol on the session clock, pausing while the signal is lost.

    Parameters
    ----------
    protocol : Protocol
        The phases.
    loss_s : float
        A stream silent for longer than this pauses the session.

    Notes
    -----
    Call :meth:`update` with the current session time, whether the signal is present and, during
    a ``check`` phase, whether the device check passes. It returns the events that happened
    (``("phase_start", t, {...})``, ``("phase_end", ...)``, ``("signal_lost", ...)``,
    ``("signal_resumed", ...)``); :attr:`spans` holds where each phase ran.
    """

    def __init__(self, protocol: Protocol, *, loss_s: float = 3.0) -> None:
        self.protocol = protocol
        self.loss_s = float(loss_s)
        self.index = -1
        self.counted = 0.0  # unpaused seconds spent in the current phase
        self.paused = False
        self.pause_start: float | None = None
        self.last_t: float | None = None
        self.spans: list[PhaseSpan] = []
        self.check_passed_at: float | None = None
        self.stopped = False

    @property
    def phase(self) -> Phase | None:
        """The running phase (None before the start and after the end)."""
        if 0 <= self.index < len(self.protocol.phases):
            return self.protocol.phases[self.index]
        return None

    @property
    def done(self) -> bool:
        """True once the last phase ended."""
        return self.index >= len(self.protocol.phases)

    def remaining_s(self) -> float:
        """Unpaused session time left (a lower bound while a check is pending)."""
        if self.done:
            return 0.0
        rest = sum(p.duration_s for p in self.protocol.phases[self.index + 1 :])
        cur = self.phase.duration_s - self.counted if self.phase is not None else 0.0
        return max(cur, 0.0) + rest

    def _start(self, t: float, events: list) -> None:
        self.index += 1
        self.counted = 0.0
        if self.phase is not None:
            p = self.phase
            self.spans.append(PhaseSpan(p.name, p.kind, p.scored, t))
            events.append(("phase_start", t, {"phase": p.name}))

    def update(self, t: float, *, signal_ok: bool, check_ok: bool = True) -> list:
        """Advance to session time ``t``; return the events that happened."""
        events: list = []
        if self.index < 0:
            self.last_t = 0.0
            self._start(0.0, events)
        if self.done:
            return events
        dt = max(0.0, t - (self.last_t if self.last_t is not None else t))
        self.last_t = t
        if not signal_ok:
            if not self.paused:
                self.paused, self.pause_start = True, t
                events.append(("signal_lost", t, {"phase": self.phase.name}))
            return events
        if self.paused:
            self.paused = False
            self.spans[-1].pauses.append((self.pause_start, t))
            events.append(
                (
                    "signal_resumed",
                    t,
                    {"phase": self.phase.name, "paused_s": round(t - self.pause_start, 3)},
                )
            )
            dt = 0.0  # the silent interval does not count
        while not self.done:
            p = self.phase
            need = p.duration_s - self.counted
            if dt < need or (p.kind == "check" and not check_ok):
                self.counted += dt
                break
            if need >= 0:  # the phase ends inside this step, exactly at its duration
                t_end, dt = t - (dt - need), dt - need
            else:  # a device check held open past its duration ends when it passes
                t_end, dt = t, 0.0
            self.spans[-1].t_end_s = t_end
            events.append(("phase_end", t_end, {"phase": p.name}))
            if p.kind == "check":
                self.check_passed_at = t
            self._start(t_end, events)
        return events

    def end_phase(self, t: float, detail: dict | None = None) -> list:
        """End the running phase early at ``t`` (e.g. a safety stop of the intervention) and
        start the next one; return the events."""
        events: list = []
        if self.done or self.index < 0:
            return events
        if self.paused:
            self.spans[-1].pauses.append((self.pause_start, t))
            self.paused = False
            events.append(
                (
                    "signal_resumed",
                    t,
                    {"phase": self.phase.name, "paused_s": round(t - self.pause_start, 3)},
                )
            )
        self.last_t = max(self.last_t or 0.0, t)
        self.spans[-1].t_end_s = t
        events.append(
            ("phase_end", t, {"phase": self.phase.name, "early": True, **dict(detail or {})})
        )
        self._start(t, events)
        return events

    def stop(self, t: float) -> list:
        """Stop the session at ``t``: close the running phase; the clock is then done."""
        events = self.close(t)
        self.index = len(self.protocol.phases)
        self.stopped = True
        return events

    def close(self, t: float) -> list:
        """End the running phase at ``t`` (data ran out or staff stopped early)."""
        events: list = []
        if self.paused and self.spans:
            self.spans[-1].pauses.append((self.pause_start, t))
            self.paused = False
        if not self.done and self.spans and self.spans[-1].t_end_s is None:
            self.spans[-1].t_end_s = t
            events.append(("phase_end", t, {"phase": self.spans[-1].name, "incomplete": True}))
        return events


STANDARD_PROTOCOL = Protocol(
    "resting-assessment-v1",
    (
        Phase(
            "device_check",
            20.0,
            False,
            "Sit still, relax your face; checking the sensors.",
            kind="check",
        ),
        Phase("eyes_closed_rest", 180.0, True, "Close your eyes and rest quietly for 3 minutes."),
        Phase(
            "eyes_open_rest", 120.0, True, "Open your eyes, look at the dot, rest for 2 minutes."
        ),
    ),
)

#: The standard protocol followed by the optional guided intervention (with the closed loop and
#: its safety stops) and a seated recovery.
GUIDED_PROTOCOL = Protocol(
    "guided-assessment-v1",
    STANDARD_PROTOCOL.phases
    + (
        Phase(
            "guided_intervention",
            600.0,
            False,
            "Follow the suggested exercise or music session; say stop at any time.",
            kind="intervention",
        ),
        Phase("recovery", 180.0, False, "Sit and rest quietly for 3 minutes.", kind="recovery"),
    ),
)

# The demo runs the same protocol as staff do; only the replay speed differs.
DEMO_PROTOCOL = STANDARD_PROTOCOL
