"""compute_psd against mne.time_frequency.psd_array_welch, window by window, on real Muse EEG."""

from __future__ import annotations

import gzip
import io
import os
from importlib.resources import files
from pathlib import Path

import numpy as np
import pytest

from addictidx.features import compute_psd, get_taper, window_starts

SFREQ = 256.0
CH = ["TP9", "AF7", "AF8", "TP10"]


def _load_muse_csv(raw: bytes) -> np.ndarray:
    text = gzip.decompress(raw).decode()
    header = text.splitlines()[0].split(",")
    assert header[:5] == ["timestamps", "TP9", "AF7", "AF8", "TP10"]
    arr = np.loadtxt(io.StringIO(text), delimiter=",", skiprows=1)
    return arr[:, 1:5].T.copy()  # (4, n_times) µV


@pytest.fixture(scope="module")
def muse() -> np.ndarray:
    raw = files("addictidx.data").joinpath("muse_eeg_notebooks_n170_subject2.csv.gz").read_bytes()
    return _load_muse_csv(raw)


def _shared_dir() -> Path:
    env = os.environ.get("ADDICTIDX_SHARED")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "shared"


def _mne_window(x, k, step_s, window_s, **kw):
    import mne

    start = int(round(k * step_s * SFREQ))
    n = int(round(window_s * SFREQ))
    psd, freqs = mne.time_frequency.psd_array_welch(
        x[:, start : start + n],
        SFREQ,
        fmin=0,
        fmax=np.inf,
        average="mean",
        remove_dc=True,
        verbose=False,
        **kw,
    )
    return freqs, psd


def _max_rel(a, b):
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-300)))


# (window_s, step_s, n_fft, n_per_seg, n_overlap, taper): aligned (shared segments), unaligned
# (strided fallback), overlap, zero-padding, odd n_fft, non-cosine taper.
COMBOS = [
    (4.0, 0.25, 256, None, 0, "hamming"),  # MNE defaults, 0.25-s hop = 1/4 segment (unaligned)
    (4.0, 1.0, 256, None, 0, "hamming"),  # hop = segment: fully shared segments
    (4.0, 0.5, 256, 256, 128, "hann"),  # 50 % overlap, hop aligned with segment hop
    (4.0, 0.3, 256, 128, 64, "hann"),  # 76.8-sample hop: rounding of starts, unaligned
    (2.0, 2.0, 512, None, 0, "hamming"),  # one segment per window (the index epochs)
    (3.3, 0.77, 301, 200, 50, "hamming"),  # odd n_fft, zero padding, ragged window
    (4.0, 1.0, 512, 256, 128, "blackman"),  # taper via scipy.signal.get_window
]


