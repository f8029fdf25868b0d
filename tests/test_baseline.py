"""Tests of personal baselines, the population fallback and the baseline JSON format."""

from __future__ import annotations

import json

import numpy as np
import pytest

from addictidx._core.errors import DataFormatError
from addictidx.models import FEATURE_NAMES, Baseline, baseline_from_sessions, load_baseline_json

# Five sessions with hand-checkable medians and MADs.
HR = [60.0, 62.0, 64.0, 70.0, 61.0]  # sorted 60 61 62 64 70 -> median 62; |dev| 2 1 0 2 8 -> MAD 2
LN = [3.5, 3.7, 3.6, 3.9, 3.4]  # sorted 3.4 3.5 3.6 3.7 3.9 -> 3.6; |dev| .1 .1 0 .3 .2 -> MAD .1
BETA = [0.20, 0.22, 0.18, 0.25, 0.21]  # median 0.21; |dev| .01 .01 .03 .04 0 -> MAD .01
AB = [1.0, 1.2, 0.9, None, 1.1]  # present in only 4 sessions


def _rows():
    return [
        {
            "hrv_ln_rmssd": LN[i],
            "hr_mean_bpm": HR[i],
            "eeg_beta_rel_frontal": BETA[i],
            "eeg_alpha_beta_ratio_temporal": AB[i],
            "note_ignored": 1.0,
        }
        for i in range(5)
    ]


def test_personal_baseline_hand_calculated():
    b = baseline_from_sessions(_rows())
    assert b.kind == "personal" and b.n_sessions == 5
    assert b.median["hr_mean_bpm"] == 62.0 and b.mad["hr_mean_bpm"] == 2.0
    assert b.median["hrv_ln_rmssd"] == pytest.approx(3.6) and b.mad[
        "hrv_ln_rmssd"
    ] == pytest.approx(0.1)
    assert b.median["eeg_beta_rel_frontal"] == pytest.approx(0.21)
    assert b.mad["eeg_beta_rel_frontal"] == pytest.approx(0.01)
    # alpha/beta present in 4 < 5 sessions: no personal baseline for it
    assert b.median["eeg_alpha_beta_ratio_temporal"] is None
    med, mad = b.arrays()
    assert np.isnan(med[3]) and med[1] == 62.0 and mad.shape == (4,)


def test_fewer_than_five_valid_sessions_falls_back_to_population():
    rows = _rows()
    rows[2] = {"hr_mean_bpm": 64.0, "eeg_beta_rel_frontal": 0.18}  # only 2 of 4 -> invalid session
    b = baseline_from_sessions(rows)
    assert b.kind == "population" and b.n_sessions == 4
    assert "lower confidence" in b.label and "4 of 5" in b.label
    assert b.median["hr_mean_bpm"] == pytest.approx(60000 / 926, abs=1e-5)


def test_rolling_window_uses_the_last_sessions():
    rows = _rows() + [
        {"hrv_ln_rmssd": 4.0, "hr_mean_bpm": 80.0, "eeg_beta_rel_frontal": 0.3} for _ in range(5)
    ]
    b = baseline_from_sessions(rows, max_sessions=5)
    assert b.n_sessions == 5 and b.median["hr_mean_bpm"] == 80.0 and b.mad["hr_mean_bpm"] == 0.0
    assert "sessions 6-10" in b.source
    # all ten: HR values 60 61 62 64 70 80x5 -> median (70 + 80)/2 = 75
    assert baseline_from_sessions(rows).median["hr_mean_bpm"] == 75.0
    with pytest.raises(ValueError, match="max_sessions"):
        baseline_from_sessions(rows, max_sessions=3)


def test_baseline_rejects_wrong_units_in_rows():
    rows = _rows()
    rows[1] = {**rows[1], "hrv_ln_rmssd": 45.0}  # RMSSD in ms, not ln
    with pytest.raises(ValueError, match=r"rows\[1\].*hrv_ln_rmssd|hrv_ln_rmssd.*rows\[1\]"):
        baseline_from_sessions(rows)


def test_baseline_validation():
    with pytest.raises(ValueError, match="unknown feature"):
        Baseline(median={"hrv_rmssd_ms": 40.0}, mad={}, kind="personal", n_sessions=5, source="x")
    with pytest.raises(ValueError, match="'kind'"):
        Baseline(median={}, mad={}, kind="mine", n_sessions=5, source="x")
    with pytest.raises(ValueError, match="MAD of 'hr_mean_bpm' must be >= 0"):
        Baseline(median={}, mad={"hr_mean_bpm": -1.0}, kind="personal", n_sessions=5, source="x")
    b = Baseline(median={"hr_mean_bpm": 60}, mad={}, kind="personal", n_sessions=5, source="x")
    with pytest.raises(TypeError):
        b.median["hr_mean_bpm"] = 1.0  # read-only mapping


def _write(tmp_path, obj, name="baseline.json"):
    p = tmp_path / name
    p.write_text(obj if isinstance(obj, str) else json.dumps(obj))
    return p


GOOD = {
    "hrv_ln_rmssd": {"median": 3.6, "mad": 0.1},
    "hr_mean_bpm": {"median": 62, "mad": 2},
    "eeg_beta_rel_frontal": {"median": 0.21, "mad": 0.01},
}


def test_load_baseline_json(tmp_path):
    b = load_baseline_json(_write(tmp_path, GOOD), n_sessions=9)
    assert b.kind == "personal" and b.n_sessions == 9
    assert b.median["hr_mean_bpm"] == 62.0 and b.mad["hrv_ln_rmssd"] == 0.1
    assert b.median["eeg_alpha_beta_ratio_temporal"] is None
    assert set(b.median) == set(FEATURE_NAMES)


@pytest.mark.parametrize(
    ("content", "pattern"),
    [
        ("{not json", r"baseline\.json: not valid JSON at line 1"),
        ("[1, 2]", r"baseline\.json: expected an object"),
        (
            {**GOOD, "hrv_rmssd_ms": {"median": 40, "mad": 5}},
            r"unknown feature key 'hrv_rmssd_ms'",
        ),
        ({**GOOD, "hr_mean_bpm": {"median": 62}}, r"key 'hr_mean_bpm' must be an object"),
        (
            {**GOOD, "hr_mean_bpm": {"median": "62", "mad": 2}},
            r"hr_mean_bpm\.median must be a finite number",
        ),
        ({**GOOD, "hr_mean_bpm": {"median": 62, "mad": -2}}, r"hr_mean_bpm\.mad must be >= 0"),
        (
            {**GOOD, "hrv_ln_rmssd": {"median": 42, "mad": 15}},
            r"hrv_ln_rmssd.*natural log of RMSSD",
        ),
        ({"hr_mean_bpm": {"median": 62, "mad": 2}}, r"at least 3 of the 4 core features"),
    ],
)
def test_load_baseline_json_errors_name_file_and_key(tmp_path, content, pattern):
    with pytest.raises(DataFormatError, match=pattern) as info:
        load_baseline_json(_write(tmp_path, content))
    assert "baseline.json" in str(info.value)


def test_load_baseline_json_missing_file(tmp_path):
    with pytest.raises(DataFormatError, match=r"nope\.json: cannot read baseline file"):
        load_baseline_json(tmp_path / "nope.json")
