"""Band powers against hand-written loops, scipy.integrate and closed-form integrals."""

from __future__ import annotations

import gzip
import io
from importlib.resources import files

import numpy as np
import pytest

from addictidx.features import (
    EEG_BANDS,
    EMG_DOMINATED_BANDS,
    band_power,
    band_ratio,
    compute_psd,
    frontal_alpha_asymmetry,
    individual_alpha_frequency,
)

SFREQ = 256.0
CH = ["TP9", "AF7", "AF8", "TP10"]


@pytest.fixture(scope="module")
def spectra():
    raw = files("addictidx.data").joinpath("muse_eeg_notebooks_n170_subject2.csv.gz").read_bytes()
    x = np.loadtxt(io.StringIO(gzip.decompress(raw).decode()), delimiter=",", skiprows=1)[:, 1:5].T
    return compute_psd(x[:, : 60 * 256], SFREQ, window_s=4, step_s=0.5, n_fft=1024)


def test_band_constant():
    assert EEG_BANDS["beta"] == (13.0, 25.0)
    assert EEG_BANDS["alpha"] == (8.0, 12.0)
    assert EEG_BANDS["total"] == (1.0, 25.0)
    assert "gamma" in EEG_BANDS and "gamma" in EMG_DOMINATED_BANDS
    assert "beta" not in EMG_DOMINATED_BANDS


def test_matches_hand_loop_with_scipy_trapezoid(spectra):
    from scipy.integrate import trapezoid

    freqs, psd = spectra
    out = band_power(freqs, psd, EEG_BANDS)
    for name, (lo, hi) in EEG_BANDS.items():
        m = (freqs >= lo) & (freqs <= hi)  # closed band
        ref = np.empty(psd.shape[:2])
        for w in range(psd.shape[0]):
            for c in range(psd.shape[1]):
                ref[w, c] = trapezoid(psd[w, c, m], freqs[m])
        np.testing.assert_allclose(out[name], ref, rtol=1e-12)


def test_relative_power(spectra):
    freqs, psd = spectra
    ab = band_power(freqs, psd, ["alpha", "beta", "total"])
    rel = band_power(freqs, psd, ["alpha", "beta"], relative_to="total")
    np.testing.assert_allclose(rel["beta"], ab["beta"] / ab["total"], rtol=1e-14)
    rel2 = band_power(freqs, psd, {"b": (13, 25)}, relative_to=(1, 25))
    np.testing.assert_allclose(rel2["b"], rel["beta"], rtol=1e-14)
    assert np.all((rel["beta"] > 0) & (rel["beta"] < 1))


def test_closed_form_integrals():
    f = np.arange(0, 64.25, 0.25)
    # flat PSD of 2 -> 2 * (hi - lo); linear PSD f -> (hi^2 - lo^2) / 2 (trapezoid is exact)
    flat = band_power(f, np.full_like(f, 2.0), {"beta": (13, 25)})["beta"]
    lin = band_power(f, f, {"alpha": (8, 12)})["alpha"]
    assert flat == pytest.approx(24.0, rel=1e-15)
    assert lin == pytest.approx((144 - 64) / 2, rel=1e-15)
    # edges between bins: closed band keeps only bins inside -> 13.25..24.75
    off = band_power(f, np.ones_like(f), {"b": (13.1, 24.9)})["b"]
    assert off == pytest.approx(24.75 - 13.25)


def test_too_narrow_band_is_nan():
    f = np.arange(0, 10.5, 0.5)
    out = band_power(f, np.ones_like(f), {"x": (3.1, 3.4), "y": (3.0, 3.5)})
    assert np.isnan(out["x"]) and out["y"] == pytest.approx(0.5)


def test_ratios_and_asymmetry_by_hand(spectra):
    from scipy.integrate import trapezoid

    freqs, psd = spectra

    def bp(w, c, lo, hi):
        m = (freqs >= lo) & (freqs <= hi)
        return trapezoid(psd[w, c, m], freqs[m])

    tbr = band_ratio(freqs, psd, "theta", "beta")
    abr = band_ratio(freqs, psd, "alpha", "beta")
    faa = frontal_alpha_asymmetry(freqs, psd, CH)
    for w in (0, 7, psd.shape[0] - 1):
        assert tbr[w, 0] == pytest.approx(bp(w, 0, 4, 8) / bp(w, 0, 13, 25), rel=1e-12)
        assert abr[w, 3] == pytest.approx(bp(w, 3, 8, 12) / bp(w, 3, 13, 25), rel=1e-12)
        ref = np.log(bp(w, 2, 8, 12)) - np.log(bp(w, 1, 8, 12))  # ln a(AF8) - ln a(AF7)
        assert faa[w] == pytest.approx(ref, rel=1e-12)
    with pytest.raises(KeyError, match="AF8"):
        frontal_alpha_asymmetry(freqs, psd[:, :2], ["TP9", "AF7"])


def test_individual_alpha_frequency():
    t = np.arange(0, 8, 1 / SFREQ)
    rng = np.random.default_rng(0)
    x = 10 * np.sin(2 * np.pi * 10.25 * t) + rng.normal(0, 1, t.size)
    freqs, psd = compute_psd(x, SFREQ, window_s=4, step_s=4, n_fft=1024)
    assert individual_alpha_frequency(freqs, psd)[0, 0] == 10.25
    psd[1, 0, 40] = np.nan  # 10 Hz bin: a gap row is all-NaN in practice
    assert np.isnan(individual_alpha_frequency(freqs, psd)[1, 0])


def test_unknown_band_and_bad_edges(spectra):
    freqs, psd = spectra
    with pytest.raises(KeyError, match="mu"):
        band_power(freqs, psd, ["mu"])
    with pytest.raises(ValueError, match="hi > lo"):
        band_power(freqs, psd, {"x": (12, 8)})
