"""Export (BDF/EDF+ via edfio, checked with MNE), readers, rescore, and the PDF/HTML report."""

import math
import subprocess
import sys

import numpy as np
import pytest

from addictidx._core import DataFormatError
from addictidx.readers import bundled_muse_eeg, read_mind_monitor_csv, read_recording
from addictidx.sessions.assessment import run_assessment
from addictidx.sessions.protocol import Phase, Protocol
from addictidx.store.raw import read_raw
from addictidx.store.session_store import SessionStore

SHORT = Protocol(
    "test-short",
    (
        Phase("device_check", 10.0, False, kind="check"),
        Phase("eyes_closed_rest", 125.0, True),
        Phase("eyes_open_rest", 10.0, True),
    ),
)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    from addictidx.sessions.io import export_session

    store = tmp_path_factory.mktemp("store")
    res = run_assessment(
        "P040", store_dir=store, protocol=SHORT, seed=2, age=30, consent_given=True
    )
    out = store / "export"
    with SessionStore(store) as st:
        paths = export_session(st, res.session_id, out)
        detail = st.queries.session_detail(res.session_id)
        raw = read_raw(st.queries.recording(res.session_id)["raw_dir"])
    return res, paths, detail, raw, store


def test_bdf_is_mne_readable_and_equals_source(exported):
    import mne

    _res, paths, detail, rawrec, _ = exported
    raw = mne.io.read_raw_bdf(paths["eeg_bdf"], preload=True, verbose="error")
    assert raw.ch_names == ["TP9", "AF7", "AF8", "TP10"]
    assert raw.info["sfreq"] == 256.0
    src = bundled_muse_eeg().data
    n = (math.ceil(145.0 * 256 / 12) + 1) * 12  # blocks 0..ceil(145*256/12), see test_assessment
    got = raw.get_data(units="uV")
    assert got.shape[1] == math.ceil(n / 256) * 256  # padded to whole 1-s records
    idx = np.arange(n) % src.shape[1]
    assert np.max(np.abs(got[:, :n] - src[:, idx])) <= 0.2442 + 2e-3
    assert np.all(np.abs(got[:, n:]) <= 2e-4)  # zero padding (one 24-bit step of +-1000 uV)
    ann = {a["description"]: (a["onset"], a["duration"]) for a in raw.annotations}
    # Phases as stored, on the file's clock: t = 0 at the first sample, which the headband
    # sampled 11/256 s before its first notification started the session clock.
    t_first = rawrec.eeg_times[0]
    assert t_first == pytest.approx(-11 / 256, abs=2e-3)
    for p in detail["phases"]:
        onset, dur = ann[f"phase:{p['name']}"]
        assert onset == pytest.approx(p["t_start_s"] - t_first, abs=1e-3)
        assert dur == pytest.approx(p["t_end_s"] - p["t_start_s"], abs=1e-3)
    assert ann["no_data"][1] == pytest.approx((got.shape[1] - n) / 256, abs=1e-4)  # 0.1 ms text


def test_rr_edf_plus_keeps_every_beat(exported):
    import mne

    res, paths, _detail, raw, _ = exported
    rec = read_recording(paths["rr_edf"])
    np.testing.assert_allclose(rec.rr_s, raw.rr_s, atol=5e-7)  # 3 decimals of ms
    assert rec.rr_s.size == res.accounting["rr_beats"]
    edf = mne.io.read_raw_edf(paths["rr_edf"], preload=True, verbose="error")
    assert edf.ch_names == ["RR", "HR"]
    tsv = np.loadtxt(paths["rr_tsv"], skiprows=1)
    np.testing.assert_allclose(tsv[:, 1], raw.rr_s * 1000, atol=5e-4)


def test_rescore_exported_recording_matches_hand_rmssd(exported):
    _res, paths, _d, raw, _ = exported
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "addictidx",
            "rescore",
            str(paths["eeg_bdf"]),
            "--rr",
            str(paths["rr_tsv"]),
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    import json

    out = json.loads(proc.stdout)
    x = raw.rr_s * 1000.0  # every beat of the bundled series passes the artefact rule
    rmssd = math.sqrt(np.mean(np.diff(np.round(x, 3)) ** 2))
    assert out["features"]["hrv_ln_rmssd"] == pytest.approx(math.log(rmssd), abs=1e-6)
    assert out["features"]["hr_mean_bpm"] == pytest.approx(60000.0 / np.mean(x), abs=1e-3)
    assert out["baseline"] == "population"
    assert "not a diagnosis" in out["not_for"]


