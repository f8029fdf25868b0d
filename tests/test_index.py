"""Tests of the addiction index: ONNX graph vs numpy twin vs hand arithmetic (EVIDENCE §7(ii))."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from addictidx._core.errors import ModelMismatchError
from addictidx._core.types import QualityReport
from addictidx.models import (
    BAND_EDGES_INDEX,
    FEATURE_NAMES,
    MODEL_ID,
    MODEL_VERSION,
    Baseline,
    band_from_index,
    band_from_z,
    build_index_model,
    index_confidence,
    index_numpy,
    load_population_norms,
    model_metadata,
    population_baseline,
    run_index_model,
    score_index,
    score_indices,
)
from addictidx.models.index_graph import model_bytes

S = 1.4826  # MAD -> SD factor written out in the hand calculations below
ZEROS = np.zeros(4)
ONES = np.ones(4)


def _both(x, median, mad):
    return run_index_model(x, median, mad), index_numpy(x, median, mad)


# ----------------------------------------------------------------------------- the ONNX artefact


def test_shipped_model_equals_fresh_build():
    """The packaged .onnx is exactly what build_index_model() produces (deterministic build)."""
    assert model_bytes() == build_index_model().SerializeToString()
    assert build_index_model().SerializeToString() == build_index_model().SerializeToString()


def test_model_metadata_and_signature():
    import onnx

    meta = model_metadata()
    assert meta["model_id"] == MODEL_ID
    assert meta["model_version"] == MODEL_VERSION
    assert meta["feature_names"].split(",") == list(FEATURE_NAMES)
    assert meta["feature_signs"] == "-1,+1,+1,-1"
    model = onnx.load_from_string(model_bytes())
    onnx.checker.check_model(model, full_check=True)
    assert [i.name for i in model.graph.input] == ["x", "median", "mad"]
    assert [o.name for o in model.graph.output] == ["index", "Z", "z", "n_avail"]
    assert model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.DOUBLE
    # Phi is computed through an Erf node (the model-local double-precision Erf function).
    assert any(n.op_type == "Erf" for n in model.graph.node)


def test_graph_erf_matches_math_erf_over_the_clipped_range():
    """Z in [-3, 3] after clipping, so erf is needed on |t| <= 3/sqrt2; check index = 100
    Phi(Z)."""
    Z = np.linspace(-3, 3, 601)
    # x chosen so that every feature has z = Z (median 0, MAD 1/1.4826 -> scale 1; signs undone).
    mad = np.full(4, 1.0 / S)
    signs = np.array([-1.0, 1, 1, -1])
    x = Z[:, None] * signs[None, :]
    out = run_index_model(x, ZEROS, mad)
    expected = np.array([100 * 0.5 * (1 + math.erf(z / math.sqrt(2))) for z in Z])
    np.testing.assert_allclose(out.Z, Z, atol=1e-12)
    np.testing.assert_allclose(out.index, expected, rtol=0, atol=1e-10)


def test_onnx_matches_numpy_twin_on_a_random_batch_with_missing_values():
    rng = np.random.default_rng(7)
    n = 2000
    x = rng.normal(size=(n, 4)) * 4
    x[rng.random(x.shape) < 0.15] = np.nan
    median = rng.normal(size=(n, 4))
    mad = rng.uniform(0.1, 2, size=(n, 4))
    mad[rng.random(mad.shape) < 0.02] = 0.0  # MAD = 0 guard
    a, b = _both(x, median, mad)
    for name in ("index", "Z", "z"):
        va, vb = getattr(a, name), getattr(b, name)
        np.testing.assert_array_equal(np.isnan(va), np.isnan(vb))
        np.testing.assert_allclose(va, vb, rtol=0, atol=1e-6, equal_nan=True)
    np.testing.assert_array_equal(a.n_avail, b.n_avail)
    assert a.n_avail.dtype == np.int64
    # both "index" and "no index" rows occur in the batch
    assert np.isnan(a.index).any() and np.isfinite(a.index).any()


def test_hand_calculated_z_scores():
    """x = median + 1.4826*MAD gives raw z = +1, so signed z = s_k = (-1, +1, +1, -1)."""
    median = np.array([3.6, 70.0, 0.2, 1.0])
    mad = np.array([0.25, 4.0, 0.05, 0.2])
    x = median + S * mad  # (3.6 + 0.37065, 70 + 5.9304, 0.2 + 0.07413, 1.0 + 0.29652)
    a, b = _both(x, median, mad)
    np.testing.assert_allclose(a.z[0], [-1.0, 1.0, 1.0, -1.0], atol=1e-12)
    # Z = (-1 + 1 + 1 - 1) / 4 = 0 -> index = 100 * Phi(0) = 50
    assert a.Z[0] == pytest.approx(0.0, abs=1e-12)
    assert a.index[0] == pytest.approx(50.0, abs=1e-10)
    assert b.index[0] == pytest.approx(50.0, abs=1e-10)

    # Hyperarousal direction: ln RMSSD 2 scaled-MAD below, HR 1 above, beta 0.5 above, a/b 1 below
    x2 = median + S * mad * np.array([-2.0, 1.0, 0.5, -1.0])
    a2 = run_index_model(x2, median, mad)
    np.testing.assert_allclose(a2.z[0], [2.0, 1.0, 0.5, 1.0], atol=1e-12)
    # Z = (2 + 1 + 0.5 + 1) / 4 = 1.125; Phi(1.125) = 0.5 (1 + erf(1.125/sqrt 2)) = 0.869705...
    assert a2.Z[0] == pytest.approx(1.125, abs=1e-12)
    assert a2.index[0] == pytest.approx(100 * 0.5 * (1 + math.erf(1.125 / math.sqrt(2))), abs=1e-9)
    assert a2.index[0] == pytest.approx(86.97, abs=0.005)


def test_clipping_at_plus_minus_three():
    """A feature 10 scaled-MADs away counts as 3: x = (10, -10, 0, 0)*1.4826 -> z = (-3, -3, 0,
    0)."""
    mad = np.ones(4)
    x = np.array([10.0, -10.0, 0.0, 0.0]) * S
    a, b = _both(x, ZEROS, mad)
    np.testing.assert_allclose(a.z[0], [-3.0, -3.0, 0.0, 0.0], atol=1e-12)
    # Z = (-3 - 3 + 0 + 0) / 4 = -1.5
    assert a.Z[0] == pytest.approx(-1.5, abs=1e-12)
    assert b.Z[0] == pytest.approx(-1.5, abs=1e-12)
    # all four saturated high: Z = 3, index = 100 Phi(3) = 99.865
    a3 = run_index_model(np.array([-50.0, 50.0, 50.0, -50.0]), ZEROS, ONES)
    assert a3.Z[0] == pytest.approx(3.0, abs=1e-12)
    assert a3.index[0] == pytest.approx(99.865, abs=5e-4)


def test_three_of_four_gives_index_two_of_four_does_not():
    x = np.array(
        [
            [np.nan, 2 * S, S, 0.0],  # 3 of 4: Z = (2 + 1 + 0) / 3 = 1
            [np.nan, np.nan, S, 0.0],  # 2 of 4: no index
            [np.nan] * 4,  # none
        ]
    )
    a, b = _both(x, ZEROS, ONES)
    np.testing.assert_array_equal(a.n_avail, [3, 2, 0])
    assert a.Z[0] == pytest.approx(1.0, abs=1e-12)
    # Phi(1) = 0.841345 -> index 84.13
    assert a.index[0] == pytest.approx(84.1345, abs=1e-4)
    assert np.isnan(a.Z[1]) and np.isnan(a.index[1]) and np.isnan(a.index[2])
    assert np.isnan(b.index[1])
    # per-feature z still reported for available features of a row without index
    assert a.z[1, 2] == pytest.approx(1.0) and np.isnan(a.z[1, 0])


def test_mad_zero_and_nan_baseline_exclude_the_feature():
    x = np.array([0.0, S, S, 0.0])
    mad = np.array([1.0, 0.0, 1.0, 1.0])  # HR baseline MAD = 0 -> HR excluded
    a, b = _both(x, ZEROS, mad)
    assert a.n_avail[0] == 3 and np.isnan(a.z[0, 1])
    # Z = (0 + 1 + 0) / 3
    assert a.Z[0] == pytest.approx(1 / 3, abs=1e-12)
    med = np.array([np.nan, 0, 0, 0])
    assert run_index_model(x, med, ONES).n_avail[0] == 3
    assert run_index_model(np.array([np.inf, S, S, 0]), ZEROS, ONES).n_avail[0] == 3


def test_band_edges_exact_z():
    """With median 0 and MAD 2, x = s_k * 1.4826 gives z_k = 1.4826 / (2 * 1.4826) = 0.5
    exactly."""
    signs = np.array([-1.0, 1, 1, -1])
    mad = np.full(4, 2.0)
    x_half = signs * S  # z = 0.5 for every feature -> Z = 0.5
    x_1p5 = signs * 3 * S  # z = 3 * 1.4826 / 2.9652 = 1.5 -> Z = 1.5
    a = run_index_model(np.stack([x_half, x_1p5]), ZEROS, mad)
    assert a.Z[0] == 0.5 and a.Z[1] == 1.5
    assert band_from_z(a.Z[0]) == "elevated"
    assert band_from_z(a.Z[1]) == "high"
    assert band_from_z(np.nextafter(0.5, 0)) == "low"
    assert band_from_z(np.nextafter(1.5, 0)) == "elevated"
    # the index of Z = 0.5 is exactly on the index edge, and bands agree
    assert a.index[0] == pytest.approx(BAND_EDGES_INDEX[0], abs=1e-10)
    assert band_from_index(BAND_EDGES_INDEX[0]) == "elevated"
    assert band_from_index(BAND_EDGES_INDEX[1]) == "high"
    assert band_from_index(69.14) == "low"
    assert band_from_index(93.31) == "elevated"
    assert band_from_z(None) is None and band_from_index(None) is None


def test_band_edge_constants():
    # 100 * Phi(0.5) = 69.146246..., 100 * Phi(1.5) = 93.319280... (Phi from scipy, independent)
    from scipy.stats import norm

    assert BAND_EDGES_INDEX[0] == pytest.approx(100 * norm.cdf(0.5), abs=1e-10)
    assert BAND_EDGES_INDEX[1] == pytest.approx(100 * norm.cdf(1.5), abs=1e-10)
    assert tuple(round(e, 2) for e in BAND_EDGES_INDEX) == (69.15, 93.32)


def test_median_per_row_and_shape_errors():
    x = np.array([[S, 0, 0, 0], [S, 0, 0, 0]])
    median = np.array([[0, 0, 0, 0], [S, 0, 0, 0]], dtype=float)
    a = run_index_model(x, median, ONES)
    np.testing.assert_allclose(a.z[:, 0], [-1.0, 0.0], atol=1e-12)
    with pytest.raises(ModelMismatchError, match=r"x must be shaped \(N, 4\)"):
        run_index_model(np.zeros((2, 3)), ZEROS, ONES)
    with pytest.raises(ModelMismatchError, match="median must be shaped"):
        run_index_model(np.zeros((3, 4)), np.zeros((2, 4)), ONES)
    assert run_index_model(np.zeros((0, 4)), ZEROS, ONES).index.shape == (0,)


def test_float32_input_is_accepted_and_computed_in_float64():
    x32 = np.array([[0.1, 67.0, 0.2, 1.0]], dtype=np.float32)  # 67.0 is exact in float32
    a = run_index_model(x32, np.array([0.0, 65, 0.2, 1.0]), ONES)
    assert a.index.dtype == np.float64
    assert a.z[0, 1] == pytest.approx((67 - 65) / S, abs=1e-12)  # 2 / 1.4826 = 1.34898


# ----------------------------------------------------------------------------- score_index


def _personal(n=14):
    return Baseline(
        median={
            "hrv_ln_rmssd": 3.7,
            "hr_mean_bpm": 65.0,
            "eeg_beta_rel_frontal": 0.2,
            "eeg_alpha_beta_ratio_temporal": 1.0,
        },
        mad={
            "hrv_ln_rmssd": 0.2,
            "hr_mean_bpm": 4.0,
            "eeg_beta_rel_frontal": 0.05,
            "eeg_alpha_beta_ratio_temporal": 0.25,
        },
        kind="personal",
        n_sessions=n,
        source="test",
    )


def test_score_index_hand_calculation_contributions_and_confidence():
    b = _personal()
    feats = {
        # ln RMSSD 1 scaled MAD below: 3.7 - 1.4826*0.2 = 3.40348 -> z = +1
        "hrv_ln_rmssd": 3.7 - S * 0.2,
        # HR 2 scaled MADs above: 65 + 2*1.4826*4 = 76.8608 -> z = +2
        "hr_mean_bpm": 65 + 2 * S * 4.0,
        # beta at median -> z = 0
        "eeg_beta_rel_frontal": 0.2,
        "eeg_alpha_beta_ratio_temporal": None,
        "hrv_rmssd_ms": 30.0,  # extra keys are ignored
    }
    r = score_index(feats, b)
    # Z = (1 + 2 + 0) / 3 = 1; index = 100 Phi(1) = 84.1345
    assert r.z == pytest.approx(1.0, abs=1e-9)
    assert r.index == pytest.approx(84.13447460685429, abs=1e-6)
    assert r.display_index == 84
    assert r.band == "elevated"
    assert r.z_features["eeg_alpha_beta_ratio_temporal"] is None
    assert r.contributions == pytest.approx(
        {"hrv_ln_rmssd": 1 / 3, "hr_mean_bpm": 2 / 3, "eeg_beta_rel_frontal": 0.0}, abs=1e-9
    )
    assert sum(r.contributions.values()) == pytest.approx(r.z, abs=1e-12)
    # confidence = personal 14 sessions (1.0) x features 3/4 x unknown quality 0.8 = 0.6
    assert r.confidence == pytest.approx(0.6)
    assert (r.baseline, r.n_baseline_sessions) == ("personal", 14)
    assert (r.model_id, r.model_version, r.reason) == (MODEL_ID, MODEL_VERSION, None)


def test_index_confidence_formula():
    q = QualityReport(per_channel={"AF7": 1.0, "AF8": 0.5})
    # personal at 5 sessions: 0.6; 4 features: 1; quality mean 0.75 -> 0.45
    assert index_confidence(_personal(5), 4, q) == pytest.approx(0.45)
    # personal at 9.5 -> 0.6 + 0.4 * 4.5/9 = 0.8 (use 9 sessions: 0.6 + 0.4*4/9 = 0.7778)
    assert index_confidence(_personal(9), 4, None) == pytest.approx((0.6 + 0.4 * 4 / 9) * 0.8)
    # population: 0.3 x 1 x 1 (quality report without channels)
    assert index_confidence(population_baseline(), 4, QualityReport(per_channel={})) == 0.3


def test_score_index_quality_gate_and_missing_reason():
    b = _personal()
    feats = {n: b.median[n] for n in FEATURE_NAMES}
    bad = QualityReport(
        per_channel={"AF7": 0.2}, usable=False, reasons=("only 40% of EEG epochs passed",)
    )
    r = score_index(feats, b, quality=bad)
    assert r.index is None and r.band is None and r.confidence == 0.0
    assert "only 40% of EEG epochs passed" in r.reason
    r2 = score_index({"hr_mean_bpm": 70.0, "eeg_beta_rel_frontal": 0.2}, b)
    assert r2.index is None
    assert "only 2 of 4" in r2.reason
    assert "hrv_ln_rmssd (no value)" in r2.reason and "eeg_alpha_beta_ratio_temporal" in r2.reason
    b0 = Baseline(
        median=b.median,
        mad={**b.mad, "hr_mean_bpm": 0.0},
        kind="personal",
        n_sessions=6,
        source="t",
    )
    r3 = score_index({**feats, "eeg_alpha_beta_ratio_temporal": None}, b0)
    assert r3.index is None and "hr_mean_bpm (baseline MAD is 0)" in r3.reason


def test_score_index_rejects_implausible_units():
    with pytest.raises(ValueError, match=r"hrv_ln_rmssd.*natural log of RMSSD"):
        score_index(
            {"hrv_ln_rmssd": 42.0, "hr_mean_bpm": 60.0, "eeg_beta_rel_frontal": 0.2}, _personal()
        )


def test_score_indices_batch_equals_single_calls():
    b = _personal()
    rng = np.random.default_rng(3)
    rows = [
        {
            "hrv_ln_rmssd": float(3.7 + rng.normal() * 0.3),
            "hr_mean_bpm": float(65 + rng.normal() * 6),
            "eeg_beta_rel_frontal": float(0.2 + rng.normal() * 0.05),
            "eeg_alpha_beta_ratio_temporal": float(1 + rng.normal() * 0.2),
        }
        for _ in range(50)
    ]
    many = score_indices(rows, b)
    for row, r in zip(rows, many):
        one = score_index(row, b)
        assert r.index == pytest.approx(one.index, abs=1e-12)
        assert r.band == one.band


def test_population_fallback_is_labelled():
    pb = population_baseline(n_personal_sessions=2)
    assert pb.kind == "population"
    assert "device reference" in pb.feature_labels["eeg_beta_rel_frontal"]
    assert "NOT a population norm" in pb.feature_labels["eeg_alpha_beta_ratio_temporal"]
    assert "lower confidence" in pb.label
    feats = {n: pb.median[n] for n in FEATURE_NAMES}
    r = score_index(feats, pb)
    assert r.baseline == "population" and r.n_baseline_sessions == 0
    # all at the median -> Z = 0 -> index 50; confidence 0.3 x 1 x 0.8 = 0.24
    assert r.index == pytest.approx(50.0, abs=1e-9)
    assert r.confidence == pytest.approx(0.24)


def test_population_norm_arithmetic_from_published_mean_sd():
    """Recompute the toml's derived values from Nunan 2010 mean +- SD, independently."""
    doc = load_population_norms()
    # ln RMSSD, lognormal with mean 42, SD 15: sigma^2 = ln(1 + (15/42)^2), mu = ln 42 - sigma^2/2
    s2 = math.log(1 + (15 / 42) ** 2)
    assert doc["hrv_ln_rmssd"]["median"] == pytest.approx(math.log(42) - s2 / 2, abs=1e-6)
    assert doc["hrv_ln_rmssd"]["mad"] == pytest.approx(math.sqrt(s2) / 1.4826, abs=1e-6)
    # cross-check the lognormal: simulated RMSSD with those parameters has mean ~42 and SD ~15
    rng = np.random.default_rng(0)
    sim = np.exp(
        rng.normal(doc["hrv_ln_rmssd"]["median"], doc["hrv_ln_rmssd"]["mad"] * 1.4826, 400_000)
    )
    assert sim.mean() == pytest.approx(42, rel=0.01) and sim.std() == pytest.approx(15, rel=0.02)
    # HR: 60000/926 bpm; delta-method SD 60000*90/926^2, MAD = SD/1.4826
    assert doc["hr_mean_bpm"]["median"] == pytest.approx(60000 / 926, abs=1e-6)
    assert doc["hr_mean_bpm"]["mad"] == pytest.approx(60000 * 90 / 926**2 / 1.4826, abs=1e-6)
    for name in ("eeg_beta_rel_frontal", "eeg_alpha_beta_ratio_temporal"):
        assert doc[name]["kind"] == "device_reference"
        assert "NOT a population norm" in doc[name]["label"]


