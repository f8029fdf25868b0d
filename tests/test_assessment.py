"""The end-to-end path: simulated notifications -> ... -> index -> prescription -> SQLite.

Expected values are computed here independently from the source recordings (the bundled real
RR series and Muse EEG), with plain numpy formulas, not with the pipeline's own code path.
"""

import json
import math
import sqlite3

import numpy as np
import pytest

from addictidx.acquire import SimulatedHeadband, SimulatedStrap
from addictidx.readers import bundled_muse_eeg, bundled_rr
from addictidx.sessions.assessment import run_assessment
from addictidx.sessions.protocol import STANDARD_PROTOCOL, Phase, Protocol

SHORT = Protocol(
    "test-short",
    (
        Phase("device_check", 10.0, False),
        Phase("eyes_closed_rest", 130.0, True),
        Phase("eyes_open_rest", 20.0, True),
    ),
)


@pytest.fixture(scope="module")
def standard_run(tmp_path_factory):
    store = tmp_path_factory.mktemp("store")
    return run_assessment(
        "P001", store_dir=store, protocol=STANDARD_PROTOCOL, seed=3, age=30, consent_given=True
    )


def _source_beats(duration_s):
    """Beat times and RR of the bundled series as the strap sends them (looped)."""
    rr = bundled_rr()
    reps = int(math.ceil(duration_s / rr.sum())) + 1
    rr_all = np.tile(rr, reps)
    t = np.cumsum(rr_all)
    keep = t <= duration_s
    return t[keep], rr_all[keep]


def test_rr_features_equal_hand_calculation(standard_run):
    # The strap sends round(rr * 1024) / 1024 s; the scored RR are the beats inside the scored
    # phases (20 s .. 320 s of session time). The session clock starts at the first
    # notification, which the strap sends 1 s after its start (the headband's first block
    # arrives earlier, at 11/256 s).
    t, rr = _source_beats(STANDARD_PROTOCOL.duration_s + 5)
    rr_q = np.round(rr * 1024) / 1024
    t0 = 11 / 256  # first notification overall: the headband's first block
    # Beat times as the assembler back-computes them equal the true beat times here because
    # the strap sends at whole seconds and the HRS notification carries every beat since.
    sess_t = t - t0
    m = (sess_t > 20.0) & (sess_t <= 320.0)
    x = rr_q[m] * 1000.0
    rmssd = math.sqrt(np.mean(np.diff(x) ** 2))
    hr = 60.0 / np.mean(rr_q[m])
    f = standard_run.features
    # A beat whose notification time straddles a phase edge may fall on either side: allow the
    # one-beat difference that makes, and no more.
    assert f["hrv_ln_rmssd"] == pytest.approx(math.log(rmssd), abs=0.02)
    assert f["hr_mean_bpm"] == pytest.approx(hr, abs=0.3)


def test_eeg_features_follow_source(standard_run):
    """EEG features from the BLE path equal those computed on the source CSV span directly."""
    from addictidx.features import compute_index_features

    rec = bundled_muse_eeg()
    data, names, sfreq = rec.data, list(rec.ch_names), rec.sfreq
    n = data.shape[1]
    # Eyes-closed phase = 20..200 s of session time; the session clock starts at the first
    # block's last sample (11 / 256 s), so sample index i is at (i - 11) / 256 s.
    idx = np.arange(int(20 * 256) + 11, int(200 * 256) + 11) % n
    feats, _ = compute_index_features(data[:, idx], sfreq, names, None)
    got = standard_run.features
    # Only 12-bit quantisation (0.49 uV steps) separates the two paths.
    for k in ("eeg_beta_rel_frontal", "eeg_alpha_beta_ratio_temporal"):
        assert got[k] == pytest.approx(feats[k], rel=2e-3), k