def _mind_monitor_file(path, n=1024, marker_at=100, bad=None):
    """A Mind Monitor export layout (header per STYLE.md §9) holding the real bundled EEG."""
    import datetime as dt

    src = bundled_muse_eeg().data
    bands = [
        f"{b}_{c}"
        for b in ("Delta", "Theta", "Alpha", "Beta", "Gamma")
        for c in ("TP9", "AF7", "AF8", "TP10")
    ]
    header = (
        ["TimeStamp"]
        + bands
        + [
            "RAW_TP9",
            "RAW_AF7",
            "RAW_AF8",
            "RAW_TP10",
            "AUX_RIGHT",
            "Accelerometer_X",
            "Accelerometer_Y",
            "Accelerometer_Z",
            "HeadBandOn",
            "HSI_TP9",
            "HSI_AF7",
            "HSI_AF8",
            "HSI_TP10",
            "Battery",
            "Elements",
        ]
    )
    t0 = dt.datetime(2024, 5, 1, 10, 0, 0)
    lines = [",".join(header)]
    for i in range(n):
        ts = (t0 + dt.timedelta(seconds=i / 256)).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
        raw = [f"{v:.3f}" for v in src[:, i]]
        if bad is not None and i == bad:
            raw[1] = "abc"
        lines.append(
            ",".join(
                [ts]
                + ["0.5"] * 20
                + raw
                + ["800", "0", "0", "1", "1", "1", "1", "1", "1", "90", ""]
            )
        )
        if i == marker_at:
            lines.append(",".join([ts] + [""] * (len(header) - 2) + ["/muse/event/blink"]))
    path.write_text("\n".join(lines) + "\n")
    return src[:, :n]


def test_mind_monitor_reader(tmp_path):
    p = tmp_path / "mindMonitor_2024-05-01.csv"
    expect = _mind_monitor_file(p)
    rec = read_recording(p)
    assert rec.ch_names == ("TP9", "AF7", "AF8", "TP10")
    assert rec.sfreq == 256.0
    np.testing.assert_allclose(rec.data, np.round(expect, 3), atol=1e-9)
    got = [(a.onset_s, a.duration_s, a.text) for a in rec.annotations]
    assert got == [(pytest.approx(100 / 256, abs=1e-3), 0.0, "/muse/event/blink")]


def test_malformed_files_one_clear_line(tmp_path):
    p = tmp_path / "mm.csv"
    _mind_monitor_file(p, n=50, bad=20)
    with pytest.raises(DataFormatError, match=r"line 22, column 'RAW_AF7': 'abc' is not a number"):
        read_mind_monitor_csv(p)
    junk = tmp_path / "junk.bdf"
    junk.write_bytes(b"not a bdf at all" * 10)
    odd = tmp_path / "notes.docx"
    odd.write_text("x")
    for f, what in (
        (p, "is not a number"),
        (junk, "not a readable EDF/BDF file"),
        (odd, "unknown recording type"),
    ):
        proc = subprocess.run(
            [sys.executable, "-m", "addictidx", "rescore", str(f)],
            capture_output=True,
            text=True,
            timeout=300,  # bounds a hang only
        )
        assert proc.returncode == 2
        assert "Traceback" not in proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and str(f.name) in lines[0] and what in lines[0], proc.stderr


def test_report_pdf_and_html(exported, tmp_path):
    from addictidx._core.intended_use import INTENDED_USE, NOT_FOR
    from addictidx.report.content import report_content
    from addictidx.report.html import write_html
    from addictidx.report.pdf import render_pages, write_pdf

    res, _paths, _detail, raw, store = exported
    with SessionStore(store) as st:
        rc = report_content(st, res.session_id)
    pdf = write_pdf(rc, tmp_path / "r.pdf")
    html = write_html(rc, tmp_path / "r.html").read_text()
    assert pdf.read_bytes()[:5] == b"%PDF-"
    assert (
        pdf.read_bytes().count(b"/Type /Page\n") + pdf.read_bytes().count(b"/Type /Page ") >= 2
        or len(render_pages(rc)) == 2
    )
    from html import escape

    assert escape(INTENDED_USE) in html and escape(NOT_FOR) in html
    assert "P040" in html and "RMSSD" in html and "Poincaré" in html
    # The HRV table's RMSSD equals the hand calculation on the scored beats (all accepted).
    scored = (raw.rr_times > 10.0) & (raw.rr_times <= rc.phases[-1]["t_end_s"])
    x = raw.rr_s[scored] * 1000.0
    assert rc.hrv["hrv_rmssd_ms"] == pytest.approx(math.sqrt(np.mean(np.diff(x) ** 2)), rel=1e-9)
    # Band powers: relative powers of the four bands within 1-25 Hz sum to about 1.
    for ch, bp in rc.band_powers.items():
        assert sum(v[1] for v in bp.values()) == pytest.approx(1.0, abs=0.05), ch
