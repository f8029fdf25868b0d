"""Sample entropy and DFA (O(n log n) paths) against direct O(n²) / per-segment references
written here, NeuroKit2 0.2.13 and nolds, on real PhysioNet RR and adversarial series."""

from __future__ import annotations

import gzip
import math
import os
import warnings
from importlib.resources import files
from pathlib import Path

import numpy as np
import pytest

from addictidx.features import compute_hrv, dfa_alpha, hrv_nonlinear, sample_entropy


def _rr15_ms() -> np.ndarray:
    raw = files("addictidx.data").joinpath("nsr2db_nsr004_rr_15min.txt.gz").read_bytes()
    lines = gzip.decompress(raw).decode().splitlines()
    return 1000.0 * np.array([float(v) for v in lines if v.strip() and not v.startswith("#")])


def _shared_24h_ms() -> np.ndarray:
    env = os.environ.get("ADDICTIDX_SHARED")
    root = Path(env) if env else Path(__file__).resolve().parents[2] / "shared"
    p = root / "data/physionet-rr-24h-nsr2db-chf2db-healthy/nsr2db_normal/nsr001_rr_secs.txt.gz"
    if not p.exists():
        pytest.skip(f"shared 24-h PhysioNet RR not found at {p}")
    return 1000.0 * np.loadtxt(gzip.open(p))[1:]  # first value: offset to the first beat


def _sampen_direct(x, m, r):
    """Every pair of the N-m templates, Chebyshev distance <= r, self-matches removed."""
    n_t = x.size - m
    emb = np.lib.stride_tricks.sliding_window_view(x, m + 1)[:n_t]
    d_m = np.zeros((n_t, n_t))
    for k in range(m):
        d_m = np.maximum(d_m, np.abs(emb[:, None, k] - emb[None, :, k]))
    d_m1 = np.maximum(d_m, np.abs(emb[:, None, m] - emb[None, :, m]))
    b = (np.count_nonzero(d_m <= r) - n_t) / (n_t * (n_t - 1))
    a = (np.count_nonzero(d_m1 <= r) - n_t) / (n_t * (n_t - 1))
    return -math.log(a / b)


def _dfa_direct(x, scales):
    """NeuroKit2's fractal_dfa loop: polyfit per segment, np.var, drop var <= 1e-8."""
    y = np.cumsum(x - np.mean(x))
    f = []
    for s in scales:
        starts = np.arange(0, x.size - s, s // 2)
        seg = y[starts[:, None] + np.arange(s)]
        t = np.arange(s, dtype=float)
        coef = np.polyfit(t, seg.T, 1)
        var = np.var(seg - (coef[0][:, None] * t + coef[1][:, None]), axis=1)
        f.append(math.sqrt(np.mean(var[var > 1e-8])))
    return float(np.polyfit(np.log2(scales), np.log2(f), 1)[0])


def _series():
    rng = np.random.default_rng(7)
    rr = _rr15_ms()
    return {
        "rr_5min": rr[:350],
        "rr_15min": rr,  # > 800 templates: k-d tree path
        "integer_ties": rng.integers(0, 6, 2600).astype(float),  # r = 1 hits the boundary
        "continuous_walk": np.cumsum(rng.standard_normal(2300)),  # no repeated values
    }


@pytest.mark.parametrize("name", ["rr_5min", "rr_15min", "integer_ties", "continuous_walk"])
@pytest.mark.parametrize("r", [None, 1.0])
def test_sample_entropy_equals_direct_pair_count(name, r):
    x = _series()[name]
    tol = 0.2 * np.std(x, ddof=1) if r is None else r
    assert sample_entropy(x, dimension=2, tolerance=r) == pytest.approx(
        _sampen_direct(x, 2, tol), rel=1e-12, abs=0
    )


def test_both_sample_entropy_paths_count_the_same(monkeypatch):
    """Candidate pairs (short series) and the k-d tree over distinct templates (long)."""
    x = _series()["integer_ties"][:900]
    dense = sample_entropy(x, tolerance=1.0)
    monkeypatch.setattr(hrv_nonlinear, "_PAIR_MAX_TEMPLATES", 10)
    assert sample_entropy(x, tolerance=1.0) == dense  # same integer counts, same float


@pytest.mark.parametrize("name", ["rr_5min", "rr_15min", "integer_ties", "continuous_walk"])
@pytest.mark.parametrize("path", ["default", "blocked"])
def test_dfa_equals_per_segment_polyfit(name, path, monkeypatch):
    if path == "blocked":  # prefix sums in blocks for every scale above 11, whatever n
        monkeypatch.setattr(hrv_nonlinear, "_DFA_GATHER_BATCH", 1)
    x = _series()[name]
    alpha2_scales = np.arange(12, int((x.size + 1) / 10) + 1)
    assert dfa_alpha(x, scales=range(4, 12)) == pytest.approx(
        _dfa_direct(x, np.arange(4, 12)), rel=1e-12, abs=0
    )
    assert dfa_alpha(x, scales=alpha2_scales) == pytest.approx(
        _dfa_direct(x, alpha2_scales), rel=1e-12, abs=0
    )


def test_equals_neurokit_and_nolds_on_long_series():
    """Above 800 templates (k-d tree, blocked DFA) against the reference libraries."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nk = pytest.importorskip("neurokit2")
    x = _rr15_ms()
    r = 0.2 * np.std(x, ddof=1)
    ours = compute_hrv(x / 1000.0, convention="neurokit", frequency=False)
    ref_se, _ = nk.entropy_sample(x, delay=1, dimension=2, tolerance=r)
    assert ours["hrv_sampen"] == pytest.approx(ref_se, rel=1e-12, abs=0)
    a1, _ = nk.fractal_dfa(x, scale=np.arange(4, 12))
    a2, _ = nk.fractal_dfa(x, scale=np.arange(12, int((x.size + 1) / 10) + 1))
    assert ours["hrv_dfa_alpha1"] == pytest.approx(a1, rel=1e-12, abs=0)
    assert ours["hrv_dfa_alpha2"] == pytest.approx(a2, rel=1e-12, abs=0)
    nolds = pytest.importorskip("nolds")
    ref = nolds.sampen(x, emb_dim=2, tolerance=r, closed=True)  # nk's "<= r" semantics
    assert sample_entropy(x, tolerance=r) == pytest.approx(ref, rel=1e-12, abs=0)


@pytest.mark.shared_data
def test_24h_record_scales_and_matches_direct_alpha1():
    """A whole day (about 106,000 beats): runs (O(n log n)); alpha1 equals the per-segment
    reference and SampEn equals the dense count on an excerpt."""
    x = _shared_24h_ms()
    out = compute_hrv(x / 1000.0, frequency=False)
    assert out["hrv_dfa_alpha1"] == pytest.approx(
        _dfa_direct(x, np.arange(4, 12)), rel=1e-12, abs=0
    )
    assert 0 < out["hrv_sampen"] < 3 and 0.5 < out["hrv_dfa_alpha2"] < 1.6
    part = x[40000:43000]
    assert sample_entropy(part) == pytest.approx(
        _sampen_direct(part, 2, 0.2 * np.std(part, ddof=1)), rel=1e-12, abs=0
    )