@pytest.mark.parametrize("window_s, step_s, n_fft, n_per_seg, n_overlap, taper", COMBOS)
def test_equals_mne_per_window(muse, window_s, step_s, n_fft, n_per_seg, n_overlap, taper):
    x = muse[:, : 40 * 256]
    freqs, psd = compute_psd(
        x,
        SFREQ,
        window_s=window_s,
        step_s=step_s,
        n_fft=n_fft,
        n_per_seg=n_per_seg,
        n_overlap=n_overlap,
        taper=taper,
    )
    n_expected = int(np.floor((x.shape[1] - round(window_s * SFREQ)) / (step_s * SFREQ))) + 1
    assert psd.shape[0] in (n_expected, n_expected - 1, n_expected + 1)
    assert psd.shape[1:] == (4, n_fft // 2 + 1)
    kw = dict(n_fft=n_fft, n_per_seg=n_per_seg, n_overlap=n_overlap, window=taper)
    for k in range(psd.shape[0]):
        f_ref, p_ref = _mne_window(x, k, step_s, window_s, **kw)
        np.testing.assert_allclose(freqs, f_ref, rtol=0, atol=0)
        assert _max_rel(psd[k], p_ref) < 1e-12, k


def test_window_start_rounding():
    starts, n = window_starts(1000, 256.0, window_s=1.0, step_s=0.3)
    assert n == 256
    k = np.arange(starts.size)
    np.testing.assert_array_equal(starts, np.round(k * 0.3 * 256.0).astype(int))
    assert starts[-1] + n <= 1000 and np.round((k[-1] + 1) * 76.8) + n > 1000


def test_one_dimensional_input(muse):
    f1, p1 = compute_psd(muse[1, :2048], SFREQ, window_s=4, step_s=1, n_fft=256)
    f2, p2 = compute_psd(muse[1:2, :2048], SFREQ, window_s=4, step_s=1, n_fft=256)
    assert p1.shape == (5, 1, 129)
    np.testing.assert_array_equal(p1, p2)


def test_nan_marks_only_affected_windows_and_channel(muse):
    x = muse[:, : 20 * 256].copy()
    x[2, 1000] = np.nan  # one dropped sample on AF8
    _, clean = compute_psd(muse[:, : 20 * 256], SFREQ, window_s=4, step_s=0.5, n_fft=256)
    _, psd = compute_psd(x, SFREQ, window_s=4, step_s=0.5, n_fft=256)
    starts = np.round(np.arange(psd.shape[0]) * 128).astype(int)
    hit = (starts <= 1000) & (1000 < starts + 1024)
    assert hit.sum() == 8
    assert np.isnan(psd[hit, 2]).all()
    np.testing.assert_array_equal(psd[~hit], clean[~hit])
    np.testing.assert_array_equal(psd[:, [0, 1, 3]], clean[:, [0, 1, 3]])


def test_too_short_gives_no_windows(muse):
    freqs, psd = compute_psd(muse[:, :500], SFREQ, window_s=4, step_s=1, n_fft=256)
    assert psd.shape == (0, 4, 129) and freqs.size == 129


@pytest.mark.parametrize(
    "kw, msg",
    [
        (dict(n_fft=2048), "longer than the window"),
        (dict(n_fft=256, n_overlap=256), "n_overlap"),
        (dict(n_fft=0), "n_fft"),
    ],
)
def test_bad_arguments(muse, kw, msg):
    with pytest.raises(ValueError, match=msg):
        compute_psd(muse, SFREQ, window_s=4, step_s=1, **kw)


@pytest.mark.parametrize("name", ["hamming", "hann", "boxcar"])
@pytest.mark.parametrize("n", [1, 7, 256, 512])
def test_taper_equals_scipy(name, n):
    from scipy.signal import get_window

    np.testing.assert_array_equal(get_taper(name, n), get_window(name, n))


def test_psd_matches_scipy_welch_density(muse):
    """Independent second oracle: scipy.signal.welch with MNE's parameters on one window."""
    from scipy.signal import welch

    x = muse[:, 4096 : 4096 + 1024]
    _, psd = compute_psd(x, SFREQ, window_s=4, step_s=4, n_fft=256, n_overlap=0)
    _, ref = welch(x, SFREQ, window="hamming", nperseg=256, noverlap=0, detrend="constant")
    assert _max_rel(psd[0], ref) < 1e-12


@pytest.mark.shared_data
def test_equals_mne_on_shared_muse_recordings():
    folder = _shared_dir() / "data" / "muse-eeg-notebooks-v0.1-subset"
    names = [
        "visual__N170__subject10__session1__recording_2018-06-06-14.34.14.csv.gz",
        "visual__P300__subject3__session1__data_2018-04-15-17.31.22.csv.gz",
    ]
    paths = [folder / n for n in names]
    if not all(p.exists() for p in paths):
        pytest.skip(f"shared Muse recordings not found under {folder}")
    for p in paths:
        x = _load_muse_csv(p.read_bytes())[:, : 30 * 256]
        freqs, psd = compute_psd(x, SFREQ, window_s=4, step_s=0.25, n_fft=256)
        for k in range(0, psd.shape[0], 5):
            _, ref = _mne_window(x, k, 0.25, 4.0, n_fft=256)
            assert _max_rel(psd[k], ref) < 1e-12, (p.name, k)


@pytest.mark.shared_data
def test_equals_mne_on_random_windows_of_random_shared_muse_files():
    """Issue #4 "on windows of the shared recordings drawn at random": four Muse files, a random
    stretch of each, a random parameter set from COMBOS plus MNE's defaults, random windows."""
    folder = _shared_dir() / "data" / "muse-eeg-notebooks-v0.1-subset"
    paths = sorted(folder.glob("*.csv.gz"))
    if len(paths) < 4:
        pytest.skip(f"shared Muse recordings not found under {folder}")
    rng = np.random.default_rng(44)
    checked = 0
    for p in rng.choice(paths, size=4, replace=False):
        x_all = _load_muse_csv(p.read_bytes())
        span = 20 * 256
        s0 = int(rng.integers(0, x_all.shape[1] - span))  # arbitrary (unaligned) sample
        x = x_all[:, s0 : s0 + span]
        combos = [COMBOS[0], COMBOS[int(rng.integers(1, len(COMBOS)))]]
        for window_s, step_s, n_fft, n_per_seg, n_overlap, taper in combos:
            freqs, psd = compute_psd(
                x,
                SFREQ,
                window_s=window_s,
                step_s=step_s,
                n_fft=n_fft,
                n_per_seg=n_per_seg,
                n_overlap=n_overlap,
                taper=taper,
            )
            kw = dict(n_fft=n_fft, n_per_seg=n_per_seg, n_overlap=n_overlap, window=taper)
            ks = rng.choice(psd.shape[0], size=min(4, psd.shape[0]), replace=False)
            for k in ks:
                f_ref, ref = _mne_window(x, int(k), step_s, window_s, **kw)
                np.testing.assert_array_equal(freqs, f_ref)
                assert _max_rel(psd[k], ref) < 1e-12, (p.name, s0, window_s, step_s, int(k))
                checked += 1
    assert checked >= 24
