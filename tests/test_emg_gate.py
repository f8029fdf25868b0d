"""The personal EMG quality gate of EVIDENCE §7(i): "EMG indicator (>30 Hz power; Gasser 2005)
not above the person's own 90th percentile".

Checked against hand calculations: the 30-100 Hz power share of sums of sinusoids of known
amplitude (a sinusoid of amplitude A carries power A²/2, so shares are ratios of squared
amplitudes), the 90th percentile of five stored values by linear interpolation written out,
and end-to-end scoring of a person's sessions built from the bundled real Muse/RR recordings.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from addictidx._core.types import QualityReport
from addictidx.features import (
    EMGIndicator,
    compute_index_features,
    eeg_epoch_checks,
    index_features_with_emg,
    session_emg_indicator,
)
from addictidx.report.summary import emg_gate_phrase
from addictidx.sessions.protocol import PhaseSpan
from addictidx.sessions.run import score_and_store
from addictidx.sessions.scoring import SessionData, emg_gate
from addictidx.store.session_store import SessionStore

SFREQ = 256.0
CHANNELS = ["TP9", "AF7", "AF8", "TP10"]


def _sin(f_hz, amp_uv, n, phase=0.0):
    t = np.arange(n) / SFREQ
    return amp_uv * np.sin(2 * np.pi * f_hz * t + phase)


def _synthetic_eeg(seconds=60.0):
    """10 Hz (20 µV) everywhere; + 40 Hz (10 µV) on AF7/AF8; + 75 Hz (20 µV) on TP9/TP10.

    All frequencies sit on 0.5 Hz bins of the 2-s epochs, away from the excluded mains bands
    (48-52, 58-62, 98-100 Hz). Hand calculation of the 30-100 Hz share (power A²/2):
    AF7/AF8: 10²/(20² + 10²) = 100/500 = 0.2; TP9/TP10: 20²/(20² + 20²) = 0.5;
    session indicator = mean(0.5, 0.2, 0.2, 0.5) = 0.35.
    """
    n = int(seconds * SFREQ)
    base = _sin(10.0, 20.0, n)
    return np.stack(
        [
            base + _sin(75.0, 20.0, n, 0.3),
            base + _sin(40.0, 10.0, n, 0.7),
            base + _sin(40.0, 10.0, n, 1.1),
            base + _sin(75.0, 20.0, n, 1.9),
        ]
    )


def test_indicator_equals_hand_share_of_sinusoids():
    x = _synthetic_eeg()
    checks = eeg_epoch_checks(x, SFREQ, CHANNELS)
    assert checks.ok.all()  # ptp 60-80 µV, well inside the limits
    value, per = session_emg_indicator(checks, ("AF7", "AF8", "TP9", "TP10"))
    assert per["AF7"] == pytest.approx(0.2, abs=1e-3)
    assert per["AF8"] == pytest.approx(0.2, abs=1e-3)
    assert per["TP9"] == pytest.approx(0.5, abs=1e-3)
    assert per["TP10"] == pytest.approx(0.5, abs=1e-3)
    assert value == pytest.approx(0.35, abs=1e-3)


def test_indicator_is_median_over_passing_epochs_only():
    x = _synthetic_eeg()
    # Epochs 0-4 of AF7 get a 400 µV 70 Hz burst: they fail the amplitude check (limit 250 µV on
    # AF7) and must not enter the median, which stays at the clean 0.2.
    n5 = int(5 * 2 * SFREQ)
    x[1, :n5] += _sin(70.0, 200.0, n5)
    checks = eeg_epoch_checks(x, SFREQ, CHANNELS)
    assert (~checks.ok[:5, 1]).all() and checks.ok[5:, 1].all()
    value, per = session_emg_indicator(checks, ("AF7", "AF8", "TP9", "TP10"))
    assert per["AF7"] == pytest.approx(0.2, abs=1e-3)
    assert value == pytest.approx(0.35, abs=1e-3)


def test_index_features_with_emg_keeps_the_four_features():
    x = _synthetic_eeg(150.0)
    rr = 0.8 + 0.02 * np.sin(np.arange(200) / 3.0)
    f1, q1 = compute_index_features(x, SFREQ, CHANNELS, rr)
    f2, q2, emg = index_features_with_emg(x, SFREQ, CHANNELS, rr)
    assert f1.keys() == f2.keys()
    assert all(f1[k] == f2[k] or (math.isnan(f1[k]) and math.isnan(f2[k])) for k in f1)
    assert q1 == q2
    assert emg.value == pytest.approx(0.35, abs=1e-3)
    assert emg.band_hz == (30.0, 100.0)
    # no EEG -> no indicator
    _, _, none = index_features_with_emg(None, None, None, rr)
    assert math.isnan(none.value) and none.to_dict()["value"] is None


PRIOR = [0.30, 0.32, 0.31, 0.35, 0.33]
# Hand: sorted 0.30 0.31 0.32 0.33 0.35; position 0.9 * (5 - 1) = 3.6 -> 0.33 + 0.6 * (0.35 - 0.33)
P90_HAND = 0.342


def test_gate_percentile_by_hand_and_strictly_above():
    ok = QualityReport(per_channel={"AF7": 1.0}, usable=True)
    assert np.percentile(PRIOR, 90) == pytest.approx(P90_HAND, abs=1e-12)
    q, gate = emg_gate(EMGIndicator(0.3419), PRIOR, ok)
    assert q.usable and gate["active"] and gate["passed"] is True
    assert gate["p90"] == pytest.approx(P90_HAND, abs=1e-12) and gate["n_prior"] == 5
    q, gate = emg_gate(EMGIndicator(0.3421), PRIOR, ok)
    assert not q.usable and gate["passed"] is False and "emg>p90" in q.flags
    assert "EMG gate" in q.reasons[0] and "0.3421" in q.reasons[0] and "0.3420" in q.reasons[0]
    assert q.per_channel == ok.per_channel  # confidence inputs unchanged
    # four prior sessions: not gated, flagged as inactive
    q, gate = emg_gate(EMGIndicator(0.99), PRIOR[:4], ok)
    assert q.usable and not gate["active"] and gate["p90"] is None
    assert "emg_gate_inactive" in q.flags
    # no indicator (no EEG): neither gated nor flagged
    q, gate = emg_gate(EMGIndicator(math.nan), PRIOR, ok)
    assert q == ok and gate["indicator"] is None and gate["passed"] is None


# -- end to end on the bundled real recordings ---------------------------------------------
DUR_S = 150.0


def _session_data(k: int, emg_uv: float = 0.0):
    """Session k: the bundled Muse EEG and RR started 23 s * (k + 1) in (as the demo does),
    150 s long; optional 30-95 Hz Gaussian noise of SD ``emg_uv`` on AF7/AF8 (muscle-like)."""
    from scipy.signal import butter, sosfiltfilt

    from addictidx.readers import bundled_muse_eeg, bundled_rr

    rec = bundled_muse_eeg()
    data, ch, sfreq = rec.data, list(rec.ch_names), rec.sfreq
    n = int(DUR_S * sfreq)
    start = int(23.0 * (k + 1) * sfreq)
    eeg = data[:, (start + np.arange(n)) % data.shape[1]].astype(np.float64)
    if emg_uv:
        rng = np.random.default_rng(k)
        sos = butter(4, [30.0, 95.0], "bandpass", fs=sfreq, output="sos")
        for name in ("AF7", "AF8"):
            e = sosfiltfilt(sos, rng.standard_normal(n))
            eeg[ch.index(name)] += emg_uv * e / e.std()
    rr = np.roll(bundled_rr(), -40 * k)
    rr_times = np.cumsum(rr)
    keep = rr_times <= DUR_S
    return {
        "eeg_times": np.arange(n) / sfreq,
        "eeg": eeg,
        "ch_names": list(ch),
        "sfreq": sfreq,
        "rr_times": rr_times[keep],
        "rr_s": rr[keep],
    }


def _score(store, subject, k, emg_uv=0.0):
    sid = store.start_session(
        subject, devices={"headband": "test"}, simulated=True, software="test"
    )
    spans = [PhaseSpan("eyes_closed_rest", "rest", True, 0.0, DUR_S)]
    d = _session_data(k, emg_uv)
    data = SessionData.from_recording(
        spans,
        d["eeg_times"],
        d["eeg"],
        d["rr_times"],
        d["rr_s"],
        sfreq=d["sfreq"],
        ch_names=d["ch_names"],
    )
    sc = score_and_store(store, sid, subject, data, age=30)
    store.end_session(sid, status="complete")
    return sid, (sc.features, sc.quality, sc.index, sc.prescription)


def test_emg_session_after_five_clean_gets_no_index(tmp_path):
    with SessionStore(tmp_path) as store:
        gates = []
        for k in range(5):
            sid, (_f, q, res, _rx) = _score(store, "E001", k)
            assert q.usable and res.index is not None
            assert "emg_gate_inactive" in q.flags
            gates.append(store.queries.session_quality(sid)["emg_gate"])
        assert [g["n_prior"] for g in gates] == [0, 1, 2, 3, 4]
        values = [g["indicator"] for g in gates]
        assert store.queries.prior_emg_indicators("E001") == values
        # hand percentile of the five stored values
        s = sorted(values)
        p90_hand = s[3] + 0.6 * (s[4] - s[3])

        sid, (_f, q, res, _rx) = _score(store, "E001", 5, emg_uv=8.0)
        gate = store.queries.session_quality(sid)["emg_gate"]
        assert gate["active"] and gate["n_prior"] == 5
        assert gate["p90"] == pytest.approx(p90_hand, abs=1e-12)
        assert gate["indicator"] > gate["p90"] and gate["passed"] is False
        assert res.index is None and not q.usable and "emg>p90" in q.flags
        assert "EMG gate" in res.reason
        assert f"{gate['indicator']:.4f}" in res.reason and f"{p90_hand:.4f}" in res.reason
        # the AF7/AF8 epochs still pass the amplitude limits: only the EMG gate refuses
        assert not any(f.startswith("epochs<") for f in q.flags)
        # the refused session is stored as not usable: outside baselines and percentiles
        assert store.queries.session_detail(sid)["features_usable"] is False
        assert store.queries.prior_emg_indicators("E001") == values
        assert emg_gate_phrase(gate).endswith(": no index")

        # a clean session replaying the stretch of the lowest prior indicator passes
        k_ok = int(np.argmin(values))
        sid, (_f, q, res, _rx) = _score(store, "E001", k_ok)
        gate = store.queries.session_quality(sid)["emg_gate"]
        assert gate["indicator"] == pytest.approx(values[k_ok], abs=1e-12)
        assert gate["passed"] is True and res.index is not None
        assert gate["n_prior"] == 5  # the refused session is not counted


def test_fewer_than_five_sessions_not_gated(tmp_path):
    with SessionStore(tmp_path) as store:
        for k in range(3):
            _score(store, "E002", k)
        sid, (_f, q, res, _rx) = _score(store, "E002", 3, emg_uv=8.0)
        gate = store.queries.session_quality(sid)["emg_gate"]
        assert gate["n_prior"] == 3 and not gate["active"] and gate["passed"] is None
        assert gate["indicator"] > max(
            store.queries.prior_emg_indicators("E002", before_session=sid)
        )
        assert q.usable and res.index is not None
        assert "emg_gate_inactive" in q.flags and "emg>p90" not in q.flags
        assert "not yet active (3 of 5" in emg_gate_phrase(gate)


def test_sessions_without_stored_indicator_are_skipped(tmp_path):
    with SessionStore(tmp_path) as store:
        for _i, qual in enumerate(
            [
                {"usable": True},
                {"emg_gate": {"indicator": None}},
                {"emg_gate": {"indicator": 0.25}},
            ]
        ):
            sid = store.start_session("E003", devices={}, simulated=True, software="t")
            store.set_session_features(sid, {}, usable=True, quality=qual)
            store.end_session(sid)
        sid = store.start_session("E003", devices={}, simulated=True, software="t")
        store.set_session_features(sid, {}, usable=False, quality={"emg_gate": {"indicator": 0.9}})
        store.end_session(sid)
        assert store.queries.prior_emg_indicators("E003") == [0.25]
        assert store.queries.prior_emg_indicators("E003", before_session=3) == []


def test_phrase():
    assert emg_gate_phrase(None) == ""
    assert (
        emg_gate_phrase(
            {"indicator": 0.31, "active": True, "passed": True, "p90": 0.342, "n_prior": 6}
        )
        == "EMG 0.310 <= own P90 0.342"
    )
