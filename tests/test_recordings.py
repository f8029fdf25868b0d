"""Readers of the recordings the simulated devices play (muse-lsl CSV, RR text): addictidx.readers.

References: ``numpy.genfromtxt`` / ``numpy.loadtxt`` on the same files, and hand-written CSV text.
"""

from __future__ import annotations

import gzip
import io
import os
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from addictidx._core.errors import DataFormatError
from addictidx.readers import bundled_muse_eeg, bundled_rr, read_muse_csv, read_rr_text

HEADER = "timestamps,TP9,AF7,AF8,TP10,Right AUX,Marker0"


def _csv(rows, header=HEADER, sfreq=256.0):
    lines = [header]
    for i, r in enumerate(rows):
        lines.append(f"{100 + i / sfreq:.6f}," + ",".join(str(v) for v in r))
    return io.StringIO("\n".join(lines) + "\n")


def _shared() -> Path:
    env = os.environ.get("ADDICTIDX_SHARED")
    root = Path(env) if env else Path(__file__).resolve().parents[2] / "shared"
    if not (root / "data").is_dir():
        pytest.skip(f"shared data not found at {root} (set ADDICTIDX_SHARED)")
    return root / "data"


def test_bundled_muse_matches_genfromtxt():
    rec = bundled_muse_eeg()
    data, times, ch, sfreq = rec.data, rec.times, rec.ch_names, rec.sfreq
    res = resources.files("addictidx.data").joinpath("muse_eeg_notebooks_n170_subject2.csv.gz")
    with res.open("rb") as f, gzip.open(f, "rt") as text:
        ref = np.genfromtxt(text, delimiter=",", names=True)
    assert ch == ("TP9", "AF7", "AF8", "TP10") and sfreq == 256.0 and rec.gaps == ()
    assert data.shape == (4, 30732)
    for i, c in enumerate(ch):
        np.testing.assert_array_equal(data[i], ref[c])
    np.testing.assert_array_equal(times, ref["timestamps"] - ref["timestamps"][0])
    data[0, 0] = 1e9  # a copy: the cached recording is unchanged
    assert bundled_muse_eeg().data[0, 0] == ref["TP9"][0]


def test_columns_are_found_by_name():
    rows = [[1, 2, 3, 4, 5, 0], [6, 7, 8, 9, 10, 0]] * 20
    rec = read_muse_csv(_csv(rows))
    data, times = rec.data, rec.times
    shuffled_header = "Marker,TP10,timestamps,AF8,Right AUX,AF7,TP9"
    lines = [shuffled_header] + [
        f"0,{r[3]},{100 + i / 256:.6f},{r[2]},{r[4]},{r[1]},{r[0]}" for i, r in enumerate(rows)
    ]
    rec2 = read_muse_csv(io.StringIO("\n".join(lines)))
    data2, times2 = rec2.data, rec2.times
    np.testing.assert_array_equal(data, data2)
    np.testing.assert_allclose(times, times2)
    assert data[:, 1].tolist() == [6, 7, 8, 9]
    aux = read_muse_csv(_csv(rows), channels=("Right AUX", "TP9"))
    assert aux.ch_names == ("Right AUX", "TP9") and aux.data[:, 0].tolist() == [5, 1]


def test_malformed_rows_name_file_line_and_column(tmp_path):
    rows = [[1, 2, 3, 4, 5, 0]] * 10
    text = _csv(rows).getvalue()
    path = tmp_path / "rec.csv"
    path.write_text(text + "100.05,1,2")  # truncated last row = line 12
    with pytest.raises(DataFormatError, match=r"rec\.csv, line 12: expected 7 .* got 3"):
        read_muse_csv(path)
    bad = text.splitlines()
    bad[4] = bad[4].replace(",3,", ",x3,")  # line 5, AF8
    path.write_text("\n".join(bad))
    with pytest.raises(DataFormatError, match=r"rec\.csv, line 5, column 'AF8': 'x3'"):
        read_muse_csv(path)
    gz = tmp_path / "rec.csv.gz"
    gz.write_bytes(gzip.compress(b"timestamps,TP9,AF7\n1,2,3\n"))
    msg = r"rec\.csv\.gz, line 1: missing column\(s\) \['AF8', 'TP10'\]"
    with pytest.raises(DataFormatError, match=msg):
        read_muse_csv(gz)


def test_rate_and_order_checks():
    rows = [[1, 2, 3, 4, 5, 0]] * 50
    with pytest.raises(DataFormatError, match="128.00 Hz, expected 256.0 Hz"):
        read_muse_csv(_csv(rows, sfreq=128.0))
    est = read_muse_csv(_csv(rows, sfreq=128.0), sfreq=None).sfreq
    assert est == pytest.approx(128.0, rel=1e-4)
    back = _csv(rows).getvalue().splitlines()
    back[6], back[7] = back[7], back[6]  # a 4 ms step back (old muse-lsl jitter) is kept
    np.testing.assert_allclose(
        read_muse_csv(io.StringIO("\n".join(back))).times[5:7], [6 / 256, 5 / 256], atol=1e-6
    )
    back[30] = "99.0," + back[30].split(",", 1)[1]  # line 31: 1.1 s back
    with pytest.raises(DataFormatError, match="line 31, column 'timestamps': time goes back by"):
        read_muse_csv(io.StringIO("\n".join(back)))
    with pytest.raises(DataFormatError, match="at least 2 data rows"):
        read_muse_csv(io.StringIO(HEADER + "\n"))


