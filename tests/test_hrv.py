"""HRV against hand calculations and NeuroKit2 0.2.13 on real PhysioNet RR; RR quality rule."""

from __future__ import annotations

import gzip
import math
import os
import warnings
from importlib.resources import files
from pathlib import Path

import numpy as np
import pytest

from addictidx.features import (
    HRV_NAMES,
    KUBIOS_DEVIATIONS,
    NEUROKIT_NAMES,
    compute_hrv,
    rr_quality,
)


def _parse_rr(text: str) -> np.ndarray:
    vals = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            vals.append(float(line))
        except ValueError:  # e.g. the stray '@' line in healthy 008
            continue
    return np.asarray(vals)


@pytest.fixture(scope="module")
def rr15() -> np.ndarray:
    raw = files("addictidx.data").joinpath("nsr2db_nsr004_rr_15min.txt.gz").read_bytes()
    return _parse_rr(gzip.decompress(raw).decode())


def _five_min(rr: np.ndarray, start_s: float = 0.0) -> np.ndarray:
    t = np.cumsum(rr)
    return rr[(t > start_s) & (t <= start_s + 300.0)]


def _nk():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import neurokit2 as nk
    return nk


def _nk_reference(peaks_or_dict, sampling_rate=1000):
    nk = _nk()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = nk.hrv_time(peaks_or_dict, sampling_rate=sampling_rate)
        n = nk.hrv_nonlinear(peaks_or_dict, sampling_rate=sampling_rate)
    return {**t.iloc[0].to_dict(), **n.iloc[0].to_dict()}


def _assert_equals_nk(ours: dict, ref: dict, where: str):
    for name, col in NEUROKIT_NAMES.items():
        assert ours[name] == pytest.approx(ref[col], rel=1e-9, abs=0), (where, name)


# ---------------------------------------------------------------------------- hand calculations
def test_hand_calculation_three_beats():
    rr = [1.0, 1.1, 0.9]  # ms: 1000, 1100, 900; diffs +100, -200
    k = compute_hrv(rr)
    nk = compute_hrv(rr, convention="neurokit")
    assert k["hrv_mean_nn_ms"] == pytest.approx(1000.0)
    assert k["hrv_sdnn_ms"] == pytest.approx(100.0)  # sqrt((0 + 100^2 + 100^2) / 2)
    assert k["hrv_rmssd_ms"] == pytest.approx(math.sqrt((100**2 + 200**2) / 2))
    assert k["hrv_ln_rmssd"] == pytest.approx(math.log(math.sqrt(25000)))
    assert k["hrv_sdsd_ms"] == pytest.approx(math.sqrt((150**2 + 150**2) / 1))  # mean -50
    assert k["hr_mean_bpm"] == pytest.approx(60.0)
    assert k["hrv_pnn50_pct"] == pytest.approx(100.0)  # 2 of N-1 = 2 differences
    assert nk["hrv_pnn50_pct"] == pytest.approx(200 / 3)  # 2 of N = 3 intervals
    assert k["hrv_pnn20_pct"] == pytest.approx(100.0)
    # Poincaré: x1 = (-100, 200)/sqrt2 -> std ddof1 = 300/sqrt2/sqrt2 = 150/... by hand:
    x1 = np.array([-100.0, 200.0]) / math.sqrt(2)
    assert k["hrv_sd1_ms"] == pytest.approx(abs(x1[0] - x1[1]) / math.sqrt(2))
    x2 = np.array([2100.0, 2000.0]) / math.sqrt(2)
    assert nk["hrv_sd2_ms"] == pytest.approx(abs(x2[0] - x2[1]) / math.sqrt(2))
    # Brennan's identity 2*SDNN^2 - SDSD^2/2 = 20000 - 22500 < 0 here: Kubios SD2 undefined
    assert math.isnan(k["hrv_sd2_ms"])
    assert math.isnan(k["hrv_sampen"]) and math.isnan(k["hrv_dfa_alpha1"])  # too short


def test_kubios_sd2_by_hand():
    import statistics

    ms = [800.0, 900.0, 850.0, 950.0, 900.0, 820.0]
    d = [b - a for a, b in zip(ms, ms[1:])]
    sdnn, sdsd = statistics.stdev(ms), statistics.stdev(d)
    out = compute_hrv([v / 1000 for v in ms])
    assert out["hrv_sd2_ms"] == pytest.approx(math.sqrt(2 * sdnn**2 - 0.5 * sdsd**2), rel=1e-12)
    assert out["hrv_sd1_ms"] == pytest.approx(sdsd / math.sqrt(2), rel=1e-12)


def test_hr_is_rate_of_mean_interval_not_mean_rate():
    rr = np.array([0.5, 1.0, 0.5, 1.0])
    out = compute_hrv(rr)
    assert out["hr_mean_bpm"] == pytest.approx(60 / 0.75)  # 80 bpm
    assert out["hr_mean_bpm"] < np.mean(60 / rr)  # hrv-analysis' mean(60/RR) = 90 bpm


def test_nan_beats_break_successive_differences():
    out = compute_hrv([0.8, 0.9, np.nan, 1.0, 1.05])
    # valid adjacent pairs: (800, 900) and (1000, 1050) -> diffs 100, 50
    assert out["hrv_rmssd_ms"] == pytest.approx(math.sqrt((100**2 + 50**2) / 2))
    assert out["hrv_mean_nn_ms"] == pytest.approx(np.mean([800, 900, 1000, 1050]))


