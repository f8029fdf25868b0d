"""The prescription rule table: its data types and the loader of ``rules.toml``.

EVIDENCE.md §7(iii) is the table's source; :mod:`addictidx.prescribe.rules` applies it
(:func:`~addictidx.prescribe.rules.prescribe`). Every value is checked when the table is loaded, so
an edited table fails with one line naming the key, never later during a session.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from types import MappingProxyType

from addictidx._core.errors import DataFormatError
from addictidx._core.types import State
from addictidx._core.validate import check_option

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = [
    "BANDS",
    "LIGHT_MAX_PCT_HRR",
    "RULES_FILENAME",
    "SEVERITY",
    "STATES",
    "Modality",
    "MusicLoopSpec",
    "Rule",
    "RuleTable",
    "WeekLog",
    "load_rules",
    "parse_rules",
]

RULES_FILENAME = "rules.toml"
BANDS = ("low", "elevated", "high", "none")
STATES: tuple[State, ...] = ("green", "amber", "red")
SEVERITY = {"green": 0, "amber": 1, "red": 2}
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
                f"{self.name}: needs at least {self.min_weeks_moderate_training} weeks of "
                "moderate "
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


def int_range(where: str, key: str, value, *, lo_bound: int, hi_bound: int) -> tuple[int, int]:
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


def parse_rules(text: str, where: str) -> RuleTable:
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
            intensity = int_range(loc, "intensity_pct_hrr", intensity, lo_bound=0, hi_bound=100)
        music = row.get("music_bpm")
        if music is not None:
            music = int_range(loc, "music_bpm", music, lo_bound=20, hi_bound=220)
        duration = int_range(loc, "duration_min", row["duration_min"], lo_bound=0, hi_bound=60)
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
            ml["target_bpm"] = int_range(
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
    cap_pct = int_range(
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
    return parse_rules(text, RULES_FILENAME)


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
    return parse_rules(text, str(path))
