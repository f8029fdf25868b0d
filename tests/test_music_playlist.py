"""Iso-principle playlists (issue 21.3): tempo plan, track choice, loudness cap, exports, CLI.

Expected tempi are worked out by hand from the rule table's [music_loop] row (start = HR clamped
+/- 10 %, steps of 7 % rounded half up every 60 s, floor at the target).
"""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET

import pytest

from addictidx.music.library import Track
from addictidx.music.playlist import build_playlist, choose_track, tempo_plan


def _track(i: int, bpm: float, loud: float = -20.0, dur: float = 200.0) -> Track:
    return Track(
        id=i,
        path=f"/music/t{i}.flac",
        title=f"T{i}",
        artist=None,
        tag_bpm=None,
        tempo_bpm=bpm,
        tempo_confidence=0.8,
        beat_strength=3.0,
        duration_s=dur,
        loudness=loud,
        loudness_method="lufs",
        energy_rms_dbfs=-20.0,
        sha256=f"{i:064d}",
        size_bytes=1,
        mtime_ns=1,
    )


# by hand: 92 -> 92*0.93 = 85.56 -> 86 -> 79.98 -> 80 -> 74.4 -> 74 -> 68.82 -> 69 -> 64.17,
# floored at the target 65
PLAN_92_65 = [92, 86, 80, 74, 69, 65]


def test_tempo_plan_uses_the_loop_step_rule():
    spec, slots = tempo_plan(92, 65, 20)
    tempi = [s[2] for s in slots]
    assert tempi[:6] == PLAN_92_65 and set(tempi[6:]) == {65} and len(tempi) == 20
    assert all(s[1] == 60.0 for s in slots) and slots[-1][0] == 19 * 60.0
    for a, b in zip(tempi, tempi[1:]):
        assert a == b == 65 or 5.0 <= 100 * (a - b) / a <= 10.0 or b == 65
    # the start is clamped to HR +/- 10 %: a preferred 120 bpm at HR 92 starts at 101
    assert tempo_plan(92, 65, 5, preferred_bpm=120)[1][0][2] == 101
    assert tempo_plan(92, 65, 5, preferred_bpm=88)[1][0][2] == 88
    # the same rule as the live loop
    from addictidx.prescribe.tempo import step_down_bpm

    assert [step_down_bpm(t, spec) for t in PLAN_92_65] == PLAN_92_65[1:] + [65]


def test_playlist_lands_on_each_step_without_repeats():
    # tempi near every step, some only as half/double, one too loud
    lib = [
        _track(1, 90.0),
        _track(2, 172.0),  # 86 at half time
        _track(3, 80.5),
        _track(4, 37.0),  # 74 at double time
        _track(5, 70.0),
        _track(6, 65.5, loud=-8.0),  # too loud for the -14 LUFS cap
        _track(7, 63.0),
        _track(8, 130.0),
        _track(9, 66.0),
        _track(10, 61.0),
    ]
    pl = build_playlist(lib, hr_bpm=92, target_bpm=65, minutes=10)
    assert list(pl.tempi_bpm[:6]) == PLAN_92_65
    assert abs(pl.entries[0].played_bpm - 92) < 1e-9  # within +-10 % of HR by construction
    ids = [e.track.id for e in pl.entries]
    assert 6 not in ids and pl.excluded_loud == 1
    assert len(set(ids[:9])) == 9 and not any(e.repeat for e in pl.entries[:9])
    for e in pl.entries[:9]:
        assert abs(e.stretch_rate - 1.0) <= 0.08 + 1e-12
        assert e.played_bpm == pytest.approx(e.step_bpm, abs=1e-9), e
    rel = {e.track.id: e.relation for e in pl.entries}
    assert rel[2] == "half" and rel[4] == "double" and rel[8] == "half"
    # 10th slot: 9 eligible tracks were used: a repeat, the least recently used that lands
    last = pl.entries[9]
    assert last.repeat and last.track.id in ids[:9]
    # without stretch the closest track plays as it is
    pl0 = build_playlist(lib, hr_bpm=92, target_bpm=65, minutes=3, stretch_max_pct=0)
    assert [e.stretch_rate for e in pl0.entries] == [1.0, 1.0, 1.0]
    assert pl0.entries[0].track.id == 1 and pl0.entries[0].off_step_pct == pytest.approx(
        100 * (90 - 92) / 92
    )


def test_choose_track_prefers_unused_then_landing():
    lib = [_track(1, 100.0), _track(2, 70.0)]
    t, k, rate, rep = choose_track(lib, 100)
    assert (t.id, k, rate, rep) == (1, 0, 1.0, False)
    t, k, rate, rep = choose_track(lib, 100, used=[lib[0].sha256])
    # track 2 needs 43 % (or 40 % at double): no unused track lands, track 1 lands again
    assert (t.id, rep) == (1, True)
    assert choose_track([], 80) is None


