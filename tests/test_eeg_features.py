"""Fused EEG features equal MNE's per-window PSD + trapezoid bands and the bands.py functions."""

from __future__ import annotations

import gzip
import io
from importlib.resources import files

import numpy as np
import pytest

from addictidx.features import (
    EEG_BANDS,
    band_power,
    band_ratio,
    compute_eeg_features,
    compute_psd,
    frontal_alpha_asymmetry,
    individual_alpha_frequency,
)

CH = ["TP9", "AF7", "AF8", "TP10"]


@pytest.fixture(scope="module")
def muse() -> np.ndarray:
    raw = files("addictidx.data").joinpath("muse_eeg_notebooks_n170_subject2.csv.gz").read_bytes()
    x = np.loadtxt(io.StringIO(gzip.decompress(raw).decode()), delimiter=",", skiprows=1)
    return np.ascontiguousarray(x[: 256 * 40, 1:5].T)


def test_equals_bands_functions_and_mne(muse):
    x = muse.copy()
    x[2, 3000:3010] = np.nan  # a gap on AF8
    fr = compute_eeg_features(x, 256.0, CH, window_s=4.0, step_s=0.25, n_fft=256)
    f, p = compute_psd(x, 256.0, window_s=4.0, step_s=0.25, n_fft=256)
    assert fr.values.shape[0] == p.shape[0]
    col = {n: i for i, n in enumerate(fr.names)}
    bp = band_power(f, p, ("delta", "theta", "alpha", "beta", "gamma"))
    rel = band_power(f, p, ("delta", "theta", "alpha", "beta"), relative_to="total")
    for ci, ch in enumerate(CH):
        for b in ("delta", "theta", "alpha", "beta", "gamma"):
            np.testing.assert_allclose(
                fr.values[:, col[f"eeg_{b}_uv2_{ch}"]], bp[b][:, ci], rtol=1e-10
            )
        for b in ("delta", "theta", "alpha", "beta"):
            np.testing.assert_allclose(
                fr.values[:, col[f"eeg_{b}_rel_{ch}"]], rel[b][:, ci], rtol=1e-10
            )
        np.testing.assert_allclose(
            fr.values[:, col[f"eeg_theta_beta_ratio_{ch}"]],
            band_ratio(f, p[:, ci], "theta", "beta"),
            rtol=1e-10,
        )
        np.testing.assert_allclose(
            fr.values[:, col[f"eeg_iaf_hz_{ch}"]], individual_alpha_frequency(f, p[:, ci])
        )
    np.testing.assert_allclose(
        fr.values[:, col["eeg_faa"]], frontal_alpha_asymmetry(f, p, CH), rtol=1e-9
    )
    assert np.isnan(fr.values[40, col["eeg_alpha_uv2_AF8"]])  # window over the gap
    assert fr.times[0] == pytest.approx(4.0) and fr.times[1] == pytest.approx(4.25)

    mne = pytest.importorskip("mne")
    for k in (0, 17, 99):
        s = int(round(k * 0.25 * 256))
        psd, freqs = mne.time_frequency.psd_array_welch(
            muse[:, s : s + 1024], 256.0, n_fft=256, verbose=False
        )
        lo, hi = EEG_BANDS["beta"]
        m = (freqs >= lo) & (freqs <= hi)
        ref = np.trapezoid(psd[:, m], freqs[m], axis=-1)
        np.testing.assert_allclose(
            [fr.values[k, col[f"eeg_beta_uv2_{c}"]] for c in CH], ref, rtol=1e-10
        )


def test_low_sfreq_drops_gamma_and_checks_names(muse):
    fr = compute_eeg_features(muse[:, :2000], 64.0, CH, window_s=4.0, step_s=1.0, n_fft=64)
    assert not any("gamma" in n for n in fr.names)
    with pytest.raises(ValueError, match="ch_names"):
        compute_eeg_features(muse, 256.0, CH[:3])
