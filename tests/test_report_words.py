"""The report's words and plots, checked on hand-made inputs (issue 17.7).

* the trend never joins two reference frames with a line, and labels the break;
* contributions are labelled "raises"/"lowers" and add up to Z;
* a feature whose sign is reversed (lower ln RMSSD = towards hyperarousal) says so;
* events and safety events read as sentences with rounded numbers;
* HRV values are rounded to the precision of their unit.
"""

from __future__ import annotations

import math

import pytest

from addictidx.report import explain
from addictidx.report.content import ReportContent, fmt_value


def _rc(trend, index=None, features=None, reference=None, events=(), safety=()):
    return ReportContent(
        session={"id": trend[-1]["id"] if trend else 1, "status": "complete", "events": []},
        subject="P001",
        date="2026-01-01T00:00:00Z",
        devices={},
        software="t",
        simulated=True,
        protocol="p",
        phases=[],
        quality={"per_channel": {"AF7": 1.0, "rr": 0.9}, "usable": True},
        features=features,
        index=index,
        prescription=None,
        events=list(events),
        safety_events=list(safety),
        trend=trend,
        reference=reference or {},
    )


def _row(i, idx, base, band="elevated"):
    return {"id": i, "index": idx, "baseline": base, "band": band}


def test_trend_never_joins_reference_frames():
    from matplotlib.figure import Figure

    from addictidx.report.figures import draw_trend, trend_segments

    rows = [_row(i, v, "population") for i, v in enumerate((85, 83, 83, 81, 82), start=1)]
    rows += [_row(6, 22, "personal", "low"), _row(7, 40, "personal", "low")]
    segs = trend_segments(rows)
    assert [[r["id"] for r in s] for s in segs] == [[1, 2, 3, 4, 5], [6, 7]]
    fig = Figure()
    ax = fig.add_subplot()
    draw_trend(ax, _rc(rows))
    x_pop, x_own = {1, 2, 3, 4, 5}, {6, 7}
    for line in ax.lines:
        xs = {round(float(x)) for x in line.get_xdata() if float(x).is_integer()}
        if len(line.get_xdata()) > 1 and line.get_linestyle() != "--":
            assert xs <= x_pop or xs <= x_own, xs  # no line crosses the frames
    texts = " ".join(t.get_text() for t in ax.texts)
    assert "vs population norms" in texts and "vs own baseline" in texts
    assert "reference changed" in texts
    # the break itself: a dashed vertical line between #5 and #6
    assert any(
        line.get_linestyle() == "--" and set(line.get_xdata()) == {5.5} for line in ax.lines
    )


IDX = {
    "index": 22.156,
    "band": "low",
    "z": -0.767,
    "confidence": 0.5693,
    "baseline": "personal",
    "n_baseline_sessions": 5,
    "z_features": {
        "hrv_ln_rmssd": 1.1136,
        "hr_mean_bpm": -1.5369,
        "eeg_beta_rel_frontal": 0.3555,
        "eeg_alpha_beta_ratio_temporal": -3.0,
    },
    "contributions": {
        "hrv_ln_rmssd": 0.2784,
        "hr_mean_bpm": -0.3842,
        "eeg_beta_rel_frontal": 0.0889,
        "eeg_alpha_beta_ratio_temporal": -0.75,
    },
}
FEATS = {
    "hrv_ln_rmssd": 3.457,
    "hr_mean_bpm": 68.277,
    "eeg_beta_rel_frontal": 0.2101,
    "eeg_alpha_beta_ratio_temporal": 0.5332,
}
REF = {
    "hrv_ln_rmssd": (3.51, 0.032),
    "hr_mean_bpm": (69.1, 0.36),
    "eeg_beta_rel_frontal": (0.205, 0.01),
    "eeg_alpha_beta_ratio_temporal": (0.45, 0.02),
}


