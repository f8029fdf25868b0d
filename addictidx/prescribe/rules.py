"""The prescription rule table (``rules.toml``) and :func:`prescribe` (EVIDENCE.md §7(iii)-(iv)).

A prescription is a suggestion for staff and participant, never an order. Safety rules enforced
here (§7(iv)):

* RED blocks exercise: the activity is seated rest and there is no heart-rate target.
* A person without a completed screening questionnaire (``medically_screened=None``) gets light
  intensity at most (30-39 % HRR).
* A state given by staff can raise, never lower, the state inferred from the pre-session check.
* Without an index the suggestion is a safe default (light, or seated rest in RED).
* Weekly FITT caps (``[weekly_caps]``): no session longer than 60 min; after 3 sessions at
  vigorous intensity (>= 60 % HRR) in the week, intensity is capped below vigorous.
* Staff can override the state (``override_state``) or any field (:func:`staff_override`), always
  with a reason that is written into the rationale; RED still blocks exercise.

The rationale of every prescription ends with its sources (``Sources: ...``).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping
from dataclasses import replace

from addictidx._core.types import IndexResult, Prescription, State
from addictidx._core.validate import check_option
from addictidx.models.index import band_from_index
from addictidx.prescribe.rule_table import (
    BANDS,
    LIGHT_MAX_PCT_HRR,
    RULES_FILENAME,
    SEVERITY,
    STATES,
    Modality,
    MusicLoopSpec,
    Rule,
    RuleTable,
    WeekLog,
    int_range,
    load_rules,
)
from addictidx.prescribe.screening import (
    Screening,
    check_age,
    check_hrmax,
    hr_target_bpm,
    hrmax_tanaka,
    infer_state,
)

if sys.version_info >= (3, 11):
    pass
else:  # pragma: no cover
    pass

__all__ = [
    "Rule",
    "RuleTable",
    "MusicLoopSpec",
    "Modality",
    "WeekLog",
    "RULES_FILENAME",
    "load_rules",
    "prescribe",
    "staff_override",
    "BANDS",
    "STATES",
]


def _resolve_band(obj) -> tuple[str | None, str | None, IndexResult | None]:
    """Return (band, why-no-band, index_result) from an IndexResult, band name, index or None."""
    if obj is None:
        return None, "no index was given", None
    if isinstance(obj, IndexResult):
        if obj.index is None or obj.band is None:
            return None, obj.reason or "no index could be computed", obj
        return obj.band, None, obj
    if isinstance(obj, str):
        return check_option("band", obj, ("low", "elevated", "high")), None, None
    if isinstance(obj, (int, float)) and not isinstance(obj, bool):
        if not math.isfinite(obj):
            return None, "the index is not a finite number", None
        return band_from_index(float(obj)), None, None
    raise TypeError(
        "prescribe() takes an IndexResult, a band name ('low', 'elevated', 'high'), an index "
        f"value in [0, 100] or None; got {type(obj).__name__}."
    )


def prescribe(
    index_result_or_band,
    *,
    age: float | None,
    resting_hr: float,
    hrmax: float | None = None,
    state: State | None = None,
    screening: Screening | Mapping | None = None,
    rules: RuleTable | None = None,
    override_state: bool = False,
    override_reason: str | None = None,
    week: WeekLog | Mapping | None = None,
) -> Prescription:
    """Suggest an activity, intensity, duration and music tempo (EVIDENCE.md §7(iii)).

    Parameters
    ----------
    index_result_or_band : IndexResult | str | float | None
        The scored index, a band name, an index value (banded at 69.146 / 93.319), or ``None``
        when no index is available (safe default).
    age : float | None
        Years (18-90); for HRmax = 208 - 0.7 age (Tanaka) unless ``hrmax`` is given (then it
        may be ``None``).
    resting_hr : float
        Seated resting HR in bpm (from RR).
    hrmax : float | None
        Measured HRmax in bpm; overrides the age prediction.
    state : {"green", "amber", "red"} | None
        A state set by staff. It can raise, never lower, the state inferred from
        ``resting_hr`` and ``screening``.
    screening : Screening | dict | None
        The other pre-session answers (fields of :class:`Screening`). ``None`` = nothing entered,
        which means not screened: light intensity at most. If ``ln_rmssd_z`` is not given and an
        IndexResult is, it is taken from the index (sign undone).
    rules : RuleTable | None
        Rule table to use (default: the packaged ``rules.toml``).
    override_state : bool
        If True, ``state`` replaces the inferred state in both directions (the ``prescribe`` CLI
        contract: ``--state`` overrides what the tool would infer); the rationale then names the
        inferred state and that staff overrode it. Default False: staff can only raise it.
    override_reason : str | None
        Why staff set the state; written into the rationale (``"no reason given"`` if missing).
    week : WeekLog | dict | None
        This week's log for the FITT caps: at ``max_vigorous_sessions_per_week`` vigorous sessions
        the intensity is capped below vigorous (rule id ``+weekly-cap``). ``None`` = not known
        (no weekly cap applied; the rationale says so only when the row reaches vigorous).

    Returns
    -------
    Prescription
        ``hr_target_bpm`` = Karvonen targets rounded half up to whole bpm; ``None`` in RED or when
        the rule sets no intensity.
    """
    table = rules if rules is not None else load_rules()
    band, no_band_why, result = _resolve_band(index_result_or_band)
    if screening is None:
        scr = Screening()
    elif isinstance(screening, Screening):
        scr = screening
    elif isinstance(screening, Mapping):
        try:
            scr = Screening(**screening)
        except TypeError as err:
            raise ValueError(f"Invalid screening field: {err}.") from None
    else:
        raise TypeError(
            f"'screening' must be a Screening, a dict or None, got {type(screening).__name__}."
        )
    ln_rmssd_z = scr.ln_rmssd_z
    if ln_rmssd_z is None and result is not None:
        zf = result.z_features.get("hrv_ln_rmssd")
        if zf is not None:
            ln_rmssd_z = -float(zf)  # z_features are sign-flipped for ln RMSSD
    # age (18-90 years) or a measured HRmax is required; neither is ever assumed (issue 17.5)
    if hrmax is None:
        if age is None:
            raise ValueError("An age or a measured HRmax is required for a prescription.")
        hmax = hrmax_tanaka(age)
    else:
        hmax = check_hrmax(hrmax)
        if age is not None:
            check_age(age)
    inferred, reasons = infer_state(
        resting_hr,
        sbp=scr.sbp,
        dbp=scr.dbp,
        irregular_rhythm=scr.irregular_rhythm,
        symptoms=tuple(scr.symptoms),
        staff_flags=tuple(scr.staff_flags),
        medically_screened=scr.medically_screened,
        first_weeks=scr.first_weeks,
        ln_rmssd_z=ln_rmssd_z,
        poor_sleep=scr.poor_sleep,
    )
    final: State = inferred
    notes: list[str] = []
    if state is not None:
        check_option("state", state, STATES)
        why = _reason_text(override_reason)
        if override_state and state != inferred:
            final = state
            notes.append(
                f"state set to {state.upper()} by staff (the check alone gives "
                f"{inferred.upper()}); "
                f"staff reason: {why}"
            )
        elif SEVERITY[state] >= SEVERITY[inferred]:
            final = state
            if state != inferred:
                notes.append(f"state set to {state.upper()} by staff; staff reason: {why}")
        else:
            notes.append(
                f"staff state {state.upper()} not applied: the pre-session check gives "
                f"{inferred.upper()} and a state can only be raised"
            )

    rule, activity, intensity, rule_id, citations, cap_text, week_text = _table_part(
        table, band, final, scr.medically_screened is None, week
    )

    hr_target = None
    if final != "red" and intensity is not None:
        hr_target = hr_target_bpm(intensity, resting_hr=resting_hr, hrmax=hmax)

    if band is None:
        head = f"No index available ({no_band_why.rstrip('.')}); safe default."
    elif result is not None and result.index is not None:
        head = f"Index {result.display_index} ({band}, vs {result.baseline} baseline)."
    else:
        head = f"Index band {band}."
    state_text = f" State {final.upper()}"
    state_text += f": {'; '.join(reasons + tuple(notes))}." if (reasons or notes) else "."
    hr_text = ""
    if hr_target is not None:
        src = "measured" if hrmax is not None else "208 - 0.7 x age (Tanaka)"
        hr_text = (
            f" Target {hr_target[0]}-{hr_target[1]} bpm = Karvonen {intensity[0]}-{intensity[1]}% "
            f"HRR with rest {float(resting_hr):.0f} bpm and HRmax {hmax:g} bpm ({src})."
        )
    sources = f" Sources: {'; '.join(citations)}." if citations else ""
    rationale = (
        f"{head}{state_text}{cap_text} {rule.rationale}{week_text}{hr_text} "
        f"A suggestion for staff and participant, not an order.{sources}"
    )
    return Prescription(
        band=band,
        state=final,
        activity=activity,
        intensity_pct_hrr=intensity,
        hr_target_bpm=hr_target,
        duration_min=rule.duration_min,
        music_bpm=rule.music_bpm,
        rule_id=rule_id,
        rationale=rationale,
        citations=tuple(citations),
    )


#: :func:`_table_part` of prescriptions without a week log, by (table id, band, state,
#: unscreened); each entry keeps its table, so the id is not reused while the entry exists.
_TABLE_PARTS: dict[tuple, tuple] = {}


def _table_part(table: RuleTable, band, final: State, unscreened: bool, week) -> tuple:
    """What a prescription takes from the rule table: the row for ``band`` and ``final`` with
    the light-intensity cap of an ``unscreened`` person and the weekly FITT caps applied.

    Returns
    -------
    tuple
        ``(rule, activity, intensity, rule_id, citations, cap_text, week_text)``, citations
        without repeats. Without a week log (``week`` None) the result depends on the table,
        band, state and ``unscreened`` only and is remembered (a server prescribes the same
        few rows every second).
    """
    if week is None:
        key = (id(table), band, final, unscreened)
        hit = _TABLE_PARTS.get(key)
        if hit is not None and hit[0] is table:
            return hit[1]
    rule = table.lookup(band, final)
    activity = rule.activity
    intensity = rule.intensity_pct_hrr
    rule_id = rule.rule_id
    citations = list(rule.citations)
    cap_text = ""
    if (
        final != "red"
        and unscreened
        and intensity is not None
        and intensity[1] > LIGHT_MAX_PCT_HRR
    ):
        if intensity[0] > LIGHT_MAX_PCT_HRR:
            activity = table.light_cap_activity
        intensity = table.light_cap_pct_hrr
        rule_id += "+light-cap"
        cap_text = (
            f" Capped to {intensity[0]}-{intensity[1]}% HRR: {table.light_cap_rationale} "
            "Table rule before the cap:"
        )
        citations += list(table.light_cap_citations)

    week_text = ""
    caps = table.weekly_caps
    vig_from = int(caps.get("vigorous_from_pct_hrr", 60))
    max_vig = caps.get("max_vigorous_sessions_per_week")
    if (
        final != "red"
        and intensity is not None
        and intensity[1] >= vig_from
        and max_vig is not None
    ):
        wk = _week_log(week)
        if wk is not None and wk.vigorous_sessions >= int(max_vig):
            intensity = (min(intensity[0], vig_from - 1), vig_from - 1)
            rule_id += "+weekly-cap"
            week_text = (
                f" Weekly cap: {wk.vigorous_sessions} vigorous sessions already this week (ACSM "
                "FITT: "
                f"at most {max_vig}), so intensity is capped at {intensity[0]}-{intensity[1]}% "
                "HRR."
            )
            citations.append("Garber CE et al. Med Sci Sports Exerc 2011;43:1334 (ACSM FITT)")
        elif wk is None:
            week_text = (
                f" The upper end reaches vigorous intensity (>= {vig_from}% HRR): at most "
                f"{max_vig} "
                "vigorous sessions a week (ACSM FITT); this week's log was not given."
            )
    if week is not None and final != "red" and intensity is not None:
        wk = _week_log(week)
        target = caps.get("target_moderate_min_per_week")
        if target is not None:
            week_text += (
                f" This week: {wk.moderate_min:g} of {target} min moderate-intensity target."
            )
    part = (
        rule,
        activity,
        intensity,
        rule_id,
        tuple(dict.fromkeys(citations)),
        cap_text,
        week_text,
    )
    if week is None:
        if len(_TABLE_PARTS) >= 256:
            _TABLE_PARTS.clear()
        _TABLE_PARTS[key] = (table, part)
    return part


def _reason_text(reason: str | None) -> str:
    if reason is None or not str(reason).strip():
        return "no reason given"
    return " ".join(str(reason).split())


def _week_log(week) -> WeekLog | None:
    if week is None or isinstance(week, WeekLog):
        return week
    if isinstance(week, Mapping):
        try:
            wk = WeekLog(**week)
        except TypeError as err:
            raise ValueError(f"Invalid week log field: {err}.") from None
        if int(wk.vigorous_sessions) < 0 or float(wk.moderate_min) < 0:
            raise ValueError(f"Week log values must be >= 0, got {week!r}.")
        return wk
    raise TypeError(f"'week' must be a WeekLog, a dict or None, got {type(week).__name__}.")


def staff_override(
    rx: Prescription,
    *,
    reason: str,
    resting_hr: float,
    hrmax: float,
    activity: str | None = None,
    intensity_pct_hrr: tuple[int, int] | None = None,
    duration_min: tuple[int, int] | None = None,
    music_bpm: tuple[int, int] | None = None,
    rules: RuleTable | None = None,
) -> Prescription:
    """Return ``rx`` with fields changed by staff, with the reason written into the rationale.

    Safety rules still hold: a RED prescription cannot be given an intensity (RED blocks
    exercise), intensities are whole % HRR up to 84 (85 % HRR is a stop rule), and the duration
    is capped at ``max_min_per_session``. The HR target is recomputed by Karvonen.

    Parameters
    ----------
    rx : Prescription
        The prescription to change.
    reason : str
        Why staff override it (required, non-empty).
    resting_hr, hrmax : float
        For the Karvonen target of a new intensity.
    activity, intensity_pct_hrr, duration_min, music_bpm : optional
        The new values; ``None`` keeps the old one.
    rules : RuleTable | None
        Rule table for the caps (default: packaged).

    Returns
    -------
    Prescription
        ``rule_id`` gets ``+staff-override``.
    """
    if reason is None or not str(reason).strip():
        raise ValueError("A staff override needs a reason ('reason' is empty).")
    table = rules if rules is not None else load_rules()
    changes: dict = {}
    changed: list[str] = []
    if activity is not None:
        changes["activity"] = str(activity)
        changed.append(f"activity -> {activity!r}")
    if intensity_pct_hrr is not None:
        if rx.state == "red":
            raise ValueError(
                "State is RED: an exercise intensity cannot be set (RED blocks exercise)."
            )
        pct = int_range(
            "staff override", "intensity_pct_hrr", list(intensity_pct_hrr), lo_bound=0, hi_bound=84
        )
        changes["intensity_pct_hrr"] = pct
        changes["hr_target_bpm"] = hr_target_bpm(pct, resting_hr=resting_hr, hrmax=hrmax)
        changed.append(f"intensity -> {pct[0]}-{pct[1]}% HRR")
    if duration_min is not None:
        max_session = int(table.weekly_caps.get("max_min_per_session", 60))
        dur = int_range(
            "staff override", "duration_min", list(duration_min), lo_bound=0, hi_bound=max_session
        )
        changes["duration_min"] = dur
        changed.append(f"duration -> {dur[0]}-{dur[1]} min")
    if music_bpm is not None:
        changes["music_bpm"] = int_range(
            "staff override", "music_bpm", list(music_bpm), lo_bound=20, hi_bound=220
        )
        changed.append(f"music -> {music_bpm[0]}-{music_bpm[1]} bpm")
    if not changed:
        raise ValueError("A staff override must change at least one field.")
    if rx.state == "red" and "activity" in changes and "seated rest" not in changes["activity"]:
        raise ValueError(
            "State is RED: the activity must remain seated rest (RED blocks exercise)."
        )
    note = f" Staff override ({'; '.join(changed)}); staff reason: {_reason_text(reason)}."
    return replace(
        rx,
        **changes,
        rule_id=rx.rule_id + "+staff-override",
        rationale=rx.rationale + note,
    )
