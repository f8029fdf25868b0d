"""Music-tempo closed loop by the iso principle (EVIDENCE.md §7(iii); a design heuristic).

Start near the person's current arousal (preferred tempo clamped to current HR +/- 10 %), then
lower the tempo by ``step_pct`` (5-10 %) every ``step_interval_s`` (60-120 s) towards
``target_bpm`` (60-70 bpm). At each step the mean RR-derived HR of the step just ended is
compared with the one before (the first with the HR at the start); once HR has not fallen by at
least ``hr_fall_min_bpm`` for ``hold_after_no_fall_steps`` (2) steps in a row the tempo holds;
it steps again if HR starts falling again. The person can set the tempo or turn the music off at
any time; the loop then stops changing it. Tempo effects on HR are small (Van Dyck 2017): frame
the benefit as subjective relaxation.

:class:`TempoLoop` is a pure, synchronous state machine: it takes timestamps and HR values and
returns ``(t_s, reason)`` pairs for the caller to turn into ``tempo`` events.
"""

from __future__ import annotations

import math

from addictidx._core.validate import check_positive
from addictidx.prescribe.rules import MusicLoopSpec, load_rules

__all__ = ["TempoLoop", "start_tempo_bpm", "step_down_bpm"]


def _round_half_up(x: float) -> int:
    return int(math.floor(x + 0.5))


def start_tempo_bpm(
    hr_bpm: float, preferred_bpm: float | None = None, *, clamp_pct: float = 10.0
) -> int:
    """Start tempo: ``preferred`` clamped to ``hr * (1 -/+ clamp_pct/100)``, whole bpm (half up).

    Without a preferred tempo the start tempo matches the current HR.
    """
    hr = check_positive("hr_bpm", hr_bpm)
    if preferred_bpm is None:
        return _round_half_up(hr)
    pref = check_positive("preferred_bpm", preferred_bpm)
    lo, hi = hr * (1 - clamp_pct / 100.0), hr * (1 + clamp_pct / 100.0)
    return _round_half_up(min(max(pref, lo), hi))


def step_down_bpm(tempo_bpm: int, spec: MusicLoopSpec) -> int:
    """The loop's next tempo after ``tempo_bpm``: ``step_pct`` lower, whole bpm (half up), not
    below the lower end of ``target_bpm``; ``tempo_bpm`` itself once it is within the target
    (at or below its upper end). The one step rule of the loop and of planned playlists."""
    lo, hi = spec.target_bpm
    if tempo_bpm <= hi:
        return int(tempo_bpm)
    return max(int(lo), _round_half_up(tempo_bpm * (1.0 - float(spec.step_pct) / 100.0)))


class TempoLoop:
    """Iso-principle tempo descent (see the module docstring).

    Parameters
    ----------
    spec : MusicLoopSpec | None
        Loop parameters (default: ``[music_loop]`` of the packaged rule table).

    Attributes
    ----------
    tempo_bpm : int | None
        Current tempo (``None`` before :meth:`start` or after :meth:`off`).
    holding : bool
        True while the tempo holds because HR stopped falling.
    """

    def __init__(self, spec: MusicLoopSpec | None = None):
        self.spec = spec if spec is not None else load_rules().music_loop
        self.tempo_bpm: int | None = None
        self.holding = False
        self.manual = False
        self._next_step_t: float | None = None
        self._ref_hr: float | None = None
        self._acc_sum = 0.0
        self._acc_n = 0
        self._no_fall = 0

    @property
    def active(self) -> bool:
        """True while the loop is started and still allowed to change the tempo."""
        return self.tempo_bpm is not None and not self.manual

    def start(
        self, t_s: float, hr_bpm: float, preferred_bpm: float | None = None
    ) -> list[tuple[float, str]]:
        """Set the start tempo from the current HR; the first step is due ``step_interval_s``
        later."""
        self.tempo_bpm = start_tempo_bpm(
            hr_bpm, preferred_bpm, clamp_pct=float(self.spec.start_hr_clamp_pct)
        )
        self.manual = False
        self.holding = False
        self._ref_hr = float(hr_bpm)
        self._next_step_t = float(t_s) + float(self.spec.step_interval_s)
        self._acc_sum, self._acc_n, self._no_fall = 0.0, 0, 0
        pref = "none" if preferred_bpm is None else f"{float(preferred_bpm):g} bpm"
        return [
            (
                float(t_s),
                f"music starts at {self.tempo_bpm} bpm (preferred {pref}, clamped to HR "
                f"{float(hr_bpm):.1f} bpm +/- {float(self.spec.start_hr_clamp_pct):g}%); it will "
                "step "
                f"down towards {self.spec.target_bpm[0]}-{self.spec.target_bpm[1]} bpm",
            )
        ]

    def override(self, t_s: float, tempo_bpm: float) -> list[tuple[float, str]]:
        """The person (or staff) sets the tempo: it is kept and no longer changed automatically."""
        self.tempo_bpm = _round_half_up(check_positive("tempo_bpm", tempo_bpm))
        self.manual = True
        return [
            (float(t_s), f"tempo set to {self.tempo_bpm} bpm by the person; automatic steps off")
        ]

    def off(self, t_s: float) -> list[tuple[float, str]]:
        """Music turned off by the person."""
        self.tempo_bpm = None
        self.manual = True
        return [(float(t_s), "music turned off by the person")]

    def update(self, t_s: float, hr_bpm: float | None) -> list[tuple[float, str]]:
        """Feed one HR sample (``None`` = no HR now); returns tempo changes due at ``t_s``."""
        if not self.active:
            return []
        out: list[tuple[float, str]] = []
        if hr_bpm is not None and math.isfinite(hr_bpm):
            self._acc_sum += float(hr_bpm)
            self._acc_n += 1
        if t_s < self._next_step_t:
            return out
        lo, hi = self.spec.target_bpm
        if self.tempo_bpm <= hi:  # target reached: nothing left to change
            return out
        # a step boundary: judge the interval that just ended
        self._next_step_t = float(t_s) + float(self.spec.step_interval_s)
        if self._acc_n == 0:  # no HR in the whole interval (signal lost): hold, judge next time
            return out
        mean = self._acc_sum / self._acc_n
        prev = self._ref_hr
        self._ref_hr = mean
        self._acc_sum, self._acc_n = 0.0, 0
        fell = mean <= prev - float(self.spec.hr_fall_min_bpm)
        self._no_fall = 0 if fell else self._no_fall + 1
        if self._no_fall >= int(self.spec.hold_after_no_fall_steps):
            if not self.holding:
                self.holding = True
                out.append(
                    (
                        float(t_s),
                        f"tempo holds at {self.tempo_bpm} bpm: HR has not fallen for "
                        f"{self._no_fall} steps (mean {prev:.1f} -> {mean:.1f} bpm)",
                    )
                )
            return out
        self.holding = False
        old = self.tempo_bpm
        self.tempo_bpm = step_down_bpm(old, self.spec)
        out.append(
            (
                float(t_s),
                f"tempo {old} -> {self.tempo_bpm} bpm "
                f"({100.0 * (self.tempo_bpm - old) / old:+.1f}%; "
                f"HR mean {prev:.1f} -> {mean:.1f} bpm)",
            )
        )
        return out