def test_read_rr_text_skips_and_counts(tmp_path):
    p = tmp_path / "rr.txt"
    p.write_text("# comment\n0.8\n@\n\n0.75\r\n1.0\n")
    rr, skipped = read_rr_text(p, return_skipped=True)
    assert rr.tolist() == [0.8, 0.75, 1.0] and skipped == 3
    p.write_text("800\n750\n")
    assert read_rr_text(p, unit="ms").tolist() == [0.8, 0.75]
    p.write_text("0.8\n0\n")
    with pytest.raises(DataFormatError, match=r"rr\.txt, line 2: RR interval '0'"):
        read_rr_text(p)
    p.write_text("# nothing\n")
    with pytest.raises(DataFormatError, match="no RR values"):
        read_rr_text(p)


def test_bundled_rr_matches_loadtxt():
    res = resources.files("addictidx.data").joinpath("nsr2db_nsr004_rr_15min.txt.gz")
    with res.open("rb") as f, gzip.open(f, "rt") as text:
        ref = np.loadtxt(text, comments="#")
    rr = bundled_rr()
    np.testing.assert_array_equal(rr, ref)
    assert rr.size == 1019 and rr.sum() == pytest.approx(900.15625)


@pytest.mark.shared_data
def test_shared_files_with_quirks():
    data = _shared()
    rr, skipped = read_rr_text(
        data / "physionet-rr-24h-nsr2db-chf2db-healthy/rr_healthy_subjects_ms/008.txt.gz",
        unit="ms",
        return_skipped=True,
    )
    assert skipped == 1 and rr.size > 90_000  # the stray '@' line (README)
    rec = read_muse_csv(
        data / "muse-eeg-notebooks-v0.1-subset/"
        "visual__N170__subject1__session1__data_2017-09-13-15.30.01.csv.gz"
    )
    eeg, times, sfreq = rec.data, rec.times, rec.sfreq
    assert sfreq == 256.0 and eeg.shape[0] == 4
    assert np.max(np.diff(times)) > 0.03  # this file has real packet gaps (README: 32-58 ms)


def test_vectorized_and_line_readers_agree(tmp_path, monkeypatch):
    """The pyarrow path, the numpy fallback and the line-by-line reader (Python ``float()``)
    give identical arrays for muse-lsl, Mind Monitor and Polar H10 CSVs."""
    import importlib.util

    from addictidx.readers import muse_csv, polar_h10, read_mind_monitor_csv, read_polar_h10_csv
    from addictidx.readers.textfile import read_bytes

    rows = [[i % 7 - 3.25, 2.5, -0.001, 1e3, 5, 0] for i in range(600)]
    p = tmp_path / "m.csv"
    p.write_text(_csv(rows).getvalue())
    fast = read_muse_csv(p)
    raw, name = read_bytes(p)
    want = ["timestamps", "TP9", "AF7", "AF8", "TP10"]
    lines = muse_csv._lines_to_array(raw, name, HEADER.split(","), want)
    np.testing.assert_array_equal(fast.data, lines[1:])
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda n, *a: None if n == "pyarrow" else real_find_spec(n, *a),
    )
    np.testing.assert_array_equal(read_muse_csv(p).data, fast.data)  # numpy.loadtxt fallback
    monkeypatch.undo()

    mm = tmp_path / "mm.csv"
    mm.write_text(
        "TimeStamp,RAW_TP9,RAW_AF7,RAW_AF8,RAW_TP10,Elements\n"
        + "".join(f"2024-05-01 10:00:{i / 256:06.3f},{i},2,,4,\n" for i in range(300))
        + "2024-05-01 10:00:01.000,,,,,/muse/event/blink\n"
    )
    a = read_mind_monitor_csv(mm)
    raw, name = read_bytes(mm)
    b = muse_csv._mind_monitor_lines(raw, name, 0.1, muse_csv.DEFAULT_LIMITS)
    np.testing.assert_array_equal(a.data, b.data)
    np.testing.assert_array_equal(a.times, b.times)
    assert a.annotations == b.annotations and a.annotations[0].text == "/muse/event/blink"

    h10 = tmp_path / "h10.csv"
    h10.write_text(
        "time_ns,ecg_mV,hr_bpm,rr_ms\n"
        + "".join(
            f"{1700000000000000000 + i * 7692307},{(i % 13) / 10:.3f},"
            + ("60," if i % 130 == 0 else ",")
            + ("1000.0" if i % 130 == 0 else "")
            + "\n"
            for i in range(400)
        )
    )
    c = read_polar_h10_csv(h10)
    monkeypatch.setattr(polar_h10, "_fast", lambda raw: None)
    d = read_polar_h10_csv(h10)
    np.testing.assert_array_equal(c.time_ns, d.time_ns)
    for k in ("ecg_mv", "hr_bpm", "rr_ms"):
        np.testing.assert_array_equal(getattr(c, k), getattr(d, k))
    assert c.time_ns[1] - c.time_ns[0] == 7692307 and np.isfinite(c.rr_ms).sum() == 4


