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

import functools
import math
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from types import MappingProxyType

from addictidx._core.errors import DataFormatError
from addictidx._core.types import IndexResult, Prescription, State
from addictidx._core.validate import check_option
from addictidx.models.index import band_from_index
from addictidx.prescribe.screening import (
    Screening,
    check_age,
    check_hrmax,
    hr_target_bpm,
    hrmax_tanaka,
    infer_state,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

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

RULES_FILENAME = "rules.toml"
BANDS = ("low", "elevated", "high", "none")
STATES: tuple[State, ...] = ("green", "amber", "red")
_SEVERITY = {"green": 0, "amber": 1, "red": 2}
LIGHT_MAX_PCT_HRR = 39


@dataclass(frozen=True, slots=True)
class Rule:
    """One row of the rule table (see ``rules.toml`` for field meanings)."""

    rule_id: str
    band: str
    state: State
    activity: str
    intensity_pct_hrr: tuple[int, int] | None
    duration_min: tuple[int, int]
    music_bpm: tuple[int, int] | None
    rationale: str
    citations: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class MusicLoopSpec:
    """Parameters of the music-tempo closed loop (``[music_loop]`` of ``rules.toml``)."""

    start_hr_clamp_pct: float = 10.0
    step_pct: float = 7.0
    step_interval_s: float = 60.0
    target_bpm: tuple[int, int] = (60, 70)
    hold_after_no_fall_steps: int = 2
    hr_fall_min_bpm: float = 1.0
    citations: tuple[str, ...] = ()

    def __post_init__(self):
        if not 5.0 <= float(self.step_pct) <= 10.0:
            raise ValueError(f"music loop step_pct must be 5-10 (%), got {self.step_pct!r}.")
        if not 60.0 <= float(self.step_interval_s) <= 120.0:
            raise ValueError(
                f"music loop step_interval_s must be 60-120 s, got {self.step_interval_s!r}."
            )
        lo, hi = self.target_bpm
        if not 40 <= lo <= hi <= 100:
            raise ValueError(
                f"music loop target_bpm must be [lo, hi] within 40-100, got {self.target_bpm!r}."
            )
        if int(self.hold_after_no_fall_steps) < 1:
            raise ValueError("music loop hold_after_no_fall_steps must be >= 1.")
        if not 0 <= float(self.start_hr_clamp_pct) <= 50:
            raise ValueError(
                f"music loop start_hr_clamp_pct must be 0-50, got {self.start_hr_clamp_pct!r}."
            )


@dataclass(frozen=True, slots=True)
class Modality:
    """Intensity note and eligibility of one activity (``[[modality]]`` of ``rules.toml``)."""

    name: str
    intensity_note: str
    states: tuple[str, ...] = STATES
    min_weeks_moderate_training: int = 0
    citations: tuple[str, ...] = ()

    def allowed(
        self, state: str, weeks_moderate_training: float | None = None
    ) -> tuple[bool, str]:
        """Whether the modality may be offered in ``state`` after that many weeks of training."""
        if state not in self.states:
            return False, f"{self.name}: only in state {'/'.join(s.upper() for s in self.states)}"
        if self.min_weeks_moderate_training and (
            weeks_moderate_training is None
            or weeks_moderate_training < self.min_weeks_moderate_training
        ):
            return False, (
                f"{self.name}: needs at least {self.min_weeks_moderate_training} weeks of moderate "
                f"training (got {weeks_moderate_training})"
            )
        return True, ""


@dataclass(frozen=True, slots=True)
class WeekLog:
    """What the person already did this week (for the FITT caps).

    Parameters
    ----------
    vigorous_sessions : int
        Sessions this week that reached vigorous intensity (>= 60 % HRR).
    moderate_min : float
        Minutes of moderate or vigorous exercise this week (reported against the 150-min target).
    """

    vigorous_sessions: int = 0
    moderate_min: float = 0.0


@dataclass(frozen=True, slots=True)
class RuleTable:
    """The parsed, validated rule table."""

    table_id: str
    version: str
    rules: Mapping[tuple[str, str], Rule]
    light_cap_activity: str
    light_cap_pct_hrr: tuple[int, int]
    light_cap_rationale: str
    light_cap_citations: tuple[str, ...]
    weekly_caps: Mapping[str, object]
    music_loop: MusicLoopSpec = MusicLoopSpec()
    modalities: Mapping[str, Modality] = field(default_factory=lambda: MappingProxyType({}))

    def lookup(self, band: str | None, state: str) -> Rule:
        """Return the row for ``band`` (``None`` = no index) and ``state``."""
        return self.rules[(band or "none", state)]


def _int_range(where: str, key: str, value, *, lo_bound: int, hi_bound: int) -> tuple[int, int]:
    if (
        not isinstance(value, list)
        or len(value) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    ):
        raise DataFormatError(f"{where}: {key} must be [lo, hi] whole numbers, got {value!r}.")
    lo, hi = value
    if not lo_bound <= lo <= hi <= hi_bound:
        raise DataFormatError(
            f"{where}: {key} = {value!r} must satisfy {lo_bound} <= lo <= hi <= {hi_bound}."
        )
    return lo, hi


def _parse_rules(text: str, where: str) -> RuleTable:
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise DataFormatError(f"{where}: invalid TOML: {err}") from None
    for key in ("meta", "light_cap", "rule"):
        if key not in doc:
            raise DataFormatError(f"{where}: missing [{key}] section.")
    rules: dict[tuple[str, str], Rule] = {}
    required = ("rule_id", "band", "state", "activity", "duration_min", "rationale")
    allowed = set(required) | {"intensity_pct_hrr", "music_bpm", "citations"}
    seen_ids: set[str] = set()
    for i, row in enumerate(doc["rule"]):
        loc = f"{where}: rule[{i}]"
        for key in required:
            if key not in row:
                raise DataFormatError(f"{loc} is missing key {key!r}.")
        unknown = sorted(set(row) - allowed)
        if unknown:
            raise DataFormatError(f"{loc} ({row['rule_id']}) has unknown key(s) {unknown}.")
        loc = f"{where}: rule[{i}] ({row['rule_id']})"
        if row["band"] not in BANDS or row["state"] not in STATES:
            raise DataFormatError(
                f"{loc}: band must be one of {BANDS} and state one of {STATES}, got "
                f"{row['band']!r}, {row['state']!r}."
            )
        if row["rule_id"] in seen_ids:
            raise DataFormatError(f"{loc}: duplicate rule_id.")
        seen_ids.add(row["rule_id"])
        intensity = row.get("intensity_pct_hrr")
        if intensity is not None:
            intensity = _int_range(loc, "intensity_pct_hrr", intensity, lo_bound=0, hi_bound=100)
        music = row.get("music_bpm")
        if music is not None:
            music = _int_range(loc, "music_bpm", music, lo_bound=20, hi_bound=220)
        duration = _int_range(loc, "duration_min", row["duration_min"], lo_bound=0, hi_bound=60)
        if row["state"] == "red" and (
            intensity is not None or "seated rest" not in row["activity"]
        ):
            raise DataFormatError(
                f"{loc}: a RED rule must have no intensity_pct_hrr and its activity must name "
                "'seated rest' (RED blocks exercise)."
            )
        key = (row["band"], row["state"])
        if key in rules:
            raise DataFormatError(f"{loc}: a second rule for band {key[0]!r}, state {key[1]!r}.")
        rules[key] = Rule(
            rule_id=str(row["rule_id"]),
            band=row["band"],
            state=row["state"],
            activity=str(row["activity"]),
            intensity_pct_hrr=intensity,
            duration_min=duration,
            music_bpm=music,
            rationale=str(row["rationale"]),
            citations=tuple(str(c) for c in row.get("citations", ())),
        )
    missing = [f"{b}/{s}" for b in BANDS for s in STATES if (b, s) not in rules]
    if missing:
        raise DataFormatError(f"{where}: no rule for band/state {missing}.")
    caps = dict(doc.get("weekly_caps", {}))
    max_session = caps.get("max_min_per_session")
    if max_session is not None:
        for r in rules.values():
            if r.duration_min[1] > max_session:
                raise DataFormatError(
                    f"{where}: rule {r.rule_id}: duration_min {list(r.duration_min)} exceeds "
                    f"[weekly_caps] max_min_per_session = {max_session}."
                )
    try:
        ml = dict(doc.get("music_loop", {}))
        if "target_bpm" in ml:
            ml["target_bpm"] = _int_range(
                f"{where}: [music_loop]", "target_bpm", ml["target_bpm"], lo_bound=20, hi_bound=220
            )
        ml["citations"] = tuple(str(c) for c in ml.get("citations", ()))
        music_loop = MusicLoopSpec(**ml)
    except TypeError as err:
        raise DataFormatError(f"{where}: [music_loop]: {err}.") from None
    except ValueError as err:
        raise DataFormatError(f"{where}: [music_loop]: {err}") from None
    modalities: dict[str, Modality] = {}
    for i, row in enumerate(doc.get("modality", ())):
        loc = f"{where}: modality[{i}]"
        if "name" not in row or "intensity_note" not in row:
            raise DataFormatError(f"{loc} needs 'name' and 'intensity_note'.")
        try:
            m = Modality(
                name=str(row["name"]),
                intensity_note=str(row["intensity_note"]),
                states=tuple(
                    check_option("states", st, STATES) for st in row.get("states", STATES)
                ),
                min_weeks_moderate_training=int(row.get("min_weeks_moderate_training", 0)),
                citations=tuple(str(c) for c in row.get("citations", ())),
            )
        except (TypeError, ValueError) as err:
            raise DataFormatError(f"{loc} ({row['name']}): {err}") from None
        modalities[m.name] = m
    cap = doc["light_cap"]
    for key in ("activity", "intensity_pct_hrr", "rationale"):
        if key not in cap:
            raise DataFormatError(f"{where}: [light_cap] is missing key {key!r}.")
    cap_pct = _int_range(
        f"{where}: [light_cap]",
        "intensity_pct_hrr",
        cap["intensity_pct_hrr"],
        lo_bound=0,
        hi_bound=LIGHT_MAX_PCT_HRR,
    )
    return RuleTable(
        table_id=str(doc["meta"].get("table_id", "")),
        version=str(doc["meta"].get("version", "")),
        rules=MappingProxyType(rules),
        light_cap_activity=str(cap["activity"]),
        light_cap_pct_hrr=cap_pct,
        light_cap_rationale=str(cap["rationale"]),
        light_cap_citations=tuple(str(c) for c in cap.get("citations", ())),
        weekly_caps=MappingProxyType(caps),
        music_loop=music_loop,
        modalities=MappingProxyType(modalities),
    )


@functools.lru_cache(maxsize=1)
def _packaged_rules() -> RuleTable:
    text = resources.files("addictidx.prescribe").joinpath(RULES_FILENAME).read_text("utf-8")
    return _parse_rules(text, RULES_FILENAME)


def load_rules(path: str | Path | None = None) -> RuleTable:
    """Load and validate the rule table (the packaged ``rules.toml`` or ``path``).

    Raises
    ------
    DataFormatError
        Naming the file and rule, if a row is missing, duplicated or malformed.
    """
    if path is None:
        return _packaged_rules()
    path = Path(path)
    try:
        text = path.read_text("utf-8")
    except OSError as err:
        raise DataFormatError(f"{path}: cannot read rule table ({err.strerror or err}).") from None
    return _parse_rules(text, str(path))


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
    if scr.ln_rmssd_z is None and result is not None:
        zf = result.z_features.get("hrv_ln_rmssd")
        if zf is not None:
            scr = replace(scr, ln_rmssd_z=-float(zf))  # z_features are sign-flipped for ln RMSSD
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
        ln_rmssd_z=scr.ln_rmssd_z,
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
                f"state set to {state.upper()} by staff (the check alone gives {inferred.upper()}); "
                f"staff reason: {why}"
            )
        elif _SEVERITY[state] >= _SEVERITY[inferred]:
            final = state
            if state != inferred:
                notes.append(f"state set to {state.upper()} by staff; staff reason: {why}")
        else:
            notes.append(
                f"staff state {state.upper()} not applied: the pre-session check gives "
                f"{inferred.upper()} and a state can only be raised"
            )

    rule = table.lookup(band, final)
    activity = rule.activity
    intensity = rule.intensity_pct_hrr
    rule_id = rule.rule_id
    citations = list(rule.citations)
    cap_text = ""
    if (
        final != "red"
        and scr.medically_screened is None
        and intensity is not None
        and intensity[1] > LIGHT_MAX_PCT_HRR
    ):
        if intensity[0] > LIGHT_MAX_PCT_HRR:
            activity = table.light_cap_activity
        intensity = table.light_cap_pct_hrr
        rule_id += "+light-cap"
        cap_text = f" Capped to {intensity[0]}-{intensity[1]}% HRR: {table.light_cap_rationale} Table rule before the cap:"
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
                f" Weekly cap: {wk.vigorous_sessions} vigorous sessions already this week (ACSM FITT: "
                f"at most {max_vig}), so intensity is capped at {intensity[0]}-{intensity[1]}% HRR."
            )
            citations.append("Garber CE et al. Med Sci Sports Exerc 2011;43:1334 (ACSM FITT)")
        elif wk is None:
            week_text = (
                f" The upper end reaches vigorous intensity (>= {vig_from}% HRR): at most {max_vig} "
                "vigorous sessions a week (ACSM FITT); this week's log was not given."
            )
    if week is not None and final != "red" and intensity is not None:
        wk = _week_log(week)
        target = caps.get("target_moderate_min_per_week")
        if target is not None:
            week_text += (
                f" This week: {wk.moderate_min:g} of {target} min moderate-intensity target."
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
    citations = list(dict.fromkeys(citations))
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
        pct = _int_range(
            "staff override", "intensity_pct_hrr", list(intensity_pct_hrr), lo_bound=0, hi_bound=84
        )
        changes["intensity_pct_hrr"] = pct
        changes["hr_target_bpm"] = hr_target_bpm(pct, resting_hr=resting_hr, hrmax=hrmax)
        changed.append(f"intensity -> {pct[0]}-{pct[1]}% HRR")
    if duration_min is not None:
        max_session = int(table.weekly_caps.get("max_min_per_session", 60))
        dur = _int_range(
            "staff override", "duration_min", list(duration_min), lo_bound=0, hi_bound=max_session
        )
        changes["duration_min"] = dur
        changed.append(f"duration -> {dur[0]}-{dur[1]} min")
    if music_bpm is not None:
        changes["music_bpm"] = _int_range(
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
