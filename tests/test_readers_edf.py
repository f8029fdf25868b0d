"""EDF/EDF+/BDF reading (issue 15.2): padding and skipped acquisition are gaps, never signal;
EDF+D records sit at their own onsets; the type comes from the header, not the extension.

References: the bundled muse-lsl CSV (read by ``numpy.genfromtxt`` in test_recordings), files
written by ``mne.export.export_raw`` and by ``edfio``, MNE's own EDF reader, and hand-built
EDF+D files whose gap positions are computed here.
"""

from __future__ import annotations

import math
import shutil

import numpy as np
import pytest

from addictidx.features import compute_index_features
from addictidx.readers import bundled_muse_eeg, read_recording

mne = pytest.importorskip("mne")
edfio = pytest.importorskip("edfio")

SF = 256
#: 119.04 s: 59 whole 2-s epochs + 1.04 s, so the export's padding completes a 60th epoch.
N = SF * 119 + 10
#: BDF physical ranges whose LSB is exactly 0.001 uV, so that the CSV's 3 decimals survive
#: (header fields hold 8 characters: -8388.607 would be cut to -8388.61 and shift every value).
#: MNE writes digital -8388607..8388607 (span 16777214), edfio -8388608..8388607.
BDF_RANGE = (-8388.61, 8388.604)
EDFIO_RANGE = (-8388.61, 8388.605)


@pytest.fixture(scope="module")
def src():
    rec = bundled_muse_eeg()
    return rec.data[:, :N], list(rec.ch_names)


def _features(data, ch):
    feats, _ = compute_index_features(data, float(SF), ch, None)
    return feats


def _assert_same_features(a, b):
    assert a.keys() == b.keys()
    for k in a:
        if math.isnan(a[k]):
            assert math.isnan(b[k]), k
        else:
            assert b[k] == pytest.approx(a[k], rel=1e-9, abs=1e-12), k


def _mne_export(path, data, ch, fmt, physical_range):
    raw = mne.io.RawArray(data * 1e-6, mne.create_info(ch, SF, "eeg"), verbose="error")
    # MNE pads the last 1-s record with edge values and marks them BAD_ACQ_SKIP
    mne.export.export_raw(
        path, raw, fmt=fmt, physical_range=physical_range, overwrite=True, verbose="error"
    )


def test_mne_export_padding_is_nan_and_features_equal_the_csv(src, tmp_path):
    data, ch = src
    p = tmp_path / "x.bdf"
    _mne_export(p, data, ch, "bdf", BDF_RANGE)
    rec = read_recording(p)
    pad = 120 * SF - N  # MNE pads the last 1-s record with edge values: 246 samples
    assert rec.data.shape == (4, N + pad) and rec.source.endswith("(BDF+C)")
    np.testing.assert_allclose(rec.data[:, :N], data, rtol=0, atol=1e-9)
    assert np.isnan(rec.data[:, N:]).all()
    assert len(rec.gaps) == 1 and "BAD_ACQ_SKIP" in rec.gaps[0].reason
    assert rec.gaps[0].onset_s == pytest.approx(N / SF) and rec.gaps[
        0
    ].duration_s == pytest.approx(pad / SF)
    _assert_same_features(_features(data, ch), _features(rec.data, ch))
    # what reading the padding as signal did: the half-flat 60th epoch passes and moves them
    padded = np.pad(data, ((0, 0), (0, pad)), "edge")
    moved = _features(padded, ch)
    assert any(abs(moved[k] - v) > 1e-6 for k, v in _features(data, ch).items() if v == v)


def test_edfio_round_trip_equals_the_csv(src, tmp_path):
    data, ch = src
    pad = 120 * SF - N
    padded = np.pad(data, ((0, 0), (0, pad)), "edge")
    bdf = edfio.Bdf(
        [
            edfio.BdfSignal(
                padded[i],
                SF,
                label=c,
                physical_dimension="uV",
                physical_range=EDFIO_RANGE,
            )
            for i, c in enumerate(ch)
        ],
        annotations=[edfio.EdfAnnotation(N / SF, pad / SF, "BAD_ACQ_SKIP")],
    )
    p = tmp_path / "e.bdf"
    bdf.write(p)
    rec = read_recording(p)
    np.testing.assert_allclose(rec.data[:, :N], data, rtol=0, atol=1e-9)
    assert np.isnan(rec.data[:, N:]).all() and len(rec.gaps) == 1
    _assert_same_features(_features(data, ch), _features(rec.data, ch))


