"""Hostile headers fail fast with one line, before anything large is allocated (issue 14.7).

Cases from the attack report: a BDF whose data record lasts 1e-6 s (256 samples per record ->
2.56e8 Hz; it grew to 5 GB and hung ``rescore``) and an XDF declaring 1e6 Hz (120 s), plus the
other header fields an attacker controls: record count, samples per record, signal count,
EDF+D onsets, decompressed size. Each must raise one ``DataFormatError`` naming the file and the
field, and the data must not be touched (the memory map / XDF decoder is never reached).
"""

from __future__ import annotations

import gzip
import struct
import subprocess
import sys

import numpy as np
import pytest

from addictidx._core.errors import DataFormatError
from addictidx.readers import ReaderLimits, read_bytes, read_recording
from addictidx.readers import edf as edf_mod

edfio = pytest.importorskip("edfio")


def _bdf(path, seconds=4):
    x = np.sin(np.arange(256 * seconds) / 10.0) * 50.0
    edfio.Bdf(
        [
            edfio.BdfSignal(
                x, 256, label=c, physical_dimension="uV", physical_range=(-1000.0, 1000.0)
            )
            for c in ("TP9", "AF7", "AF8", "TP10")
        ]
    ).write(path)
    return path


def _patch(path, offset, text: bytes):
    raw = bytearray(path.read_bytes())
    raw[offset : offset + len(text)] = text
    path.write_bytes(bytes(raw))


def _no_data_access(monkeypatch):
    def refuse(*a, **k):
        raise AssertionError("data records were mapped for a header that should be refused")

    monkeypatch.setattr(edf_mod.np, "memmap", refuse)


def test_bdf_with_microsecond_records_fails_fast(tmp_path, monkeypatch):
    p = _bdf(tmp_path / "tiny_records.bdf")
    _patch(p, 244, b"0.000001")  # duration of a data record: 1e-6 s -> 2.56e8 Hz
    _no_data_access(monkeypatch)
    with pytest.raises(DataFormatError) as e:
        read_recording(p)
    msg = str(e.value)
    assert str(p) in msg and "data-record duration 1e-06 s" in msg and "\n" not in msg