def test_timestamp_jumps_are_gaps_and_fill_gaps_puts_them_on_the_grid():
    from addictidx.readers.recording import fill_gaps

    rows = [[i, 0, 0, 0, 0, 0] for i in range(1024)]
    text = _csv(rows).getvalue().splitlines()
    # from data row 600 on, time jumps 1.5 s: 384 samples missing at 256 Hz
    text = text[:601] + [
        f"{float(r.split(',', 1)[0]) + 1.5:.6f},{r.split(',', 1)[1]}" for r in text[601:]
    ]
    rec = read_muse_csv(io.StringIO("\n".join(text) + "\n"))
    assert len(rec.gaps) == 1
    g = rec.gaps[0]
    assert g.onset_s == pytest.approx(600 / 256, abs=1e-6)  # one period after row 599
    assert g.duration_s == pytest.approx(1.5, abs=1e-6) and "1.504 s" in g.reason
    filled = fill_gaps(rec)
    assert filled.times is None and filled.data.shape == (4, 1024 + 384)
    assert np.isnan(filled.data[:, 600:984]).all()
    np.testing.assert_array_equal(filled.data[0, :600], np.arange(600))
    np.testing.assert_array_equal(filled.data[0, 984:], np.arange(600, 1024))
    assert filled.gaps[0].onset_s == pytest.approx(600 / 256)
    assert fill_gaps(read_muse_csv(_csv(rows))) is not None  # no gap: unchanged


def test_blockwise_steps_equal_numpy_diff():
    # scan_steps works in 16384-step blocks; the reference is np.diff over the whole column
    from addictidx.readers.recording import scan_steps, timestamp_gaps

    rng = np.random.default_rng(5)
    for n in (2, 3, 16384, 16385, 16386, 50_001):
        t = 1_600_000_000.0 + np.round(np.arange(n) / 256.0, 3)
        for i in rng.integers(1, n, size=min(6, n - 1)):  # jumps, some at block edges
            t[i:] += rng.choice([0.05, 0.2, 1.5])
        if n > 16385:
            t[16384:] += 0.5  # a jump straddling the first block edge
            t[40_000:] -= 0.3  # one step back
        dt = np.diff(t)
        st = scan_steps(t, 0.1, 0.1)
        back = np.flatnonzero(dt < -0.1)
        assert st.first_back == (int(back[0]) if back.size else -1)
        np.testing.assert_array_equal(st.jump_index, np.flatnonzero(dt > 0.1))
        assert st.jump_s.tobytes() == dt[dt > 0.1].tobytes()
        assert float(st.jump_s.sum()) == float(dt[dt > 0.1].sum())
        times = t - t[0]
        dtt = np.diff(times)
        want = [
            (float(times[i]) + 1 / 256.0, float(dtt[i]) - 1 / 256.0)
            for i in np.flatnonzero(dtt > 0.1)
        ]
        got = [(g.onset_s, g.duration_s) for g in timestamp_gaps(times, 256.0, 0.1, "jump")]
        assert got == want


@pytest.mark.parametrize("piece", [256, 4096, 1 << 22])
def test_pieces_of_lines_parse_like_loadtxt(tmp_path, monkeypatch, piece):
    # read_numeric_columns hands Arrow pieces of whole lines; the reference is np.loadtxt
    from addictidx.readers import tables

    monkeypatch.setattr(tables, "_PIECE", piece)
    header = ["timestamps", "TP9", "AF7", "Marker0"]
    rng = np.random.default_rng(11)
    rows = [
        f"{1.6e9 + i / 256:.3f},{rng.normal() * 40:.3f},{rng.normal():.6f},0" for i in range(3000)
    ]
    rows[1500] = "1600000005.859," + "0" * 300 + "7.5,0.25,0"  # longer than a small piece
    for nl, blank, trail in (("\n", False, True), ("\r\n", True, False), ("\r", False, True)):
        body = list(rows)
        if blank:
            body[10:10] = [""]
        text = ",".join(header) + nl + nl.join(body) + (nl if trail else "")
        want = np.loadtxt(io.StringIO(text.replace("\r", "\n")), delimiter=",", skiprows=1).T
        path = tmp_path / "x.csv"
        path.write_bytes(text.encode())
        for source in (path, text.encode()):
            got = tables.read_numeric_columns(source, header, ["timestamps", "TP9", "AF7"])
            assert got.flags.c_contiguous and got.shape == (3, 3000)
            assert got.tobytes() == np.ascontiguousarray(want[:3]).tobytes()
    # a ragged row still refuses the fast path (the line reader names it)
    path.write_bytes((",".join(header) + "\n" + "\n".join(rows[:5] + ["1,2"] + rows[5:])).encode())
    assert tables.read_numeric_columns(path, header, ["timestamps", "TP9"]) is None
