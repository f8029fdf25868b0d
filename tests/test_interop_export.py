"""``sessions export --fhir`` and ``--bids`` on a real stored session (the README's demo).

The BIDS dataset is checked by the official BIDS validator (npm ``bids-validator``, which runs
offline); the test skips, saying why, when it is not installed (``.ci/run`` installs it).
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fhir.resources")
pytest.importorskip("mne_bids")


def _cli(*args, check=True):
    proc = subprocess.run(
        [sys.executable, "-m", "addictidx", *args], capture_output=True, text=True, timeout=600
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"addictidx {' '.join(args)} failed:\n{proc.stderr}")
    return proc


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("interop") / "demo"
    _cli("demo", "--out", str(out))
    return out / "store"


def test_fhir_export_needs_sharing_consent_then_validates(demo, tmp_path):
    from fhir.resources import get_fhir_model_class

    dest = tmp_path / "x"
    proc = _cli(
        "sessions",
        "export",
        "--subject",
        "DEMO-001",
        "--session",
        "6",
        "--store",
        str(demo),
        "--out",
        str(dest),
        "--fhir",
        check=False,
    )
    assert proc.returncode == 2 and "sharing" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert not dest.exists()  # refused before anything was written
    _cli("consent", "record", "--subject", "DEMO-001", "--scope", "sharing", "--store", str(demo))
    _cli(
        "sessions",
        "export",
        "--subject",
        "DEMO-001",
        "--session",
        "6",
        "--store",
        str(demo),
        "--out",
        str(dest),
        "--fhir",
    )
    (path,) = dest.glob("*_fhir.json")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    bundle = json.loads(path.read_text())
    get_fhir_model_class("Bundle").model_validate(bundle)
    for e in bundle["entry"]:
        r = e["resource"]
        get_fhir_model_class(r["resourceType"]).model_validate(r)
    text = json.dumps(bundle)
    assert text.count("DEMO-001") == 1  # the pseudonym, once, in Patient.identifier
    codes = {
        c["code"]
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "Observation"
        for c in e["resource"]["code"]["coding"]
    }
    assert {"8867-4", "80404-7", "hrv-rmssd", "physiological-deviation-index"} <= codes
    # the stored index is what the Bundle says
    idx = next(
        e["resource"]
        for e in bundle["entry"]
        if e["resource"].get("code", {}).get("coding", [{}])[0].get("code")
        == "physiological-deviation-index"
    )
    shown = _cli("sessions", "show", "6", "--store", str(demo), "--json", check=False)
    if shown.returncode == 0:
        stored = json.loads(shown.stdout)
        want = (stored.get("index_result") or {}).get("index", stored.get("index"))
        if want is not None:
            assert idx["valueQuantity"]["value"] == pytest.approx(want, abs=1e-3)


def _validator() -> str | None:
    exe = os.environ.get("ADDICTIDX_BIDS_VALIDATOR") or shutil.which("bids-validator")
    return exe if exe and Path(exe).exists() else None


def test_bids_export_has_physio_and_passes_the_validator(demo, tmp_path):
    dest = tmp_path / "b"
    _cli(
        "sessions",
        "export",
        "--subject",
        "DEMO-001",
        "--session",
        "6",
        "--store",
        str(demo),
        "--out",
        str(dest),
        "--bids",
    )
    root = dest / "bids"
    (physio,) = root.glob("sub-*/ses-*/eeg/*_recording-cardiac_physio.tsv.gz")
    side = json.loads(physio.with_name(physio.name.replace(".tsv.gz", ".json")).read_text())
    assert side["Columns"] == ["cardiac", "rr_ms"] and side["SamplingFrequency"] == 1000.0
    with gzip.open(physio, "rt") as f:
        grid = np.loadtxt(f, delimiter="\t", ndmin=2)
    beats = np.loadtxt(next(dest.glob("*_rr.tsv")), delimiter="\t", skiprows=1, ndmin=2)
    # one trigger per exported beat, each within half a sample (0.5 ms) of the exact beat time
    k = np.flatnonzero(grid[:, 0] == 1)
    assert k.size == beats.shape[0]
    t_grid = side["StartTime"] + k / side["SamplingFrequency"]
    assert np.max(np.abs(t_grid - beats[:, 0])) <= 0.0005 + 1e-12
    np.testing.assert_allclose(grid[k, 1], beats[:, 1], atol=5e-4)
    assert list(root.glob("sub-*/ses-*/eeg/*_events.tsv"))
    exe = _validator()
    if exe is None:
        pytest.skip("BIDS validator not installed (npm install -g bids-validator@1.15.0)")
    proc = subprocess.run([exe, str(root), "--json"], capture_output=True, text=True, timeout=300)
    report = json.loads(proc.stdout)
    errors = report["issues"]["errors"]
    assert errors == [], [(e["key"], e.get("reason")) for e in errors]
