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


# --- compat="neurokit": exact reproduction (issue 15.3) ------------------------------------------


def _nk_passes(peaks: np.ndarray, sampling_rate: int):
    """NeuroKit2's iterative Kubios correction and the corrections applied over all passes.

    ``signal_fixpeaks`` returns only the last pass's artefacts, so the passes are run with
    NeuroKit2's own ``_find_artifacts`` / ``_correct_artifacts`` in the loop of its
    ``_signal_fixpeaks_kubios`` (checked against the public result below)."""
    import importlib

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mod = importlib.import_module("neurokit2.signal.signal_fixpeaks")
        arts, _ = mod._find_artifacts(peaks, sampling_rate=sampling_rate)
        n_total = n_cur = sum(len(v) for v in arts.values())
        clean = mod._correct_artifacts(arts, peaks)
        while True:
            new, _ = mod._find_artifacts(clean, sampling_rate=sampling_rate)
            n_new = sum(len(v) for v in new.values())
            if n_new >= n_cur:
                break
            n_cur = n_new
            n_total += n_new
            clean = mod._correct_artifacts(new, clean)
    _, public = _nk_fixpeaks(peaks, iterative=True, sampling_rate=sampling_rate)
    assert np.array_equal(public, clean)
    return clean, n_total


def _compat_equals_nk(ticks: np.ndarray, sampling_rate: int):
    peaks = np.concatenate([[0], np.cumsum(ticks)])
    clean, n_total = _nk_passes(peaks, sampling_rate)
    res = correct_rr(ticks / sampling_rate, compat="neurokit", sfreq=sampling_rate)
    assert np.array_equal(np.round(res.rr_s * sampling_rate).astype(np.int64), np.diff(clean))
    np.testing.assert_allclose(res.rr_s, np.diff(clean) / sampling_rate, rtol=0, atol=1e-12)
    assert res.n_corrected == n_total
    nk_pct = 100.0 * n_total / ticks.size
    assert res.percent_corrected == pytest.approx(nk_pct, abs=1e-12)
    assert res.report.usable == (nk_pct < 5.0)
    return res, n_total


def _random_windows(series: list[np.ndarray], n_windows: int, seed: int):
    rng = np.random.default_rng(seed)
    for _ in range(n_windows):
        s = series[int(rng.integers(len(series)))]
        n = int(rng.integers(100, min(700, s.size - 1)))
        i0 = int(rng.integers(0, s.size - n))
        yield s[i0 : i0 + n]


def test_compat_neurokit_exact_on_60_bundled_windows_with_injected_artefacts(polar_rr_ms):
    import gzip
    from importlib.resources import files

    raw = files("addictidx.data").joinpath("nsr2db_nsr004_rr_15min.txt.gz").read_bytes()
    lines = gzip.decompress(raw).decode().splitlines()
    nsr = np.array([float(v) for v in lines if v.strip() and not v.startswith("#")])
    nsr_ticks = np.round(nsr * 128).astype(np.int64)
    rng = np.random.default_rng(7)
    for k, w in enumerate(_random_windows([nsr_ticks, polar_rr_ms.astype(np.int64)], 60, 3)):
        fs = 128 if w.mean() < 300 else 1000
        w = w.copy()
        for j in rng.choice(np.arange(10, w.size - 10), size=3, replace=False):
            kind = k % 3  # a missed beat, a premature beat + pause, or an extra beat
            if kind == 0:
                w[j] *= 2
            elif kind == 1:
                d = w[j] // 3
                w[j] -= d
                w[j + 1] += d
            else:
                w[j] = w[j] // 2 + 1
        res, _ = _compat_equals_nk(w, fs)
        assert res.n_corrected >= 1  # the injected artefacts are found


@pytest.mark.shared_data
def test_compat_neurokit_exact_on_60_random_physionet_windows():
    import gzip

    base = _shared() / "physionet-rr-24h-nsr2db-chf2db-healthy"
    files_ = sorted((base / "chf2db_chf").glob("*.txt.gz"))[:10]
    files_ += sorted((base / "nsr2db_normal").glob("*.txt.gz"))[:5]
    if len(files_) < 15:
        pytest.skip(f"PhysioNet RR series not found in {base}")
    series = []
    for f in files_:
        v = np.array([float(x) for x in gzip.open(f, "rt").read().split()[1:]])  # [0] = offset
        t = np.round(v * 128).astype(np.int64)  # on the 1/128-s grid
        series.append(t[t > 0])
    n_diff_default = 0
    first_pass_equal = 0
    for w in _random_windows(series, 60, 15):
        res, n_nk = _compat_equals_nk(w, 128)
        default = correct_rr(w / 128)
        n_diff_default += default.n_corrected != n_nk
        first_pass_equal += dict(default.artefacts) == dict(res.artefacts)
    assert first_pass_equal == 60  # the modes differ only in later passes
    assert n_diff_default > 0  # the truncation matters (module docstring: 38 of these 60)


def test_compat_validation():
    with pytest.raises(ValueError, match="sample grid"):
        correct_rr([0.8, 0.8005, 0.8, 0.81], compat="neurokit")  # 800.5 ms at 1000 Hz
    with pytest.raises(ValueError, match="compat"):
        correct_rr([0.8] * 5, compat="kubios")
    with pytest.raises(ValueError, match="lipponen2019"):
        correct_rr([0.8] * 5, method="threshold", compat="neurokit")
    with pytest.raises(ValueError, match="sfreq"):
        correct_rr([0.8] * 5, sfreq=128)
    res = correct_rr(np.array([100, 103, 99] * 20) / 128, compat="neurokit", sfreq=128)
    assert res.n_corrected == 0 and res.rr_s.size == 60
