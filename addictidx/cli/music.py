"""``addictidx music``: the centre's music library and iso-principle playlists (issue #21)."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import typer

from addictidx.cli.app import app, clean_errors, default_store
from addictidx.cli.sessions import existing_store

__all__ = ["music_app"]

music_app = typer.Typer(
    help="Music library (scan, list) and iso-principle playlists.", no_args_is_help=True
)
app.add_typer(music_app, name="music")

_STORE_HELP = "Store directory (default: the user's data directory)."


def _num(v, fmt: str) -> str:
    return "-" if v is None or (isinstance(v, float) and not math.isfinite(v)) else fmt % v


@music_app.command("scan")
@clean_errors
def scan_cmd(
    directory: Path = typer.Argument(..., help="Folder of audio files (wav, flac, ogg, mp3)."),
    store: Path | None = typer.Option(None, "--store", help=_STORE_HELP),
    db_url: str | None = typer.Option(
        None, "--db-url", help="Database URL instead of the store's SQLite file."
    ),
    json_out: bool = typer.Option(False, "--json", help="Print the scan report as JSON."),
) -> None:
    """Analyse new and changed audio files once (tempo, loudness, energy, tags, hash)."""
    from addictidx.music.library import MusicLibrary

    if not directory.is_dir():
        raise ValueError(f"{directory}: not a folder (music scan DIR).")
    with MusicLibrary(store or default_store(), url=db_url) as lib:
        if sys.stderr.isatty() and not json_out:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

            with Progress(
                TextColumn("[bold]scanning"), BarColumn(), MofNCompleteColumn(), transient=True
            ) as progress:
                task = progress.add_task("scan", total=None)

                def on_file(done: int, total: int, _p: Path) -> None:
                    progress.update(task, completed=done, total=total)

                rep = lib.scan(directory, on_file=on_file)
        else:
            rep = lib.scan(directory)
        n = len(lib.tracks())
    if json_out:
        typer.echo(json.dumps({**rep.to_dict(), "tracks_in_library": n}, indent=2))
        return
    typer.echo(
        f"{rep.analysed} analysed, {rep.reused} reused (same content), {rep.unchanged} "
        f"unchanged, {len(rep.failed)} not decodable; {n} tracks in the library"
    )
    for line in rep.failed:
        typer.echo(f"not decodable: {line}")


@music_app.command("list")
@clean_errors
def list_cmd(
    store: Path | None = typer.Option(None, "--store", help=_STORE_HELP),
    db_url: str | None = typer.Option(
        None, "--db-url", help="Database URL instead of the store's SQLite file."
    ),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List the scanned tracks (tempo, confidence, duration, loudness, energy)."""
    from addictidx.music.library import MusicLibrary

    with MusicLibrary(existing_store(store, db_url), url=db_url, create=False) as lib:
        tracks = lib.tracks()
        failed = lib.failed()
    if json_out:
        out = {
            "tracks": [t.to_dict() for t in tracks],
            "not_decodable": [{"path": p, "error": e} for p, e in failed],
        }
        typer.echo(json.dumps(out, indent=2))
        return
    typer.echo(
        f"{'id':>4}  {'bpm':>6} {'conf':>5} {'tag':>5} {'dur s':>6} {'loud':>6} "
        f"{'energy':>6}  track"
    )
    for t in tracks:
        loud = _num(t.loudness, "%.1f") + (" LUFS" if t.loudness_method == "lufs" else " dBFS")
        typer.echo(
            f"{t.id:>4}  {_num(t.tempo_bpm, '%.1f'):>6} {_num(t.tempo_confidence, '%.2f'):>5} "
            f"{_num(t.tag_bpm, '%.0f'):>5} {_num(t.duration_s, '%.0f'):>6} {loud:>11} "
            f"{_num(t.energy_rms_dbfs, '%.1f'):>6}  {t.label}"
        )
    if not tracks:
        typer.echo("(no tracks: run 'addictidx music scan DIR')")
    for p, e in failed:
        typer.echo(f"not decodable: {p}: {e}")


