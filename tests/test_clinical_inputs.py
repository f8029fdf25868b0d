"""Required clinical inputs, checked before anything is recorded (issue 17.2, 17.4, 17.5, 17.9).

* age is required by every command that prescribes exercise (assess, dashboard, prescribe
  unless a measured HRmax is given) and must be 18-90 years; a bad value is one line, exit 2,
  and no session is created;
* one screening default everywhere: not screened = light intensity (30-39 % HRR);
* a real-device ``assess`` with no Bluetooth adapter or no device says so in one line, exits 2
  and records nothing;
* during the guided intervention the live view shows the suggestion and the HR against its zone;
* ``sessions list`` tells a STOPped and a recovered empty session apart from a complete one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from addictidx.cli import app


def _cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    return subprocess.run(
        [sys.executable, "-m", "addictidx", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


def _one_line_error(r: subprocess.CompletedProcess, *words: str) -> None:
    assert r.returncode == 2, (r.returncode, r.stdout[-500:], r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("addictidx: error:"), r.stderr
    for w in words:
        assert w in lines[0], (w, lines[0])


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("--age", "-4"), ("'age' must be 18-90 years", "-4")),
        (("--age", "5"), ("18-90",)),
        ((), ("--age is required",)),
        (("--age", "40", "--speed", "0"), ("--speed must be > 0",)),
        (("--age", "40", "--speed", "-3"), ("--speed must be > 0",)),
    ],
)
def test_assess_rejects_bad_inputs_before_recording(tmp_path, args, words):
    store = tmp_path / "store"
    r = _cli("assess", "--subject", "P301", "--simulate", "--store", str(store), *args)
    _one_line_error(r, *words)
    assert not store.exists()  # nothing was recorded, not even an empty store


def test_dashboard_and_recover_need_a_valid_age(tmp_path):
    # a session started at launch needs the person's age; on the page, the start form asks
    # for it at every start (tests/test_dashboard_consent.py)
    r = _cli(
        "dashboard",
        "--simulate",
        "--store",
        str(tmp_path / "s"),
        "--port",
        "1",
        "--subject",
        "P302",
    )
    _one_line_error(r, "--age is required")
    r = _cli(
        "dashboard", "--simulate", "--store", str(tmp_path / "s"), "--port", "1", "--age", "7"
    )
    _one_line_error(r, "18-90")
    assert not (tmp_path / "s").exists()
    r = _cli("sessions", "recover", "--store", str(tmp_path / "s"), "--age", "7")
    _one_line_error(r, "18-90")


def test_prescribe_needs_age_or_hrmax_and_defaults_to_not_screened():
    r = _cli("prescribe", "--index", "80", "--resting-hr", "60", "--json")
    _one_line_error(r, "--age is required", "--hrmax")
    _one_line_error(_cli("prescribe", "--index", "80", "--age", "5", "--resting-hr", "60"), "5")
    _one_line_error(
        _cli("prescribe", "--index", "80", "--resting-hr", "60", "--hrmax", "40"), "100-230"
    )
    # no --screened: light intensity, as in assess/dashboard/demo (EVIDENCE.md 7(iv))
    d = json.loads(
        _cli("prescribe", "--index", "50", "--age", "40", "--resting-hr", "60", "--json").stdout
    )
    assert d["intensity_pct_hrr"] == [30, 39]
    # Karvonen by hand: HRmax 208 - 0.7 x 40 = 180; 60 + 0.30 x 120 = 96, 60 + 0.39 x 120 = 106.8
    assert d["hr_target_bpm"] == [96, 107]
    s = json.loads(
        _cli(
            "prescribe",
            "--index",
            "50",
            "--age",
            "40",
            "--resting-hr",
            "60",
            "--screened",
            "--json",
        ).stdout
    )
    assert s["intensity_pct_hrr"][0] >= 40
    # a measured HRmax replaces the age: 60 + 0.30 x (170 - 60) = 93
    m = json.loads(
        _cli("prescribe", "--index", "50", "--hrmax", "170", "--resting-hr", "60", "--json").stdout
    )
    assert m["hr_target_bpm"][0] == 93


class _NoAdapter:
    @classmethod
    async def discover(cls, timeout=5.0, return_adv=False):
        raise FileNotFoundError(2, "No such file or directory")


class _NothingAround:
    @classmethod
    async def discover(cls, timeout=5.0, return_adv=False):
        class Dev:
            address, name = "AA:BB:CC:DD:EE:FF", "Some speaker"

        class Adv:
            local_name, service_uuids = "Some speaker", []

        return {Dev.address: (Dev, Adv)}


@pytest.mark.parametrize(
    ("scanner", "words"),
    [
        (_NoAdapter, ("No usable Bluetooth adapter",)),
        (_NothingAround, ("Device not found", "muse-2", "generic-hrs")),
    ],
)
def test_real_device_assess_without_adapter_or_device_fails_at_once(
    tmp_path, monkeypatch, scanner, words
):
    import bleak

    monkeypatch.setattr(bleak, "BleakScanner", scanner)
    monkeypatch.setattr("addictidx.sessions.devices.PREFLIGHT_SCAN_S", 0.01)
    store = tmp_path / "store"
    r = CliRunner().invoke(
        app,
        ["assess", "--subject", "P302", "--age", "40", "--consent-given", "--store", str(store)],
    )
    assert r.exit_code == 2, r.output
    lines = [ln for ln in r.output.strip().splitlines() if ln]
    assert len(lines) == 1 and all(w in lines[0] for w in words), r.output
    assert not store.exists()  # no empty session was recorded


def test_guided_live_view_shows_the_prescription_and_zone(tmp_path):
    from addictidx.cli.live_view import live_rows
    from addictidx.sessions.assessment import run_assessment
    from addictidx.sessions.protocol import GUIDED_PROTOCOL

    seen: dict = {}
    ref: dict = {}

    def on_start(live, sid):
        ref["live"], ref["sid"] = live, sid

    def on_progress(phase, done, total):
        if phase == "guided_intervention" and "rows" not in seen:
            seen["rows"] = dict(live_rows(ref["live"], "P303", ref["sid"], {"x": "stop"}))

    res = run_assessment(
        "P303",
        store_dir=tmp_path / "store",
        protocol=GUIDED_PROTOCOL,
        age=40,
        on_start=on_start,
        on_progress=on_progress,
        consent_given=True,
    )
    rows = seen["rows"]
    rx = res.prescription
    assert rows["suggestion"].startswith(rx.activity)
    lo, hi = rx.hr_target_bpm
    assert f"HR {lo}-{hi} bpm" in rows["targets"]
    assert f"the zone {lo}-{hi} bpm" in rows["zone"]
    assert "index" in rows and "decision support" in rows["index"]
    assert rows["events"].startswith("0 marks")
    # after the end: when it ended, not "time left ... of <planned>"
    end = dict(live_rows(ref["live"], "P303", ref["sid"], {}))
    assert "time left" not in end and end["time"].startswith("ended at")


def test_sessions_list_names_stopped_and_recovered_sessions(tmp_path):
    from addictidx.cli.live_view import plural
    from addictidx.store.session_store import SessionStore

    assert plural(1, "mark") == "1 mark" and plural(2, "mark") == "2 marks"
    store = tmp_path / "store"
    with SessionStore(store) as st:
        a = st.start_session("P304", devices={}, simulated=True, software="t")
        st.add_event(a, 0.0, "phase", {"phase": "device_check"})
        st.add_event(a, 585.4, "session_stopped", {"reason": "stop key", "phase": "recovery"})
        st.end_session(a, status="complete")
        b = st.start_session("P304", devices={}, simulated=True, software="t")
        st.add_event(b, 0.0, "recovered", {"data_end_s": 0.0, "eeg_s": 0.0, "n_beats": 0})
        st.end_session(b, status="complete")
        c = st.start_session("P304", devices={}, simulated=True, software="t")
        st.end_session(c, status="complete")
        d = st.start_session("P304", devices={}, simulated=True, software="t")
        st.add_safety_event(d, 501.0, "stop", {"rule": "S3", "reason": "[S3] no HR rise"})
        st.end_session(d, status="complete")
    rows = json.loads(_cli("sessions", "list", "--store", str(store), "--json").stdout)
    assert [r["outcome"] for r in rows] == [
        "stopped at 9:45",
        "recovered, no data",
        "complete",
        "complete, safety stop at 8:21",
    ]
    assert [r["status"] for r in rows] == ["complete"] * 4  # the JSON contract is kept
    text = _cli("sessions", "list", "--store", str(store)).stdout
    assert "stopped at 9:45" in text and "recovered, no data" in text
    show = json.loads(_cli("sessions", "show", str(a), "--store", str(store)).stdout)
    assert show["outcome"] == "stopped at 9:45"


def test_reading_commands_never_create_a_store(tmp_path):
    """``sessions list --store demo-store`` (the demo folder) created an empty store there."""
    from addictidx.store.session_store import SessionStore

    demo = tmp_path / "demo-store"
    with SessionStore(demo / "store") as st:
        st.start_session("P305", devices={}, simulated=True, software="t")
    before = sorted(p.name for p in demo.iterdir())
    for cmd in (("sessions", "list"), ("sessions", "show", "1"), ("sessions", "recover")):
        r = _cli(*cmd, "--store", str(demo))
        _one_line_error(r, "no addictidx store here", f"did you mean --store {demo / 'store'}")
    r = _cli("sessions", "report", "1", "--store", str(tmp_path / "nowhere"))
    _one_line_error(r, "no addictidx store here")
    assert sorted(p.name for p in demo.iterdir()) == before
    assert not (tmp_path / "nowhere").exists()


def test_dashboard_real_devices_without_adapter_show_an_error_and_record_nothing(
    tmp_path, monkeypatch
):
    import asyncio

    import bleak

    from addictidx.dashboard.runner import DashboardRunner

    monkeypatch.setattr(bleak, "BleakScanner", _NoAdapter)
    monkeypatch.setattr("addictidx.sessions.devices.PREFLIGHT_SCAN_S", 0.01)
    runner = DashboardRunner(tmp_path / "store", simulate=False, age=40)

    async def go():
        runner.start("P306", age=40, consent_given=True)
        await runner.task

    asyncio.run(go())
    assert runner.status == "error"
    assert runner.error.startswith("No usable Bluetooth adapter")
    assert runner.session_id is None and runner.store.queries.list_sessions() == []
    assert runner.store.consent.records("P306") == []  # recorded only once devices are there
    runner.close()


def test_python_api_never_assumes_an_age(tmp_path):
    """The Python entry points that reach a prescription or the closed loop take the age as a
    required keyword (no 30 by default), checked with the one wording; a measured HRmax may
    replace it only where the loop accepts one."""
    from addictidx.sessions.assessment import AssessmentOptions, run_assessment
    from addictidx.sessions.closed_loop import LoopSettings
    from addictidx.sessions.run import score_and_store

    with pytest.raises(ValueError, match=r"^'age' is required \(years, 18-90\).*never assumed"):
        run_assessment("P330", store_dir=tmp_path / "s", consent_given=True)
    assert not (tmp_path / "s").exists()  # refused before a store or a session exists
    with pytest.raises(TypeError, match="'age'"):
        AssessmentOptions()
    with pytest.raises(ValueError, match=r"'age' must be 18-90 years.*got 7"):
        AssessmentOptions(age=7)
    with pytest.raises(ValueError, match="'age' must be a number of years"):
        AssessmentOptions.build(age="forty")
    assert AssessmentOptions.build(age=52).age == 52.0
    assert AssessmentOptions.build(AssessmentOptions(age=52), seed=3).age == 52.0
    with pytest.raises(TypeError, match="'age'"):
        LoopSettings()
    with pytest.raises(ValueError, match="'age' is required"):
        LoopSettings(age=None)
    assert LoopSettings(age=None, hrmax=181).hrmax == 181.0  # a measured HRmax replaces it
    with pytest.raises(ValueError, match="'hrmax'"):
        LoopSettings(age=None, hrmax=40)
    with pytest.raises(TypeError, match="'age'"):
        score_and_store(None, 1, "P330", None)
