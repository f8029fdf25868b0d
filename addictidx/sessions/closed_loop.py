"""The closed loop of a guided intervention, as a live session runs it.

:class:`SessionLoop` builds a :class:`~addictidx.prescribe.controller.LoopController` from the
session's prescription when an ``intervention`` phase starts, feeds it RR batches and clock
ticks, and hands every controller event to the session's event sink: ``"safety"`` for stops,
pauses, prompts, flags and the 1-min HR recovery, ``"loop"`` for guidance and tempo. A safety
stop ends the intervention phase (the recovery phase follows, so the 1-min HR recovery is
measured). Stops are for safety and audit only: nothing reads them for any score.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from addictidx.sessions.protocol import PhaseClock

__all__ = ["LoopSettings", "SessionLoop", "SAFETY_KINDS", "LOOP_TICK_S"]

#: The closed loop is ticked at least this often (s) (the controller needs >= 1 Hz).
LOOP_TICK_S = 1.0
#: Controller event kinds stored as safety events (the rest are guidance / tempo).
SAFETY_KINDS = ("stop", "pause", "resume", "prompt", "flag", "hr_recovery")


@dataclass(frozen=True)
class LoopSettings:
    """What the closed loop needs besides the prescription.

    Parameters
    ----------
    age : float | None
        Years (18-90), keyword, required unless a measured ``hrmax`` is given (then it may be
        None): HRmax by Tanaka sets the loop's zone and safety stops; never assumed.
    hrmax : float | None
        Measured HRmax (bpm).
    warmup_s : float
        No zone guidance during the first seconds of the intervention.
    """

    age: float | None = field(kw_only=True)
    hrmax: float | None = None
    warmup_s: float = 60.0

    def __post_init__(self) -> None:
        from addictidx.prescribe import check_age
        from addictidx.prescribe.screening import check_hrmax

        if self.hrmax is not None:
            object.__setattr__(self, "hrmax", check_hrmax(self.hrmax))
        if self.age is not None or self.hrmax is None:
            object.__setattr__(self, "age", check_age(self.age))


class SessionLoop:
    """The closed loop of one session (idle until an intervention starts).

    Parameters
    ----------
    settings : LoopSettings | None
        None: no age or measured HRmax was given, so an intervention gets no closed loop (a
        ``loop_unavailable`` event says why) rather than one built on an assumed age.
    clock : PhaseClock
        The session's protocol clock (a safety stop ends the intervention phase on it).
    emit : callable
        ``emit(kind, t_s, detail)``: the session's event sink.

    Attributes
    ----------
    controller : LoopController | None
        The controller while an intervention runs (and through recovery).
    events : list of LoopEvent
        Every controller event.
    """

    def __init__(
        self,
        settings: LoopSettings | None,
        clock: PhaseClock,
        emit: Callable[[str, float, dict], None],
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.emit = emit
        self.controller = None
        self.events: list = []
        self.next_tick_s = 0.0

    @property
    def running(self) -> bool:
        """True while an intervention phase runs under a controller that has not stopped."""
        p = self.clock.phase
        return (
            p is not None
            and p.kind == "intervention"
            and self.controller is not None
            and self.controller.status != "stopped"
        )

    def start(self, t: float, rest_hr_bpm: float | None, prescription) -> None:
        """Build the controller from the prescription (needs a resting heart rate)."""
        from addictidx.prescribe.controller import LoopConfig, LoopController
        from addictidx.prescribe.safety import safety_limits

        if self.settings is None:
            self.emit("loop_unavailable", t, {"reason": "no age or measured HRmax given"})
            return
        if rest_hr_bpm is None:
            self.emit("loop_unavailable", t, {"reason": "no resting heart rate"})
            return
        s, rx = self.settings, prescription
        zone = (
            None if rx is None or rx.hr_target_bpm is None else tuple(map(float, rx.hr_target_bpm))
        )
        limits = safety_limits(
            age=s.age, resting_hr=float(rest_hr_bpm), hrmax=s.hrmax, zone_bpm=zone
        )
        music = rx is not None and rx.music_bpm is not None
        cfg = LoopConfig(
            limits=limits,
            warmup_s=s.warmup_s,
            music=music,
            music_preferred_bpm=float(np.mean(rx.music_bpm)) if music else None,
        )
        self.controller = LoopController(cfg, t0_s=t)
        self.next_tick_s = t
        self.emit(
            "loop_start",
            t,
            {
                "zone_bpm": None if zone is None else list(zone),
                "stop_bpm": round(limits.stop_bpm, 1),
                "music": music,
                "rule_id": None if rx is None else rx.rule_id,
            },
        )

    def feed(self, t: float, rr_s) -> None:
        """RR intervals arrived at ``t``."""
        if self.controller is not None:
            self._handle(self.controller.feed(t, rr_s))

    def tick(self, t: float) -> None:
        """Advance the controller's clock (at most every :data:`LOOP_TICK_S`)."""
        if self.controller is not None and t >= self.next_tick_s:
            self.next_tick_s = t + LOOP_TICK_S
            self._handle(self.controller.tick(t))

    def end_work(self, t: float) -> None:
        """The intervention phase ended: cool-down and HR recovery start."""
        if self.controller is not None:
            self._handle(self.controller.end_work(t))

    def report_symptom(self, t: float, symptom: str) -> None:
        """A symptom during the intervention: safety stop S6 (recovery follows)."""
        self._handle(self.controller.report_symptom(t, symptom))

    def press_stop(self, t: float, reason: str) -> bool:
        """The stop button; returns False when no controller was running to stop."""
        ctl = self.controller
        if ctl is None or ctl.status == "stopped":
            return False
        self._handle(ctl.press_stop(t, reason))
        return True

    def music(self, t: float, action: str, bpm: float | None = None) -> bool:
        """The person turns the music ``"off"`` or sets its ``"tempo"`` to ``bpm``; False when
        no controller runs (the loop then raises the ``tempo`` event)."""
        ctl = self.controller
        if ctl is None:
            return False
        if action == "off":
            self._handle(ctl.music_off(t))
        elif action == "tempo" and bpm is not None:
            self._handle(ctl.set_tempo(t, float(bpm)))
        else:
            return False
        return True

    def _handle(self, events) -> None:
        for e in events:
            self.events.append(e)
            detail = {"kind": e.kind, "rule": e.rule, "reason": e.reason, "hr_bpm": e.hr_bpm}
            if e.music is not None:  # tempo events: what a music player does (issue 21.4)
                detail["tempo_bpm"], detail["music"] = e.tempo_bpm, e.music
            self.emit("safety" if e.kind in SAFETY_KINDS else "loop", float(e.t_s), detail)
            if e.kind == "stop":
                p = self.clock.phase
                if p is not None and p.kind == "intervention":
                    for kind, te, d in self.clock.end_phase(float(e.t_s), {"safety_stop": e.rule}):
                        self.emit(kind, float(te), d)
