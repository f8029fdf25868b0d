"""``addictidx sessions export --bids``: a BIDS-EEG dataset that mne-bids reads back (issue 7).

Checked against the store itself: channels and rate of the recording, the phases as events with
the stored onsets and durations, and the samples equal to the raw recording within BDF's 24-bit
resolution. Skipped when the optional ``mne-bids`` (extra ``bids``) is not installed.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

pytest.importorskip(
    "mne_bids", reason="mne-bids is not installed (optional: pip install 'addictidx[bids]')"
)

from addictidx.cli import app  # noqa: E402
from addictidx.sessions.assessment import run_assessment  # noqa: E402
from addictidx.sessions.protocol import STANDARD_PROTOCOL  # noqa: E402
from addictidx.store.session_store import SessionStore  # noqa: E402


def test_bids_export_reads_back(tmp_path):
    from mne_bids import BIDSPath, read_raw_bids

    from addictidx.acquire.profiles import load_profile
    from addictidx.store.raw import read_raw

    store_dir, out = tmp_path / "store", tmp_path / "out"
    res = run_assessment(
        "B-01", store_dir=store_dir, protocol=STANDARD_PROTOCOL, seed=2, age=30, consent_given=True
    )
    r = CliRunner().invoke(
        app,
        [
            "sessions",
            "export",
            "--subject",
            "B-01",
            "--out",
            str(out),
            "--store",
            str(store_dir),
            "--bids",
        ],
    )
    assert r.exit_code == 0, r.output
    bp = BIDSPath(
        subject="B01",
        session=f"{res.session_id:04d}",
        task="assessment",
        datatype="eeg",
        root=out / "bids",
    )
    raw = read_raw_bids(bp, verbose="error")
    assert raw.ch_names == ["TP9", "AF7", "AF8", "TP10"]
    assert raw.info["sfreq"] == 256.0
    assert set(raw.get_channel_types()) == {"eeg"}

    with SessionStore(store_dir) as store:
        detail = store.queries.session_detail(res.session_id)
        rec = read_raw(store.queries.recording(res.session_id)["raw_dir"], keyring=store.keyring)
    t_first = float(rec.eeg_times[0])
    ann = {
        d: (o, du)
        for o, du, d in zip(
            raw.annotations.onset, raw.annotations.duration, raw.annotations.description
        )
    }
    for p in detail["phases"]:
        onset, dur = ann[f"phase:{p['name']}"]
        assert onset == pytest.approx(max(p["t_start_s"] - t_first, 0.0), abs=1e-3)
        want = p["t_end_s"] - max(p["t_start_s"], t_first)
        assert dur == pytest.approx(want, abs=1e-3)
    assert {"phase:eyes_closed_rest", "phase:eyes_open_rest"} <= set(ann)

    # events.tsv lists the phases too (what BIDS tools read without MNE)
    (events_tsv,) = (out / "bids").rglob("*_events.tsv")
    lines = events_tsv.read_text().splitlines()
    assert lines[0].split("\t")[:3] == ["onset", "duration", "trial_type"]
    assert any("\tphase:eyes_closed_rest\t" in ln for ln in lines[1:])

    # the samples are the recording (µV -> V, 24-bit BDF over +-1000 µV: 1.2e-4 µV steps)
    data_uv = raw.get_data()[:, : rec.eeg.shape[1]] * 1e6
    want_uv = np.clip(np.nan_to_num(rec.eeg, nan=0.0), -1000.0, 1000.0)
    assert np.max(np.abs(data_uv - want_uv)) < 2.5e-4

    sidecar = json.loads(next((out / "bids").rglob("*_eeg.json")).read_text())
    hb = detail["devices"]["headband"]
    assert sidecar["Manufacturer"] == load_profile(hb).vendor
    assert sidecar["ManufacturersModelName"] == hb
    assert sidecar["PowerLineFrequency"] == 50.0