@music_app.command("playlist")
@clean_errors
def playlist_cmd(
    hr: float | None = typer.Option(
        None, "--hr", help="Current heart rate (bpm, RR-derived). Or give --rr."
    ),
    rr: Path | None = typer.Option(
        None,
        "--rr",
        help="RR file (as loop-sim reads it): the current HR is 60 / median of its last 5 "
        "valid intervals (docs/heart_rate.md).",
    ),
    target: float = typer.Option(..., "--target", help="Tempo to step down to (bpm, 40-100)."),
    minutes: float = typer.Option(..., "--minutes", help="Length of the playlist (min)."),
    preferred: float | None = typer.Option(
        None, "--preferred", help="Preferred start tempo (bpm; clamped to HR +/- 10 %)."
    ),
    stretch_max: float = typer.Option(
        8.0, "--stretch-max", help="Largest time-stretch to land on a step (0-8 %; 0 = none)."
    ),
    loudness_cap: float = typer.Option(
        -14.0, "--loudness-cap", help="Leave out tracks louder than this (LUFS)."
    ),
    store: Path | None = typer.Option(None, "--store", help=_STORE_HELP),
    db_url: str | None = typer.Option(
        None, "--db-url", help="Database URL instead of the store's SQLite file."
    ),
    m3u: Path | None = typer.Option(None, "--m3u", help="Also write an extended M3U here."),
    xspf: Path | None = typer.Option(None, "--xspf", help="Also write an XSPF playlist here."),
    stretched_dir: Path | None = typer.Option(
        None,
        "--stretched-dir",
        help="Render the stretched entries (librosa, pitch kept) into this folder; the M3U/XSPF "
        "then point at them.",
    ),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Plan an iso-principle playlist: start near the current HR, step down to --target."""
    from addictidx.music.library import MusicLibrary
    from addictidx.music.playlist import build_playlist

    if not 40.0 <= target <= 100.0:
        raise ValueError(f"--target must be within 40-100 bpm, got {target:g}.")
    if (hr is None) == (rr is None):
        raise ValueError("Give exactly one of --hr BPM or --rr FILE (the current heart rate).")
    if rr is not None:
        from addictidx.features.heart_rate import current_heart_rate_bpm
        from addictidx.readers import read_rr_file

        hr = current_heart_rate_bpm(read_rr_file(rr).rr_s)
        if hr is None:
            raise ValueError(f"{rr}: fewer than 3 valid RR intervals (0.3-2.0 s): no heart rate.")
    with MusicLibrary(existing_store(store, db_url), url=db_url, create=False) as lib:
        pl = build_playlist(
            lib.tracks(with_tempo=True),
            hr_bpm=hr,
            target_bpm=target,
            minutes=minutes,
            preferred_bpm=preferred,
            stretch_max_pct=stretch_max,
            loudness_cap=loudness_cap,
        )
    files = None
    if stretched_dir is not None:
        from addictidx.music.export import write_stretched

        files = write_stretched(pl, stretched_dir)
    if m3u is not None or xspf is not None:
        from addictidx.music.export import write_m3u, write_xspf

        if m3u is not None:
            write_m3u(pl, m3u, files=files)
        if xspf is not None:
            write_xspf(pl, xspf, files=files)
    if json_out:
        doc = pl.to_dict()
        if files:
            for i, p in files.items():
                doc["entries"][i]["stretched_file"] = str(p)
        typer.echo(json.dumps(doc, indent=2))
        return
    from addictidx.music.export import entry_note

    typer.echo(
        f"HR {pl.hr_bpm:.0f} bpm -> start {pl.start_bpm} bpm, step {pl.spec.step_pct:g} % every "
        f"{pl.spec.step_interval_s:g} s to {pl.target_bpm:g} bpm; {len(pl.entries)} slots"
    )
    for e in pl.entries:
        flags = (" (repeat)" if e.repeat else "") + (" (loops)" if e.loop else "")
        typer.echo(f"{e.start_s / 60:5.1f} min  {e.track.label}  [{entry_note(e)}]{flags}")