def test_input_validation():
    with pytest.raises(ValueError, match="milliseconds"):
        compute_hrv([800.0, 900.0, 850.0])
    with pytest.raises(ValueError, match="position 1"):
        compute_hrv([0.8, -0.9, 0.85])
    with pytest.raises(ValueError, match="convention"):
        compute_hrv([0.8, 0.9], convention="pyhrv")
    assert all(math.isnan(v) for v in compute_hrv([]).values())


def test_name_tables_are_consistent():
    assert set(NEUROKIT_NAMES) <= set(HRV_NAMES)
    assert set(KUBIOS_DEVIATIONS) <= set(NEUROKIT_NAMES)
    assert all(v.startswith("HRV_") for v in NEUROKIT_NAMES.values())
    assert {"hrv_pnn50_pct", "hrv_sd2_ms"} <= set(KUBIOS_DEVIATIONS)
    assert "hr_mean_bpm" not in NEUROKIT_NAMES  # NeuroKit2 has no HR column


# ---------------------------------------------------------------------------- vs NeuroKit2
@pytest.mark.parametrize("start_s", [0.0, 300.0, 600.0])
def test_equals_neurokit_on_bundled_excerpt(rr15, start_s):
    rr = _five_min(rr15, start_s)
    assert 300 < rr.size < 400
    ours = compute_hrv(rr, convention="neurokit")
    # nsr2db RR lie on the 1/128-s grid: integer peak indices at 128 Hz reproduce them exactly.
    ticks = np.round(rr * 128).astype(np.int64)
    assert np.array_equal(ticks / 128, rr)
    peaks = np.concatenate([[0], np.cumsum(ticks)])
    _assert_equals_nk(ours, _nk_reference(peaks, sampling_rate=128), f"peaks@128 {start_s}")


def test_equals_neurokit_with_rri_input_and_missing_beats(rr15):
    rr = _five_min(rr15).copy()
    rr[[10, 11, 57, 200]] = np.nan
    ours = compute_hrv(rr, convention="neurokit")
    _assert_equals_nk(ours, _nk_reference({"RRI": rr * 1000.0}), "RRI dict with NaN")


def test_kubios_differs_only_where_documented(rr15):
    rr = _five_min(rr15)
    k = compute_hrv(rr, convention="kubios")
    n = compute_hrv(rr, convention="neurokit")
    for name in HRV_NAMES:
        if name in KUBIOS_DEVIATIONS:
            assert k[name] != n[name], name
        else:
            assert k[name] == n[name], name
    n_rr = rr.size
    assert k["hrv_pnn50_pct"] == pytest.approx(n["hrv_pnn50_pct"] * n_rr / (n_rr - 1))


def _shared_rr_dir() -> Path:
    env = os.environ.get("ADDICTIDX_SHARED")
    base = Path(env) if env else Path(__file__).resolve().parents[2] / "shared"
    return base / "data" / "physionet-rr-24h-nsr2db-chf2db-healthy"


@pytest.mark.shared_data
@pytest.mark.parametrize(
    "rel, unit",
    [
        ("nsr2db_normal/nsr001_rr_secs.txt.gz", "s"),
        ("nsr2db_normal/nsr027_rr_secs.txt.gz", "s"),
        ("chf2db_chf/chf201_rr_secs.txt.gz", "s"),
        ("rr_healthy_subjects_ms/000.txt.gz", "ms"),
    ],
)
def test_equals_neurokit_on_physionet_24h_records(rel, unit):
    path = _shared_rr_dir() / rel
    if not path.exists():
        pytest.skip(f"PhysioNet RR data not found at {path}")
    vals = _parse_rr(gzip.decompress(path.read_bytes()).decode())
    if unit == "s":
        rr = vals[1:]  # first value is the offset to the first beat, not an RR
    else:
        rr = vals / 1000.0
    rr = _five_min(rr, 3 * 3600.0)  # 5-min excerpt 3 h into the record
    ours = compute_hrv(rr, convention="neurokit")
    if unit == "ms":  # whole milliseconds: peaks at 1000 Hz are exact
        peaks = np.concatenate([[0], np.cumsum(np.round(rr * 1000).astype(np.int64))])
        ref = _nk_reference(peaks, sampling_rate=1000)
    else:
        ref = _nk_reference({"RRI": rr * 1000.0})
    _assert_equals_nk(ours, ref, rel)


# ---------------------------------------------------------------------------- RR quality
def test_rr_quality_clean_real_series(rr15):
    mask, rep = rr_quality(rr15)
    assert mask.shape == rr15.shape
    assert rep.usable and rep.per_channel["rr"] > 0.99 and not rep.flags


def test_rr_quality_flags_premature_beat_and_pause(rr15):
    rr = rr15[:300].copy()
    base = rr[150]
    rr[150] = 0.6 * base  # premature beat
    rr[151] = 1.4 * base  # compensatory pause
    mask, rep = rr_quality(rr)
    assert not mask[150] and not mask[151]
    # hand check of the rule on beat 150: |rr - median(10 neighbours)| / median > 20 %
    neigh = np.r_[rr[145:150], rr[151:156]]
    assert abs(rr[150] - np.median(neigh)) / np.median(neigh) > 0.2
    assert rep.usable  # 2 of 300 < 5 %


def test_rr_quality_gate_and_range(rr15):
    rr = rr15[:400].copy()
    rr[::15] = 2.5  # 27 of 400 = 6.75 % out of the 0.3-2 s range
    mask, rep = rr_quality(rr)
    assert (~mask).sum() == 27
    assert not rep.usable and "rr_artifacts>5%" in rep.flags
    _, short = rr_quality(rr15[:100])  # ~88 s of clean RR
    assert not short.usable and "rr_too_short" in short.flags
    m0, empty = rr_quality([])
    assert m0.size == 0 and not empty.usable
