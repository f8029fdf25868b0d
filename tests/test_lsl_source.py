"""``assess --source lsl``: a muse-lsl-like EEG stream and a foreign RR stream (ms, no unit)
drive the one production session; a lost block is a recorded gap, like a BLE gap."""

from __future__ import annotations

import threading
import time
import uuid

import numpy as np
import pytest

lsl = pytest.importorskip("mne_lsl.lsl", reason="needs mne-lsl (extra 'lsl')")

from addictidx.interop.lsl_assess import run_lsl_assessment  # noqa: E402
from addictidx.readers import bundled_muse_eeg, bundled_rr  # noqa: E402
from addictidx.sessions.assessment import AssessmentOptions  # noqa: E402
from addictidx.sessions.protocol import Phase, Protocol  # noqa: E402
from addictidx.store.session_store import SessionStore  # noqa: E402

SHORT = Protocol(
    "lsl-short",
    (
        Phase("device_check", 3.0, False),
        Phase("eyes_closed_rest", 8.0, True),
        Phase("eyes_open_rest", 3.0, True),
    ),
)


def _publisher(name_eeg, name_rr, stop, lost_block=200):
    """muse-lsl's layout: 5 channels incl. Right AUX, float32, 12-sample chunks, real time."""
    rec = bundled_muse_eeg()
    eeg = np.asarray(rec.data, dtype=np.float64)
    info = lsl.StreamInfo(name_eeg, "EEG", 5, 256.0, "float32", f"{name_eeg}-src")
    info.set_channel_names(["TP9", "AF7", "AF8", "TP10", "Right AUX"])
    info.set_channel_units(["microvolts"] * 5)
    out = lsl.StreamOutlet(info, chunk_size=12)
    rinfo = lsl.StreamInfo(name_rr, "RR", 1, 0.0, "float32", f"{name_rr}-src")
    rout = lsl.StreamOutlet(rinfo)
    rr = bundled_rr()
    beats = np.cumsum(rr)

    def run():
        # the clock starts once the session's inlets are on both outlets: a fixed head start
        # raced them on a loaded machine (the lost block could go before anyone listened)
        for o in (out, rout):
            if not o.wait_for_consumers(timeout=300):  # bounds a hang only
                return
        t0 = lsl.local_clock() + 0.5
        b, k = 0, 0
        while not stop.is_set() and (b + 1) * 12 <= eeg.shape[1]:
            due = t0 + (b + 1) * 12 / 256.0
            while lsl.local_clock() < due and not stop.is_set():
                time.sleep(0.002)
            if b != lost_block:
                x = np.vstack([eeg[:, b * 12 : (b + 1) * 12], np.zeros((1, 12))]).T
                out.push_chunk(np.ascontiguousarray(x, dtype=np.float32), timestamp=due)
            while k < beats.size and t0 + beats[k] <= due:
                rout.push_sample(
                    np.array([rr[k] * 1000.0], dtype=np.float32), timestamp=t0 + beats[k]
                )
                k += 1
            b += 1

    th = threading.Thread(target=run, daemon=True)
    return th, (out, rout)


def test_lsl_streams_drive_a_stored_session_and_gaps_are_recorded(tmp_path):
    tag = uuid.uuid4().hex[:8]
    stop = threading.Event()
    th, keep = _publisher(f"Muse-{tag}", f"Polar-{tag} RR", stop)
    th.start()
    try:
        res = run_lsl_assessment(
            "P555",
            store_dir=tmp_path / "store",
            eeg_stream=f"Muse-{tag}",
            rr_stream=f"Polar-{tag} RR",
            options=AssessmentOptions(protocol=SHORT, age=30, consent_given=True),
            timeout_s=120,  # bounds a hang only (resolving on a loaded machine)
        )
    finally:
        stop.set()
        th.join(timeout=5)
    assert [p[0] for p in res.phases] == ["device_check", "eyes_closed_rest", "eyes_open_rest"]
    assert res.devices == {"headband": "muse-2", "strap": "generic-hrs"}
    assert res.accounting["eeg_missing"] == 12  # the one lost block, NaN, not interpolated
    assert res.accounting["eeg_samples"] > 256 * 10 and res.accounting["rr_beats"] > 10
    # EEG features come from the LSL samples; RR is too short for HRV, and says so
    assert np.isfinite(res.features["eeg_beta_rel_frontal"])
    with SessionStore(tmp_path / "store") as st:
        events = st.queries.session_detail(res.session_id)["events"]
    gaps = [e for e in events if e["kind"] == "gap"]
    assert len(gaps) == 1 and gaps[0]["detail"]["n_missing"] == 12
    assert gaps[0]["detail"]["reason"] == "loss" and gaps[0]["detail"]["stream"] == "eeg"
    del keep
