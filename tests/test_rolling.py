"""RollingEpochs (the incremental index features) equals index_features_with_emg on the same
window of samples: per-epoch results kept once, the window rebuilt from them."""

from __future__ import annotations

import math

import numpy as np
import pytest

from addictidx.features import RollingEpochs, index_features_with_emg
from addictidx.readers import bundled_muse_eeg, bundled_rr


@pytest.fixture(scope="module")
def eeg():
    rec = bundled_muse_eeg()
    x = np.asarray(rec.data, dtype=np.float64)[:, : 512 * 40].copy()
    names, sfreq = list(rec.ch_names), rec.sfreq
    x[names.index("TP9"), 700:760] += 400.0  # an amplitude failure on TP9
    x[names.index("AF8"), 5000:5030] = np.nan  # a gap on AF8
    x[names.index("TP10"), 9000:9600] = 3.0  # a flatline on TP10
    return x, names, float(sfreq)


def _feed_all(roll, x, stream, n_ep):
    n = roll.n_per_epoch
    ep = x[:, : n_ep * n].reshape(x.shape[0], n_ep, n).transpose(1, 0, 2)
    roll.add(np.full(n_ep, stream), np.arange(n_ep), ep)


@pytest.mark.parametrize("t_end", [30.0, 31.0, 44.0, 80.0])
def test_window_equals_batch_features(eeg, t_end):
    x, names, sfreq = eeg
    roll = RollingEpochs(3, sfreq, names, window_s=30.0)
    _feed_all(roll, x, 1, int(t_end // 2))  # the epochs received by t_end (the ring keeps 15)
    rr = np.roll(bundled_rr(), 5)[:150].copy()
    rr[20] = 0.25
    got = roll.index_features(1, t_end, rr)
    # the same window of samples: whole 2-s epochs inside [t_end - 30, t_end]
    first = math.ceil((t_end - 30.0) / 2.0 - 1e-9)
    last = math.floor(t_end / 2.0 + 1e-9)  # exclusive
    seg = x[:, first * 512 : last * 512]
    feats, q, emg = index_features_with_emg(seg, sfreq, names, rr)
    for k, v in feats.items():
        assert got.features[k] == pytest.approx(v, rel=1e-12, nan_ok=True), k
    assert got.quality.per_channel == q.per_channel
    assert got.quality.flags == q.flags and got.quality.reasons == q.reasons
    assert got.quality.usable == q.usable
    assert got.emg.value == pytest.approx(emg.value, rel=1e-12, nan_ok=True)
    assert got.emg.per_channel == pytest.approx(emg.per_channel, rel=1e-12, nan_ok=True)


def test_epochs_added_in_any_batches_and_streams_are_independent(eeg):
    x, names, sfreq = eeg
    a = RollingEpochs(2, sfreq, names, window_s=20.0)
    b = RollingEpochs(2, sfreq, names, window_s=20.0)
    _feed_all(a, x, 0, 30)
    n = a.n_per_epoch
    for e in range(30):  # one by one, interleaved with another stream's epochs
        b.add([0, 1], [e, e], np.stack([x[:, e * n : (e + 1) * n], np.zeros((4, n))]))
    rr = bundled_rr()[:150]
    fa = a.index_features(0, 56.0, rr)
    fb = b.index_features(0, 56.0, rr)
    assert fa.features == fb.features and fa.quality == fb.quality
    # stream 1 holds flat epochs only: no EEG feature, every channel fails
    f1 = b.index_features(1, 56.0, rr)
    assert math.isnan(f1.features["eeg_beta_rel_frontal"]) and not f1.quality.usable
    assert all(f"flatline:{c}" in f1.quality.flags for c in names)


def test_empty_window_is_reported_not_raised(eeg):
    _x, names, sfreq = eeg
    roll = RollingEpochs(1, sfreq, names, window_s=10.0)
    fs = roll.index_features(0, 10.0, None)
    assert all(math.isnan(v) for v in fs.features.values())
    assert not fs.quality.usable and "rr_missing" in fs.quality.flags


def test_batch_equals_single_windows(eeg):
    """index_features_batch (array operations over many windows) == index_features, exactly
    for medians, flags and reports; features to 1e-12."""
    from addictidx.features import nanmedian_axis0

    x, names, sfreq = eeg
    roll = RollingEpochs(4, sfreq, names, window_s=30.0)
    n = roll.n_per_epoch
    y = x.copy()
    y[names.index("AF7"), 2000:2100] = np.nan
    for e in range(20):
        roll.add(
            [0, 1, 2],
            [e, e, e],
            np.stack([x[:, e * n : (e + 1) * n], y[:, e * n : (e + 1) * n], np.zeros((4, n))]),
        )
    rng = np.random.default_rng(1)
    rrs = []
    for j in range(5):
        r = 0.8 + 0.05 * rng.standard_normal(170 + 7 * j)
        r[rng.integers(0, r.size, j)] = rng.choice([0.25, 1.7, np.nan], j)
        rrs.append(r)
    rrs.append(None)
    rrs.append(0.8 + 0.05 * rng.standard_normal(100))  # 80 s: too short for the RR gate
    bad = 0.8 + 0.05 * rng.standard_normal(180)
    bad[::9] = 1.9  # 11 % artefacts
    rrs.append(bad)
    streams = [0, 1, 2, 0, 1, 3, 2, 3]
    t_ends = [40.0, 39.0, 40.0, 33.0, 40.0, 40.0, 40.0, 35.0]
    got = roll.index_features_batch(streams, t_ends, rrs)
    # a second batch (remembered reports) gives the same again
    again = roll.index_features_batch(streams, t_ends, rrs)
    assert [g.quality for g in again] == [g.quality for g in got]
    assert not got[6].quality.usable and not got[7].quality.usable
    for g, s, t, r in zip(got, streams, t_ends, rrs):
        want = roll.index_features(s, t, r)
        for k, v in want.features.items():
            assert g.features[k] == pytest.approx(v, rel=1e-12, nan_ok=True), k
        assert g.quality == want.quality
        assert g.emg.per_channel == pytest.approx(want.emg.per_channel, nan_ok=True, rel=0)
        assert g.emg.value == pytest.approx(want.emg.value, nan_ok=True, rel=0)
    # the fast median is NumPy's, bit for bit
    a = rng.standard_normal((15, 6))
    a[rng.random(a.shape) < 0.3] = np.nan
    a[:, 5] = np.nan
    with np.errstate(all="ignore"), pytest.warns(RuntimeWarning):
        want = np.nanmedian(a, axis=0)
    np.testing.assert_array_equal(nanmedian_axis0(a), want)


@pytest.mark.parametrize("half_window", [1, 2, 3, 5, 8])
@pytest.mark.parametrize("rel_threshold", [0.2, 0.05, 0.5])
def test_rr_batch_screening_equals_rr_quality(half_window, rel_threshold):
    """The batch screening (median computed only for beats not surely near it) keeps exactly
    the beats rr_quality keeps, for steady and variable rhythms, ties, artefacts and gaps."""
    from addictidx.features import rr_quality
    from addictidx.features.index_batch import rr_index_features_batch

    rng = np.random.default_rng(half_window)
    wins = []
    for sd in (0.005, 0.03, 0.1, 0.3):
        r = 0.8 + sd * rng.standard_normal(160)
        r[::7] = np.round(r[::7] * 16) / 16  # ties
        bad = rng.integers(0, r.size, 8)
        r[bad] = rng.choice([0.25, 1.7, np.nan, 1.2, 0.5, 2.0], bad.size)
        wins.append(r)
    wins.append(np.full(3, 0.8))  # shorter than the neighbourhood
    got = rr_index_features_batch(wins, rel_threshold=rel_threshold, half_window=half_window)
    for (_, report), r in zip(got, wins):
        ok, want = rr_quality(r, rel_threshold=rel_threshold, half_window=half_window)
        assert report == want
        assert report.per_channel["rr"] == pytest.approx(np.count_nonzero(ok) / r.size, abs=1e-9)
