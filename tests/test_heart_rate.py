"""One heart-rate definition (features/heart_rate.py) shared by display, controller, features."""

import math

import numpy as np
import pytest

from addictidx.features import (
    HeartRateTracker,
    compute_hrv,
    compute_index_features,
    current_heart_rate_bpm,
    mean_heart_rate_bpm,
    rr_quality,
)


def test_current_hr_hand_values():
    # valid: 0.8, 0.9, 1.0 -> median 0.9 -> 66.67 bpm; 0.25 and 2.5 and NaN are not beats
    rr = [0.25, 0.8, float("nan"), 0.9, 2.5, 1.0]
    assert current_heart_rate_bpm(rr) == pytest.approx(60.0 / 0.9, abs=1e-12)
    assert current_heart_rate_bpm([0.8, 0.9]) is None  # fewer than 3 valid beats
    # median of the LAST five valid intervals
    rr = [2.0, 0.5, 0.6, 0.7, 0.8, 0.9]
    assert current_heart_rate_bpm(rr) == pytest.approx(60.0 / 0.7, abs=1e-12)
    # the range is closed: 0.3 s and 2.0 s are beats
    assert current_heart_rate_bpm([0.3, 0.3, 2.0]) == pytest.approx(200.0, abs=1e-12)


def test_tracker_equals_array_form():
    rng = np.random.default_rng(0)
    rr = rng.uniform(0.2, 2.2, 400)
    rr[rng.integers(0, 400, 20)] = np.nan
    tr = HeartRateTracker()
    for i, v in enumerate(rr):
        tr.push(float(v))
        expect = current_heart_rate_bpm(rr[: i + 1])
        assert (tr.hr_bpm is None) == (expect is None)
        if expect is not None:
            assert tr.hr_bpm == expect
    tr.clear()
    assert tr.hr_bpm is None


def test_controller_uses_the_same_definition():
    from addictidx.prescribe.controller import LoopConfig, LoopController
    from addictidx.prescribe.safety import safety_limits

    ctl = LoopController(LoopConfig(limits=safety_limits(age=40, resting_hr=65.0)), t0_s=0.0)
    rr = [0.8, 0.25, 0.82, 0.79, 3.0, 0.81, 0.77, 0.9]
    t = 0.0
    for i, v in enumerate(rr):
        t += v if 0.3 <= v <= 2.0 else 0.5
        ctl.feed(t, [v])
        assert ctl.hr_bpm == current_heart_rate_bpm(rr[: i + 1])


def test_mean_hr_is_the_index_feature():
    rng = np.random.default_rng(3)
    rr = 0.85 + 0.05 * rng.standard_normal(200)
    rr[[10, 50]] = [0.4, 1.6]  # ectopic-like
    ok, _rep = rr_quality(rr)
    feats, _q = compute_index_features(None, None, None, rr)
    hand = 60.0 / float(np.mean(rr[ok]))
    assert feats["hr_mean_bpm"] == pytest.approx(hand, rel=1e-14)
    assert mean_heart_rate_bpm(rr, ok) == pytest.approx(hand, rel=1e-14)
    # and it equals compute_hrv's (Kubios) hr_mean_bpm on the accepted intervals
    h = compute_hrv(np.where(ok, rr, np.nan), convention="kubios", frequency=False)
    assert feats["hr_mean_bpm"] == pytest.approx(h["hr_mean_bpm"], rel=1e-12)
    assert math.isnan(mean_heart_rate_bpm([0.1, 3.0]))
