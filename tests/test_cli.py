"""The console commands, run as a user runs them (a subprocess of this Python)."""

import json
import math
import subprocess
import sys

import pytest

from addictidx import __version__


def run(*args, check=True):
    proc = subprocess.run(
        [sys.executable, "-m", "addictidx", *args], capture_output=True, text=True, timeout=300
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
        )
    return proc


def test_version():
    assert run("--version").stdout.strip() == f"addictidx {__version__}"


def test_help_lists_commands():
    out = run("--help").stdout
    for cmd in ("demo", "index", "prescribe", "profiles", "sessions"):
        assert cmd in out


def test_cli_import_is_light():
    """`addictidx --help` must not pay for heavy imports (speed itself is measured in CI)."""
    code = (
        "import sys, addictidx.cli; "
        "heavy = ('scipy', 'mne', 'neurokit2', 'onnxruntime', 'onnx', 'sklearn', 'bleak', "
        "'pandas'); "
        "print([m for m in heavy if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_demo_writes_store_report_and_export(tmp_path):
    """The demo: 5 history sessions + 1 scored against the personal baseline, all under DIR."""
    out = run("demo", "--out", str(tmp_path), "--json").stdout
    summary = json.loads(out)
    assert (tmp_path / "store" / "addictidx.sqlite").exists()
    assert summary["store"] == str(tmp_path / "store" / "addictidx.sqlite")
    assert summary["session_time_s"] == 320.0
    # Five earlier sessions make the baseline personal (EVIDENCE.md 7(ii): first >= 5 sessions).
    assert summary["index"]["baseline"] == "personal"
    assert summary["index"]["n_baseline_sessions"] == 5
    assert 0.0 <= summary["index"]["index"] <= 100.0
    assert "not a diagnosis" in summary["index"]["not_for"]
    for key in ("report_pdf", "report_html", "eeg_bdf", "rr_edf"):
        path = summary["paths"][key]
        assert (
            path.startswith(str(tmp_path)) and (tmp_path / path[len(str(tmp_path)) + 1 :]).exists()
        )
    listed = json.loads(
        run("sessions", "list", "--store", str(tmp_path / "store"), "--json").stdout
    )
    assert [s["subject"] for s in listed] == ["DEMO-001"] * 6
    # Issue 17.3: the history replays several real recordings, so the personal baseline has a
    # spread, and the last session is scored against it with an explanation.
    assert len(summary["visits"]) == 6 and len(set(summary["visits"])) == 6
    assert len({v.split(",")[0].rsplit(" ", 2)[0] for v in summary["visits"]}) >= 3
    feats = []
    for sid in range(1, 7):
        d = json.loads(
            run("sessions", "show", str(sid), "--store", str(tmp_path / "store")).stdout
        )
        feats.append(d["features"])
    signs = {
        "hrv_ln_rmssd": -1,
        "hr_mean_bpm": 1,
        "eeg_beta_rel_frontal": 1,
        "eeg_alpha_beta_ratio_temporal": -1,
    }
    for name, sign in signs.items():
        hist = sorted(f[name] for f in feats[:5])
        med = hist[2]
        mad = sorted(abs(v - med) for v in hist)[2]
        assert mad > 0.01 * abs(med), name  # a real spread, not five copies
        z = sign * (feats[5][name] - med) / (1.4826 * mad)  # EVIDENCE.md 7(ii), by hand
        assert abs(z) < 3.0, name  # not clipped: the last session is within the person's range
        assert summary["index"]["z"][name] == pytest.approx(z, abs=1e-6)
    assert len(summary["explanation"]) == 5
    assert "own baseline" in summary["explanation"][0]
    assert all(("raises" in t) or ("lowers" in t) for t in summary["explanation"][1:])
    # research output is off unless --research-model (issue 17.6)
    assert "research" not in summary and summary["research_model_enabled"] is False


def test_demo_without_history_uses_population_norms(tmp_path):
    summary = json.loads(run("demo", "--out", str(tmp_path), "--history", "0", "--json").stdout)
    assert summary["index"]["baseline"] == "population"
    assert summary["index"]["n_baseline_sessions"] == 0


def test_demo_text_summary_has_disclaimer(tmp_path):
    out = run("demo", "--out", str(tmp_path)).stdout
    assert "Addiction index:" in out
    assert "not a diagnosis" in out
    assert str(tmp_path) in out
    # research output is off unless --research-model (issue 17.6); the story is told
    assert "RESEARCH" not in out and "research classifier" not in out.lower()
    assert "Why the last session scores as it does:" in out


def test_index_cli_hand_calculation(tmp_path):
    # Baseline medians/MADs chosen so each z is easy to compute by hand:
    # z = s * (x - median) / (1.4826 * MAD), signs (-, +, +, -).
    base = {
        "hrv_ln_rmssd": {"median": 3.5, "mad": 0.2},
        "hr_mean_bpm": {"median": 70.0, "mad": 5.0},
        "eeg_beta_rel_frontal": {"median": 0.15, "mad": 0.05},
        "eeg_alpha_beta_ratio_temporal": {"median": 0.8, "mad": 0.1},
    }
    feats = {
        "hrv_ln_rmssd": 3.5 - 1.4826 * 0.2,  # z = -(-1) = +1
        "hr_mean_bpm": 70.0 + 1.4826 * 5.0,  # z = +1
        "eeg_beta_rel_frontal": 0.15 + 0.5 * 1.4826 * 0.05,  # z = +0.5
        "eeg_alpha_beta_ratio_temporal": None,  # unavailable: 3 of 4 remain
    }
    (tmp_path / "f.json").write_text(json.dumps(feats))
    (tmp_path / "b.json").write_text(json.dumps(base))
    out = json.loads(
        run(
            "index",
            "--features",
            str(tmp_path / "f.json"),
            "--baseline",
            str(tmp_path / "b.json"),
            "--json",
        ).stdout
    )
    Z = (1 + 1 + 0.5) / 3
    assert out["z"]["hrv_ln_rmssd"] == pytest.approx(1.0, abs=1e-9)
    assert out["z"]["hr_mean_bpm"] == pytest.approx(1.0, abs=1e-9)
    assert out["z"]["eeg_beta_rel_frontal"] == pytest.approx(0.5, abs=1e-9)
    assert out["z"]["eeg_alpha_beta_ratio_temporal"] is None
    assert out["index"] == pytest.approx(100 * 0.5 * (1 + math.erf(Z / math.sqrt(2))), abs=1e-6)
    assert out["band"] == "elevated"
    assert 0.0 <= out["confidence"] <= 1.0


def test_index_cli_bad_json_is_one_clear_line(tmp_path):
    (tmp_path / "f.json").write_text("{not json")
    (tmp_path / "b.json").write_text("{}")
    proc = run(
        "index",
        "--features",
        str(tmp_path / "f.json"),
        "--baseline",
        str(tmp_path / "b.json"),
        check=False,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "f.json" in proc.stderr and "not valid JSON" in proc.stderr


def test_prescribe_cli_contract():
    out = json.loads(
        run(
            "prescribe",
            "--index",
            "80",
            "--age",
            "30",
            "--resting-hr",
            "60",
            "--screened",
            "--json",
        ).stdout
    )
    assert set(out) == {
        "band",
        "state",
        "activity",
        "intensity_pct_hrr",
        "hr_target_bpm",
        "duration_min",
        "music_bpm",
        "rule_id",
        "rationale",
    }
    assert out["band"] == "elevated" and out["state"] == "green"
    assert out["intensity_pct_hrr"] == [40, 59]
    # HRmax = 208 - 0.7 * 30 = 187; HRR = 127; 60 + 0.40 * 127 = 110.8 -> 111,
    # 60 + 0.59 * 127 = 134.93 -> 135.
    assert out["hr_target_bpm"] == [111, 135]


@pytest.mark.parametrize(
    "index,band", [("69.14", "low"), ("69.15", "elevated"), ("93.32", "high")]
)
def test_prescribe_cli_band_edges(index, band):
    out = json.loads(
        run("prescribe", "--index", index, "--age", "40", "--resting-hr", "65", "--json").stdout
    )
    assert out["band"] == band


def test_prescribe_cli_red_state():
    out = json.loads(
        run(
            "prescribe",
            "--index",
            "95",
            "--age",
            "30",
            "--resting-hr",
            "60",
            "--state",
            "red",
            "--json",
        ).stdout
    )
    assert out["state"] == "red"
    assert "seated rest" in out["activity"]
    assert out["hr_target_bpm"] is None


def test_prescribe_cli_infers_red_from_resting_hr():
    out = json.loads(
        run("prescribe", "--index", "50", "--age", "30", "--resting-hr", "125", "--json").stdout
    )
    assert out["state"] == "red" and out["hr_target_bpm"] is None


def test_profiles_list_and_show():
    out = run("profiles", "list").stdout
    for name in ("muse-2016", "muse-2", "muse-s", "muse-s-athena", "polar-h10", "generic-hrs"):
        assert name in out
    shown = json.loads(run("profiles", "show", "generic-hrs").stdout)
    assert "streams" in shown


def test_profiles_show_unknown_is_clean_error():
    proc = run("profiles", "show", "no-such-device", check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr


def test_readme_names_the_installed_neurokit2_version():
    """Issue 17.10: the README claimed NeuroKit2 0.2.13 while pip installed 0.3.0."""
    import re
    from importlib.metadata import version
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    named = set(re.findall(r"NeuroKit2 (\d+\.\d+\.\d+)", readme))
    assert named == {version("neurokit2")}, named
