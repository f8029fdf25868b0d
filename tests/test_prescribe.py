"""Tests of screening, Karvonen targets and the prescription rule table (EVIDENCE §7(iii)-(iv))."""

from __future__ import annotations

import json
import math

import pytest

from addictidx._core.errors import DataFormatError
from addictidx.models import BAND_EDGES_INDEX, Baseline, score_index
from addictidx.prescribe import (
    BANDS,
    STATES,
    Screening,
    hr_target_bpm,
    hrmax_tanaka,
    infer_state,
    karvonen_bpm,
    load_rules,
    prescribe,
)
from addictidx.prescribe.rules import _parse_rules

CLEARED = Screening(medically_screened=True)


# ----------------------------------------------------------------------------- HRmax and Karvonen


def test_hrmax_tanaka():
    assert hrmax_tanaka(30) == pytest.approx(187.0)  # 208 - 0.7*30 = 208 - 21
    assert hrmax_tanaka(45) == pytest.approx(176.5)  # 208 - 31.5
    with pytest.raises(ValueError, match="'age'"):
        hrmax_tanaka(0)


def test_karvonen_hand_calculation_and_rounding_rule():
    # age 30 -> HRmax 187; rest 60 -> reserve 127.
    # 40 %: 60 + 0.40 * 127 = 110.8  -> 111 bpm
    # 59 %: 60 + 0.59 * 127 = 134.93 -> 135 bpm
    assert hr_target_bpm((40, 59), resting_hr=60, hrmax=187) == (111, 135)
    # Rounding rule: half up, floor(x + 0.5). rest 60, HRmax 61: 50 % -> 60.5 -> 61 (banker's: 60)
    assert karvonen_bpm(50, resting_hr=60, hrmax=61) == 61
    # 30-39 %: 60 + 0.30*127 = 98.1 -> 98; 60 + 0.39*127 = 109.53 -> 110
    assert hr_target_bpm((30, 39), resting_hr=60, hrmax=187) == (98, 110)
    assert hr_target_bpm(None, resting_hr=60, hrmax=187) is None
    with pytest.raises(ValueError, match="'hrmax'.*above"):
        karvonen_bpm(40, resting_hr=100, hrmax=95)


# ----------------------------------------------------------------------------- state rules


@pytest.mark.parametrize(
    ("hr", "state"),
    [(99.9, "green"), (100, "amber"), (110, "amber"), (120, "amber"), (120.1, "red"), (140, "red")],
)
def test_state_resting_hr_edges(hr, state):
    # AMBER for 100-120 inclusive, RED above 120 (EVIDENCE §7(iii))
    got, reasons = infer_state(hr, medically_screened=True)
    assert got == state
    assert (reasons == ()) == (state == "green")


@pytest.mark.parametrize(
    ("kwargs", "state", "text"),
    [
        ({"sbp": 180}, "red", "systolic BP 180"),
        ({"sbp": 179}, "green", None),
        ({"dbp": 110}, "red", "diastolic BP 110"),
        ({"dbp": 109}, "green", None),
        ({"irregular_rhythm": True}, "red", "irregular-rhythm"),
        ({"symptoms": ("Chest pain",)}, "red", "chest pain"),
        ({"symptoms": ("dyspnea",)}, "red", "dyspnea"),
        ({"symptoms": ("fever",)}, "red", "fever"),
        ({"symptoms": ("chset pian",)}, "red", "not recognised"),
        ({"symptoms": ("fatigue",)}, "amber", "fatigue"),
        ({"staff_flags": ("intoxication",)}, "red", "intoxication"),
        ({"staff_flags": ("acute-withdrawal",)}, "red", "acute withdrawal"),
        ({"staff_flags": ("deconditioned",)}, "amber", "deconditioned"),
        ({"medically_screened": False}, "red", "not medically cleared"),
        ({"ln_rmssd_z": -2.0}, "amber", "ln RMSSD z = -2.00"),
        ({"ln_rmssd_z": -1.99}, "green", None),
        ({"first_weeks": True}, "amber", "first 2-4 weeks"),
        ({"poor_sleep": True}, "amber", "poor sleep"),
    ],
)
def test_state_criteria(kwargs, state, text):
    kw = {"medically_screened": True, **kwargs}
    got, reasons = infer_state(70, **kw)
    assert got == state
    if text:
        assert any(text in r for r in reasons), reasons


def test_red_beats_amber_and_lists_all_reasons():
    state, reasons = infer_state(110, sbp=200, poor_sleep=True, medically_screened=True)
    assert state == "red"
    assert reasons[0].startswith("systolic BP") and any("resting HR 110" in r for r in reasons)


