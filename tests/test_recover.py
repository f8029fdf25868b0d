"""Crash safety: raw data appended as it arrives, SIGKILL, `sessions recover`, export.

The assessment runs in a real subprocess (``addictidx assess --simulate --speed 20``) that is
killed with SIGKILL once it has reported 30 s of session time. After ``sessions recover`` and
``sessions export`` the BDF must hold at least the EEG up to one second before the last reported
time, sample for sample equal to the source recording (up to the Muse's 12-bit quantisation).
"""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from addictidx.readers import bundled_muse_eeg
from addictidx.sessions.protocol import STANDARD_PROTOCOL, Phase, PhaseClock, Protocol
from addictidx.store.keyring import init_keys
from addictidx.store.raw import RawWriter, read_meta, read_raw, write_meta


def _cli(*args, **kw):
    return subprocess.run(
        [sys.executable, "-m", "addictidx", *args],
        capture_output=True,
        text=True,
        timeout=300,
        **kw,
    )


@pytest.mark.slow
def test_sigkill_then_recover_and_export(tmp_path):
    store = tmp_path / "store"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "addictidx",
            "assess",
            "--consent-given",
            "--simulate",
            "--speed",
            "5",  # 64 s of wall time: still running when t=30 is read, however loaded
            "--subject",
            "P010",
            "--age",
            "40",
            "--store",
            str(store),
            "--no-report",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    t_seen = 0.0
    try:
        deadline = time.monotonic() + 240
        for line in proc.stdout:  # "t=30.0s phase=eyes_closed_rest", one per 10 s window
            if line.startswith("t="):
                t_seen = float(line[2:].split("s", 1)[0])
                if t_seen >= 30.0:
                    break
            assert time.monotonic() < deadline
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert t_seen >= 30.0

    listed = json.loads(_cli("sessions", "list", "--store", str(store), "--json").stdout)
    assert [s["status"] for s in listed] == ["running"]

    rec = _cli("sessions", "recover", "--store", str(store))
    assert rec.returncode == 0, rec.stderr
    assert "recovered" in rec.stdout
    out = tmp_path / "export"
    exp = _cli("sessions", "export", "--subject", "P010", "--out", str(out), "--store", str(store))
    assert exp.returncode == 0, exp.stderr

    detail = json.loads(
        _cli("sessions", "show", str(listed[0]["id"]), "--store", str(store)).stdout
    )
    assert detail["status"] == "complete"
    assert "recovered" in [e["kind"] for e in detail["events"]]
    assert detail["index_result"] is not None  # scored from what survived (may be "not computed")

    import mne

    raw = mne.io.read_raw_bdf(next(out.glob("*_eeg.bdf")), preload=True, verbose="error")
    assert raw.ch_names == ["TP9", "AF7", "AF8", "TP10"]
    assert raw.info["sfreq"] == 256.0
    pad = [a for a in raw.annotations if a["description"] == "no_data"]
    n = raw.n_times - (int(round(pad[0]["duration"] * 256)) if pad else 0)
    # At most the last second before the kill is lost, and at least 20 s survive.
    assert n / 256.0 >= max(20.0, t_seen - 1.0)
    # Sample for sample the source recording: the headband sends samples 0, 1, 2, ... in order;
    # the classic Muse quantises to 0.48828125 uV steps (error <= 0.244 uV); BDF adds ~1e-4 uV.
    src = bundled_muse_eeg().data
    got = raw.get_data(units="uV")[:, :n]
    idx = np.arange(n) % src.shape[1]
    assert np.max(np.abs(got - src[:, idx])) <= 0.2442 + 2e-3
    phases = {a["description"] for a in raw.annotations}
    assert {"phase:device_check", "phase:eyes_closed_rest"} <= phases


def test_partial_row_after_crash_is_ignored(tmp_path):
    from addictidx._core.types import Chunk, StreamSpec

    spec = StreamSpec("hb", "eeg", "eeg", ("A", "B"), 256.0, "uV", 12)
    init_keys(tmp_path)  # a raw folder outside a store is its own store root (keys beside it)
    with RawWriter(tmp_path, {"eeg_channels": ["A", "B"], "eeg_sfreq": 256.0}, t0=10.0) as w:
        data = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, np.nan]])
        w.append_eeg(Chunk(spec, data, np.array([10.0, 10.5, 11.0])))
    with open(tmp_path / "eeg.f64", "ab") as f:  # a row cut short by a kill mid-write
        f.write(b"\x01" * 13)
    r = read_raw(tmp_path)
    assert r.n_partial_bytes == 13
    np.testing.assert_array_equal(r.eeg_times, [0.0, 0.5, 1.0])
    np.testing.assert_array_equal(r.eeg[0], [1.0, 2.0, 3.0])
    assert np.isnan(r.eeg[1, 2])


def test_recover_refuses_a_live_recorder(tmp_path):
    from addictidx._core import StoreError
    from addictidx.sessions.recover import recover_session
    from addictidx.store.session_store import SessionStore

    sleeper = subprocess.Popen(["sleep", "600"])  # alive for the whole test, killed below
    try:
        with SessionStore(tmp_path) as st:
            sid = st.start_session("P030", devices={}, simulated=True, software="t")
            meta = {
                "eeg_channels": ["TP9"],
                "eeg_sfreq": 256.0,
                "protocol": STANDARD_PROTOCOL.to_dict(),
            }
            st.set_recording(sid, "raw/x", protocol="p", meta=meta)
            RawWriter(tmp_path / "raw/x", meta).close()
            m = read_meta(tmp_path / "raw/x")  # meta.json is encrypted at rest
            m["pid"] = sleeper.pid
            write_meta(tmp_path / "raw/x", m)
            with pytest.raises(StoreError, match="still being recorded"):
                recover_session(st, sid)
    finally:
        sleeper.kill()
        sleeper.wait()


def test_phase_clock_pause_extends_phase_by_the_pause():
    proto = Protocol(
        "p",
        (Phase("device_check", 10.0, False, kind="check"), Phase("eyes_closed_rest", 60.0, True)),
    )
    clock = PhaseClock(proto, loss_s=3.0)
    events = []
    # Updates every 0.5 s; signal lost on (30, 40]: session time 30.5 .. 40.0 is not counted
    # except that the step that resumes at 40.5 counts nothing either.
    for t in np.arange(0.0, 200.0, 0.5):
        ok = not (30.0 < t <= 40.0)
        events += clock.update(float(t), signal_ok=ok, check_ok=True)
        if clock.done:
            break
    kinds = [e[0] for e in events]
    assert kinds == [
        "phase_start",
        "phase_end",
        "phase_start",
        "signal_lost",
        "signal_resumed",
        "phase_end",
    ]
    ec = clock.spans[1]
    assert ec.t_start_s == 10.0
    assert ec.pauses == [(30.5, 40.5)]
    # 60 s counted: 10..30 (20 s) + 40.5..t_end (40 s) -> t_end = 80.5
    assert ec.t_end_s == pytest.approx(80.5)


def test_phase_clock_device_check_waits_for_good_signal():
    clock = PhaseClock(STANDARD_PROTOCOL)
    events = []
    for t in np.arange(0.0, 40.0, 1.0):
        events += clock.update(float(t), signal_ok=True, check_ok=t >= 27.0)
    ends = [e for e in events if e[0] == "phase_end"]
    assert ends[0][1] == 27.0  # the 20-s check is held open until the check passes at 27 s
    assert clock.spans[1].name == "eyes_closed_rest" and clock.spans[1].t_start_s == 27.0