def test_bad_parameters_are_one_clear_error():
    lib = [_track(1, 90.0)]
    with pytest.raises(ValueError, match="stretch_max_pct"):
        build_playlist(lib, hr_bpm=92, target_bpm=65, minutes=10, stretch_max_pct=12)
    with pytest.raises(ValueError, match="louder"):
        build_playlist([_track(1, 90.0, loud=-3)], hr_bpm=92, target_bpm=65, minutes=5)
    with pytest.raises(ValueError, match="target_bpm"):
        tempo_plan(92, 20, 10)
    with pytest.raises(ValueError, match="hr_bpm"):
        tempo_plan(math.nan, 65, 10)


@pytest.fixture(scope="module")
def scanned(tmp_path_factory):
    pytest.importorskip("librosa")
    from addictidx.music.library import MusicLibrary
    from addictidx.music.render import render_track, write_track

    d = tmp_path_factory.mktemp("lib")
    for k, bpm in enumerate((92.0, 80.0, 70.0, 130.0)):
        write_track(d / f"r{int(bpm)}.wav", render_track(bpm, 5.0, seed=k))
    store = d / "store"
    with MusicLibrary(store) as lib:
        lib.scan(d)
    return d, store


def _run(*args):
    from typer.testing import CliRunner

    from addictidx.cli import app

    return CliRunner().invoke(app, list(args))


def test_cli_playlist_json_m3u_xspf(scanned, tmp_path):
    d, store = scanned
    m3u, xspf = tmp_path / "p.m3u", tmp_path / "p.xspf"
    r = _run(
        "music", "playlist", "--hr", "92", "--target", "65", "--minutes", "20", "--json",
        "--store", str(store), "--m3u", str(m3u), "--xspf", str(xspf),
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["tempo_plan_bpm"][:6] == PLAN_92_65 and len(doc["entries"]) == 20
    first = doc["entries"][0]
    assert first["label"] == "r92.wav" and first["played_bpm"] == pytest.approx(92, abs=0.01)
    # by the rule: unused tracks that land first (<= 8 % stretch), else the least recently used
    # that lands: 92 r92; 86 r80 (7.5 %); 80 nothing unused lands -> r80 again; 74 r70 (5.7 %);
    # 69 r130 at half time (6.2 %); 65 none unused -> r70 (used before r130)
    labels = [e["label"] for e in doc["entries"][:6]]
    assert labels == ["r92.wav", "r80.wav", "r80.wav", "r70.wav", "r130.wav", "r70.wav"]
    assert doc["entries"][4]["relation"] == "half" and doc["entries"][2]["repeat"]
    lines = m3u.read_text().splitlines()
    assert lines[0] == "#EXTM3U" and lines[2].startswith("#EXTINF:60,r92.wav")
    assert lines[3] == str((d / "r92.wav").resolve())
    root = ET.parse(xspf).getroot()
    ns = {"x": "http://xspf.org/ns/0/"}
    locs = [e.text for e in root.findall("x:trackList/x:track/x:location", ns)]
    assert len(locs) == 20 and locs[0] == (d / "r92.wav").resolve().as_uri()
    # bad input: one line, exit 2
    bad = _run("music", "playlist", "--target", "65", "--minutes", "5", "--store", str(store))
    assert bad.exit_code == 2 and bad.stderr.count("\n") == 1


def test_cli_playlist_from_rr_and_stretched_copies(scanned, tmp_path):
    pytest.importorskip("soundfile")
    import soundfile as sf

    _d, store = scanned
    rr = tmp_path / "rr.txt"
    rr.write_text("\n".join(["0.80", "0.82", "0.81", "0.79", "0.80", "0.81"]) + "\n")
    out = tmp_path / "stretched"
    r = _run(
        "music", "playlist", "--rr", str(rr), "--target", "65", "--minutes", "2", "--json",
        "--store", str(store), "--stretched-dir", str(out),
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    # current HR = 60 / median(last 5 valid RR) = 60 / 0.81
    assert doc["hr_bpm"] == pytest.approx(60 / 0.81, abs=0.05)
    assert doc["start_bpm"] == 74
    e0 = doc["entries"][0]
    assert e0["stretch_rate"] != 1.0 and "stretched_file" in e0
    info = sf.info(e0["stretched_file"])
    assert info.duration == pytest.approx(5.0 / e0["stretch_rate"], rel=0.01)
