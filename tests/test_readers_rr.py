"""RR files (issue 15.4, 17.8): explicit or detected units, the tool's own formats everywhere.

References: the bundled PhysioNet RR excerpt (seconds; ``numpy.loadtxt`` in test_recordings)
written here in seconds and in milliseconds; HRV from ``compute_hrv`` on the seconds file.
"""

from __future__ import annotations

import gzip
import json
import math
from importlib import resources

import numpy as np
import pytest
from typer.testing import CliRunner

from addictidx._core.errors import DataFormatError
from addictidx.cli import app
from addictidx.features import compute_hrv
from addictidx.readers import bundled_rr, read_recording, read_rr_file

RR = bundled_rr()


def _write(p, values, fmt):
    p.write_text("".join(fmt.format(v) + "\n" for v in values))
    return p


@pytest.fixture
def rr_files(tmp_path):
    s = _write(tmp_path / "rr_s.txt", RR, "{:.6f}")
    ms = _write(tmp_path / "rr_ms.txt", RR * 1000.0, "{:.3f}")
    return s, ms


def _hrv(rr):
    return compute_hrv(rr, convention="kubios", frequency=True, nonlinear=True)


def test_rr_in_ms_gives_the_same_hrv_as_in_s(rr_files):
    s, ms = rr_files
    a, b = read_rr_file(s), read_rr_file(ms)
    np.testing.assert_allclose(b.rr_s, a.rr_s, rtol=1e-12)
    assert b.notes and "milliseconds" in b.notes[0] and "median" in b.notes[0]
    assert read_rr_file(ms, unit="ms").notes == ()  # explicit: no note
    ha, hb = _hrv(a.rr_s), _hrv(b.rr_s)
    for k, v in ha.items():
        assert (math.isnan(v) and math.isnan(hb[k])) or hb[k] == pytest.approx(v, rel=1e-9), k


def test_rescore_rr_unit_flag_and_detection(rr_files, tmp_path):
    s, ms = rr_files
    run = CliRunner().invoke
    base = json.loads(run(app, ["rescore", str(s), "--json"]).stdout)["features"]
    det = run(app, ["rescore", str(ms), "--json"])
    assert det.exit_code == 0, det.output
    assert "read as milliseconds" in det.stderr
    exp = run(app, ["rescore", str(ms), "--rr-unit", "ms", "--json"])
    for r in (det, exp):
        got = json.loads(r.stdout)["features"]
        assert got["hrv_ln_rmssd"] == pytest.approx(base["hrv_ln_rmssd"], rel=1e-9)
        assert got["hr_mean_bpm"] == pytest.approx(base["hr_mean_bpm"], rel=1e-9)
    bad = run(app, ["rescore", str(ms), "--rr-unit", "h"])
    assert bad.exit_code == 2 and "--rr-unit" in bad.output


