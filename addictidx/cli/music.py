"""``addictidx music``: the centre's music library and iso-principle playlists (issue #21)."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import typer

from addictidx.cli._app import _clean_errors, _default_store, app

__all__ = ["music_app"]

music_app = typer.Typer(
    help="Music library (scan, list) and iso-principle playlists.", no_args_is_help=True
)
app.add_typer(music_app, name="music")

_STORE_HELP = "Store directory (default: the user's data directory)."


def _num(v, fmt: str) -> str:
    return "-" if v is None or (isinstance(v, float) and not math.isfinite(v)) else fmt % v


@music_app.command("scan")
@_clean_errors
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
    with MusicLibrary(store or _default_store(), url=db_url) as lib:
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
@_clean_errors
def list_cmd(
    store: Path | None = typer.Option(None, "--store", help=_STORE_HELP),
    db_url: str | None = typer.Option(
        None, "--db-url", help="Database URL instead of the store's SQLite file."
    ),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List the scanned tracks (tempo, confidence, duration, loudness, energy)."""
    from addictidx.music.library import MusicLibrary

    with MusicLibrary(store or _default_store(), url=db_url) as lib:
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