def test_nothing_lost_and_stored(standard_run):
    acc = standard_run.accounting
    assert acc["eeg_missing"] == 0
    # The session ends at the first notification at or after 320 s of session time. Headband
    # block b (12 samples) arrives at session time 12 b / 256 s (block 0 starts the clock), so
    # the last block taken is b = ceil(320 * 256 / 12) = 6827: blocks 0..6827.
    assert acc["eeg_samples"] == (math.ceil(320 * 256 / 12) + 1) * 12
    t, _ = _source_beats(STANDARD_PROTOCOL.duration_s)
    assert acc["rr_beats"] == len(t)
    con = sqlite3.connect(standard_run.store_path)
    (status,) = con.execute("SELECT status FROM sessions").fetchone()
    assert status == "complete"
    (n_windows,) = con.execute("SELECT COUNT(*) FROM feature_windows").fetchone()
    assert n_windows == standard_run.n_feature_windows == 32  # one per 10 s of 320 s
    (res,) = con.execute("SELECT result_json FROM index_results").fetchone()
    res = json.loads(res)
    assert res["index"] == pytest.approx(standard_run.index.index)


def test_index_is_population_fallback_and_consistent(standard_run):
    r = standard_run.index
    assert r.baseline == "population"
    assert r.index is not None
    zs = [v for v in r.z_features.values() if v is not None]
    Z = sum(zs) / len(zs)
    assert r.z == pytest.approx(Z, abs=1e-9)
    assert r.index == pytest.approx(100 * 0.5 * (1 + math.erf(Z / math.sqrt(2))), abs=1e-6)
    assert sum(r.contributions.values()) == pytest.approx(Z, abs=1e-9)


def test_prescription_uses_resting_hr(standard_run):
    rx = standard_run.prescription
    assert rx is not None
    if rx.hr_target_bpm is not None:
        rest = standard_run.features["hr_mean_bpm"]
        hrmax = 208 - 0.7 * 30
        lo = rest + rx.intensity_pct_hrr[0] / 100 * (hrmax - rest)
        assert abs(rx.hr_target_bpm[0] - lo) <= 0.5 + 1e-9


def test_personal_baseline_after_five_sessions(tmp_path):
    results = [
        run_assessment(
            "P007", store_dir=tmp_path, protocol=SHORT, seed=s, age=30, consent_given=True
        )
        for s in range(6)
    ]
    assert [r.index.baseline for r in results[:5]] == ["population"] * 5
    assert results[5].index.baseline == "personal"
    assert results[5].index.n_baseline_sessions == 5


def test_strap_dropout_marks_gap_and_keeps_beats(tmp_path):
    dur = SHORT.duration_s
    strap = SimulatedStrap(duration_s=dur, dropouts=[(60.0, 75.0)], seed=1)
    hb = SimulatedHeadband(duration_s=dur, seed=1)
    res = run_assessment(
        "P008",
        store_dir=tmp_path,
        protocol=SHORT,
        headband=hb,
        strap=strap,
        age=30,
        consent_given=True,
    )
    t, _ = _source_beats(dur)
    # Beats inside the dropout never reach the host (their notifications are lost): every
    # other beat is kept.
    sent_lost = np.sum((t > 60.0) & (t <= 75.0 + 1.0))
    assert len(t) - sent_lost - 2 <= res.accounting["rr_beats"] <= len(t)
    assert res.index.index is not None or res.index.reason


def test_headband_packet_loss_is_counted(tmp_path):
    dur = SHORT.duration_s
    hb = SimulatedHeadband(duration_s=dur, drop_fraction=0.02, seed=5)
    strap = SimulatedStrap(duration_s=dur, seed=5)
    res = run_assessment(
        "P009",
        store_dir=tmp_path,
        protocol=SHORT,
        headband=hb,
        strap=strap,
        age=30,
        consent_given=True,
    )
    acc = res.accounting
    assert acc["eeg_missing"] > 0
    # Missing samples are kept as NaN, so the sample count still covers the whole session.
    assert (
        acc["eeg_samples"] == (int(dur * 256) // 12) * 12 or acc["eeg_samples"] > 0.99 * dur * 256
    )
    con = sqlite3.connect(res.store_path)
    kinds = [k for (k,) in con.execute("SELECT kind FROM events")]
    assert "eeg_gap_samples" in kinds


def test_invalid_subject_code_rejected(tmp_path):
    with pytest.raises(ValueError, match="pseudonymous"):
        run_assessment(
            "John Smith", store_dir=tmp_path, protocol=SHORT, age=30, consent_given=True
        )
