"""scikit-learn transformers: names, shapes, values equal to the functions, Pipeline use."""

from __future__ import annotations

import gzip
import io
import subprocess
import sys
from importlib.resources import files

import numpy as np
import pytest

from addictidx.features import EEG_BANDS, HRV_NAMES, band_power, compute_hrv, compute_psd


def test_import_stays_numpy_only():
    code = (
        "import sys, addictidx.features; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & "
        "{'scipy', 'sklearn', 'pandas', 'mne', 'neurokit2'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_band_power_transformer_equals_mne_psd():
    mne = pytest.importorskip("mne")
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    from addictidx.features import BandPowerTransformer

    raw = files("addictidx.data").joinpath("muse_eeg_notebooks_n170_subject2.csv.gz").read_bytes()
    x = np.loadtxt(io.StringIO(gzip.decompress(raw).decode()), delimiter=",", skiprows=1)[:, 1:5].T
    epochs = np.stack([x[:, i * 512 : (i + 1) * 512] for i in range(6)])  # 6 x 4 ch x 2 s
    bands = ("theta", "alpha", "beta")
    tr = BandPowerTransformer(sfreq=256.0, ch_names=["TP9", "AF7", "AF8", "TP10"], bands=bands)
    out = make_pipeline(tr, FunctionTransformer()).fit_transform(epochs)
    assert out.shape == (6, 12)
    names = list(tr.get_feature_names_out())
    assert names[:3] == ["eeg_theta_uv2_TP9", "eeg_alpha_uv2_TP9", "eeg_beta_uv2_TP9"]
    psd, freqs = mne.time_frequency.psd_array_welch(epochs[4], 256.0, n_fft=256, verbose=False)
    for b_i, b in enumerate(bands):
        lo, hi = EEG_BANDS[b]
        m = (freqs >= lo) & (freqs <= hi)
        ref = np.trapezoid(psd[:, m], freqs[m], axis=-1)
        np.testing.assert_allclose(out[4, [c * 3 + b_i for c in range(4)]], ref, rtol=1e-10)
    rel = BandPowerTransformer(sfreq=256.0, bands=bands, relative=True).fit(epochs)
    assert rel.get_feature_names_out()[0] == "eeg_theta_rel_ch0"
    f, p = compute_psd(epochs[0], 256.0, window_s=2.0, step_s=2.0, n_fft=256)
    ref = band_power(f, p[0], bands, relative_to="total")["alpha"]
    np.testing.assert_allclose(rel.transform(epochs)[0, 1::3], ref, rtol=1e-12)


def test_hrv_transformer():
    from addictidx.features import HrvTransformer

    raw = files("addictidx.data").joinpath("nsr2db_nsr004_rr_15min.txt.gz").read_bytes()
    rr = np.array(
        [
            float(v)
            for v in gzip.decompress(raw).decode().splitlines()
            if v.strip() and not v.startswith("#")
        ]
    )
    series = [rr[:350], rr[350:600]]  # ragged
    tr = HrvTransformer(features=["hrv_rmssd_ms", "hrv_lf_ms2"]).fit(series)
    out = tr.transform(series)
    assert list(tr.get_feature_names_out()) == ["hrv_rmssd_ms", "hrv_lf_ms2"]
    assert out[1, 0] == compute_hrv(series[1])["hrv_rmssd_ms"]
    assert out[0, 1] == compute_hrv(series[0])["hrv_lf_ms2"]
    assert HrvTransformer().fit(series).transform(series).shape == (2, len(HRV_NAMES))
    with pytest.raises(KeyError, match="hrv_nope"):
        HrvTransformer(features=["hrv_nope"]).fit(series)
