"""LiveAssessment's public hooks: observers see every chunk and event; feed_chunk drives a
session from chunks assembled elsewhere (an LSL inlet) instead of BLE notifications."""

import numpy as np

from addictidx._core.types import Chunk
from addictidx.acquire import SimulatedHeadband, SimulatedStrap
from addictidx.readers import bundled_muse_eeg, bundled_rr
from addictidx.sessions.assessment import run_assessment
from addictidx.sessions.live import LiveAssessment
from addictidx.sessions.protocol import Phase, Protocol

SHORT = Protocol(
    "obs-short",
    (
        Phase("device_check", 5.0, False),
        Phase("eyes_closed_rest", 125.0, True),
        Phase("eyes_open_rest", 10.0, True),
    ),
)


class Recorder:
    def __init__(self):
        self.chunks, self.events = [], []

    def on_chunk(self, chunk):
        self.chunks.append(chunk)

    def on_event(self, kind, t, detail):
        self.events.append((kind, t, detail))


def test_observers_see_every_chunk_and_event(tmp_path):
    rec, only_events = Recorder(), type("E", (), {"seen": 0})()
    only_events.on_event = lambda k, t, d: setattr(only_events, "seen", only_events.seen + 1)
    res = run_assessment(
        "OBS1",
        store_dir=tmp_path,
        protocol=SHORT,
        seed=1,
        observers=(rec, only_events),
        age=30,
        consent_given=True,
    )
    eeg = [c for c in rec.chunks if c.spec.name == "eeg"]
    rr = [c for c in rec.chunks if c.spec.name == "rr"]
    assert sum(c.n_times for c in eeg) == res.accounting["eeg_samples"]
    assert sum(c.n_missing for c in eeg) == res.accounting["eeg_missing"]
    assert sum(c.n_times for c in rr) == res.accounting["rr_beats"]
    assert any(c.spec.name == "hr" for c in rec.chunks)
    kinds = [k for k, _, _ in rec.events]
    starts = [d["phase"] for k, _, d in rec.events if k == "phase_start"]
    assert starts == [p.name for p in SHORT.phases]
    assert "scored" in kinds and "prescription" in kinds
    rx = next(d for k, _, d in rec.events if k == "prescription")
    assert rx["rule_id"] == res.prescription.rule_id
    # the events the session stores are the ones observers saw (plus the prescription)
    assert only_events.seen == len(rec.events)
    assert len([k for k in kinds if k != "prescription"]) == len(
        [e for e in rec.events if e[0] != "prescription"]
    )


def test_feed_chunk_drives_a_session_without_notifications():
    rec = bundled_muse_eeg()
    eeg, names, sfreq = rec.data, rec.ch_names, rec.sfreq
    hb = SimulatedHeadband(eeg, sfreq, ch_names=names, duration_s=20.0, name="hb")
    st = SimulatedStrap(bundled_rr(), duration_s=20.0, name="strap")
    proto = Protocol(
        "fc", (Phase("device_check", 2.0, False), Phase("eyes_closed_rest", 5.0, True))
    )
    rec = Recorder()
    live = LiveAssessment(hb, st, proto, observers=[rec])
    spec_e = live.eeg_spec
    spec_r = live.rr_buf.spec
    x = np.asarray(eeg, dtype=np.float64)
    n_blk = int(sfreq) // 4  # quarter-second chunks of EEG
    rr = bundled_rr()
    beat_t = np.cumsum(rr)
    k_beat = 0
    for k in range(int(12 * sfreq) // n_blk):
        a = k * n_blk
        times = (a + np.arange(n_blk)) / sfreq
        t_now = float(times[-1])
        live.feed_chunk(Chunk(spec_e, x[:, a : a + n_blk], times), t_now)
        new = []
        while k_beat < beat_t.size and beat_t[k_beat] <= t_now:
            new.append(k_beat)
            k_beat += 1
        if new:
            live.feed_chunk(Chunk(spec_r, rr[new][None, :], beat_t[new]), t_now)
        if live.finished:
            break
    got = live.eeg_buf.latest(1e3)
    np.testing.assert_array_equal(got.data, x[:, : got.data.shape[1]])
    assert live.rr_buf.latest(1e3).data.shape[1] == k_beat
    # the heart rate shown is 60 / median of the last 5 RR (all valid here)
    assert live.hr_bpm == 60.0 / np.median(rr[k_beat - 5 : k_beat])
    assert live.clock.done and live.clock.spans[-1].name == "eyes_closed_rest"
    assert [c.spec.name for c in rec.chunks].count("eeg") > 0
    assert any(k == "phase_start" for k, _, _ in rec.events)