def test_edf_16bit_export_equals_mne_reader_and_padding_is_nan(src, tmp_path):
    data, ch = src
    p = tmp_path / "x.edf"
    _mne_export(p, data, ch, "edf", "auto")
    rec = read_recording(p)
    ref = mne.io.read_raw_edf(p, preload=True, verbose="error")
    np.testing.assert_allclose(rec.data[:, :N], ref.get_data()[:, :N] * 1e6, rtol=0, atol=1e-9)
    assert np.isnan(rec.data[:, N:]).all()
    # 16-bit quantization (LSB = range / 65535) is the only difference from the CSV
    lsb = (data.max() - data.min()) / 65535
    assert np.abs(rec.data[:, :N] - data).max() <= lsb


def test_bdf_renamed_edf_is_read_as_bdf(src, tmp_path):
    data, ch = src
    p = tmp_path / "x.bdf"
    _mne_export(p, data, ch, "bdf", BDF_RANGE)
    q = tmp_path / "renamed.edf"
    shutil.copy(p, q)
    a, b = read_recording(p), read_recording(q)
    assert "BDF" in b.source
    np.testing.assert_array_equal(a.data, b.data)
    # the old path (edfio.read_edf by extension) read these bytes as 16-bit EDF
    with pytest.raises(Exception):  # noqa: B017 - any failure shows the old path was wrong
        sig = edfio.read_edf(q).signals[0].data
        np.testing.assert_allclose(sig[:N], data[0], atol=1e-3)


def _edf_plus(path, n_records=3):
    x = np.arange(n_records * SF, dtype=np.float64) % 200 - 100.0
    edf = edfio.Edf(
        [
            edfio.EdfSignal(
                x, SF, label="AF7", physical_dimension="uV", physical_range=(-1000.0, 1000.0)
            )
        ],
        annotations=[edfio.EdfAnnotation(0.5, None, "phase:rest")],
    )
    edf.write(path)
    return x


def test_edf_plus_d_records_sit_at_their_onsets(tmp_path):
    p = tmp_path / "d.edf"
    x = _edf_plus(p)
    raw = bytearray(p.read_bytes())
    assert raw[192:197] == b"EDF+C"
    raw[192:197] = b"EDF+D"
    k = raw.index(b"+2\x14\x14\x00", 256 * 3)  # the time-keeping TAL of record 2
    raw[k : k + 2] = b"+5"  # record 2 starts at 5 s: 3 s missing between records 1 and 2
    p.write_bytes(bytes(raw))
    rec = read_recording(p)
    assert rec.source.endswith("(EDF+D)") and rec.data.shape == (1, 6 * SF)
    lsb = 2000.0 / 65535
    np.testing.assert_allclose(rec.data[0, : 2 * SF], x[: 2 * SF], atol=lsb)
    assert np.isnan(rec.data[0, 2 * SF : 5 * SF]).all()
    np.testing.assert_allclose(rec.data[0, 5 * SF :], x[2 * SF :], atol=lsb)
    assert [(g.onset_s, g.duration_s, g.reason) for g in rec.gaps] == [
        (2.0, 3.0, "EDF+D discontinuity")
    ]
    assert [a.text for a in rec.annotations] == ["phase:rest"]


def test_own_export_gap_annotations_become_nan(tmp_path):
    x = np.full(4 * SF, 5.0)
    x[SF : SF + SF // 2] = 0.0  # what export_session writes for missing samples
    bdf = edfio.Bdf(
        [
            edfio.BdfSignal(
                x, SF, label="TP9", physical_dimension="uV", physical_range=(-1000.0, 1000.0)
            )
        ],
        annotations=[edfio.EdfAnnotation(1.0, 0.5, "gap")],
    )
    bdf.write(tmp_path / "g.bdf")
    rec = read_recording(tmp_path / "g.bdf")
    assert np.isnan(rec.data[0, SF : SF + SF // 2]).all()
    assert not np.isnan(rec.data[0, :SF]).any() and not np.isnan(rec.data[0, SF + SF // 2 :]).any()
    assert [(g.onset_s, g.duration_s) for g in rec.gaps] == [(1.0, 0.5)]
