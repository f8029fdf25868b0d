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
                fr.values[:, col[f"eeg_{b}_uv2_{ch}"]], bp[b][:, ci], rtol=1e-12
            )
        for b in ("delta", "theta", "alpha", "beta"):
            np.testing.assert_allclose(
                fr.values[:, col[f"eeg_{b}_rel_{ch}"]], rel[b][:, ci], rtol=1e-12
            )
        np.testing.assert_allclose(
            fr.values[:, col[f"eeg_theta_beta_ratio_{ch}"]],
            band_ratio(f, p[:, ci], "theta", "beta"),
            rtol=1e-12,
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
            [fr.values[k, col[f"eeg_beta_uv2_{c}"]] for c in CH], ref, rtol=1e-12
        )


def test_low_sfreq_drops_gamma_and_checks_names(muse):
    fr = compute_eeg_features(muse[:, :2000], 64.0, CH, window_s=4.0, step_s=1.0, n_fft=64)
    assert not any("gamma" in n for n in fr.names)
    with pytest.raises(ValueError, match="ch_names"):
        compute_eeg_features(muse, 256.0, CH[:3])


def test_single_window_equals_mne_and_results_do_not_alias(muse):
    """The live case: one 4-s window per call (cached plan, reused workspaces)."""
    mne = pytest.importorskip("mne")
    w1, w2 = muse[:, :1024].copy(), muse[:, 5000:6024].copy()
    fr1 = compute_eeg_features(w1, 256.0, CH, window_s=4.0, step_s=0.25, n_fft=256)
    keep = fr1.values.copy()
    fr2 = compute_eeg_features(w2, 256.0, CH, window_s=4.0, step_s=0.25, n_fft=256)
    np.testing.assert_array_equal(fr1.values, keep)  # the second call wrote elsewhere
    col = {n: i for i, n in enumerate(fr2.names)}
    psd, freqs = mne.time_frequency.psd_array_welch(w2, 256.0, n_fft=256, verbose=False)
    for b in ("delta", "theta", "alpha", "beta", "gamma"):
        lo, hi = EEG_BANDS[b]
        m = (freqs >= lo) & (freqs <= hi)
        ref = np.trapezoid(psd[:, m], freqs[m], axis=-1)
        got = [fr2.values[0, col[f"eeg_{b}_uv2_{c}"]] for c in CH]
        np.testing.assert_allclose(got, ref, rtol=1e-12)
    assert fr2.times.tolist() == [4.0]


def test_concurrent_calls_in_threads_equal_serial(muse):
    """Plans are shared between threads and workspaces are per thread: results are bitwise
    those of serial calls, whatever the interleaving."""
    from concurrent.futures import ThreadPoolExecutor

    jobs = [(muse[:, s : s + n].copy(), n) for s, n in ((0, 1024), (300, 1024), (0, 4096))]
    jobs += [(muse[:, s : s + 2048].copy(), 2048) for s in range(0, 6000, 700)]
    serial = [compute_eeg_features(x, 256.0, CH).values for x, _ in jobs]

    def run(i):
        return [compute_eeg_features(jobs[i][0], 256.0, CH).values for _ in range(20)]

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(run, range(len(jobs))))
    for i, res in enumerate(results):
        for v in res:
            np.testing.assert_array_equal(v, serial[i])


def test_plan_cache_is_bounded_and_plans_read_only():
    from addictidx.features.welch_plan import PlanCache, welch_plan

    cache = PlanCache(maxsize=2)
    built = []
    for k in (1, 2, 3, 1):
        cache.get((k,), lambda k=k: built.append(k) or k)
    assert len(cache) == 2 and built == [1, 2, 3, 1]  # 1 was dropped, then rebuilt
    cache.get((256,), lambda: "int")
    assert cache.get((256.0,), lambda: "float") == "float"  # types are part of the key
    plan = welch_plan(4, 2048, 256.0, window_s=4.0, step_s=0.25, n_fft=256)
    assert plan is welch_plan(4, 2048, 256.0, window_s=4.0, step_s=0.25, n_fft=256)
    with pytest.raises(ValueError):
        plan.taper[0] = 1.0


