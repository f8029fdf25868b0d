"""Smoke tests of the end-to-end benchmark harness (no timing thresholds)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from addictidx.acquire.decoders.polar_pmd import decode_pmd_ecg
from addictidx.sessions import benchmark as B

_LAT_KEYS = ("p50_ms", "p95_ms", "p99_ms", "max_ms")


@pytest.fixture(scope="module")
def sources():
    return B.make_sources(3.0, B.BenchConfig(), n_variants=2)


def _ordered(d):
    vals = [d[k] for k in _LAT_KEYS]
    assert all(v > 0 for v in vals), vals
    assert vals == sorted(vals), vals


def test_run_sessions_smoke(sources):
    cfg = B.BenchConfig()
    r = B.run_sessions(3, 3.0, cfg, sources)
    s = r.summary()
    assert r.n_index_updates == 3 * 3  # one per session per 1-s hop
    # 3 s of Muse (4 electrodes x 256/12 blocks/s), HRS (1/s) and H10 ECG (130/73 frames/s)
    assert r.n_notifications >= 3 * (3 * 4 * int(3 * 256 / 12) // 4)
    _ordered(s)
    _ordered(s["latency_cpu"])
    assert r.cpu_s > 0 and r.cpu_s_per_session_s > 0
    assert 0.0 <= r.overrun_rate_cpu <= 1.0
    assert r.n_with_index >= 1 and 0.0 < r.last_index < 100.0
    json.dumps(s, default=float)


def test_run_benchmark_json_keys(sources, monkeypatch):
    monkeypatch.setattr(B, "make_sources", lambda d, cfg, n_variants=None: sources)
    out = B.run_benchmark(sessions=1, duration_s=3.0, capacity=False, reference=False)
    for k in (
        "p50_ms",
        "p99_ms",
        "max_realtime_sessions",
        "cpu_ratio_vs_reference",
        "p95_ms",
        "max_ms",
        "overrun_rate",
        "cpu_s_per_session_s",
        "memory_per_session_mb",
        "machine",
        "criterion",
    ):
        assert k in out
    _ordered(out)
    assert out["memory_per_session_mb"] > 0
    assert out["machine"]["numpy"] == np.__version__
    json.loads(json.dumps(out, default=float))


def test_schedule_hand_calculated():
    # tick 25 ms; services 10, 40, 0, 0 ms -> ends 35, 90, 90, 100 ms after T = 25, 50, 75, 100
    lat, overrun, backlog = B._schedule(
        np.array([0.010, 0.040, 0.0, 0.0]), 0.025, np.array([0, 1, 2, 3])
    )
    np.testing.assert_allclose(lat, [10.0, 40.0, 15.0, 0.0], atol=1e-9)
    assert overrun == 0.25  # only tick 1 (ends at 90 ms > next hand-over at 75 ms)
    assert backlog == pytest.approx(0.0)


def test_ecg_notifications_are_pmd_frames():
    # 2 s at 130 Hz -> 3 whole frames of 73 samples, stamped at their last sample
    notes = B.ecg_notifications([0.5, 1.3], 2.0)
    assert len(notes) == int(2.0 * 130) // 73
    assert all(len(n.payload) == 10 + 73 * 3 for n in notes)
    assert notes[0].t == pytest.approx(72 / 130)
    ts0, uv0 = decode_pmd_ecg(notes[0].payload)
    ts1, _ = decode_pmd_ecg(notes[1].payload)
    assert abs((ts1 - ts0) - 73 / 130 * 1e9) <= 1  # ns, each stamp rounded
    # the beat at 0.5 s is a ~1200 µV pulse at sample 65 (0.5 * 130) on 20-µV noise
    assert int(np.argmax(uv0)) == 65 and uv0.max() > 1000 and abs(np.median(uv0)) < 40


def test_rr_index_features_equal_compute_index_features(sources):
    from addictidx.features import compute_index_features

    rr = sources.variants[0].rr_prefill.copy()
    rr[10] = 0.25  # an artefact the gate screens out
    ln_rmssd, hr, rep = B.rr_index_features(rr)
    feats, q = compute_index_features(None, None, None, rr)
    assert ln_rmssd == pytest.approx(feats["hrv_ln_rmssd"], rel=1e-12)
    assert hr == pytest.approx(feats["hr_mean_bpm"], rel=1e-12)
    assert rep.per_channel["rr"] == q.per_channel["rr"]


def test_rolling_eeg_features_equal_compute_index_features():
    from addictidx.features import compute_index_features
    from addictidx.readers import bundled_muse_eeg

    rec = bundled_muse_eeg()
    eeg, names, sfreq = rec.data, list(rec.ch_names), rec.sfreq
    x = np.asarray(eeg, dtype=np.float64)[:, : 512 * 12]
    x[0, 700:760] += 400.0  # fail one TP9 epoch on amplitude
    ok, pw = B._epoch_features(
        x.reshape(len(names), 12, 512).transpose(1, 0, 2).reshape(-1, 512), list(names) * 12, None
    )
    ep_ok = ok.reshape(1, 12, len(names))
    ep_pow = pw.reshape(3, 12, len(names)).transpose(1, 0, 2)[None]
    names = list(names)
    frac, fr, tp = B.rolling_eeg_features(
        ep_ok,
        ep_pow,
        np.ones((1, 12), bool),
        [names.index("AF7"), names.index("AF8")],
        [names.index("TP9"), names.index("TP10")],
    )
    feats, q = compute_index_features(x, sfreq, names, None)
    assert fr[0] == pytest.approx(feats["eeg_beta_rel_frontal"], rel=1e-12)
    assert tp[0] == pytest.approx(feats["eeg_alpha_beta_ratio_temporal"], rel=1e-12)
    for i, c in enumerate(names):
        assert frac[0, i] == pytest.approx(q.per_channel[c])
    assert 0.0 < frac[0, names.index("TP9")] < 1.0  # the injected artefact failed an epoch


def test_sklearn_reference_model_equals_onnx_index():
    pytest.importorskip("sklearn")
    from addictidx.models import population_baseline, run_index_model

    base = population_baseline()
    med, mad = base.arrays()
    x = np.array([med + 0.0, med + mad, med - 5 * mad, [np.nan, *(med[1:] + mad[1:])]])
    want = run_index_model(x, med, mad).index
    got = B._sklearn_index_pipeline(base).transform(x)
    np.testing.assert_allclose(got, want, rtol=1e-12)
    assert math.isclose(got[0], 50.0)


def test_cli_bench_json(monkeypatch, sources):
    from typer.testing import CliRunner

    import addictidx.cli._commands  # noqa: F401
    from addictidx.cli._app import app

    monkeypatch.setattr(B, "make_sources", lambda d, cfg, n_variants=None: sources)
    res = CliRunner().invoke(
        app, ["bench", "--duration", "2", "--no-capacity", "--no-reference", "--json"]
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout[res.stdout.index("{") :])
    _ordered(out)
    assert out["max_realtime_sessions"] is None and out["cpu_ratio_vs_reference"] is None


def test_batched_and_single_eeg_decode_give_the_same_run(sources, monkeypatch):
    # one vectorized decode per tick (threshold 1) vs per-notification decode (never batch)
    cfg = B.BenchConfig()
    monkeypatch.setattr(B, "_MIN_BATCH_DECODE", 1)
    a = B.run_sessions(4, 3.0, cfg, sources)
    monkeypatch.setattr(B, "_MIN_BATCH_DECODE", 10**9)
    b = B.run_sessions(4, 3.0, cfg, sources)
    assert a.n_notifications == b.n_notifications
    assert (a.n_index_updates, a.n_with_index) == (b.n_index_updates, b.n_with_index)
    assert a.last_index == b.last_index and a.last_index is not None