def test_unknown_staff_flag_is_an_error():
    with pytest.raises(ValueError, match="staff_flags"):
        infer_state(70, staff_flags=("drunk-ish",))


def test_never_screened_is_a_note_not_a_state():
    state, reasons = infer_state(70)
    assert state == "green" and reasons == ("no completed screening questionnaire: light intensity at most",)


# ----------------------------------------------------------------------------- rule table


def test_rule_table_covers_every_band_and_state_with_evidence_values():
    t = load_rules()
    assert t.version == "1.0.0"
    for b in BANDS:
        for s in STATES:
            r = t.lookup(None if b == "none" else b, s)
            assert (r.band, r.state) == (b, s)
            if s == "red":
                assert r.intensity_pct_hrr is None and "seated rest" in r.activity
    # EVIDENCE §7(iii) values
    expected = {
        ("low", "green"): ((40, 59), (30, 40), (120, 130)),
        ("low", "amber"): ((30, 39), (20, 30), (60, 80)),
        ("elevated", "green"): ((40, 59), (20, 30), (60, 80)),
        ("elevated", "amber"): ((30, 50), (20, 30), (60, 80)),
        ("high", "green"): ((50, 70), (20, 30), (60, 80)),
        ("high", "amber"): (None, (10, 15), (60, 80)),
    }
    for key, (pct, dur, music) in expected.items():
        r = t.lookup(*key)
        assert (r.intensity_pct_hrr, r.duration_min, r.music_bpm) == (pct, dur, music), key
        assert r.citations, key


def test_rule_table_validation_names_the_rule(tmp_path):
    from importlib import resources

    text = resources.files("addictidx.prescribe").joinpath("rules.toml").read_text("utf-8")
    broken = text.replace('rule_id = "rx1.low.red"\nband = "low"\nstate = "red"\n',
                          'rule_id = "rx1.low.red"\nband = "low"\nstate = "red"\nintensity_pct_hrr = [30, 39]\n')
    assert broken != text
    with pytest.raises(DataFormatError, match=r"rx1\.low\.red.*RED rule must have no intensity"):
        _parse_rules(broken, "rules.toml")
    with pytest.raises(DataFormatError, match=r"rx1\.high\.amber.*second rule for band 'high', state 'green'"):
        _parse_rules(text.replace('band = "high"\nstate = "amber"', 'band = "high"\nstate = "green"'), "r.toml")
    start = text.index('[[rule]]\nrule_id = "rx1.high.amber"')
    end = text.index("[[rule]]", start + 1)
    with pytest.raises(DataFormatError, match=r"no rule for band/state \['high/amber'\]"):
        _parse_rules(text[:start] + text[end:], "r.toml")
    with pytest.raises(DataFormatError, match=r"whole numbers"):
        _parse_rules(text.replace("intensity_pct_hrr = [40, 59]", "intensity_pct_hrr = [40.5, 59]", 1), "r.toml")
    p = tmp_path / "rules.toml"
    p.write_text(text)
    assert load_rules(p).lookup("low", "green").rule_id == "rx1.low.green"


# ----------------------------------------------------------------------------- prescribe


def test_prescribe_elevated_green_hand_calculation():
    rx = prescribe("elevated", age=30, resting_hr=60, screening=CLEARED)
    d = rx.to_dict()
    assert d == {
        "band": "elevated",
        "state": "green",
        "activity": d["activity"],
        "intensity_pct_hrr": [40, 59],
        # 60 + 0.40*127 = 110.8 -> 111; 60 + 0.59*127 = 134.93 -> 135
        "hr_target_bpm": [111, 135],
        "duration_min": [20, 30],
        "music_bpm": [60, 80],
        "rule_id": "rx1.elevated.green",
        "rationale": d["rationale"],
    }
    assert "aerobic" in d["activity"]
    assert "not an order" in d["rationale"] and "111-135 bpm" in d["rationale"]
    json.dumps(d)  # JSON-ready


def test_prescribe_high_green_with_measured_hrmax():
    # measured HRmax 180 overrides Tanaka; rest 70 -> reserve 110
    # 50 %: 70 + 55 = 125; 70 %: 70 + 77 = 147
    rx = prescribe("high", age=30, resting_hr=70, hrmax=180, screening=CLEARED)
    assert rx.intensity_pct_hrr == (50, 70) and rx.hr_target_bpm == (125, 147)
    assert "measured" in rx.rationale


@pytest.mark.parametrize("band", ["low", "elevated", "high", None])
def test_red_blocks_exercise(band):
    rx = prescribe(band, age=30, resting_hr=121, screening=CLEARED)
    assert rx.state == "red"
    assert "seated rest" in rx.activity
    assert rx.hr_target_bpm is None and rx.intensity_pct_hrr is None
    assert rx.to_dict()["hr_target_bpm"] is None