def test_tool_rr_tsv_is_read_by_rescore_and_loop_sim(tmp_path):
    t = np.cumsum(RR)
    tsv = tmp_path / "P1_ses-0001_rr.tsv"  # exactly what sessions export writes
    tsv.write_text(
        "beat_time_s\trr_ms\n" + "".join(f"{a:.4f}\t{b * 1000.0:.3f}\n" for a, b in zip(t, RR))
    )
    rec = read_recording(tsv)
    np.testing.assert_allclose(rec.rr_s, RR, atol=5e-7)
    np.testing.assert_allclose(rec.rr_times_s, t, atol=5e-5)
    with pytest.raises(DataFormatError, match="column 'rr_ms' is in ms"):
        read_rr_file(tsv, unit="s")
    csv = tmp_path / "beats.csv"
    csv.write_text("t_s,rr_s\n" + "".join(f"{a:.4f},{b:.6f}\n" for a, b in zip(t, RR)))
    args = ["--age", "30", "--resting-hr", "60", "--zone-pct", "40", "59", "--json"]
    r_tsv = CliRunner().invoke(app, ["loop-sim", "--rr", str(tsv), *args])
    r_csv = CliRunner().invoke(app, ["loop-sim", "--rr", str(csv), *args])
    assert r_tsv.exit_code == 0, r_tsv.output
    assert json.loads(r_tsv.stdout) == json.loads(r_csv.stdout)
    r = CliRunner().invoke(app, ["rescore", str(tsv), "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["features"]["hrv_ln_rmssd"] is not None


def test_loop_sim_takes_a_plain_rr_list_in_ms(tmp_path):
    ms = _write(tmp_path / "rr.txt", RR * 1000.0, "{:.3f}")
    csv = tmp_path / "beats.csv"
    csv.write_text("t_s,rr_s\n" + "".join(f"{a:.6f},{b:.6f}\n" for a, b in zip(np.cumsum(RR), RR)))
    args = ["--age", "30", "--resting-hr", "60", "--zone-pct", "40", "59", "--json"]
    a = CliRunner().invoke(app, ["loop-sim", "--rr", str(ms), "--rr-unit", "ms", *args])
    b = CliRunner().invoke(app, ["loop-sim", "--rr", str(csv), *args])
    assert a.exit_code == 0, a.output
    ea, eb = json.loads(a.stdout)["events"], json.loads(b.stdout)["events"]
    assert [(e["kind"], round(e["t_s"], 3)) for e in ea] == [
        (e["kind"], round(e["t_s"], 3)) for e in eb
    ]


def test_rescore_eeg_without_rr_hints_at_rr(tmp_path):
    src = resources.files("addictidx.data").joinpath("muse_eeg_notebooks_n170_subject2.csv.gz")
    p = tmp_path / "n170.csv"
    p.write_bytes(gzip.decompress(src.read_bytes()))
    r = CliRunner().invoke(app, ["rescore", str(p)])
    assert r.exit_code == 0, r.output
    assert "No RR intervals were recorded" in r.stdout
    assert "--rr FILE" in r.stdout and "--rr-unit" in r.stdout


def test_tool_rr_edf_is_read_with_beat_times_by_loop_sim(tmp_path):
    """The EDF+ RR export (tachogram + one 'beat rr_ms=' annotation per beat at its time, as
    sessions export writes it) gives every beat and its time; loop-sim reads it."""
    edfio = pytest.importorskip("edfio")
    rr = RR[:400]
    t = np.round(np.cumsum(rr), 4)
    dur = int(np.ceil(t[-1] + 1))
    grid = np.arange(dur * 4) / 4.0
    k = np.searchsorted(t, grid, side="right") - 1
    rr_ms = np.where(k >= 0, rr[np.clip(k, 0, None)] * 1000.0, 0.0)
    edf = edfio.Edf(
        [
            edfio.EdfSignal(
                rr_ms, 4.0, label="RR", physical_dimension="ms", physical_range=(0.0, 3000.0)
            )
        ],
        annotations=[
            edfio.EdfAnnotation(float(a), None, f"beat rr_ms={b * 1000.0:.3f}")
            for a, b in zip(t, rr)
        ],
    )
    p = tmp_path / "P1_ses-0001_rr.edf"
    edf.write(p)
    rec = read_recording(p)
    np.testing.assert_allclose(rec.rr_s, rr, atol=5e-7)
    np.testing.assert_allclose(rec.rr_times_s, t, atol=1e-9)
    csv = tmp_path / "beats.csv"
    csv.write_text("t_s,rr_s\n" + "".join(f"{a:.4f},{b:.6f}\n" for a, b in zip(t, rr)))
    args = ["--age", "30", "--resting-hr", "60", "--zone-pct", "40", "59", "--json"]
    a = CliRunner().invoke(app, ["loop-sim", "--rr", str(p), *args])
    b = CliRunner().invoke(app, ["loop-sim", "--rr", str(csv), *args])
    assert a.exit_code == 0, a.output
    assert json.loads(a.stdout) == json.loads(b.stdout)


def test_rr_unit_median_is_numpys_bit_for_bit():
    # the readers' median (one sort, no numpy.ma import) against np.median itself
    from addictidx.readers import rr as rr_mod

    rng = np.random.default_rng(7)
    for n in (1, 2, 3, 4, 9, 10, 999, 1000):
        for trial in range(20):
            v = rng.normal(0.8, 0.1, size=n) * (1000.0 if trial % 2 else 1.0)
            if trial % 5 == 0:
                v[rng.integers(n)] = np.nan
            ours, numpys = rr_mod._median(v), float(np.median(v))
            assert (math.isnan(ours) and math.isnan(numpys)) or ours == numpys
            want = "ms" if np.median(v[np.isfinite(v)]) > rr_mod.RR_MS_THRESHOLD else "s"
            assert rr_mod.rr_unit_from_values(v) == want