@pytest.mark.parametrize(
    "kw",
    [
        {},  # MNE defaults: 4 segments of 256, no overlap
        {"n_fft": 256, "n_per_seg": 128, "n_overlap": 64},  # overlapping, zero-padded segments
        {"n_fft": 200},  # segments that do not cover the window (the gap check decides)
    ],
)
def test_one_window_kernel_equals_batch_path(muse, kw):
    """One window alone takes the single-window kernel; the same window as the first of two
    takes the batch path: equal to rounding, also with a flat channel (FAA of zero power), a
    gap (NaN for that channel, via the batch path), data longer than the window and a window
    longer than its segments."""
    from addictidx.features.eeg_features import _FEATURE_PLANS

    w = muse[:, 700 : 700 + 1024].copy()
    two = muse[:, 700 : 700 + 1024 + 64].copy()
    for case in ("plain", "flat", "gap", "longer"):
        a, b = w.copy(), two.copy()
        if case == "longer":  # still one window: its segments are copied out of the data
            a = muse[:, 700 : 700 + 1024 + 63].copy()
        if case == "flat":
            a[1], b[1] = 5.0, 5.0  # AF7 constant: zero power after the detrend
        if case == "gap":
            a[3, 500], b[3, 500] = np.nan, np.nan
        with np.errstate(divide="ignore", invalid="ignore"):
            one = compute_eeg_features(a, 256.0, CH, **kw)
            ref = compute_eeg_features(b, 256.0, CH, **kw)
        assert one.values.shape == (1, len(ref.names)) and one.names == ref.names
        np.testing.assert_allclose(one.values[0], ref.values[0], rtol=1e-13, atol=0)
        assert one.times.tolist() == ref.times[:1].tolist()
    for rows, names in (([0, 3], ["TP9", "TP10"]), ([2], ["AF8"])):  # no FAA; one channel
        one = compute_eeg_features(w[rows].copy(), 256.0, names, **kw)
        ref = compute_eeg_features(two[rows].copy(), 256.0, names, **kw)
        assert one.names == ref.names and "eeg_faa" not in one.names
        np.testing.assert_allclose(one.values[0], ref.values[0], rtol=1e-13, atol=0)
    kernels = [p.one for p in _FEATURE_PLANS._plans.values() if p.welch.n_windows == 1]
    assert kernels[-1] is not None or kw == {"n_fft": 200}  # the kernel ran where it applies


