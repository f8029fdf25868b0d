"""RR artefact correction against NeuroKit2's signal_fixpeaks(method="kubios") and by hand."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pytest

from addictidx.features import THRESHOLD_LEVELS_S, compute_hrv, correct_rr

DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="module")
def polar_rr_ms() -> np.ndarray:
    lines = (DATA / "polar_h10_pvc_rr_ms.txt").read_text().splitlines()
    return np.array([float(v) for v in lines if v and not v.startswith("#")])


def _nk_fixpeaks(peaks, iterative, sampling_rate=1000):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import neurokit2 as nk

        return nk.signal_fixpeaks(
            peaks, sampling_rate=sampling_rate, method="kubios", iterative=iterative
        )


def _first_pass_equals_nk(ticks: np.ndarray, sampling_rate: int):
    peaks = np.concatenate([[0], np.cumsum(ticks.astype(np.int64))])
    info, _ = _nk_fixpeaks(peaks, iterative=False, sampling_rate=sampling_rate)
    res = correct_rr(ticks / sampling_rate)
    for kind in ("ectopic", "missed", "extra", "longshort"):
        # nk reports peak indices; ours are RR indices (peak j ends RR j-1)
        assert list(res.artefacts[kind]) == [j - 1 for j in info[kind]], kind
    return res


def _check_against_nk(rr_ms: np.ndarray):
    res = _first_pass_equals_nk(rr_ms, 1000)
    peaks = np.concatenate([[0], np.cumsum(rr_ms.astype(np.int64))])
    _, clean = _nk_fixpeaks(peaks, iterative=True)
    nk_rr = np.diff(clean)
    assert res.rr_s.size == nk_rr.size
    # nk floors corrected peaks to whole samples (1 ms here); we keep exact midpoints
    assert np.max(np.abs(res.rr_s * 1000 - nk_rr)) <= 1.0 + 1e-9
    return res


def test_lipponen2019_equals_neurokit_on_bundled_polar_pvc(polar_rr_ms):
    res = _check_against_nk(polar_rr_ms)
    assert res.n_corrected == 20  # 19 ectopic + 1 missed, no further pass changes
    assert res.percent_corrected == pytest.approx(100 * 20 / 798)
    assert res.report.usable and res.method == "lipponen2019"
    assert res.corrected.sum() >= 20


def test_lipponen2019_first_pass_equals_neurokit_with_injected_artefacts():
    import gzip
    from importlib.resources import files

    raw = files("addictidx.data").joinpath("nsr2db_nsr004_rr_15min.txt.gz").read_bytes()
    rr = np.array(
        [
            float(v)
            for v in gzip.decompress(raw).decode().splitlines()
            if v.strip() and not v.startswith("#")
        ]
    )[:400]
    ticks = np.round(rr * 128).astype(np.int64)  # nsr2db RR lie on the 1/128-s grid
    ticks[50] *= 2  # a missed beat
    ticks = np.concatenate(
        [ticks[:120], [ticks[120] // 2, ticks[120] - ticks[120] // 2], ticks[121:]]
    )  # an extra beat splits interval 120
    ticks[200] -= 35  # a premature beat and its compensatory pause (~270 ms)
    ticks[201] += 35
    res = _first_pass_equals_nk(ticks, 128)
    found = {i for v in res.artefacts.values() for i in v}
    assert {50, 200} <= found and ({120, 121} & found)
    assert res.rr_s.size == ticks.size  # one beat inserted, one removed


def test_threshold_by_hand():
    rr = np.array([0.8] * 20 + [0.5, 1.1] + [0.8] * 20)
    res = correct_rr(rr, method="threshold", level="medium")
    # local median 0.8 s, threshold 0.25 s * mean RR (0.8 s) = 0.2 s: |0.5-0.8| and |1.1-0.8| > 0.2
    assert res.artefacts["threshold"] == (20, 21)
    np.testing.assert_allclose(res.rr_s[[20, 21]], 0.8, atol=1e-12)  # spline through 0.8 s
    assert res.percent_corrected == pytest.approx(100 * 2 / 42)
    weak = correct_rr(rr, method="threshold", level="very_low")  # 0.45 * 0.8 = 0.36 s
    assert weak.artefacts["threshold"] == ()
    assert THRESHOLD_LEVELS_S["strong"] == 0.15


def test_gate_and_validation():
    rr = np.array([0.8, 0.4] * 30)
    res = correct_rr(rr, method="threshold", level=0.1)
    assert not res.report.usable and "rr_artifacts>5%" in res.report.flags
    with pytest.raises(ValueError, match="position 2"):
        correct_rr([0.8, 0.9, np.nan])
    with pytest.raises(ValueError, match="level"):
        correct_rr([0.8, 0.9, 0.8], level="medium")
    with pytest.raises(ValueError, match="level"):
        correct_rr([0.8, 0.9, 0.8], method="threshold", level="extreme")


def test_correction_brings_hrv_near_sinus_values(polar_rr_ms):
    raw = compute_hrv(polar_rr_ms / 1000)
    fixed = compute_hrv(correct_rr(polar_rr_ms / 1000).rr_s)
    assert fixed["hrv_rmssd_ms"] < raw["hrv_rmssd_ms"]


def _shared() -> Path:
    env = os.environ.get("ADDICTIDX_SHARED")
    return (Path(env) if env else Path(__file__).resolve().parents[2] / "shared") / "data"


@pytest.mark.shared_data
def test_lipponen2019_on_shared_polar_h10_csv():
    path = _shared() / "polar-h10-ecg-130hz-detectPVC" / "polar_h10_ecg.csv.gz"
    if not path.exists():
        pytest.skip(f"Polar H10 recording not found at {path}")
    import pandas as pd

    df = pd.read_csv(path)
    rr = pd.to_numeric(df.rr_ms, errors="coerce").dropna().to_numpy()
    assert rr.size == 798
    _check_against_nk(rr)
