"""The dashboard plays the music (issue 21.4) in headless Chromium, and serves only library tracks.

The app (the real ``create_app`` with its guard, CSP and routes) runs under uvicorn in a thread;
a :class:`SessionMusic` player receives the tempo events that the real closed-loop controller
(:func:`~addictidx.prescribe.loop_replay.run_loop`) raises for a heart rate that falls and then
stays flat, and the music is turned off at the end. After each event the test reads the page's
``<audio>`` element (``currentSrc``, ``paused``, ``playbackRate``, ``currentTime`` advancing) and
requires the track, rate and state the player chose. Chromium runs with its real CSP (no inline
script) and ``--autoplay-policy=no-user-gesture-required`` (staff click "Enable sound" once).

Attacks on the track route: unknown ids, non-integer ids, path traversal, no token, and a file
changed after the scan are refused; the positive control (a scanned track with the token) is
served with a media type and honours a Range request.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("librosa")

CHROMIUM = os.environ.get("ADDICTIDX_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
TOKEN = "music-test-token-0123456789"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--autoplay-policy=no-user-gesture-required",
]


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    from addictidx.music.library import MusicLibrary
    from addictidx.music.render import render_track, write_track

    d = tmp_path_factory.mktemp("music_dash")
    lib_dir, store = d / "lib", d / "store"
    lib_dir.mkdir()
    for k, bpm in enumerate((96.0, 83.0, 77.0, 72.0)):
        write_track(lib_dir / f"r{int(bpm)}.wav", render_track(bpm, 4.0, seed=k))
    with MusicLibrary(store) as lib:
        lib.scan(lib_dir)
        tracks = lib.tracks(with_tempo=True)
    return lib_dir, store, tracks


def _runner(store):
    from addictidx.dashboard.runner import DashboardRunner

    return DashboardRunner(store, simulate=True, music=True, age=40)


def _tempo_events():
    """The real controller's tempo events: start, steps, a hold, off."""
    from addictidx.prescribe.controller import LoopConfig
    from addictidx.prescribe.loop_replay import run_loop
    from addictidx.prescribe.safety import safety_limits

    t, rr, now = [], [], 0.0
    while now < 500.0:
        hr = max(90.0, 96.0 - now * 6.0 / 100.0)
        now += 60.0 / hr
        t.append(now)
        rr.append(60.0 / hr)
    cfg = LoopConfig(
        limits=safety_limits(age=40, resting_hr=70, zone_bpm=(100.0, 130.0)),
        music=True,
        music_preferred_bpm=96.0,
    )
    events = run_loop(t, rr, cfg, end_work_at=1.0, actions=[(480.0, "music_off", None)])
    return [e for e in events if e.kind == "tempo"]


