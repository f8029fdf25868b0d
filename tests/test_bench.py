"""The end-to-end benchmark harness (addictidx/bench): the production path, no timing
thresholds."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from addictidx import bench as B
from addictidx.acquire.decoders.polar_pmd import decode_pmd_ecg
from addictidx.bench.server import SCREENING

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
    # the latency path's stages: part of each stage; features, ONNX and prescriptions run for
    # due sessions only, so all of theirs is on it (the same additions: exactly equal)
    due = r.due_stage_cpu_s
    assert set(due) == set(r.stage_cpu_s)
    assert all(0.0 <= due[k] <= r.stage_cpu_s[k] for k in due)
    assert all(due[k] == r.stage_cpu_s[k] for k in ("features", "onnx_index", "prescribe"))
    assert set(s["latency_path_cpu_us_per_update"]) == set(due)
    json.dumps(s, default=float)


def test_run_benchmark_json_keys(sources, monkeypatch):
    import addictidx.bench.report as R

    monkeypatch.setattr(R, "make_sources", lambda d, cfg, n_variants=None: sources)
    out = B.run_benchmark(sessions=1, duration_s=3.0, capacity=False, reference=False, p99_at=4)
    for k in (
        "p50_ms",
        "p99_ms",
        "max_realtime_sessions",
        "cpu_ratio_vs_reference",
        "cpu_ratio_vs_lean_reference",
        "p99_ms_at_4",
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
    lat, overrun, backlog = B.schedule(
        np.array([0.010, 0.040, 0.0, 0.0]), 0.025, np.array([0, 1, 2, 3])
    )
    np.testing.assert_allclose(lat, [10.0, 40.0, 15.0, 0.0], atol=1e-9)
    assert overrun == 0.25  # only tick 1 (ends at 90 ms > next hand-over at 75 ms)
    assert backlog == pytest.approx(0.0)
    # an update ready 2 ms into tick 1 (which starts late, at 35 ms): 35 + 2 - 50 < 0 -> 2 ms
    # after its own hand-over at 50 ms the tick had started 15 ms before: latency 2 ms
    lat, _, _ = B.schedule(
        np.array([0.010, 0.040, 0.0, 0.0]), 0.025, np.array([1]), np.array([0.002])
    )
    np.testing.assert_allclose(lat, [2.0], atol=1e-9)


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


def test_sklearn_reference_model_equals_onnx_index():
    pytest.importorskip("sklearn")
    from addictidx.models import population_baseline, run_index_model

    base = population_baseline()
    med, mad = base.arrays()
    x = np.array([med + 0.0, med + mad, med - 5 * mad, [np.nan, *(med[1:] + mad[1:])]])
    want = run_index_model(x, med, mad).index
    got = B.sklearn_index_pipeline(base).transform(x)
    np.testing.assert_allclose(got, want, rtol=1e-12)
    assert math.isclose(got[0], 50.0)


def test_cli_bench_json(monkeypatch, sources):
    from typer.testing import CliRunner

    import addictidx.bench.report as R
    import addictidx.cli.commands  # noqa: F401
    from addictidx.cli.app import app

    monkeypatch.setattr(R, "make_sources", lambda d, cfg, n_variants=None: sources)
    res = CliRunner().invoke(
        app,
        ["bench", "--duration", "2", "--no-capacity", "--no-reference", "--p99-at", "3", "--json"],
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout[res.stdout.index("{") :])
    _ordered(out)
    assert out["max_realtime_sessions"] is None and out["cpu_ratio_vs_reference"] is None
    assert out["p99_ms_at_3"] > 0 and out["cpu_ratio_vs_lean_reference"] is None
    assert out["cpu_ratio_vs_lean_reference_single_session"] is None
    assert out["criterion"]["rest_ingest_ticks"] == 2  # the default batching window
    res = CliRunner().invoke(
        app,
        ["bench", "--duration", "2", "--no-capacity", "--no-reference", "--p99-at", "0"]
        + ["--json", "--rest-ingest-ticks", "1"],
    )
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout[res.stdout.index("{") :])["criterion"]["rest_ingest_ticks"] == 1


def test_cpu_ratios_are_taken_at_the_serving_load():
    """Issue 16.3: the headline ratios are at the p99_at run, with that run's ingest on both
    sides; the single-session (conservative) and capacity ratios sit beside them."""
    from addictidx.bench.report import cpu_ratios

    cfg = B.BenchConfig()  # one update per second
    runs = {
        "single_session": (2.0e-3, 0.7e-3),
        "p99_at": (0.5e-3, 0.1e-3),
        "capacity": (0.4e-3, 0.08e-3),
    }
    ref, lean = {"cpu_s_per_update": 0.17}, {"cpu_s_per_update": 6.6e-3}
    out = cpu_ratios(runs, ref, lean, cfg, 500)
    # hand calculation: (ingest + reference work per second) / ours
    assert out["cpu_ratio_vs_lean_reference"] == pytest.approx((0.1e-3 + 6.6e-3) / 0.5e-3)
    assert out["cpu_ratio_vs_lean_reference_single_session"] == pytest.approx(
        (0.7e-3 + 6.6e-3) / 2.0e-3
    )
    assert out["cpu_ratio_vs_lean_reference_at_capacity"] == pytest.approx(6.68e-3 / 0.4e-3)
    assert out["cpu_ratio_vs_reference"] == pytest.approx((0.1e-3 + 0.17) / 0.5e-3)
    assert out["cpu_ratio_vs_reference_single_session"] == pytest.approx(0.1707 / 2.0e-3)
    assert out["reference_lean"]["cpu_s_per_session_s"] == pytest.approx(6.7e-3)
    assert out["ratio_at_sessions"] == 500 and "p99_at run" in out["reference_note"]
    # without a p99_at run the headline is the single-session ratio
    one = cpu_ratios({"single_session": runs["single_session"]}, dict(ref), dict(lean), cfg, 0)
    assert one["cpu_ratio_vs_lean_reference"] == one["cpu_ratio_vs_lean_reference_single_session"]
    assert one["ratio_at_sessions"] is None


def test_reference_is_timed_around_the_headline_run(monkeypatch, sources):
    """The references are timed in two blocks, just before and just after the run the headline
    ratios compare them with, and pooled: median and spread over every timed update."""
    import addictidx.bench.report as R

    events = []
    real_run = R.run_sessions

    def fake_reference(n, cfg, *, lean=False, sources=None, warmup=3):
        events.append(("lean" if lean else "full", n))
        # hand-made samples: update u of a block costs 1 + u ms (lean) or 100 + u ms (full)
        cpu = [((1.0 if lean else 100.0) + u) * 1e-3 for u in range(n)]
        return {"cpu_s_samples": cpu, "wall_s_samples": cpu, "n_warmup": warmup, "index": 50.0}

    def run(n, d, cfg, src, **kw):
        events.append(("run", n))
        return real_run(n, d, cfg, src, **kw)

    monkeypatch.setattr(R, "make_sources", lambda d, cfg, n_variants=None: sources)
    monkeypatch.setattr(R, "run_reference", fake_reference)
    monkeypatch.setattr(R, "run_sessions", run)
    out = B.run_benchmark(
        sessions=1, duration_s=2.0, capacity=False, reference_updates=3, p99_at=3
    )
    i = events.index(("run", 3))
    assert events[i - 2 : i] == [("full", 2), ("lean", 12)]  # 3 full, 8 x 3 = 24 lean
    assert events[i + 1 : i + 3] == [("full", 1), ("lean", 12)]
    lean = out["reference_lean"]
    # pooled samples: 1..12 ms twice -> median 6.5 ms; p10 of [1, 1, 2, 2, ..., 12, 12] sits
    # at position 0.1 x 23 = 2.3 of the sorted 24, between two 2-ms values
    assert lean["n_updates"] == 24 and lean["n_blocks"] == 2
    assert lean["cpu_s_per_update"] == pytest.approx(6.5e-3)
    assert lean["cpu_s_per_update_p10"] == pytest.approx(2.0e-3)
    assert lean["cpu_s_per_update_min"] == pytest.approx(1e-3)
    assert out["reference"]["cpu_s_per_update"] == pytest.approx(100e-3)  # median of 100, 101, 100
    assert out["cpu_ratio_vs_lean_reference"] > 0


def test_capacity_is_a_count_a_full_run_held(monkeypatch, sources):
    """Issue 17.10: the reported capacity is one a full-length run held, never a guess."""
    import addictidx.bench.capacity as C

    seen = []

    def fake_run(n, d, cfg, src):  # real time holds up to 557 sessions in short runs, 480 in
        seen.append((n, d))  # full-length ones
        limit = 557 if d < 3.0 else 480
        r = B.run_sessions(1, 1.0, cfg, src)
        r.n_sessions, r.duration_s = n, d
        r.held = r.held_cpu = r.held_wall = n <= limit
        return r

    monkeypatch.setattr(C, "run_sessions", fake_run)
    n, curve = C.find_capacity(3.0, B.BenchConfig(), sweep_duration_s=1.0, sources=sources)
    full = [c for c in curve if c["duration_s"] == 3.0]
    assert n <= 480 and any(c["n_sessions"] == n and c["held"] for c in full)
    assert all(not c["held"] for c in full if c["n_sessions"] > n)


def test_live_session_and_benchmark_give_the_same_index():
    """The same recording through a live session (LiveAssessment + score_session on its
    buffers) and through the benchmark's server (StreamHub + RollingEpochs + score_sessions)."""
    from addictidx.features import INDEX_FEATURE_NAMES
    from addictidx.sessions.live import LiveAssessment
    from addictidx.sessions.protocol import Phase, Protocol
    from addictidx.sessions.scoring import SessionData, score_session

    cfg = B.BenchConfig(prefill=False, n_variants=1)
    dur = 158.0
    src = B.make_sources(dur, cfg, n_variants=1)
    run = B.run_sessions(1, dur, cfg, src, keep_scores=True)
    bench = {st: sc for _i, st, sc in run.scores}
    var = src.variants[0]
    live = LiveAssessment(
        var.headband, var.strap, Protocol("eq", (Phase("eyes_closed_rest", dur + 5, True),))
    )
    spec = live.eeg_spec
    th = var.headband.profile.stream("eeg").quality or None
    fed = 0
    compared = 0
    for st in (152.0, 155.0, 158.0):
        k = math.ceil(st / cfg.tick_s - 1e-9) - 1  # the tick the update is due in
        upto = int(np.searchsorted(var.t, min((k + 1) * cfg.tick_s, dur), side="right"))
        for j in range(fed, upto):
            live.on_notification(var.devices[j], var.chars[j], var.payloads[j], var.t_l[j])
        fed = upto
        buf = live.eeg_buf
        n_all = buf.total_written
        x = buf.latest(n_all / spec.sfreq).data
        nep = 512
        first = math.ceil((st - cfg.eeg_window_s) / 2.0 - 1e-9)
        last = min(math.floor(st / 2.0 + 1e-9), n_all // nep)
        rr = live.rr_buf.latest(cfg.rr_window_s, now=st).data[0]
        data = SessionData(x[:, first * nep : last * nep], spec.sfreq, spec.channels, rr, th)
        want = score_session(data, None, age=cfg.age, screening=SCREENING)
        got = bench[st]
        assert want.index.index is not None
        assert got.index.index == pytest.approx(want.index.index, abs=1e-9)
        for name in INDEX_FEATURE_NAMES:
            assert got.features[name] == pytest.approx(want.features[name], rel=1e-9)
        assert got.quality.per_channel == want.quality.per_channel
        assert got.prescription.rule_id == want.prescription.rule_id
        compared += 1
    assert compared == 3


def test_batching_window_changes_no_score_and_drops_nothing():
    """Sessions not due are handed their notifications every ``rest_ingest_ticks`` ticks;
    the scores (each due session gets all its data up to its tick first) and everything
    delivered are those of handing every session its notes every tick."""
    import hashlib

    src = B.make_sources(6.0, B.BenchConfig(), n_variants=3)
    runs = {
        every: B.run_sessions(
            40, 6.0, B.BenchConfig(rest_ingest_ticks=every), src, keep_scores=True
        )
        for every in (1, 2, 7)  # 240 ticks: 7 leaves a partial window at the end
    }
    digests = {e: hashlib.sha256(repr(r.scores).encode()).hexdigest() for e, r in runs.items()}
    assert len(set(digests.values())) == 1, digests
    # every notification handed over (the last window is flushed at the run's end)
    assert len({r.n_notifications for r in runs.values()}) == 1
    assert all(r.n_index_updates == 40 * 6 for r in runs.values())


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2"])
def test_batching_window_must_be_a_positive_integer(bad):
    with pytest.raises(ValueError, match="rest_ingest_ticks"):
        B.BenchConfig(rest_ingest_ticks=bad)
