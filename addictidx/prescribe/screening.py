"""Pre-session check: HRmax, Karvonen targets and the GREEN / AMBER / RED state (EVIDENCE §7(iii)).

State rules (any one criterion is enough; RED beats AMBER beats GREEN):

* RED: resting HR > 120 bpm; SBP >= 180 or DBP >= 110 mmHg; irregular-rhythm flag on resting RR;
  a reported symptom (chest pain, dyspnoea, dizziness, fever, or any symptom not recognised
  below); staff-flagged intoxication or acute withdrawal; screened but NOT cleared for moderate or
  higher intensity (``medically_screened=False``).
* AMBER: resting HR 100-120 bpm (both ends included); ln RMSSD z <= -2 (lower HRV than baseline);
  first 2-4 weeks of the programme or deconditioned; poor sleep or fatigue.
* GREEN: none of the above.

``medically_screened=None`` means no screening questionnaire has been completed: by §7(iv) such
a person may get light intensity only. This does not change the state; :func:`prescribe` caps
the intensity.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from addictidx._core.types import State
from addictidx._core.validate import check_option, check_positive

__all__ = [
    "Screening",
    "RED_SYMPTOMS",
    "AMBER_SYMPTOMS",
    "STAFF_FLAGS",
    "ADULT_AGE_RANGE",
    "check_age",
    "check_hrmax",
    "HRMAX_RANGE",
    "hrmax_tanaka",
    "karvonen_bpm",
    "hr_target_bpm",
    "infer_state",
]

RESTING_HR_RED_ABOVE = 120.0
RESTING_HR_AMBER_FROM = 100.0
SBP_RED_FROM = 180.0
DBP_RED_FROM = 110.0
LN_RMSSD_Z_AMBER_AT_OR_BELOW = -2.0

#: Symptom words (normalised: lower case, spaces and hyphens -> "_") that make the state RED.
RED_SYMPTOMS = frozenset(
    {
        "chest_pain",
        "dyspnoea",
        "dyspnea",
        "shortness_of_breath",
        "breathlessness",
        "severe_breathlessness",
        "dizziness",
        "near_syncope",
        "fainting",
        "fever",
        "nausea",
        "pallor",
        "palpitations",
    }
)
#: Symptom words that make the state AMBER (self-reported poor sleep or fatigue).
AMBER_SYMPTOMS = frozenset({"fatigue", "poor_sleep", "tiredness"})
#: Staff flags and the state each forces.
STAFF_FLAGS: dict[str, State] = {
    "intoxication": "red",
    "acute_withdrawal": "red",
    "deconditioned": "amber",
}


def _norm_word(s: str) -> str:
    return "_".join(str(s).strip().lower().replace("-", " ").split())


#: Ages (years) for which an exercise prescription is given: the Tanaka equation was derived
#: from studies of adults (EVIDENCE.md §4.2); outside it staff must enter a measured HRmax.
ADULT_AGE_RANGE = (18, 90)


def check_age(age: float) -> float:
    """Return ``float(age)`` if it is a number of years within :data:`ADULT_AGE_RANGE`.

    Raises
    ------
    ValueError
        One line naming the value and the range (``None``: age is required).
    """
    lo, hi = ADULT_AGE_RANGE
    if age is None:
        raise ValueError(
            f"'age' is required (years, {lo}-{hi}): HRmax = 208 - 0.7 x age sets the exercise "
            "targets and the safety stops, and is never assumed."
        )
    try:
        a = float(age)
    except (TypeError, ValueError):
        raise ValueError(f"'age' must be a number of years, but got {age!r} instead.") from None
    if not (lo <= a <= hi):
        raise ValueError(
            f"'age' must be {lo}-{hi} years (the Tanaka HRmax equation and the prescription "
            f"rules are for adults), but got {age!r} instead."
        )
    return a


#: Plausible measured maximal heart rates (bpm).
HRMAX_RANGE = (100.0, 230.0)


def check_hrmax(hrmax: float) -> float:
    """Return a measured HRmax (bpm) if it is within :data:`HRMAX_RANGE`."""
    lo, hi = HRMAX_RANGE
    try:
        v = float(hrmax)
    except (TypeError, ValueError):
        raise ValueError(f"'hrmax' must be a number in bpm, but got {hrmax!r} instead.") from None
    if not (lo <= v <= hi):
        raise ValueError(
            f"'hrmax' (a measured maximal heart rate) must be {lo:.0f}-{hi:.0f} bpm, but got "
            f"{hrmax!r} instead."
        )
    return v


def hrmax_tanaka(age: float) -> float:
    """Age-predicted maximal heart rate, ``208 - 0.7 * age`` (Tanaka, Monahan, Seals JACC 2001).

    Parameters
    ----------
    age : float
        Age in years (see :func:`check_age`).

    Returns
    -------
    float
        HRmax in bpm, unrounded (age 30 -> 187.0).
    """
    return 208.0 - 0.7 * check_age(age)


def _round_half_up(x: float) -> int:
    return int(math.floor(x + 0.5))


def karvonen_bpm(pct_hrr: float, *, resting_hr: float, hrmax: float) -> int:
    """Heart rate at ``pct_hrr`` percent of heart-rate reserve, rounded to whole bpm.

    ``hr = rest + pct/100 * (hrmax - rest)`` (Karvonen), rounded half up
    (``floor(hr + 0.5)``: 110.5 -> 111, 134.93 -> 135), not banker's rounding.
    """
    if not 0 <= pct_hrr <= 100:
        raise ValueError(f"'pct_hrr' must be a percentage in [0, 100], got {pct_hrr!r}.")
    rest = check_positive("resting_hr", resting_hr)
    hmax = check_positive("hrmax", hrmax)
    if hmax <= rest:
        raise ValueError(f"'hrmax' ({hmax!r}) must be above 'resting_hr' ({rest!r}).")
    return _round_half_up(rest + pct_hrr / 100.0 * (hmax - rest))


def hr_target_bpm(
    intensity_pct_hrr: tuple[int, int] | None, *, resting_hr: float, hrmax: float
) -> tuple[int, int] | None:
    """Karvonen target range ``(lo, hi)`` in whole bpm for a ``(lo, hi)`` %HRR range (or None)."""
    if intensity_pct_hrr is None:
        return None
    lo, hi = intensity_pct_hrr
    return (
        karvonen_bpm(lo, resting_hr=resting_hr, hrmax=hrmax),
        karvonen_bpm(hi, resting_hr=resting_hr, hrmax=hrmax),
    )


@dataclass(frozen=True, slots=True)
class Screening:
    """Answers of the pre-session check other than resting HR (see :func:`infer_state`)."""

    sbp: float | None = None
    dbp: float | None = None
    irregular_rhythm: bool = False
    symptoms: tuple[str, ...] = ()
    staff_flags: tuple[str, ...] = ()
    medically_screened: bool | None = None
    first_weeks: bool = False
    ln_rmssd_z: float | None = None
    poor_sleep: bool = False


def infer_state(
    resting_hr: float,
    *,
    sbp: float | None = None,
    dbp: float | None = None,
    irregular_rhythm: bool = False,
    symptoms: Iterable[str] = (),
    staff_flags: Iterable[str] = (),
    medically_screened: bool | None = None,
    first_weeks: bool = False,
    ln_rmssd_z: float | None = None,
    poor_sleep: bool = False,
) -> tuple[State, tuple[str, ...]]:
    """Physiological state from the pre-session check (EVIDENCE.md §7(iii)).

    Parameters
    ----------
    resting_hr : float
        Seated resting HR in bpm, computed from RR (not the device HR field).
    sbp, dbp : float | None
        Blood pressure in mmHg, if entered.
    irregular_rhythm : bool
        Irregular-rhythm flag on resting RR (a "stop and refer" flag, never a diagnosis).
    symptoms : iterable of str
        Reported symptoms. RED: chest pain, dyspnoea, dizziness, fever (and the other words in
        :data:`RED_SYMPTOMS`); AMBER: fatigue / poor sleep. Any unrecognised symptom is treated as
        RED (safer than ignoring a misspelt "chest pain").
    staff_flags : iterable of str
        ``"intoxication"``, ``"acute_withdrawal"`` (RED) or ``"deconditioned"`` (AMBER).
    medically_screened : bool | None
        ``True`` = screened and cleared for moderate or higher intensity; ``False`` = not cleared
        (needs medical clearance first: RED); ``None`` = no screening questionnaire completed yet
        (not a state criterion; intensity is capped to light by :func:`prescribe`).
    first_weeks : bool
        First 2-4 weeks of the programme (AMBER).
    ln_rmssd_z : float | None
        Robust z of ln RMSSD against the baseline, unsigned (negative = lower HRV). AMBER at <= -2.
        (The index's ``z_features["hrv_ln_rmssd"]`` is sign-flipped: pass its negative.)
    poor_sleep : bool
        Self-reported poor sleep or fatigue (AMBER).

    Returns
    -------
    state : {"green", "amber", "red"}
    reasons : tuple of str
        Every criterion that was met, RED ones first (empty for GREEN); plus a note when the
        person has not been screened.
    """
    hr = check_positive("resting_hr", resting_hr)
    if hr < 20 or hr > 250:
        raise ValueError(f"'resting_hr' must be a heart rate in bpm (20-250), got {resting_hr!r}.")
    if isinstance(symptoms, str) or isinstance(staff_flags, str):
        raise ValueError(
            "'symptoms' and 'staff_flags' must be sequences of strings, not one string."
        )
    red: list[str] = []
    amber: list[str] = []
    notes: list[str] = []

    if hr > RESTING_HR_RED_ABOVE:
        red.append(f"resting HR {hr:g} bpm > 120 bpm")
    elif hr >= RESTING_HR_AMBER_FROM:
        amber.append(f"resting HR {hr:g} bpm in 100-120 bpm")
    if sbp is not None and check_positive("sbp", sbp) >= SBP_RED_FROM:
        red.append(f"systolic BP {sbp:g} mmHg >= 180 mmHg")
    if dbp is not None and check_positive("dbp", dbp) >= DBP_RED_FROM:
        red.append(f"diastolic BP {dbp:g} mmHg >= 110 mmHg")
    if irregular_rhythm:
        red.append("irregular-rhythm flag on resting RR (stop and refer; not a diagnosis)")
    for s in symptoms:
        w = _norm_word(s)
        if w in AMBER_SYMPTOMS:
            amber.append(f"reported {w.replace('_', ' ')}")
        elif w in RED_SYMPTOMS:
            red.append(f"reported symptom: {w.replace('_', ' ')}")
        elif w:
            red.append(f"reported symptom {s!r} (not recognised; treated as RED)")
    for f in staff_flags:
        w = check_option("staff_flags", _norm_word(f), tuple(STAFF_FLAGS))
        (red if STAFF_FLAGS[w] == "red" else amber).append(f"staff flag: {w.replace('_', ' ')}")
    if medically_screened is False:
        red.append("not medically cleared for moderate or higher intensity (ACSM 2015)")
    elif medically_screened is None and not red:
        notes.append("no completed screening questionnaire: light intensity at most")
    if ln_rmssd_z is not None:
        zz = float(ln_rmssd_z)
        if math.isfinite(zz) and zz <= LN_RMSSD_Z_AMBER_AT_OR_BELOW:
            amber.append(f"ln RMSSD z = {zz:.2f} <= -2 (HRV well below baseline)")
    if first_weeks:
        amber.append("first 2-4 weeks of the programme")
    if poor_sleep:
        amber.append("poor sleep or fatigue reported")

    state: State = "red" if red else ("amber" if amber else "green")
    return state, tuple(red + amber + notes)