def test_rescore_refuses_the_hostile_bdf_with_one_line(tmp_path):
    p = _bdf(tmp_path / "tiny_records.bdf")
    _patch(p, 244, b"0.000001")
    proc = subprocess.run(
        [sys.executable, "-m", "addictidx", "rescore", str(p)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert p.name in lines[0] and "record" in lines[0]


def test_bdf_rate_outside_the_profiles_range_fails(tmp_path, monkeypatch):
    p = _bdf(tmp_path / "fast.bdf")
    _patch(p, 244, b"0.01    ")  # 256 samples per 10 ms record = 25.6 kHz
    _no_data_access(monkeypatch)
    from addictidx.readers import limits_from_profiles

    with pytest.raises(
        DataFormatError, match=r"sampling rate of signal 'TP9' 25600 Hz is outside"
    ):
        read_recording(p, limits=limits_from_profiles())


def test_record_count_beyond_the_file_reads_what_is_there(tmp_path):
    p = _bdf(tmp_path / "liar.bdf")
    _patch(p, 236, b"99999999")  # header claims 1e8 records; the file holds 4
    rec = read_recording(p)
    assert rec.data.shape == (4, 4 * 256)
    assert any("truncated" in n for n in rec.notes)


def test_samples_per_record_larger_than_the_file(tmp_path):
    p = _bdf(tmp_path / "huge_spr.bdf")
    ns = 4
    for i in range(ns):  # samples per record of every signal: 16,000,000
        _patch(p, 256 + 216 * ns + 8 * i, b"16000000")
    _patch(p, 244, b"1       ")
    with pytest.raises(DataFormatError, match=str(p)):
        read_recording(p, limits=ReaderLimits(max_sfreq_hz=1e9))


def test_signal_count_and_header_size_must_agree(tmp_path):
    p = _bdf(tmp_path / "ns.bdf")
    _patch(p, 252, b"4000")
    with pytest.raises(DataFormatError, match="header size"):
        read_recording(p)


def test_edf_plus_d_onsets_far_apart_are_refused(tmp_path):
    p = tmp_path / "d.edf"
    x = np.zeros(3 * 256)
    edfio.Edf(
        [
            edfio.EdfSignal(
                x, 256, label="AF7", physical_dimension="uV", physical_range=(-1000.0, 1000.0)
            )
        ],
        annotations=[edfio.EdfAnnotation(0.0, None, "start")],
    ).write(p)
    raw = bytearray(p.read_bytes())
    raw[192:197] = b"EDF+D"
    k = raw.index(b"+2\x14\x14\x00", 512)
    raw[k : k + 5] = b"+9\x14\x14\x00"
    p.write_bytes(bytes(raw))
    small = ReaderLimits(max_duration_s=5.0)
    with pytest.raises(DataFormatError, match="EDF\\+D records span 10 s"):
        read_recording(p, limits=small)


def test_gzip_bomb_is_refused_by_size(tmp_path):
    p = tmp_path / "bomb.csv.gz"
    p.write_bytes(gzip.compress(b"0" * (4 << 20)))
    with pytest.raises(DataFormatError, match="decompresses to more than"):
        read_bytes(p, max_bytes=1 << 20)


# -- XDF -------------------------------------------------------------------------------------
def _chunk(tag: int, content: bytes) -> bytes:
    body = struct.pack("<H", tag) + content
    return b"\x04" + struct.pack("<I", len(body)) + body


def write_xdf(path, srate: float, n: int = 512, rate_of_stamps: float = 256.0):
    """A minimal XDF 1.0 file: one 4-channel float32 EEG stream (spec: github.com/sccn/xdf)."""
    header = b'<?xml version="1.0"?><info><version>1.0</version></info>'
    labels = "".join(
        f"<channel><label>{c}</label><unit>microvolts</unit></channel>"
        for c in ("TP9", "AF7", "AF8", "TP10")
    )
    sh = (
        f'<?xml version="1.0"?><info><name>Muse</name><type>EEG</type>'
        f"<channel_count>4</channel_count><nominal_srate>{srate}</nominal_srate>"
        f"<channel_format>float32</channel_format><created_at>0</created_at>"
        f"<desc><channels>{labels}</channels></desc></info>"
    ).encode()
    x = (np.arange(n * 4, dtype=np.float32).reshape(n, 4) % 97) - 48.0
    samples = b"\x04" + struct.pack("<I", n)
    for i in range(n):
        samples += b"\x08" + struct.pack("<d", 100.0 + i / rate_of_stamps) + x[i].tobytes()
    footer = (
        f'<?xml version="1.0"?><info><first_timestamp>100</first_timestamp>'
        f"<last_timestamp>{100.0 + (n - 1) / rate_of_stamps}</last_timestamp>"
        f"<sample_count>{n}</sample_count></info>"
    ).encode()
    sid = struct.pack("<I", 1)
    path.write_bytes(
        b"XDF:"
        + _chunk(1, header)
        + _chunk(2, sid + sh)
        + _chunk(3, sid + samples)
        + _chunk(6, sid + footer)
    )
    return x.T.astype(np.float64)


def test_valid_xdf_reads(tmp_path):
    pytest.importorskip("pyxdf")
    p = tmp_path / "ok.xdf"
    x = write_xdf(p, 256.0)
    rec = read_recording(p)
    assert rec.sfreq == 256.0 and rec.ch_names == ("TP9", "AF7", "AF8", "TP10")
    np.testing.assert_array_equal(rec.data, x)


def test_xdf_declaring_a_megahertz_fails_before_decoding(tmp_path, monkeypatch):
    pyxdf = pytest.importorskip("pyxdf")
    p = tmp_path / "mega.xdf"
    write_xdf(p, 1e6)

    def refuse(*a, **k):
        raise AssertionError("pyxdf decoded a file whose header should be refused")

    monkeypatch.setattr(pyxdf, "load_xdf", refuse)
    with pytest.raises(DataFormatError) as e:
        read_recording(p)
    msg = str(e.value)
    assert str(p) in msg and "1e+06 Hz is outside the plausible range" in msg


def test_mind_monitor_with_a_frozen_clock_fails(tmp_path):
    p = tmp_path / "mm.csv"
    rows = "".join("2024-05-01 10:00:00.000,1,2,3,4\n" for _ in range(50))
    p.write_text("TimeStamp,RAW_TP9,RAW_AF7,RAW_AF8,RAW_TP10\n" + rows)
    with pytest.raises(DataFormatError, match="do not advance"):
        read_recording(p)


def test_csv_output_is_bounded_before_parsing(tmp_path, monkeypatch):
    from addictidx.readers import muse_csv

    p = tmp_path / "long.csv"
    p.write_text(
        "timestamps,TP9,AF7,AF8,TP10\n"
        + "".join(f"{100 + i / 256:.6f},1,2,3,4\n" for i in range(5000))
    )

    def refuse(*a, **k):
        raise AssertionError("parsed a file whose size bound should have refused it")

    monkeypatch.setattr(muse_csv, "read_numeric_columns", refuse)
    small = ReaderLimits(max_output_bytes=5 * 8 * 4000)  # room for 4,000 rows, not 5,000
    with pytest.raises(
        DataFormatError, match=r"long\.csv: 5 channels x 500[01] samples would need 0\.2 MB"
    ):
        read_recording(p, limits=small)


def test_edf_plus_d_without_record_onsets_is_one_clear_error(tmp_path):
    """Found by fuzzing: 'EDF+D' in the header of a file with no annotation signal."""
    p = tmp_path / "nod.edf"
    edfio.Edf(
        [
            edfio.EdfSignal(
                np.zeros(512),
                256,
                label="AF7",
                physical_dimension="uV",
                physical_range=(-1000.0, 1000.0),
            )
        ]
    ).write(p)
    _patch(p, 192, b"EDF+D")
    with pytest.raises(DataFormatError, match="EDF\\+D file needs an annotation signal"):
        read_recording(p)
