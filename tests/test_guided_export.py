"""A guided session (intervention + recovery) exports, research-exports and reports (issue 17.1).

Before the fix, every ``--guided`` session failed ``sessions export`` with ``TypeError: '<' not
supported between 'NoneType' and 'float'`` (sorting a point event's ``None`` duration against a
phase's duration) and ``export --research`` left a half-written folder behind.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from addictidx.sessions.assessment import run_assessment
from addictidx.sessions.protocol import GUIDED_PROTOCOL
from addictidx.store.session_store import SessionStore


def _cli(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    return subprocess.run(
        [sys.executable, "-m", "addictidx", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )


@pytest.fixture(scope="module")
def guided(tmp_path_factory):
    store = tmp_path_factory.mktemp("guided") / "store"
    res = run_assessment(
        "P902",
        store_dir=store,
        protocol=GUIDED_PROTOCOL,
        age=40,
        screening={"medically_screened": True},
        seed=3,
        consent_given=True,
    )
    with SessionStore(store) as st:
        st.consent.add("P902", scope="research", signed_on="2026-01-01")
    return store, res


def test_guided_session_exports_without_traceback(guided, tmp_path):
    import mne

    store, res = guided
    out = tmp_path / "X"
    r = _cli("sessions", "export", "--subject", "P902", "--store", str(store), "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    stem = f"P902_ses-{res.session_id:04d}"
    assert sorted(p.name for p in out.iterdir()) == [
        f"{stem}_eeg.bdf",
        f"{stem}_rr.edf",
        f"{stem}_rr.tsv",
    ]
    raw = mne.io.read_raw_bdf(out / f"{stem}_eeg.bdf", verbose="error")
    desc = list(raw.annotations.description)
    # every phase of the guided protocol is annotated, the intervention and recovery included
    for p in GUIDED_PROTOCOL.phases:
        assert f"phase:{p.name}" in desc
    onsets = list(raw.annotations.onset)
    assert onsets == sorted(onsets)


def test_guided_session_research_export(guided, tmp_path):
    store, _res = guided
    out = tmp_path / "R"
    r = _cli(
        "export", "--research", "--store", str(store), "--out", str(out), "--on", "2026-03-01"
    )
    assert r.returncode == 0, r.stderr
    assert (out / "manifest.json").is_file() and (out / "sessions.tsv").is_file()
    assert len(list((out / "recordings").glob("*_eeg.bdf"))) == 1
    # nothing hidden is left beside it
    assert [p.name for p in tmp_path.iterdir()] == ["R"]


def test_failed_export_leaves_no_half_written_folder(guided, tmp_path, monkeypatch):
    """The EDF+ writer fails after the BDF was written: neither export leaves anything behind."""
    import edfio

    from addictidx.sessions.io import export_session
    from addictidx.sessions.research_export import export_research

    store, res = guided

    def boom(self, *a, **k):
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(edfio.Edf, "write", boom)
    with SessionStore(store) as st:
        with pytest.raises(OSError, match="disk full"):
            export_session(st, res.session_id, tmp_path / "X")
        with pytest.raises(OSError, match="disk full"):
            export_research(st, tmp_path / "R", on="2026-03-01")
    assert list(tmp_path.iterdir()) == []
    # an existing destination keeps only what it had
    (tmp_path / "R").mkdir()
    (tmp_path / "R" / "keep.txt").write_text("x")
    with SessionStore(store) as st:
        with pytest.raises(OSError):
            export_research(st, tmp_path / "R", on="2026-03-01")
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["R", "keep.txt"]