def test_resting_hr_edges_through_prescribe():
    # HR 100 -> AMBER -> low/amber: 30-39 % HRR; reserve 187 - 100 = 87
    # 100 + 0.30*87 = 126.1 -> 126; 100 + 0.39*87 = 133.93 -> 134
    rx = prescribe("low", age=30, resting_hr=100, screening=CLEARED)
    assert (rx.state, rx.hr_target_bpm) == ("amber", (126, 134))
    rx = prescribe("low", age=30, resting_hr=120, screening=CLEARED)
    assert rx.state == "amber"
    assert prescribe("low", age=30, resting_hr=120.5, screening=CLEARED).state == "red"


def test_never_screened_gets_light_intensity_at_most():
    rx = prescribe("high", age=30, resting_hr=60)  # screening not given = never screened
    assert rx.state == "green"
    assert rx.intensity_pct_hrr == (30, 39) and rx.hr_target_bpm == (98, 110)
    assert rx.rule_id == "rx1.high.green+light-cap"
    assert "light" in rx.activity and "screening" in rx.rationale
    # elevated/amber is [30, 50] -> capped to [30, 39], activity kept (already light movement)
    rx = prescribe("elevated", age=30, resting_hr=60, screening={"poor_sleep": True})
    assert rx.state == "amber" and rx.intensity_pct_hrr == (30, 39)
    assert "Tai Chi" in rx.activity
    # already light: no cap
    assert prescribe("low", age=30, resting_hr=60, screening={"first_weeks": True}).rule_id == "rx1.low.amber"


def test_no_index_gives_safe_default_with_reason():
    b = Baseline(median={"hr_mean_bpm": 60}, mad={"hr_mean_bpm": 3}, kind="personal", n_sessions=5, source="t")
    r = score_index({"hr_mean_bpm": 70.0}, b)
    assert r.index is None
    rx = prescribe(r, age=30, resting_hr=60, screening=CLEARED)
    assert rx.band is None and rx.rule_id == "rx1.none.green"
    assert rx.intensity_pct_hrr == (30, 39)
    assert "No index available" in rx.rationale and "only 1 of 4" in rx.rationale
    rx = prescribe(None, age=30, resting_hr=130, screening=CLEARED)
    assert rx.rule_id == "rx1.none.red" and rx.hr_target_bpm is None


def test_band_from_index_value_and_index_result():
    lo, hi = BAND_EDGES_INDEX
    assert prescribe(69.14, age=30, resting_hr=60, screening=CLEARED).band == "low"
    assert prescribe(lo, age=30, resting_hr=60, screening=CLEARED).band == "elevated"
    assert prescribe(93.31, age=30, resting_hr=60, screening=CLEARED).band == "elevated"
    assert prescribe(hi, age=30, resting_hr=60, screening=CLEARED).band == "high"
    with pytest.raises(ValueError, match="'band'"):
        prescribe("extreme", age=30, resting_hr=60)


def test_ln_rmssd_z_taken_from_index_result():
    # ln RMSSD 2.5 scaled MADs below baseline: signed z_features = +2.5, unsigned z = -2.5 -> AMBER
    med = {"hrv_ln_rmssd": 3.7, "hr_mean_bpm": 65.0, "eeg_beta_rel_frontal": 0.2}
    mad = {"hrv_ln_rmssd": 0.2, "hr_mean_bpm": 4.0, "eeg_beta_rel_frontal": 0.05}
    b = Baseline(median=med, mad=mad, kind="personal", n_sessions=10, source="t")
    feats = {**med, "hrv_ln_rmssd": 3.7 - 2.5 * 1.4826 * 0.2}
    r = score_index(feats, b)
    # Z = (2.5 + 0 + 0)/3 = 0.8333 -> elevated
    assert r.band == "elevated" and math.isclose(r.z, 2.5 / 3)
    rx = prescribe(r, age=30, resting_hr=60, screening=CLEARED)
    assert rx.state == "amber" and rx.rule_id == "rx1.elevated.amber"
    assert "ln RMSSD z = -2.50" in rx.rationale


def test_staff_state_can_raise_but_not_lower():
    assert prescribe("low", age=30, resting_hr=60, state="red", screening=CLEARED).state == "red"
    rx = prescribe("low", age=30, resting_hr=125, state="green", screening=CLEARED)
    assert rx.state == "red" and "can only be raised" in rx.rationale
    with pytest.raises(ValueError, match="'state'"):
        prescribe("low", age=30, resting_hr=60, state="blue")
