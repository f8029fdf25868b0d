"""Music library (issue 21.1): scan once, skip unchanged, undecodable = one line, list, CLI.

Rendered tracks (known tempo, see addictidx/music/render.py) and the real music loop shipped
in pygame's wheel (``pygame/examples/data/house_lo.{wav,ogg,mp3}``, LGPL, a 7-s house loop at
11.025 kHz) are scanned through the CLI. The expected tempi are the rendered ones; the real loop
has no published tempo, so its three encodings must agree with each other, and a loop is a whole
number of bars: its length must be a whole number of 4-beat bars at the estimated tempo
(7.105 s = 16 beats at 135.1 bpm; librosa's default estimator says 89.1 bpm, 10.5 beats).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("librosa")
pytest.importorskip("mutagen")

from addictidx.music.library import MusicLibrary  # noqa: E402
from addictidx.music.render import render_track, write_track  # noqa: E402

RENDERED = {"calm_64.flac": 64.0, "walk_112.wav": 112.0, "slow_58.ogg": 58.0}


def _pygame_data() -> Path | None:
    spec = importlib.util.find_spec("pygame")  # found without importing pygame (no SDL init)
    if spec is None or not spec.submodule_search_locations:
        return None
    d = Path(next(iter(spec.submodule_search_locations))) / "examples" / "data"
    return d if (d / "house_lo.wav").is_file() else None


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    d = tmp_path_factory.mktemp("music")
    for k, (name, bpm) in enumerate(RENDERED.items()):
        write_track(d / name, render_track(bpm, 6.0, seed=k))
    (d / "sub").mkdir()
    (d / "sub" / "broken.mp3").write_bytes(b"ID3 this is not audio" * 10)
    (d / "notes.txt").write_text("not audio, not looked at")
    return d


def _run(*args):
    from typer.testing import CliRunner

    from addictidx.cli import app

    return CliRunner().invoke(app, list(args))


def test_scan_list_and_rescan_skip(folder, tmp_path):
    store = tmp_path / "store"
    r = _run("music", "scan", str(folder), "--store", str(store), "--json")
    assert r.exit_code == 0, r.output
    rep = json.loads(r.stdout)
    assert rep["analysed"] == 3 and rep["tracks_in_library"] == 3
    assert len(rep["failed"]) == 1 and "broken.mp3" in rep["failed"][0]
    assert "\n" not in rep["failed"][0]
    with MusicLibrary(store) as lib:
        by_name = {Path(t.path).name: t for t in lib.tracks()}
        ids = {n: t.id for n, t in by_name.items()}
    for name, bpm in RENDERED.items():
        t = by_name[name]
        assert abs(t.tempo_bpm - bpm) <= 2.0, (name, t.tempo_bpm)
        assert t.duration_s == pytest.approx(6.0, abs=0.01)
        assert t.loudness_method == "lufs" and -40 < t.loudness < 0
        assert 0 < t.tempo_confidence <= 1 and len(t.sha256) == 64
    # rescan: nothing analysed again; the broken file is reported again, on one line
    r2 = json.loads(_run("music", "scan", str(folder), "--store", str(store), "--json").stdout)
    assert r2["analysed"] == 0 and r2["unchanged"] == 4 and len(r2["failed"]) == 1
    # a copy (same bytes) takes the known analysis; a touched file is re-hashed and reused
    shutil.copy(folder / "calm_64.flac", tmp_path / "copy.flac")
    os.utime(folder / "walk_112.wav", ns=(1, 1))
    r3 = json.loads(_run("music", "scan", str(tmp_path), "--store", str(store), "--json").stdout)
    assert r3["reused"] == 1 and r3["analysed"] == 0
    r4 = json.loads(_run("music", "scan", str(folder), "--store", str(store), "--json").stdout)
    assert r4["reused"] == 1 and r4["analysed"] == 0
    with MusicLibrary(store) as lib:
        assert {Path(t.path).name: t.id for t in lib.tracks()}.items() >= ids.items()
        # only the scanned, unchanged file is served; a changed file is not
        assert lib.playable_file(ids["slow_58.ogg"]) == (folder / "slow_58.ogg").resolve()
        with open(folder / "slow_58.ogg", "ab") as f:
            f.write(b"\0")
        assert lib.playable_file(ids["slow_58.ogg"]) is None
        assert lib.playable_file(10_000) is None
    # list (text and JSON)
    out = _run("music", "list", "--store", str(store))
    assert out.exit_code == 0 and "walk_112.wav" in out.stdout and "LUFS" in out.stdout
    js = json.loads(_run("music", "list", "--store", str(store), "--json").stdout)
    assert len(js["tracks"]) == 4 and len(js["not_decodable"]) == 1


def test_bpm_and_title_tags_are_read(tmp_path):
    from mutagen.flac import FLAC

    p = tmp_path / "tagged.flac"
    write_track(p, render_track(150.0, 6.0, seed=9))
    f = FLAC(str(p))
    f["title"], f["artist"], f["bpm"] = "Slow Walk", "Test Band", "75"
    f.save()
    with MusicLibrary(tmp_path / "store") as lib:
        lib.scan(tmp_path)
        (t,) = lib.tracks()
    assert (t.title, t.artist, t.tag_bpm) == ("Slow Walk", "Test Band", 75.0)
    assert t.label == "Slow Walk - Test Band"
    assert abs(t.tempo_bpm - 75.0) <= 1.0  # the tag chose the half-time octave


def test_bad_input_is_one_line_exit_2(tmp_path):
    r = _run("music", "scan", str(tmp_path / "missing"), "--store", str(tmp_path / "s"))
    assert r.exit_code == 2
    assert r.stderr.count("\n") == 1 and "not a folder" in r.stderr
    # reading commands never create a store
    for args in (("music", "list"), ("music", "playlist", "--hr", "90", "--target", "65",
                                     "--minutes", "5")):  # fmt: skip
        r = _run(*args, "--store", str(tmp_path / "none"))
        assert r.exit_code == 2 and "nothing created" in r.stderr, r.output
    assert not (tmp_path / "none").exists()


@pytest.mark.skipif(_pygame_data() is None, reason="pygame (test extra) not installed")
def test_real_recordings_from_an_installed_package_scan(tmp_path):
    d = tmp_path / "real"
    d.mkdir()
    for ext in ("wav", "ogg", "mp3"):
        shutil.copy(_pygame_data() / f"house_lo.{ext}", d)
    r = _run("music", "scan", str(d), "--store", str(tmp_path / "s"), "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["failed"] == []
    with MusicLibrary(tmp_path / "s") as lib:
        tracks = {Path(t.path).suffix: t for t in lib.tracks()}
    tempi = np.array([t.tempo_bpm for t in tracks.values()])
    assert tempi.size == 3 and np.ptp(tempi) <= 1.0  # three encodings agree
    wav = tracks[".wav"]
    beats = wav.duration_s * wav.tempo_bpm / 60.0
    assert abs(beats - 4 * round(beats / 4)) <= 0.25, (wav.tempo_bpm, beats)