def _free_port() -> int:
    """A loopback port outside the kernel's ephemeral range (tests/netport.py says why)."""
    spec = importlib.util.spec_from_file_location(
        "addictidx_tests_netport", Path(__file__).with_name("netport.py")
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.free_port()


@pytest.fixture
def served(library):
    import uvicorn

    from addictidx.dashboard.app import create_app

    _lib_dir, store, _tracks = library
    runner = _runner(store)
    app = create_app(runner, token=TOKEN)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    th = threading.Thread(target=server.run, daemon=True)
    th.start()
    deadline = time.monotonic() + 300  # bounds a hang only
    while not server.started:
        if time.monotonic() > deadline or not th.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield runner, f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        th.join(timeout=10)
        runner.close()


def test_page_plays_the_expected_track_at_each_step(library, served, tmp_path):
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Chromium not found at {CHROMIUM} (Debian: apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    from addictidx.music.session import SessionMusic

    _lib_dir, _store, tracks = library
    runner, base = served
    player = SessionMusic(tracks)
    runner.music_player = player
    events = _tempo_events()
    assert [e.music for e in events][0] == "play" and [e.music for e in events][-2:] == [
        "hold",
        "off",
    ]
    seen = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM, args=FLAGS, headless=True, timeout=180_000
        )  # the launch itself may take over its default 30 s on a loaded machine
        try:
            page = browser.new_page()
            page.set_default_timeout(120_000)  # bounds a hang only (a loaded 2-core machine)
            page.goto(f"{base}/?token={TOKEN}")
            page.wait_for_function("() => window.__music && window.__music.polls > 0")
            assert page.locator('[data-testid="music"]').is_visible()
            for e in events:
                player.follow(
                    e.t_s, {"music": e.music, "tempo_bpm": e.tempo_bpm, "hr_bpm": e.hr_bpm}
                )
                exp = player.snapshot()
                want = {
                    "seq": player.changes[-1]["seq"],
                    "track": None if exp is None else exp["track_id"],
                    "rate": 1.0 if exp is None else exp["stretch_rate"],
                }
                # the element plays the track (its time advances) at the rate, or is paused
                page.wait_for_function(
                    """(w) => {
                      const a = document.getElementById('music-audio');
                      const m = window.__music;
                      if (w.track === null) return m.action === 'off' && a.paused;
                      if (m.seq !== w.seq) return false;
                      const t0 = m.t0 && m.t0.seq === w.seq ? m.t0 : (m.t0 = {seq: w.seq,
                                                                            t: a.currentTime});
                      return !a.paused && a.currentSrc.endsWith('/music/track/' + w.track)
                        && Math.abs(a.playbackRate - w.rate) < 1e-3
                        && a.preservesPitch === true && a.currentTime > t0.t + 0.05;
                    }""",
                    arg=want,
                    timeout=120000,
                )
                state = page.evaluate(
                    """() => { const a = document.getElementById('music-audio');
                      return {src: a.currentSrc, paused: a.paused, rate: a.playbackRate,
                              error: a.error && a.error.code}; }"""
                )
                assert state["error"] is None
                seen.append((player.changes[-1]["action"], want["track"], state))
            page.screenshot(path=str(tmp_path / "music.png"), full_page=True)
        finally:
            browser.close()
    actions = [a for a, _t, _s in seen]
    assert actions[0] == "start" and "stretch" in actions and actions[-2:] == ["hold", "off"]
    assert seen[-1][2]["paused"] and seen[-2][2]["src"] == seen[-3][2]["src"]


def test_track_route_serves_only_scanned_tracks(library, tmp_path):
    from starlette.testclient import TestClient

    from addictidx.dashboard.app import create_app

    lib_dir, store, tracks = library
    runner = _runner(store)
    client = TestClient(create_app(runner, token=TOKEN), base_url="http://127.0.0.1:8765")
    hdr = {"x-addictidx-token": TOKEN}
    tid = tracks[0].id
    ok = client.get(f"/music/track/{tid}", headers=hdr)
    assert ok.status_code == 200 and ok.headers["content-type"] == "audio/wav"
    assert ok.content == Path(tracks[0].path).read_bytes()
    part = client.get(f"/music/track/{tid}", headers={**hdr, "range": "bytes=0-99"})
    assert part.status_code == 206 and len(part.content) == 100
    assert "media-src 'self'" in ok.headers["content-security-policy"]
    # attacks
    assert client.get(f"/music/track/{tid}").status_code == 401  # no token
    assert client.get("/music/track/99999", headers=hdr).status_code == 404
    for bad in (
        "../../etc/passwd",
        "..%2F..%2Fetc%2Fpasswd",
        "1%2F..%2F..",
        "-1",
        "1.0",
        "/etc/passwd",
    ):
        r = client.get(f"/music/track/{bad}", headers=hdr)
        assert r.status_code == 404, (bad, r.status_code)
        assert b"root:" not in r.content
    assert client.get("/api/music", headers=hdr).json() == {"enabled": True, "now": None}
    # the music-off button: JSON + the guard (token header or cookie + CSRF); bad bodies are 400
    assert client.post("/api/music", json={"action": "off"}, headers=hdr).json() == {"ok": False}
    assert client.post("/api/music", json={"action": "off"}).status_code == 401
    assert client.post("/api/music", json={"action": "loud"}, headers=hdr).status_code == 400
    for bpm in ("90", True, 500, None):
        r = client.post("/api/music", json={"action": "tempo", "bpm": bpm}, headers=hdr)
        assert r.status_code == 400 and "\n" not in r.json()["detail"]
    r = client.post("/api/music", content=b"off", headers={**hdr, "content-type": "text/plain"})
    assert r.status_code == 415
    # a file changed after the scan is not served (rescan first)
    victim = tmp_path / "changed.wav"
    shutil.copy(tracks[1].path, victim)
    os.replace(victim, tracks[1].path)  # same bytes, new inode and mtime
    assert client.get(f"/music/track/{tracks[1].id}", headers=hdr).status_code == 404
    # without --music nothing is served
    from addictidx.dashboard.runner import DashboardRunner

    off = TestClient(
        create_app(DashboardRunner(store, simulate=True, age=40), token=TOKEN),
        base_url="http://127.0.0.1:8765",
    )
    assert off.get(f"/music/track/{tid}", headers=hdr).status_code == 404
    assert off.get("/api/music", headers=hdr).json() == {"enabled": False, "now": None}
    runner.close()


def test_runner_wires_the_player_into_the_session(library):
    from types import SimpleNamespace

    from addictidx.sessions.protocol import GUIDED_PROTOCOL

    _lib_dir, store, tracks = library
    runner = _runner(store)
    emitted = []
    live = SimpleNamespace(
        emit=lambda k, t, d: emitted.append((k, t, d)), protocol=GUIDED_PROTOCOL
    )
    observers, on_start = runner._with_music((), runner._on_start)
    (player,) = observers
    on_start(live, 7)
    assert runner.live is live and runner.session_id == 7 and runner.music_player is player
    player.on_event("loop", 1.0, {"kind": "tempo", "music": "play", "tempo_bpm": 83, "hr_bpm": 90})
    assert emitted[-1][0] == "music" and runner.music_now()["track_bpm"] == pytest.approx(
        83, abs=2
    )
    player.on_event("phase_end", 2.0, {"phase": "recovery"})
    assert emitted[-1][2]["action"] == "off" and runner.music_now() is None
    runner.close()