def _shared() -> Path:
    env = os.environ.get("ADDICTIDX_SHARED")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "shared"


@pytest.mark.shared_data
def test_eeg_device_reference_values_reproduce_from_real_muse_recordings():
    from addictidx.models import eeg_reference_values

    data = _shared() / "data"
    muse = sorted((data / "muse-eeg-notebooks-v0.1-subset").glob("*.csv.gz"))
    extra = data / "biopsykit-example-muse-eeg-and-ecg" / "eeg_muse_example.csv.gz"
    if len(muse) != 20 or not extra.exists():
        pytest.skip(f"shared Muse recordings not found under {data}")
    got = eeg_reference_values([*muse, extra])
    doc = load_population_norms()
    # 21 recordings give frontal beta; 12 pass the temporal-pair gate (values: see the toml)
    assert (got["eeg_beta_rel_frontal"]["n"], got["eeg_alpha_beta_ratio_temporal"]["n"]) == (
        21,
        12,
    )
    for name in ("eeg_beta_rel_frontal", "eeg_alpha_beta_ratio_temporal"):
        assert got[name]["n"] == doc[name]["n_recordings"]
        assert got[name]["median"] == pytest.approx(doc[name]["median"], abs=5e-5)
        assert got[name]["mad"] == pytest.approx(doc[name]["mad"], abs=5e-5)


def test_package_import_is_light():
    code = (
        "import sys, addictidx.models, addictidx.prescribe; "
        "bad = [m for m in ('onnx', 'onnxruntime', 'scipy', 'sklearn', 'mne') if m in "
        "sys.modules]; "
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
