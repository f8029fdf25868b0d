"""The four core index features against independent pipelines (MNE Welch, NeuroKit2)."""

from __future__ import annotations

import gzip
import io
import math
import warnings
from importlib.resources import files

import numpy as np
import pytest

from addictidx._core.types import QualityReport
from addictidx.features import INDEX_FEATURE_NAMES, compute_index_features, eeg_epoch_checks

SFREQ = 256.0
CH = ["TP9", "AF7", "AF8", "TP10"]
EP = 512


@pytest.fixture(scope="module")
def muse() -> np.ndarray:
    raw = files("addictidx.data").joinpath("muse_eeg_notebooks_n170_subject2.csv.gz").read_bytes()
    x = np.loadtxt(io.StringIO(gzip.decompress(raw).decode()), delimiter=",", skiprows=1)
    return x[:, 1:5].T.copy()


@pytest.fixture(scope="module")
def rr() -> np.ndarray:
    raw = files("addictidx.data").joinpath("nsr2db_nsr004_rr_15min.txt.gz").read_bytes()
    lines = gzip.decompress(raw).decode().splitlines()
    vals = np.array([float(v) for v in lines if v.strip() and not v.startswith("#")])
    return vals[np.cumsum(vals) <= 300.0]  # 5 min


def _band(freqs, psd, lo, hi):
    from scipy.integrate import trapezoid

    m = (freqs >= lo) & (freqs <= hi)
    return trapezoid(psd[m], freqs[m])


def test_names_and_report(muse, rr):
    feats, rep = compute_index_features(muse, SFREQ, CH, rr)
    assert (
        tuple(feats)
        == INDEX_FEATURE_NAMES
        == (
            "hrv_ln_rmssd",
            "hr_mean_bpm",
            "eeg_beta_rel_frontal",
            "eeg_alpha_beta_ratio_temporal",
        )
    )
    assert all(isinstance(v, float) and math.isfinite(v) for v in feats.values())
    assert isinstance(rep, QualityReport) and rep.usable
    assert set(rep.per_channel) == {*CH, "rr"}


def test_eeg_features_equal_mne_welch_over_clean_epochs(muse, rr):
    import mne

    feats, _ = compute_index_features(muse, SFREQ, CH, rr)
    ok = eeg_epoch_checks(muse, SFREQ, CH).ok
    vals = {}
    for i, ch in enumerate(CH):
        # independent spectrum: Welch (2-s Hamming segments, no overlap) on the clean epochs
        # concatenated = mean of their periodograms
        clean = np.concatenate([muse[i, e * EP : (e + 1) * EP] for e in np.flatnonzero(ok[:, i])])
        psd, freqs = mne.time_frequency.psd_array_welch(
            clean, SFREQ, n_fft=EP, n_overlap=0, window="hamming", verbose=False
        )
        vals[ch] = {
            b: _band(freqs, psd, lo, hi)
            for b, (lo, hi) in {"a": (8, 12), "b": (13, 25), "t": (1, 25)}.items()
        }
    beta_rel = np.mean([vals[c]["b"] / vals[c]["t"] for c in ("AF7", "AF8")])
    ab = np.mean([vals[c]["a"] / vals[c]["b"] for c in ("TP9", "TP10")])
    assert feats["eeg_beta_rel_frontal"] == pytest.approx(beta_rel, rel=1e-10)
    assert feats["eeg_alpha_beta_ratio_temporal"] == pytest.approx(ab, rel=1e-10)
    assert ok[:, 0].sum() < ok.shape[0]  # TP9 really had rejected epochs in this recording


def test_hrv_features_equal_neurokit(muse, rr):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import neurokit2 as nk

        ref = nk.hrv_time({"RRI": rr * 1000.0}).iloc[0]
    feats, _ = compute_index_features(None, None, None, rr)
    assert feats["hrv_ln_rmssd"] == pytest.approx(math.log(ref["HRV_RMSSD"]), rel=1e-12)
    assert feats["hr_mean_bpm"] == pytest.approx(60000.0 / ref["HRV_MeanNN"], rel=1e-12)


def test_rejected_beats_do_not_enter_rmssd(rr):
    bad = rr.copy()
    bad[100] *= 0.6  # one premature beat
    feats, rep = compute_index_features(None, None, None, bad)
    clean = bad.copy()
    clean[100] = np.nan
    d = np.diff(clean * 1000.0)
    d = d[np.isfinite(d)]
    assert feats["hrv_ln_rmssd"] == pytest.approx(math.log(np.sqrt(np.mean(d**2))), rel=1e-12)
    assert rep.per_channel["rr"] == pytest.approx(1 - 1 / rr.size)


def test_missing_inputs_give_nan(muse, rr):
    feats, rep = compute_index_features(muse, SFREQ, CH, None)
    assert math.isnan(feats["hrv_ln_rmssd"]) and math.isnan(feats["hr_mean_bpm"])
    assert math.isfinite(feats["eeg_beta_rel_frontal"])
    assert not rep.usable and "rr_missing" in rep.flags
    feats, rep = compute_index_features(None, None, None, rr)
    assert math.isnan(feats["eeg_beta_rel_frontal"]) and not rep.usable


def test_failed_channel_blanks_only_its_feature(muse, rr):
    x = muse.copy()
    x[2, :] = 5.0  # AF8 flat over the whole recording
    feats, rep = compute_index_features(x, SFREQ, CH, rr)
    assert math.isnan(feats["eeg_beta_rel_frontal"])
    assert math.isfinite(feats["eeg_alpha_beta_ratio_temporal"])
    assert not rep.usable and "flatline:AF8" in rep.flags


def test_artefact_heavy_rr_gives_nan(rr):
    bad = rr.copy()
    bad[::10] = 3.0  # 10 % out of range
    feats, rep = compute_index_features(None, None, None, bad)
    assert math.isnan(feats["hrv_ln_rmssd"]) and "rr_artifacts>5%" in rep.flags


def test_low_sfreq_rejected(muse):
    with pytest.raises(ValueError, match="sfreq"):
        compute_index_features(muse, 40.0, CH, None)


def test_import_is_numpy_only():
    import subprocess
    import sys

    code = (
        "import sys, addictidx.features; "
        "print(sorted(m for m in ('scipy', 'mne', 'neurokit2', 'pandas', 'sklearn') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
