"""EEG quality checks on real Muse EEG with injected, hand-placed faults."""

from __future__ import annotations

import gzip
import io
from importlib.resources import files

import numpy as np
import pytest

from addictidx._core.types import QualityReport
from addictidx.features import DEFAULT_EEG_THRESHOLDS, assess_eeg_quality, eeg_epoch_checks

SFREQ = 256.0
CH = ["TP9", "AF7", "AF8", "TP10"]
EP = 512  # 2-s epochs


@pytest.fixture(scope="module")
def muse() -> np.ndarray:
    raw = files("addictidx.data").joinpath("muse_eeg_notebooks_n170_subject2.csv.gz").read_bytes()
    x = np.loadtxt(io.StringIO(gzip.decompress(raw).decode()), delimiter=",", skiprows=1)
    return x[:, 1:5].T.copy()


def test_real_frontal_channels_pass(muse):
    rep = assess_eeg_quality(muse, SFREQ, CH)
    assert isinstance(rep, QualityReport)
    assert set(rep.per_channel) == set(CH)
    assert rep.per_channel["AF7"] == 1.0 and rep.per_channel["AF8"] == 1.0
    assert rep.usable  # every channel >= 60 % passing epochs


def test_ptp_equals_scipy_detrend(muse):
    from scipy.signal import detrend

    c = eeg_epoch_checks(muse, SFREQ, CH)
    assert c.ok.shape == (muse.shape[1] // EP, 4)
    for e in (0, 13, 41):
        for ch in range(4):
            seg = muse[ch, e * EP : (e + 1) * EP]
            assert c.ptp_uv[e, ch] == pytest.approx(np.ptp(detrend(seg, type="linear")), rel=1e-9)
    # pass share per channel = epochs within the channel's limit, counted by hand
    ptp = np.array(
        [
            [np.ptp(detrend(muse[ch, e * EP : (e + 1) * EP])) for ch in range(4)]
            for e in range(c.ok.shape[0])
        ]
    )
    limits = np.array([150.0, 250.0, 250.0, 150.0])  # AF7/AF8 are blink-prone (looser)
    np.testing.assert_array_equal(c.ok, ptp <= limits)


def test_flatline_fails_gate(muse):
    x = muse.copy()
    n_ep = x.shape[1] // EP
    n_flat = int(0.5 * n_ep)
    x[1, : n_flat * EP] = 12.0  # AF7 disconnected for the first half
    rep = assess_eeg_quality(x, SFREQ, CH)
    assert "flatline:AF7" in rep.flags
    assert rep.per_channel["AF7"] == pytest.approx((n_ep - n_flat) / n_ep)
    assert not rep.usable and "epochs<60%:AF7" in rep.flags
    assert any("AF7" in r for r in rep.reasons)


def test_blink_channels_get_looser_amplitude_limit(muse):
    x = muse.copy()
    bump = 100.0 * np.hanning(100)  # ~200 µV peak-to-peak with the opposite sign below
    for ch in (0, 1):  # TP9 and AF7, epoch 3
        x[ch, 3 * EP + 100 : 3 * EP + 200] += bump
        x[ch, 3 * EP + 300 : 3 * EP + 400] -= bump
    c = eeg_epoch_checks(x, SFREQ, CH)
    assert c.amp[3, 0] and not c.amp[3, 1]
    c2 = eeg_epoch_checks(x, SFREQ, CH, thresholds={"ptp_max_uv_blink": 150.0})
    assert c2.amp[3, 1]


def test_gaps(muse):
    x = muse.copy()
    x[3, 5 * EP + 10 : 5 * EP + 22] = np.nan  # one dropped 12-sample packet on TP10
    c = eeg_epoch_checks(x, SFREQ, CH)
    assert c.gap[5, 3] and c.gap.sum() == 1 and not c.ok[5, 3]
    assert c.gap_fraction[3] == pytest.approx(12 / x.shape[1])
    rep = assess_eeg_quality(x, SFREQ, CH)
    assert "gap:TP10" in rep.flags


def test_line_noise_and_emg_flags(muse):
    t = np.arange(muse.shape[1]) / SFREQ
    x = muse.copy()
    x[0] += 20.0 * np.sin(2 * np.pi * 50.0 * t)  # mains on TP9 (its own ratio is ~3.5)
    rng = np.random.default_rng(1)
    from scipy.signal import butter, sosfiltfilt

    emg = sosfiltfilt(
        butter(4, [35, 95], "bandpass", fs=SFREQ, output="sos"), rng.normal(0, 60, t.size)
    )
    x[3] += emg  # muscle-like broadband 35-95 Hz on TP10
    clean = eeg_epoch_checks(muse, SFREQ, CH)
    c = eeg_epoch_checks(x, SFREQ, CH)
    assert np.nanmedian(c.line_ratio[:, 0]) > 10 > np.nanmedian(clean.line_ratio[:, 0])
    assert np.nanmedian(c.emg_share[:, 3]) > 0.5 > np.nanmedian(clean.emg_share[:, 3])
    rep = assess_eeg_quality(x, SFREQ, CH)
    assert "line_noise:TP9" in rep.flags and "emg:TP10" in rep.flags


def test_thresholds_dict_validation(muse):
    with pytest.raises(KeyError, match="ptp_max"):
        assess_eeg_quality(muse, SFREQ, CH, thresholds={"ptp_max": 100})
    rep = assess_eeg_quality(muse, SFREQ, CH, thresholds={"ptp_max_uv": 1000.0})
    assert rep.per_channel["TP9"] == 1.0
    assert DEFAULT_EEG_THRESHOLDS["min_pass_fraction"] == 0.6


def test_short_recording_not_usable(muse):
    rep = assess_eeg_quality(muse[:, :300], SFREQ, CH)
    assert not rep.usable and rep.per_channel["AF7"] == 0.0
    with pytest.raises(ValueError, match="ch_names"):
        assess_eeg_quality(muse, SFREQ, CH[:3])


def test_profile_style_thresholds_rail_and_per_channel_override(muse):
    """Thresholds as a device profile hands them over: flat keys + "channels" overrides."""
    x = muse.copy()
    x[0, 7 * EP + 3] = 1000.0  # TP9 sample at the amplifier rail in epoch 7
    profile = {
        "epoch_s": 2.0,
        "ptp_max_uv": 150.0,
        "flat_std_min_uv": 0.5,
        "rail_abs_max_uv": 990.0,
        "channels": {
            "AF7": {"ptp_max_uv": 250.0},
            "AF8": {"ptp_max_uv": 250.0},
            "TP10": {"ptp_max_uv": 1e6},
        },
    }
    c = eeg_epoch_checks(x, SFREQ, CH, thresholds=profile)
    assert c.rail[7, 0] and c.rail.sum() == 1 and not c.ok[7, 0]
    assert c.ok[:, 3].all()  # TP10's override lifts its amplitude limit
    assert "rail:TP9" in assess_eeg_quality(x, SFREQ, CH, thresholds=profile).flags
    with pytest.raises(KeyError, match="TP9"):
        eeg_epoch_checks(x, SFREQ, CH, thresholds={"channels": {"TP9": {"bogus": 1.0}}})


def test_blockwise_epoch_stats_equal_scipy_on_a_long_recording_with_gaps(muse):
    """The blockwise epoch statistics (issue 16.4: no gather copy, NaN work only where needed)
    equal SciPy's linear detrend epoch by epoch across several blocks, with gaps."""
    from scipy.signal import detrend

    x = np.tile(muse, 5)  # 600 s = 300 epochs: three blocks of 128 epochs
    rng = np.random.default_rng(3)
    for k in rng.integers(0, x.shape[1] - 400, 12):
        x[rng.integers(0, 4), k : k + rng.integers(1, 400)] = np.nan
    c = eeg_epoch_checks(x, SFREQ, CH, thresholds={"rail_abs_max_uv": 120.0})
    n_ep = x.shape[1] // EP
    ep = x[:, : n_ep * EP].reshape(4, n_ep, EP).transpose(1, 0, 2)
    gap = ~np.isfinite(ep).all(axis=-1)
    filled = np.where(np.isfinite(ep), ep, 0.0)
    det = detrend(filled, axis=-1, type="linear")
    np.testing.assert_array_equal(c.gap, gap)
    np.testing.assert_allclose(c.ptp_uv, np.where(gap, np.nan, np.ptp(det, axis=-1)), rtol=1e-9)
    np.testing.assert_array_equal(c.rail, ~gap & (np.abs(filled).max(axis=-1) >= 120.0))
    np.testing.assert_array_equal(c.flat, ~gap & (det.std(axis=-1) < 0.5))


def test_thresholds_of_one_call_do_not_leak_into_the_next(muse):
    """The merged thresholds and per-channel limits are remembered per thresholds given: the
    same values of another type are their own entry, and a changed returned dict does not
    reach later calls."""
    x = muse[:, : 4 * EP]
    a = eeg_epoch_checks(x, SFREQ, CH, thresholds={"ptp_max_uv": 150})
    b = eeg_epoch_checks(x, SFREQ, CH, thresholds={"ptp_max_uv": 150.0})
    assert type(a.thresholds["ptp_max_uv"]) is int and type(b.thresholds["ptp_max_uv"]) is float
    a.thresholds["epoch_s"] = 99.0
    c = eeg_epoch_checks(x, SFREQ, CH, thresholds={"ptp_max_uv": 150})
    assert c.thresholds["epoch_s"] == 2.0 and c.thresholds is not a.thresholds
    tight = eeg_epoch_checks(x, SFREQ, CH, thresholds={"ptp_max_uv": 1e-3})
    assert tight.amp[:, [0, 3]].all() and not c.amp[:, [0, 3]].all()  # AF7/AF8: blink limit


def test_epoch_stats_equal_numpy_bit_for_bit():
    """epoch_stats writes np.ptp, np.std and the mean of the detrend with NumPy's own
    operations: the same numbers, bit for bit, as the NumPy calls on the gathered epochs."""
    from addictidx.features.epoch_stats import epoch_stats, std_last

    rng = np.random.default_rng(11)
    for n_ep, scale in ((1, 1e-3), (5, 20.0), (40, 3e4)):
        x = rng.normal(size=(4, n_ep * EP)) * scale + rng.normal(size=(4, 1)) * 50.0
        x[2, 7 : 7 + n_ep] = np.nan
        ep = x.reshape(4, n_ep, EP).transpose(1, 0, 2)
        e = np.where(np.isfinite(ep), ep, 0.0)
        t = np.arange(EP, dtype=np.float64) - (EP - 1) / 2.0
        det = e - e.mean(axis=-1, keepdims=True) - ((e @ t) / float(t @ t))[..., None] * t
        ptp, sd, peak, gap = epoch_stats(x, np.arange(n_ep) * EP, EP)
        assert np.array_equal(ptp, np.ptp(det, axis=-1))
        assert np.array_equal(sd, det.std(axis=-1))
        assert np.array_equal(std_last(det), det.std(axis=-1))
        assert np.array_equal(peak, np.abs(e).max(axis=-1))
        assert np.array_equal(gap, ~np.isfinite(ep).all(axis=-1))


@pytest.mark.parametrize("n_rep", [1, 60])  # 240 and 14,400 spectra per bin: both code paths
def test_spectral_shares_equal_numpy_masks_bit_for_bit(muse, n_rep):
    # the definitions written out with boolean masks on the returned PSD (numpy sums the
    # gathered bins in frequency order): the EMG share and the line ratio must be these
    # numbers exactly, whether the bins are gathered (few spectra) or added in place (many)
    x = np.tile(muse, n_rep)
    x[1, 3 * EP + 5 : 3 * EP + 17] = np.nan  # a gap: its epoch's spectrum is NaN
    t = np.arange(x.shape[1]) / SFREQ
    x[0] += 8.0 * np.sin(2 * np.pi * 50.0 * t)
    c = eeg_epoch_checks(x, SFREQ, CH)
    f, p = c.freqs, c.psd
    assert p.shape[1] == 4 and (p.shape[0] < 128) == (n_rep == 1)
    not_line = np.ones(f.size, dtype=bool)
    for lf in (50.0, 60.0):
        for h in range(1, int(128.0 // lf) + 1):
            not_line &= np.abs(f - h * lf) > 2.0
    emg = (f >= 30.0) & (f <= 100.0) & not_line
    ref = (f >= 1.0) & (f <= 100.0) & not_line
    with np.errstate(invalid="ignore", divide="ignore"):
        share = p[..., emg].sum(axis=-1) / p[..., ref].sum(axis=-1)
        ratios = []
        for lf in (50.0, 60.0):
            peak = p[..., (f >= lf - 1.0) & (f <= lf + 1.0)].mean(axis=-1)
            fl = (np.abs(f - lf) >= 2.0) & (np.abs(f - lf) <= 5.0)
            ratios.append(peak / np.median(p[..., fl], axis=-1))
        line = np.max(np.stack(ratios), axis=0)
    np.testing.assert_array_equal(c.emg_share, share)
    np.testing.assert_array_equal(c.line_ratio, line)
    assert np.isnan(c.emg_share[3, 1]) and np.isfinite(c.emg_share[4, 1])
