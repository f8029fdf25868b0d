"""Music for the exercise phase: a tempo that matches the movement cadence of the activity.

A design heuristic (docs/music.md, EVIDENCE.md §5 and §7(iii)), not an evidence-based dose.
Synchronous music (one beat per step, or per pedal down-stroke) helps people keep a pace
(Karageorghis & Priest 2012; Terry et al. 2020), and runners drift towards a music tempo near
their own cadence (Van Dyck et al. 2015). The cadence is chosen from the intensity the
prescription asks for, through walking cadence as an intensity marker (Tudor-Locke et al. 2018,
2019: about 100 steps/min is the moderate threshold of about 3 METs, about 130 steps/min the
vigorous one of about 6 METs), mapped onto ACSM heart-rate-reserve classes (moderate 40-59 %,
vigorous >= 60 % HRR):

==============  ==================================  ==================================
activity        cadence at the zone's mid-%HRR       music tempo
==============  ==================================  ==================================
walking         90 spm at 30 %, 100 at 40 %,          1 beat per step
                130 at 60 % (linear, 90-130)
cycling         55-70 rev/min: 60 at 40 %, 65 at      2 beats per revolution (120-130 bpm
                60 % (the rule table's 120-130 bpm)   at moderate intensity, rules.toml)
running         160 spm at 60 %, 175 at 80 %          1 beat per step
                (150-180)
Tai Chi,        no cadence: slow music at the         no beat matching
Baduanjin,      prescription's music_bpm (60-80)
breathing
==============  ==================================  ==================================

The person's own cadence, when it can be measured, beats every number here; staff can override.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["ExerciseTempo", "exercise_tempo", "activity_kind", "ACTIVITIES", "SOURCES"]

#: Activity -> (%HRR points, cadence points, unit, beats per cycle).
_CADENCE = {
    "walking": ((30.0, 40.0, 60.0), (90.0, 100.0, 130.0), "steps/min", 1),
    "cycling": ((40.0, 60.0), (60.0, 65.0), "rev/min", 2),
    "running": ((60.0, 80.0), (160.0, 175.0), "steps/min", 1),
}
#: Cadence limits of each activity (per minute).
_LIMITS = {"walking": (90.0, 130.0), "cycling": (55.0, 70.0), "running": (150.0, 180.0)}
#: Activity kinds, in the order the prescription's activity text is searched.
ACTIVITIES = ("tai_chi", "baduanjin", "breathing", "cycling", "running", "walking")
_WORDS = {
    "tai_chi": ("tai chi",),
    "baduanjin": ("baduanjin",),
    "breathing": ("breathing", "seated rest", "rest"),
    "cycling": ("cycling", "cycle", "bike"),
    "running": ("running", "jogging"),
    "walking": ("walking", "walk"),
}
SOURCES = (
    "Karageorghis CI, Priest DL. Int Rev Sport Exerc Psychol 2012;5:44-66 and 67-84",
    "Terry PC et al. Psychol Bull 2020;146:91-117",
    "Van Dyck E et al. Sports Med Open 2015;1:15",
    "Tudor-Locke C et al. Br J Sports Med 2018;52:776-788",
    "Tudor-Locke C et al. Int J Behav Nutr Phys Act 2019;16:8 (CADENCE-Adults)",
    "ACSM GETP 10th ed. 2018 (intensity classes by %HRR)",
)


@dataclass(frozen=True)
class ExerciseTempo:
    """The music tempo for an exercise phase.

    Attributes
    ----------
    activity : str
        One of :data:`ACTIVITIES`.
    tempo_bpm : float
        Music tempo.
    cadence_per_min : float | None
        Movement cadence the tempo matches (None: no cadence matching).
    cadence_unit : str | None
        ``"steps/min"`` or ``"rev/min"``.
    beats_per_cycle : int
        Beats per step or per revolution.
    intensity_pct_hrr : float | None
        The zone's mid %HRR the cadence was chosen for.
    note : str
        How it was chosen, in words.
    """

    activity: str
    tempo_bpm: float
    cadence_per_min: float | None
    cadence_unit: str | None
    beats_per_cycle: int
    intensity_pct_hrr: float | None
    note: str


def activity_kind(text: str) -> str:
    """The activity kind named first in a prescription's activity text (default walking)."""
    low = str(text).lower()
    hits = [(low.find(w), kind) for kind in ACTIVITIES for w in _WORDS[kind] if w in low]
    return min(hits)[1] if hits else "walking"


def exercise_tempo(
    activity: str,
    intensity_pct_hrr: tuple[float, float] | None,
    *,
    music_bpm: tuple[float, float] | None = None,
) -> ExerciseTempo:
    """The music tempo for ``activity`` at the zone ``intensity_pct_hrr`` (see module notes).

    Parameters
    ----------
    activity : str
        An activity kind (:data:`ACTIVITIES`) or a prescription's activity text.
    intensity_pct_hrr : (lo, hi) | None
        The prescribed zone in % of heart-rate reserve (None: no exercise intensity).
    music_bpm : (lo, hi) | None
        The prescription's music range, used for activities without a cadence.
    """
    kind = activity if activity in ACTIVITIES else activity_kind(activity)
    if kind not in _CADENCE or intensity_pct_hrr is None:
        lo, hi = music_bpm if music_bpm is not None else (60.0, 80.0)
        bpm = (float(lo) + float(hi)) / 2.0
        return ExerciseTempo(
            kind, bpm, None, None, 1, None,
            f"{kind.replace('_', ' ')}: no cadence to match; slow music at {bpm:g} bpm "
            f"(the prescription's {lo:g}-{hi:g} bpm)",
        )  # fmt: skip
    lo_pct, hi_pct = (float(v) for v in intensity_pct_hrr)
    if not 0.0 <= lo_pct <= hi_pct <= 100.0:
        raise ValueError(
            f"'intensity_pct_hrr' must be [lo, hi] within 0-100 %, got {intensity_pct_hrr!r}."
        )
    mid = (lo_pct + hi_pct) / 2.0
    xs, ys, unit, per = _CADENCE[kind]
    cad = float(np.interp(mid, xs, ys))
    cad = float(np.clip(cad, *_LIMITS[kind]))
    bpm = cad * per
    return ExerciseTempo(
        kind, bpm, cad, unit, per, mid,
        f"{kind}: {cad:.0f} {unit} for the zone {lo_pct:g}-{hi_pct:g} % HRR "
        f"(mid {mid:g} %); music {bpm:.0f} bpm, {per} beat(s) per "
        f"{'step' if unit == 'steps/min' else 'revolution'}",
    )  # fmt: skip
