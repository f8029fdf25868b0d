"""Exercise-phase music tempo (issue 21.5): cadence of the activity at the zone's intensity.

Expected values by hand from the documented anchor points (docs/music.md): walking 100 steps/min
at 40 % HRR and 130 at 60 % (Tudor-Locke 2018/2019 moderate/vigorous cadence thresholds mapped
onto ACSM %HRR classes), cycling 2 beats per revolution, 60-65 rev/min at 40-60 % HRR.
"""

from __future__ import annotations

import pytest

from addictidx.music.exercise import activity_kind, exercise_tempo


def test_walking_cadence_by_intensity():
    # zone 40-59 % HRR: mid 49.5 -> 100 + (49.5 - 40) / 20 * 30 = 114.25 steps/min
    w = exercise_tempo("walking", (40, 59))
    assert w.cadence_per_min == pytest.approx(114.25) and w.tempo_bpm == pytest.approx(114.25)
    assert 100 <= w.tempo_bpm <= 120 and w.cadence_unit == "steps/min"
    # light 30-39: mid 34.5 -> 90 + 4.5 = 94.5 (below the 100 spm moderate threshold)
    assert exercise_tempo("walking", (30, 39)).tempo_bpm == pytest.approx(94.5)
    # vigorous zones are capped at the walking limit 130
    assert exercise_tempo("walking", (60, 80)).tempo_bpm == pytest.approx(130.0)


def test_cycling_two_beats_per_revolution_matches_the_rule_table():
    c = exercise_tempo("cycling", (40, 59))
    # mid 49.5 -> 60 + 9.5 / 20 * 5 = 62.375 rev/min -> 124.75 bpm, inside rules.toml 120-130
    assert c.cadence_per_min == pytest.approx(62.375) and c.tempo_bpm == pytest.approx(124.75)
    assert 120 <= c.tempo_bpm <= 130 and c.beats_per_cycle == 2


def test_no_cadence_activities_use_the_prescription_range():
    t = exercise_tempo("tai_chi", (50, 58), music_bpm=(60, 80))
    assert t.cadence_per_min is None and t.tempo_bpm == 70.0
    assert exercise_tempo("walking", None, music_bpm=(60, 80)).cadence_per_min is None


def test_activity_from_prescription_text_and_bad_zone():
    from addictidx.prescribe.rules import load_rules

    kinds = {r.rule_id: activity_kind(r.activity) for r in load_rules().rules.values()}
    assert kinds["rx1.low.green"] == "cycling"  # "aerobic exercise (e.g. cycling, brisk walking)"
    assert kinds["rx1.none.green"] == "walking" and kinds["rx1.low.red"] == "breathing"
    assert kinds["rx1.elevated.amber"] == "tai_chi"
    with pytest.raises(ValueError, match="intensity_pct_hrr"):
        exercise_tempo("walking", (70, 40))