@pytest.mark.parametrize(
    ("n_fft", "n_per_seg", "n_times"),
    [(256, 256, 1024), (256, 128, 1024), (255, 255, 1020), (201, 200, 1000)],
)
def test_one_window_kernel_rfft_is_numpy_rfft(muse, n_fft, n_per_seg, n_times):
    """The kernel calls the ufunc behind ``np.fft.rfft`` itself: the same spectra, bit for bit,
    for even and odd lengths and zero-padded segments."""
    from addictidx.features.eeg_features import _LAST

    x = muse[:, :n_times].copy()
    compute_eeg_features(x, 256.0, CH, window_s=n_times / 256.0, n_fft=n_fft, n_per_seg=n_per_seg)
    k = _LAST.plan[1].one
    assert k is not None and k.n_fft == n_fft
    a = np.random.default_rng(n_fft).standard_normal((k.n_channels * k.n_seg, k.n_per_seg)) * 30
    out = np.empty((a.shape[0], n_fft // 2 + 1), dtype=np.complex128)
    k.rfft(a, 1, out)
    np.testing.assert_array_equal(out, np.fft.rfft(a, n=n_fft, axis=-1))


def test_one_window_kernel_rfft_without_numpy_ufunc(monkeypatch):
    """Without numpy's rfft ufunc (numpy 1.x) the kernel calls ``np.fft.rfft``."""
    from addictidx.features import eeg_window

    monkeypatch.setattr(eeg_window, "_pocketfft", None)
    for n_fft in (256, 255):
        rfft = eeg_window._rfft_ufunc(n_fft, 200)
        assert not isinstance(rfft, np.ufunc)
        a = np.random.default_rng(1).standard_normal((3, 200))
        out = np.empty((3, n_fft // 2 + 1), dtype=np.complex128)
        rfft(a, 1, out)
        np.testing.assert_array_equal(out, np.fft.rfft(a, n=n_fft, axis=-1))


def test_cached_plans_do_not_skip_validation(muse):
    """The plan of the last call is reused only for the same parameters of the same types:
    256.0 is still refused as n_fft right after a call with 256."""
    w = muse[:, :1024].copy()
    compute_eeg_features(w, 256.0, CH, n_fft=256)
    with pytest.raises(TypeError, match="n_fft"):
        compute_eeg_features(w, 256.0, CH, n_fft=256.0)
    with pytest.raises(TypeError, match="n_overlap"):
        compute_eeg_features(w, 256.0, CH, n_fft=256, n_overlap=False)
    a = compute_eeg_features(w, 256.0, CH, n_fft=256).values
    b = compute_eeg_features(w, 256, tuple(CH), n_fft=256).values  # int sfreq, tuple names
    np.testing.assert_array_equal(a, b)


def test_feature_frame_constructor_checks_shape_and_stays_frozen():
    """FeatureFrame's written-out __init__ keeps the dataclass contract: the shape check and its
    message, keywords and the default quality, frozen fields, replace and pickling."""
    import dataclasses
    import pickle

    from addictidx._core.types import FeatureFrame

    f = FeatureFrame(("a", "b"), np.zeros((1, 2)), np.zeros(1))
    assert f.quality is None and f.names == ("a", "b")
    g = FeatureFrame(names=("a",), values=np.ones((2, 1)), times=np.arange(2.0), quality=None)
    assert g.values.shape == (2, 1)
    with pytest.raises(ValueError, match=r"shaped \(n_windows, 1\), got \(1, 2\)"):
        FeatureFrame(("a",), np.zeros((1, 2)), np.zeros(1))
    with pytest.raises(ValueError, match="n_windows"):
        FeatureFrame(("a",), np.zeros(1), np.zeros(1))
    with pytest.raises(dataclasses.FrozenInstanceError):
        f.names = ("c", "d")
    assert dataclasses.replace(f, times=np.ones(1)).times.tolist() == [1.0]
    h = pickle.loads(pickle.dumps(f))
    assert h.names == f.names and np.array_equal(h.values, f.values) and h.quality is None


def test_any_array_like_gives_the_features_of_its_float64_copy(muse):
    """The live case (a C-contiguous float64 array) skips as_channels; every other input goes
    through it: the same features from a list, float32, big-endian, Fortran-ordered or strided
    data, a 1-D channel, and the same error for no channel."""
    w = np.ascontiguousarray(muse[:, 100 : 100 + 1024])
    ref = compute_eeg_features(w, 256.0, CH).values
    fortran = np.asfortranarray(w)
    strided = np.repeat(w, 2, axis=1)[:, ::2]
    for data in (w.tolist(), w.astype(">f8"), fortran, strided, np.array(w, order="C", copy=True)):
        np.testing.assert_array_equal(compute_eeg_features(data, 256.0, CH).values, ref)
    f32 = w.astype(np.float32)
    np.testing.assert_array_equal(
        compute_eeg_features(f32, 256.0, CH).values,
        compute_eeg_features(f32.astype(np.float64), 256.0, CH).values,
    )
    one = compute_eeg_features(w[1], 256.0, ["AF7"]).values
    np.testing.assert_array_equal(one, compute_eeg_features(w[1:2].copy(), 256.0, ["AF7"]).values)
    with pytest.raises(ValueError, match="n_channels, n_times"):
        compute_eeg_features(np.empty((0, 1024)), 256.0, [])


def test_one_window_kernel_refuses_a_private_rfft_that_changed(monkeypatch):
    """numpy's rfft ufunc is private: one that fails or computes something else on the probe
    (a future numpy) is not used; the kernel falls back to ``np.fft.rfft``."""
    from types import SimpleNamespace

    from addictidx.features import eeg_window

    wrong = SimpleNamespace(rfft_n_even=np.add, rfft_n_odd=np.add)  # ufuncs, other maths
    monkeypatch.setattr(eeg_window, "_pocketfft", wrong)
    rfft = eeg_window._rfft_ufunc(256, 256)
    assert rfft is not np.add
    a = np.random.default_rng(2).standard_normal((4, 256))
    out = np.empty((4, 129), dtype=np.complex128)
    rfft(a, 1, out)
    np.testing.assert_array_equal(out, np.fft.rfft(a, n=256, axis=-1))
