"""Music in a guided session (issue 21.4, no browser): the loop's tempo events drive the player.

A simulated guided session (real bundled RR at rest, then 100 bpm in the intervention and a heart
rate falling linearly to 70 bpm in the recovery) runs with a rendered library as a session
observer. Every ``tempo`` event of the closed loop must be followed, at the same session time, by a
``music`` event playing a library track at exactly that tempo; the report lists the tracks.
Hold and off are checked on the real controller (run_loop) with a heart rate that stops falling.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("librosa")

from addictidx.music.library import MusicLibrary, Track  # noqa: E402
from addictidx.music.session import SessionMusic  # noqa: E402

GUIDED = None


def _protocol():
    from addictidx.sessions.protocol import Phase, Protocol

    return Protocol(
        "test-guided-music",
        (
            Phase("device_check", 10.0, False, kind="check"),
            Phase("eyes_closed_rest", 110.0, True),
            Phase("eyes_open_rest", 20.0, True),
            Phase("guided_intervention", 60.0, False, kind="intervention"),
            Phase("recovery", 330.0, False, kind="recovery"),
        ),
    )


def _rr(total_s: float) -> np.ndarray:
    from addictidx.readers import bundled_rr

    rest, out, t, k = bundled_rr(), [], 0.0, 0
    while t < total_s:
        if t < 140.0:
            r = float(rest[k % rest.size])
            k += 1
        elif t < 200.0:
            r = 0.6  # 100 bpm in the intervention
        else:  # recovery: 100 -> 70 bpm over 300 s
            r = 60.0 / max(70.0, 100.0 - (t - 200.0) * 30.0 / 300.0)
        out.append(r)
        t += r
    return np.asarray(out)


@pytest.fixture(scope="module")
def guided(tmp_path_factory):
    from addictidx.acquire import SimulatedHeadband, SimulatedStrap
    from addictidx.music.render import render_track, write_track
    from addictidx.sessions.assessment import run_assessment

    base = tmp_path_factory.mktemp("guided_music")
    lib_dir, store = base / "lib", base / "store"
    lib_dir.mkdir()
    for k, bpm in enumerate((92.0, 86.0, 80.0, 74.0, 69.0, 130.0)):
        write_track(lib_dir / f"r{int(bpm)}.wav", render_track(bpm, 5.0, seed=k))
    with MusicLibrary(store) as lib:
        lib.scan(lib_dir)
        tracks = lib.tracks(with_tempo=True)
    music = SessionMusic(tracks)
    held = {}

    def on_start(live, sid):
        held["live"] = live
        music.attach(live, sid)

    def on_progress(phase, t, total):  # the person turns the music off after 3 steps
        if t >= 420.0 and "off" not in held:
            held["off"] = t
            held["live"].request_music("off")

    protocol = _protocol()
    dur = protocol.duration_s + 60.0
    res = run_assessment(
        "P301",
        store_dir=store,
        protocol=protocol,
        headband=SimulatedHeadband(duration_s=dur, seed=4),
        strap=SimulatedStrap(_rr(dur + 30.0), duration_s=dur, seed=4),
        screening={"medically_screened": True},
        observers=(music,),
        on_start=on_start,
        on_progress=on_progress,
        age=30,
        consent_given=True,
    )
    return store, res, tracks, music


def test_music_follows_every_tempo_event_and_is_stored(guided):
    from addictidx.store.session_store import SessionStore

    store, res, tracks, music = guided
    with SessionStore(store) as st:
        events = st.queries.session_detail(res.session_id)["events"]
    loop_tempo = [e for e in events if e["kind"] == "loop" and e["detail"]["kind"] == "tempo"]
    tempo = [e for e in loop_tempo if e["detail"]["music"] == "play"]
    played = [e for e in events if e["kind"] == "music"]
    assert len(tempo) >= 4, "the falling HR must give a start and at least 3 steps"
    by_id = {t.id: t for t in tracks}
    for te in tempo:
        me = [e for e in played if e["t_s"] == te["t_s"]]
        assert len(me) == 1, te
        d = me[0]["detail"]
        assert d["action"] in ("start", "switch", "stretch")
        assert d["tempo_bpm"] == te["detail"]["tempo_bpm"]
        assert d["played_bpm"] == pytest.approx(d["tempo_bpm"], abs=0.01)
        assert abs(d["stretch_rate"] - 1.0) <= 0.08
        assert d["hr_bpm"] == te["detail"]["hr_bpm"]
        assert by_id[d["track_id"]].label == d["label"]
    # the tempo steps down; different tracks, no repeats in this library
    steps = [te["detail"]["tempo_bpm"] for te in tempo]
    assert steps == sorted(steps, reverse=True) and steps[0] > steps[-1]
    ids = [e["detail"]["track_id"] for e in played if e["detail"]["action"] != "off"]
    assert len(set(ids)) == len(ids)
    # the exercise phase (from loop_start) played at the prescribed activity's cadence tempo
    from addictidx.music.exercise import exercise_tempo

    rx = res.prescription
    first = played[0]["detail"]
    start = next(e for e in events if e["kind"] == "loop_start")
    assert first["exercise"] and played[0]["t_s"] == start["t_s"]
    want = exercise_tempo(rx.activity, rx.intensity_pct_hrr, music_bpm=rx.music_bpm)
    assert first["played_bpm"] == pytest.approx(want.tempo_bpm, abs=0.01)
    from addictidx.report.explain import event_sentence

    words = event_sentence(played[0])
    assert f"{want.activity} at {round(want.cadence_per_min, 1)} per minute" in words
    # the person turned it off (live.request_music -> the loop's own music_off -> tempo 'off')
    off = loop_tempo[-1]
    assert off["detail"]["music"] == "off" and off["detail"]["tempo_bpm"] is None
    last = played[-1]
    assert last["t_s"] == off["t_s"] and last["detail"]["action"] == "off"
    assert "turned off by the person" in last["detail"]["reason"] and music.snapshot() is None


def test_report_lists_the_tracks(guided, tmp_path):
    from addictidx.report.content import report_content
    from addictidx.report.explain import event_sentence
    from addictidx.report.html import write_html
    from addictidx.store.session_store import SessionStore

    store, res, _tracks, music = guided
    with SessionStore(store) as st:
        rc = report_content(st, res.session_id)
    lines = [s for s in (event_sentence(e) for e in rc.events) if s and "music" in s]
    labels = [c["label"] for c in music.changes if c.get("label")]
    for label in labels:
        assert any(f'"{label}"' in s for s in lines), (label, lines)
    assert any("stopped" in s for s in lines)
    html = write_html(rc, tmp_path / "r.html").read_text()
    assert all(label in html for label in labels)


def test_a_safety_stop_stops_the_music():
    music = SessionMusic([_track(1, 120.0)])
    music.on_event(
        "prescription", 0.0, {"activity": "brisk walking", "intensity_pct_hrr": [40, 59]}
    )
    music.on_event("loop_start", 1.0, {"music": True})
    assert music.now["exercise"] == "walking" and music.now["cadence_per_min"] == 114.2
    music.on_event("safety", 9.0, {"kind": "stop", "rule": "S3", "hr_bpm": 70.0})
    assert music.now is None and music.changes[-1]["reason"] == "safety stop: music off"


def _track(i: int, bpm: float) -> Track:
    return Track(i, f"/m/{i}.wav", None, None, None, bpm, 0.9, 3.0, 240.0, -20.0, "lufs",
                 -20.0, f"{i:064d}", 1, 1)  # fmt: skip


def test_hold_stretch_and_off_from_the_real_controller():
    from addictidx.prescribe.controller import LoopConfig
    from addictidx.prescribe.loop_replay import run_loop
    from addictidx.prescribe.safety import safety_limits

    # 96 bpm falling to 90 over 100 s, then flat: start, steps, then a hold (2 steps, no fall)
    t, rr, now = [], [], 0.0
    while now < 600.0:
        hr = max(90.0, 96.0 - now * 6.0 / 100.0)
        now += 60.0 / hr
        t.append(now)
        rr.append(60.0 / hr)
    cfg = LoopConfig(
        limits=safety_limits(age=40, resting_hr=70, zone_bpm=(100.0, 130.0)),
        music=True,
        music_preferred_bpm=96.0,
    )
    events = run_loop(t, rr, cfg, end_work_at=1.0, actions=[(560.0, "music_off", None)])
    tempo = [e for e in events if e.kind == "tempo"]
    assert [e.music for e in tempo][-2:] == ["hold", "off"]
    music = SessionMusic([_track(1, 96.0), _track(2, 83.0), _track(3, 77.0), _track(4, 72.0)])
    for e in tempo:
        music.follow(e.t_s, {"music": e.music, "tempo_bpm": e.tempo_bpm, "hr_bpm": e.hr_bpm})
    acts = [c["action"] for c in music.changes]
    assert acts[0] == "start" and acts[-2:] == ["hold", "off"]
    # 96 -> 89 lands on the playing 96-bpm track with a 7.3 % stretch: no jump to another track
    assert acts[1] == "stretch" and music.changes[1]["track_id"] == 1
    assert music.changes[1]["stretch_rate"] == pytest.approx(89 / 96, abs=1e-4)
    hold = music.changes[-2]
    assert hold["track_id"] == music.changes[-3]["track_id"]
    assert hold["played_bpm"] == music.changes[-3]["played_bpm"]
    assert music.now is None
