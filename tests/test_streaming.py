"""Streaming extractors equal the batch functions (themselves equal to MNE / NeuroKit2)."""

from __future__ import annotations

import gzip
import io
from importlib.resources import files

import numpy as np
import pytest

from addictidx.features import (
    StreamingBandPower,
    StreamingHrv,
    band_power,
    compute_hrv,
    compute_psd,
)


@pytest.fixture(scope="module")
def muse() -> np.ndarray:
    raw = files("addictidx.data").joinpath("muse_eeg_notebooks_n170_subject2.csv.gz").read_bytes()
    x = np.loadtxt(io.StringIO(gzip.decompress(raw).decode()), delimiter=",", skiprows=1)
    return np.ascontiguousarray(x[: 256 * 30, 1:5].T)


@pytest.fixture(scope="module")
def rr15() -> np.ndarray:
    raw = files("addictidx.data").joinpath("nsr2db_nsr004_rr_15min.txt.gz").read_bytes()
    return np.array(
        [
            float(v)
            for v in gzip.decompress(raw).decode().splitlines()
            if v.strip() and not v.startswith("#")
        ]
    )


def test_streaming_band_power_equals_batch(muse):
    bands = ("delta", "theta", "alpha", "beta", "total")
    sbp = StreamingBandPower(256.0, 4, window_s=4.0, n_fft=256, bands=bands)
    rng = np.random.default_rng(3)
    cuts = np.sort(rng.choice(np.arange(1, muse.shape[1]), size=40, replace=False))
    outs = [sbp.push(c) for c in np.split(muse, cuts, axis=1)]  # ragged chunks
    got = np.concatenate(outs)
    f, p = compute_psd(muse, 256.0, window_s=4.0, step_s=1.0, n_fft=256)
    ref = band_power(f, p, bands)
    ref = np.stack([ref[b] for b in bands], axis=-1)
    assert got.shape == ref.shape == (27, 4, 5)
    np.testing.assert_allclose(got, ref, rtol=1e-12)


def test_streaming_hrv_equals_compute_hrv(rr15):
    s = StreamingHrv(window_s=60.0)
    for k in range(0, 406, 7):  # 58 chunks of 7 beats = 406 beats
        feats = s.push(rr15[k : k + 7])
    # the window holds the most recent beats whose sum is <= 60 s
    end = 406
    beats = rr15[:end]
    cs = np.cumsum(beats[::-1])
    win = beats[end - int(np.sum(cs <= 60.0)) :]
    ref = compute_hrv(win, frequency=False)
    assert feats["n_rr"] == win.size
    for name in ("hrv_mean_nn_ms", "hrv_sdnn_ms", "hrv_rmssd_ms", "hrv_pnn50_pct", "hr_mean_bpm"):
        assert feats[name] == pytest.approx(ref[name], rel=1e-9), name


def test_streaming_validation():
    with pytest.raises(ValueError, match="multiple"):
        StreamingBandPower(256.0, 4, window_s=3.3, n_fft=256)
    with pytest.raises(ValueError, match="> 0"):
        StreamingHrv().push([0.8, -1.0])
    with pytest.raises(ValueError, match="chunk"):
        StreamingBandPower(256.0, 4).push(np.zeros((3, 10)))