def test_contributions_raise_or_lower_and_add_up_to_z():
    from matplotlib.figure import Figure

    from addictidx.report.figures import draw_contributions

    assert sum(IDX["contributions"].values()) == pytest.approx(IDX["z"], abs=1e-3)
    fig = Figure()
    ax = fig.add_subplot()
    draw_contributions(ax, _rc([_row(1, 22, "personal")], index=IDX))
    labels = [t.get_text() for t in ax.texts]
    assert labels == ["raises +0.28", "lowers -0.38", "raises +0.09", "lowers -0.75"]
    assert "sum = Z" in ax.get_xlabel() and "share of Z" not in ax.get_xlabel()
    assert "add up to Z = -0.77" in explain.index_sum_sentence(IDX)
    assert "100 x Phi(Z) = 22" in explain.index_sum_sentence(IDX)


def test_feature_sentences_say_value_reference_direction_and_sign():
    s = explain.feature_sentences(IDX, FEATS, REF)
    assert len(s) == 4
    # ln RMSSD fell (3.46 < 3.51) yet z is positive: the sentence says why, and that it raises
    assert s[0].startswith("Ln RMSSD (heart-rate variability) 3.46 (RMSSD 32 ms) is 0.05 below")
    assert "sign is reversed" in s[0] and "raises the index" in s[0] and "z +1.11" in s[0]
    assert s[1].startswith("Resting heart rate 68.3 bpm is 0.8 bpm below the reference 69.1 bpm")
    assert "lowers the index (contribution -0.38)" in s[1]
    assert "capped at +-3" in s[3]
    assert "own baseline" in explain.reference_frame_words(IDX)
    pop = dict(IDX, baseline="population", n_baseline_sessions=2)
    assert "POPULATION" in explain.reference_frame_words(pop)
    assert "not comparable" in explain.reference_frame_words(pop)
    # confidence = reference x features x quality, by hand: quality (1.0 + 0.9) / 2 = 0.95,
    # features 4/4, so the reference factor is 0.5693 / 0.95 = 0.60
    c = explain.confidence_words(IDX, {"per_channel": {"AF7": 1.0, "rr": 0.9}})
    assert "Confidence 0.57" in c and "reference 0.60" in c and "signal quality 0.95" in c


def test_events_and_safety_events_are_sentences():
    assert (
        explain.event_sentence(
            {"t_s": 315.9375, "kind": "scored", "detail": {"band": "elevated", "index": 81.5095}}
        )
        == "At 5:16 the rest phases were scored: index 82 (elevated)."
    )
    loop = {
        "t_s": 385.957,
        "kind": "loop",
        "detail": {"kind": "speed_up", "reason": "[G] HR 71.8 bpm below the zone 104-115 bpm"},
    }
    assert explain.event_sentence(loop) == (
        "At 6:26 closed loop, speed up: HR 71.8 bpm below the zone 104-115 bpm."
    )
    stop = {
        "t_s": 405.6,
        "kind": "stop",
        "detail": {"rule": "S6", "hr_bpm": 88.0, "reason": "[S6] the person asked to stop"},
    }
    assert explain.safety_sentence(stop) == (
        "At 6:46 SAFETY STOP: The person asked to stop (HR 88 bpm, rule S6)."
    )
    assert explain.safety_sentence({"t_s": 10, "kind": "stop", "detail": {}}).endswith(
        "no reason recorded."
    )
    assert explain.event_sentence({"t_s": 1.0, "kind": "phase", "detail": {}}) is None


@pytest.mark.parametrize(
    ("value", "unit", "text"),
    [
        (68.2773, "beats/min", "68.3"),
        (52.6789, "ms", "52.7"),
        (1079.4, "ms²", "1079"),
        (0.09733, "Hz", "0.097"),
        (6.8412, "ln ms²", "6.84"),
        (71.06, "n.u.", "71.1"),
        (3.1623, "", "3.16"),
        (math.nan, "ms", "–"),
    ],
)
def test_numbers_rounded_to_their_precision(value, unit, text):
    assert fmt_value(value, unit=unit) == text
