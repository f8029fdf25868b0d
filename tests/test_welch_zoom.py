"""Low bins of a long-FFT Welch spectrum by chirp-z (features/welch_zoom.py): equal to the full
FFT (SciPy's Welch) on real RR, with the maximum provably among them, else no answer."""

from __future__ import annotations

import gzip
from importlib.resources import files

import numpy as np
import pytest

from addictidx.features.hrv_frequency import _eval_sorted, _hann, _welch_density
from addictidx.features.welch_zoom import welch_low_bins


def _rr_series(seconds: float, fs: float = 100.0) -> np.ndarray:
    """NeuroKit2's 100-Hz series of real RR (bundled nsr2db excerpt), mean removed."""
    from scipy.interpolate import make_interp_spline

    raw = files("addictidx.data").joinpath("nsr2db_nsr004_rr_15min.txt.gz").read_bytes()
    lines = gzip.decompress(raw).decode().splitlines()
    rr = np.array([float(v) for v in lines if v.strip() and not v.startswith("#")])
    t = np.cumsum(rr)
    rr, t = rr[t <= seconds] * 1000.0, t[t <= seconds]
    x = np.arange(t[0], t[-1] + 1 / fs, 1 / fs)
    y = make_interp_spline(t, rr, k=2)(x)
    return y - y.mean()


@pytest.mark.parametrize("seconds, drop", [(300.0, 0), (200.0, 1), (120.0, 0)])
def test_low_bins_equal_full_welch_and_hold_its_maximum(seconds, drop):
    from scipy.signal import welch

    y = _rr_series(seconds)[drop:]
    n = y.size
    for nperseg in (n // 2, n // 2 - 1):  # 2 segments, and 3 (one rides alone)
        nfft = 2 * nperseg
        full = _welch_density(y, 100.0, nperseg, nperseg // 2, nfft)
        ref = welch(y, 100.0, "hann", nperseg, nperseg // 2, nfft, detrend=False)[1]
        np.testing.assert_allclose(full, ref, rtol=1e-12, atol=1e-14 * ref.max())
        keep = int(np.ceil(0.5 * nfft / 100.0)) + 1
        p = welch_low_bins(y, 100.0, _hann(nperseg), nperseg // 2, nfft, keep)
        assert p is not None and p.size >= keep
        np.testing.assert_allclose(p[:keep], full[:keep], rtol=1e-12, atol=0)
        assert np.max(p) == pytest.approx(np.max(full), rel=1e-13)
        assert np.argmax(p) == np.argmax(full)


def test_no_answer_when_the_bound_is_not_conclusive():
    """White noise has as much power at 40 Hz as below 1 Hz: the bound cannot rule out the
    other bins, so the caller must compute the full spectrum."""
    y = np.random.default_rng(3).standard_normal(20000)
    assert welch_low_bins(y, 100.0, _hann(10000), 5000, 20000, 60) is None
    assert welch_low_bins(y[:3000], 100.0, _hann(1500), 750, 3000, 20) is None  # short FFT


def test_quadratic_spline_grid_evaluation_is_scipys_bit_for_bit():
    from scipy.interpolate import PPoly, make_interp_spline

    rng = np.random.default_rng(7)
    t = np.cumsum(rng.uniform(0.6, 1.2, 200))
    pp = PPoly.from_spline(make_interp_spline(t, rng.normal(800.0, 40.0, t.size), k=2))
    grid = np.arange(t[0], t[-1] + 0.01, 0.01)
    on_knots = np.sort(np.concatenate([grid, pp.x[5:40], [t[-1], t[-1] + 0.3]]))
    for x in (grid, on_knots):
        np.testing.assert_array_equal(_eval_sorted(pp, x), pp(x))
