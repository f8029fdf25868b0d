"""Closed-loop session controller on RR-derived heart rate (EVIDENCE.md §7(iii)-(iv)).

:class:`LoopController` is a pure, synchronous state machine: feed it RR batches with their
arrival time (:meth:`~LoopController.feed`), advance its clock without beats
(:meth:`~LoopController.tick`, at >= 1 Hz so that signal loss is noticed), and tell it about
the workload, the end of the work phase, the stop button, symptoms and music overrides. Each
call returns the new :class:`LoopEvent` objects (also kept in ``events``). No asyncio, no
threads, no wall clock: the same code runs in tests, in the live session layer and in a
dashboard; :func:`~addictidx.prescribe.loop_replay.run_loop` replays a beat file through it.

Heart rate is always derived from RR intervals, never from the strap's HR field: the current
heart rate of :mod:`addictidx.features.heart_rate` (:class:`~addictidx.features.HeartRateTracker`),
``60 / median`` of the last 5 valid intervals (0.3-2.0 s), available from the 3rd valid beat,
so one or two ectopic or spurious intervals cannot move it. A step change in RR shows in the
estimate at the 3rd beat after the step. The live display shows the same figure.

Events (``kind``): ``speed_up`` / ``slow_down`` / ``in_zone`` (zone guidance with hysteresis:
leaving the zone needs HR beyond an edge and coming back needs HR ``hysteresis_bpm`` inside it;
a change is announced after it held for ``dwell_s``), ``prompt`` (S1), ``pause`` / ``resume``
(S5), ``stop`` (S1-S4, S6, S7; the reason says "stop and refer" where §7(iv) says so),
``tempo`` (music loop, :mod:`addictidx.prescribe.tempo`), ``hr_recovery`` / ``flag`` (R1). The
reason of every event starts with its rule id in brackets (see :mod:`addictidx.prescribe.safety`).
Stops are for safety and audit only and must never feed any behavioural score.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from addictidx._core.validate import check_positive
from addictidx.features.heart_rate import HeartRateTracker
from addictidx.prescribe import safety as S
from addictidx.prescribe.rules import MusicLoopSpec
from addictidx.prescribe.safety import SafetyLimits
from addictidx.prescribe.tempo import TempoLoop

__all__ = ["LoopEvent", "LoopConfig", "LoopController", "EVENT_KINDS"]

EVENT_KINDS = (
    "speed_up",
    "slow_down",
    "in_zone",
    "prompt",
    "pause",
    "resume",
    "stop",
    "tempo",
    "hr_recovery",
    "flag",
)


@dataclass(frozen=True, slots=True)
class LoopEvent:
    """One timestamped controller event.

    Parameters
    ----------
    t_s : float
        Session time in seconds (the controller's clock when the event was raised).
    kind : str
        One of :data:`EVENT_KINDS`.
    reason : str
        Plain words, starting with the rule id in brackets (``"[S2] ..."``).
    rule : str
        Rule id (``"G"`` zone guidance, ``"M"`` music, ``"S1"``-``"S7"``, ``"R1"``).
    hr_bpm : float | None
        RR-derived HR at the event, if known.
    tempo_bpm : int | None
        ``tempo`` events: the music tempo after the event (None: music off).
    music : str | None
        ``tempo`` events: what the player does, ``"play"`` (start, step or the person's
        tempo), ``"hold"`` (HR stopped falling: keep the tempo) or ``"off"``.
    """

    t_s: float
    kind: str
    reason: str
    rule: str
    hr_bpm: float | None = None
    tempo_bpm: int | None = None
    music: str | None = None

    def to_dict(self) -> dict:
        """``{"t_s", "kind", "reason"}`` as printed by ``addictidx loop-sim --json``."""
        return {"t_s": round(float(self.t_s), 3), "kind": self.kind, "reason": self.reason}


@dataclass(frozen=True, slots=True)
class LoopConfig:
    """Settings of one controlled session.

    Parameters
    ----------
    limits : SafetyLimits
        From :func:`addictidx.prescribe.safety.safety_limits`. Without a zone the session is a
        rest / music session: no zone guidance, S1, S3 or R1.
    hysteresis_bpm : float
        HR must come back this far inside the zone before ``in_zone`` (default 3 bpm).
    dwell_s : float
        A guidance change is announced once it has held this long (default 10 s).
    warmup_s : float
        No zone guidance during the first ``warmup_s`` seconds of work (safety rules stay on).
    music : bool
        Run the music-tempo loop: from the end of work (:meth:`LoopController.end_work`) in an
        exercise session, from the first HR in a rest session.
    music_preferred_bpm : float | None
        Preferred start tempo (clamped to current HR +/- 10 %); ``None`` = match HR.
    music_spec : MusicLoopSpec | None
        Loop parameters (default: the packaged rule table's ``[music_loop]``).
    """

    limits: SafetyLimits
    hysteresis_bpm: float = 3.0
    dwell_s: float = 10.0
    warmup_s: float = 0.0
    music: bool = False
    music_preferred_bpm: float | None = None
    music_spec: MusicLoopSpec | None = None

    def __post_init__(self):
        check_positive("hysteresis_bpm", self.hysteresis_bpm, allow_zero=True)
        check_positive("dwell_s", self.dwell_s, allow_zero=True)
        check_positive("warmup_s", self.warmup_s, allow_zero=True)
        if self.music_preferred_bpm is not None:
            check_positive("music_preferred_bpm", self.music_preferred_bpm)

    @property
    def exercise(self) -> bool:
        """True when a target zone is set."""
        return self.limits.zone_bpm is not None


class LoopController:
    """The closed-loop state machine (see the module docstring).

    Parameters
    ----------
    config : LoopConfig
        Limits and settings.
    t0_s : float | None
        Session (and work) start time; default: the time of the first call.

    Attributes
    ----------
    events : list of LoopEvent
        Every event so far, in time order.
    status : {"running", "paused", "stopped"}
    phase : {"work", "cooldown"}
    hr_bpm : float | None
        Latest RR-derived HR (``None`` before the 3rd valid beat and while paused).
    """

    def __init__(self, config: LoopConfig, *, t0_s: float | None = None):
        self.config = config
        self.limits = config.limits
        self.events: list[LoopEvent] = []
        self.status = "running"
        self.phase = "work"
        self.hr_bpm: float | None = None
        self._t0 = None if t0_s is None else float(t0_s)
        self._clock = -math.inf if t0_s is None else float(t0_s)
        self._last_valid_t = self._t0
        self._hr = HeartRateTracker()
        self._irr_ref = deque(maxlen=S.IRREGULAR_REF_BEATS)
        self._irr_flags = deque(maxlen=S.IRREGULAR_WINDOW_BEATS)
        self._resume_beats = 0
        # S1
        self._over_since: float | None = None
        self._prompted = False
        # S3
        self._chrono_checked = False
        self._workload: float | None = None
        self._workload_t: float | None = None
        self._workload_hr: float | None = None
        # zone guidance
        self._guide: str | None = None
        self._cand: str | None = None
        self._cand_since = 0.0
        # R1
        self._rec_t: float | None = None
        self._rec_hr: float | None = None
        # music
        self._tempo = TempoLoop(config.music_spec) if config.music else None
        self._music_pending = config.music and not config.exercise

    # ------------------------------------------------------------------ inputs
    def feed(self, t_s: float, rr_s: Iterable[float] | float) -> list[LoopEvent]:
        """Add RR intervals (seconds) that arrived at ``t_s``.

        The last interval ends at ``t_s``; earlier ones are placed back in time by the RR values
        (as a Heart Rate Service notification carries them). Intervals that are not finite or
        outside 0.3-2.0 s are not beats (they count as silence for S5).
        """
        t = float(t_s)
        rr = np.atleast_1d(np.asarray(rr_s, dtype=np.float64))
        n0 = len(self.events)
        if rr.size == 0:
            self._advance(t)
            self._evaluate(self._clock, from_beat=False)
            return self.events[n0:]
        safe = np.where(np.isfinite(rr) & (rr > 0), rr, 0.0)
        after = np.concatenate([np.cumsum(safe[::-1])[::-1][1:], [0.0]])
        for r, tb in zip(rr, t - after):
            self._advance(float(tb))
            self._beat(self._clock, float(r))
        return self.events[n0:]

    def tick(self, t_s: float) -> list[LoopEvent]:
        """Advance the clock to ``t_s`` without beats (call at >= 1 Hz)."""
        n0 = len(self.events)
        self._advance(float(t_s))
        self._evaluate(self._clock, from_beat=False)
        return self.events[n0:]

    def set_workload(self, t_s: float, level: float) -> list[LoopEvent]:
        """The prescribed workload (any unit: W, km/h, level) changes at ``t_s`` (for S3)."""
        n0 = len(self.events)
        self._advance(float(t_s))
        level = float(level)
        if self._workload is not None and level > self._workload and self.hr_bpm is not None:
            self._workload_t, self._workload_hr = self._clock, self.hr_bpm
        elif self._workload is not None and level < self._workload:
            self._workload_t = self._workload_hr = None
        self._workload = level
        return self.events[n0:]

    def end_work(self, t_s: float) -> list[LoopEvent]:
        """Work ends and the cool-down starts: guidance, S1 and S3 stop; R1 and music start."""
        n0 = len(self.events)
        self._advance(float(t_s))
        if self.phase == "work":
            self.phase = "cooldown"
            self._start_recovery()
            if self.config.music and self.status != "stopped":
                self._music_pending = True
                self._maybe_start_music(self._clock)
        return self.events[n0:]

    def press_stop(self, t_s: float, reason: str = "stop button pressed") -> list[LoopEvent]:
        """The person asks to stop (S6): stop now."""
        n0 = len(self.events)
        self._advance(float(t_s))
        self._stop(self._clock, "S6", f"the person asked to stop ({reason}): stop now")
        return self.events[n0:]

    def report_symptom(self, t_s: float, symptom: str) -> list[LoopEvent]:
        """A symptom is reported (chest pain, dizziness, severe breathlessness, nausea,
        pallor...): stop now (S6)."""
        n0 = len(self.events)
        self._advance(float(t_s))
        self._stop(self._clock, "S6", f"symptom reported ({symptom}): stop now")
        return self.events[n0:]

    def heat_warning(self, t_s: float, detail: str) -> list[LoopEvent]:
        """A temperature or heat warning from any available source (S7): stop."""
        n0 = len(self.events)
        self._advance(float(t_s))
        self._stop(self._clock, "S7", f"temperature / heat warning ({detail}): stop")
        return self.events[n0:]

    def set_tempo(self, t_s: float, bpm: float) -> list[LoopEvent]:
        """The person sets the music tempo (the loop then keeps it)."""
        n0 = len(self.events)
        self._advance(float(t_s))
        if self._tempo is not None:
            self._music_pending = False
            for tt, why in self._tempo.override(self._clock, bpm):
                self._emit(tt, "tempo", "M", why)
        return self.events[n0:]

    def music_off(self, t_s: float) -> list[LoopEvent]:
        """The person turns the music off."""
        n0 = len(self.events)
        self._advance(float(t_s))
        if self._tempo is not None:
            self._music_pending = False
            for tt, why in self._tempo.off(self._clock):
                self._emit(tt, "tempo", "M", why)
        return self.events[n0:]

    @property
    def tempo_bpm(self) -> int | None:
        """Current music tempo (``None`` without music)."""
        return None if self._tempo is None else self._tempo.tempo_bpm

    # ------------------------------------------------------------------ internals
    def _emit(self, t: float, kind: str, rule: str, text: str) -> None:
        hr = self.hr_bpm
        tempo = music = None
        if kind == "tempo" and self._tempo is not None:
            tempo = self._tempo.tempo_bpm
            music = "off" if tempo is None else "hold" if self._tempo.holding else "play"
        self.events.append(
            LoopEvent(
                t_s=float(t),
                kind=kind,
                reason=f"[{rule}] {text}",
                rule=rule,
                hr_bpm=None if hr is None else round(float(hr), 1),
                tempo_bpm=tempo,
                music=music,
            )
        )

    def _advance(self, t: float) -> None:
        if not math.isfinite(t):
            raise ValueError(f"Controller time must be finite, got {t!r}.")
        if self._t0 is None:
            self._t0 = t
            self._last_valid_t = t
            self._clock = t
        self._clock = max(self._clock, t)
        if self.status == "running" and self._clock - self._last_valid_t > S.SILENCE_PAUSE_S:
            self._emit(
                self._clock,
                "pause",
                "S5",
                f"no valid beat from the strap for {self._clock - self._last_valid_t:.1f} s "
                f"(> {S.SILENCE_PAUSE_S:g} s; last at {self._last_valid_t:.1f} s): pause",
            )
            self.status = "paused"
            self._reset_signal()

    def _reset_signal(self) -> None:
        self.hr_bpm = None
        self._hr.clear()
        self._irr_ref.clear()
        self._irr_flags.clear()
        self._resume_beats = 0
        self._over_since, self._prompted = None, False
        self._guide = self._cand = None

    def _beat(self, t: float, rr: float) -> None:
        if not self._hr.push(rr):  # not a beat (outside 0.3-2.0 s or not finite)
            return
        self._last_valid_t = t
        self.hr_bpm = self._hr.hr_bpm
        if self.status == "stopped":
            self._check_recovery(t)
            return
        # S4: irregular rhythm (causal: the 8 valid intervals before this one)
        if self._irr_ref:
            med = float(np.median(self._irr_ref))
            self._irr_flags.append(abs(rr - med) > S.IRREGULAR_REL_DEV * med)
        self._irr_ref.append(rr)
        if self.status == "paused":
            self._resume_beats += 1
            if self._resume_beats >= S.RESUME_BEATS and self.hr_bpm is not None:
                self.status = "running"
                self._emit(
                    t, "resume", "S5", f"strap signal back ({S.RESUME_BEATS} valid beats): resume"
                )
            else:
                return
        n_irr = sum(self._irr_flags)
        need = math.ceil(S.IRREGULAR_MIN_SHARE * S.IRREGULAR_WINDOW_BEATS)
        if n_irr >= need:
            self._stop(
                t,
                "S4",
                f"new irregular-rhythm flag: {n_irr} of the last {len(self._irr_flags)} beats "
                "differ "
                f"> {S.IRREGULAR_REL_DEV:.0%} from the preceding beats: stop and refer "
                "(a flag for a clinician, not a diagnosis)",
            )
            return
        self._evaluate(t, from_beat=True)

    def _evaluate(self, t: float, *, from_beat: bool) -> None:
        if self.status == "stopped":
            return
        if self.status != "running":
            return
        hr = self.hr_bpm
        if self._music_pending and hr is not None:
            self._maybe_start_music(t)
        if hr is None:
            return
        lim = self.limits
        # S2
        if from_beat and hr >= lim.stop_bpm:
            which = (
                f">= 85% HRR ({lim.stop_hrr_bpm:.1f} bpm)"
                if lim.stop_hrr_bpm <= lim.stop_hrmax_bpm
                else f">= 95% HRmax ({lim.stop_hrmax_bpm:.1f} bpm)"
            )
            self._stop(t, "S2", f"HR {hr:.1f} bpm {which}: stop")
            return
        if self.phase == "work" and self.config.exercise:
            if self._check_work_rules(t, hr):
                return
            if t - self._t0 >= self.config.warmup_s:
                self._guidance(t, hr)
        if self._tempo is not None and self._tempo.active:
            for tt, why in self._tempo.update(t, hr if from_beat else None):
                self._emit(tt, "tempo", "M", why)
        if from_beat:
            self._check_recovery(t)

    def _check_work_rules(self, t: float, hr: float) -> bool:
        lim = self.limits
        # S1: ceiling + 10 bpm
        alarm = lim.ceiling_alarm_bpm
        if hr > alarm:
            if self._over_since is None:
                self._over_since = t
            over = t - self._over_since
            if over > S.CEILING_STOP_AFTER_S:
                self._stop(
                    t,
                    "S1",
                    f"HR {hr:.1f} bpm above zone ceiling + 10 ({alarm:g} bpm) for "
                    f"{over:.1f} s, 2 min after the prompt: stop",
                )
                return True
            if over > S.CEILING_PROMPT_AFTER_S and not self._prompted:
                self._prompted = True
                self._emit(
                    t,
                    "prompt",
                    "S1",
                    f"HR {hr:.1f} bpm above zone ceiling + 10 ({alarm:g} bpm) "
                    f"for {over:.1f} s: slow down now (stop if it lasts 2 more minutes)",
                )
        else:
            self._over_since, self._prompted = None, False
        # S3b: HR not above rest + 10 % after 3 min of work
        if not self._chrono_checked and t - self._t0 >= S.CHRONO_WORK_S:
            self._chrono_checked = True
            if hr <= lim.chrono_min_bpm:
                self._stop(
                    t,
                    "S3",
                    f"HR {hr:.1f} bpm not above rest + 10% ({lim.chrono_min_bpm:.1f} bpm) "
                    "after 3 min of work (chronotropic proxy): stop and refer",
                )
                return True
        # S3a: HR falling >= 10 bpm after a workload increase
        if self._workload_t is not None:
            if t - self._workload_t > S.CHRONO_WINDOW_S:
                self._workload_t = self._workload_hr = None
            elif hr <= self._workload_hr - S.CHRONO_DROP_BPM:
                self._stop(
                    t,
                    "S3",
                    f"HR fell to {hr:.1f} bpm from {self._workload_hr:.1f} bpm "
                    f"(>= {S.CHRONO_DROP_BPM:g} bpm) after the workload rose at "
                    f"{self._workload_t:.1f} s (chronotropic proxy): stop and refer",
                )
                return True
        return False

    def _guidance(self, t: float, hr: float) -> None:
        lo, hi = self.limits.zone_bpm
        h = self.config.hysteresis_bpm
        cur = self._guide
        if hr > hi:
            raw = "above"
        elif hr < lo:
            raw = "below"
        elif cur == "above" and hr > hi - h:
            raw = "above"
        elif cur == "below" and hr < lo + h:
            raw = "below"
        else:
            raw = "in"
        if raw == cur:
            self._cand = None
            return
        if raw != self._cand:
            self._cand, self._cand_since = raw, t
        if t - self._cand_since < self.config.dwell_s:
            return
        self._guide, self._cand = raw, None
        zone = f"zone {lo:g}-{hi:g} bpm"
        if raw == "above":
            self._emit(t, "slow_down", "G", f"HR {hr:.1f} bpm above the {zone}: slow down")
        elif raw == "below":
            self._emit(t, "speed_up", "G", f"HR {hr:.1f} bpm below the {zone}: speed up")
        elif cur is not None:
            self._emit(t, "in_zone", "G", f"HR {hr:.1f} bpm back in the {zone}: keep this pace")

    def _maybe_start_music(self, t: float) -> None:
        if self._tempo is None or self.hr_bpm is None or self.status != "running":
            return
        self._music_pending = False
        for tt, why in self._tempo.start(t, self.hr_bpm, self.config.music_preferred_bpm):
            self._emit(tt, "tempo", "M", why)

    def _start_recovery(self) -> None:
        if (
            self.config.exercise
            and self._rec_t is None
            and self.hr_bpm is not None
            and self.status == "running"
        ):
            self._rec_t, self._rec_hr = self._clock, self.hr_bpm

    def _check_recovery(self, t: float) -> None:
        if self._rec_t is None or self.hr_bpm is None or t < self._rec_t + S.RECOVERY_AFTER_S:
            return
        rec_t, rec_hr = self._rec_t, self._rec_hr
        self._rec_t = None
        late = t - (rec_t + S.RECOVERY_AFTER_S)
        if late > 10.0:
            self._emit(
                t,
                "hr_recovery",
                "R1",
                f"1-min HR recovery not measurable (no HR until {late:.0f} s late)",
            )
            return
        drop = rec_hr - self.hr_bpm
        text = f"1-min HR recovery {drop:.1f} bpm ({rec_hr:.1f} -> {self.hr_bpm:.1f} bpm)"
        if drop < S.RECOVERY_MIN_DROP_BPM and self.limits.bout_is_moderate_or_vigorous:
            self._emit(
                t,
                "flag",
                "R1",
                f"{text} < {S.RECOVERY_MIN_DROP_BPM:g} bpm after a moderate or "
                "vigorous bout: flag to a clinician (Sydo 2018; not a diagnosis)",
            )
        else:
            self._emit(t, "hr_recovery", "R1", text)

    def _stop(self, t: float, rule: str, text: str) -> None:
        if self.status == "stopped":
            return
        if self.phase == "work":
            self._start_recovery()
        self.status = "stopped"
        self._emit(t, "stop", rule, text)
