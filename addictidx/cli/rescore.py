"""``addictidx rescore``: score old recordings (any format the readers take) with the index.

One file (no table or cluster options) prints what it always printed. Many recordings (files,
folders, a BIDS dataset) make one table, one row per recording, run serially or on Dask
(issue 18, :mod:`addictidx.cluster`). Both go through the same per-recording function,
:func:`addictidx.cluster.rescore.rescore_recording` (readers -> the one scoring path).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

from addictidx.cli.app import app, clean_errors

__all__ = ["rescore"]


@app.command()
@clean_errors
def rescore(
    paths: list[Path] = typer.Argument(
        ...,
        help="Recordings (muse-lsl or Mind Monitor CSV, XDF, EDF/EDF+/BDF, Polar H10 CSV, or RR: "
        "the tool's _rr.tsv, a beat CSV t_s,rr_s, a list of RR values), folders of them, or a "
        "BIDS dataset.",
    ),
    rr_file: Path | None = typer.Option(
        None,
        "--rr",
        help="One recording only: a second file with its RR intervals (EDF+, the tool's "
        "_rr.tsv, a beat CSV t_s,rr_s, or a text file of RR values).",
    ),
    rr_unit: str | None = typer.Option(
        None,
        "--rr-unit",
        help="Unit of RR values in a file that does not name it: s or ms (default: detected; "
        "a median above 3 is read as ms, with a note).",
    ),
    recursive: bool = typer.Option(False, "--recursive", help="Search sub-folders too."),
    rr_dir: Path | None = typer.Option(
        None,
        "--rr-dir",
        help="Folder of separate RR files: NAME_rr.* or NAME.* goes with recording NAME[_eeg].*.",
    ),
    out: Path | None = typer.Option(
        None, "--out", help="Write the table here: .parquet/.pq (pyarrow) or .csv."
    ),
    workers: int | None = typer.Option(
        None,
        "--workers",
        help="Start a Dask LocalCluster with N worker processes (1 thread each).",
    ),
    scheduler: str | None = typer.Option(
        None, "--scheduler", help="Use an existing Dask cluster (tcp://host:8786)."
    ),
    resume: bool = typer.Option(
        False,
        "--resume",
        help="Keep the rows of --out whose file SHA-256 and versions match; score the rest.",
    ),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Re-score recordings with the current index (population norms): one file, or a table."""
    from addictidx._core.validate import check_option
    from addictidx.cluster.engine import check_cluster_options

    if rr_unit is not None:
        check_option("--rr-unit", rr_unit, ("s", "ms"))
    where = check_cluster_options(workers, scheduler)
    batch = (
        len(paths) != 1
        or not paths[0].is_file()
        or any(x is not None for x in (out, rr_dir, workers, scheduler))
        or recursive
        or resume
    )
    if not batch:
        _one_file(paths[0], rr_file, rr_unit, json_out)
        return
    if rr_file is not None:
        raise ValueError("--rr applies to one recording; for many, give --rr-dir DIR.")
    if resume and out is None:
        raise ValueError("--resume needs --out TABLE (the table to resume).")
    _batch(paths, recursive, rr_dir, rr_unit, out, where, resume, json_out)


def _one_file(file: Path, rr_file: Path | None, rr_unit: str | None, json_out: bool) -> None:
    """The single-file output (text, or JSON with notes and gaps)."""
    from addictidx.cli.rescore_one import one_file_output

    one_file_output(file, rr_file, rr_unit, json_out, echo=typer.echo)


def _batch(paths, recursive, rr_dir, rr_unit, out, where, resume, json_out) -> None:
    import gc

    gc.enable()  # off while the CLI started (cli/__init__.py); a batch may run for hours
    from addictidx.cli.progress import count_progress
    from addictidx.cluster.discover import find_recordings
    from addictidx.cluster.engine import open_task_map
    from addictidx.cluster.rescore import VERSION_COLUMNS, current_versions, rescore_batch
    from addictidx.cluster.table import read_table, table_format, write_table
    from addictidx.models.index_graph import model_bytes

    if out is not None:
        table_format(out)  # a bad extension fails before any work
    tasks = find_recordings(paths, recursive=recursive, rr_dir=rr_dir)
    previous = read_table(out) if resume and out is not None and out.exists() else []
    model = model_bytes()
    progress_cm, on_progress = count_progress(sys.stderr.isatty())
    with open_task_map(where) as task_map, progress_cm:
        batch = rescore_batch(
            tasks,
            model=model,
            task_map=task_map,
            rr_unit=rr_unit,
            previous=previous,
            on_done=None
            if on_progress is None
            else lambda n: on_progress("rescore", n, len(tasks)),
        )
    rows = list(batch.rows)
    if out is not None:
        write_table(rows, out)
    mine = current_versions(model).as_dict()
    mixed = sorted(
        {f"{k}={r.get(k)}" for r in rows for k in VERSION_COLUMNS if r.get(k) != mine[k]}
    )
    counts = {s: sum(r["status"] == s for r in rows) for s in ("scored", "no_index", "error")}
    summary = {
        "n_recordings": len(rows),
        "n_scored": counts["scored"],
        "n_no_index": counts["no_index"],
        "n_errors": counts["error"],
        "n_reused": batch.n_reused,
        "out": None if out is None else str(out),
        "versions": mine,
    }
    if json_out:
        if out is None:
            summary["rows"] = rows
        typer.echo(json.dumps(summary, indent=2))
    else:
        for r in rows if out is None else ():
            if r["status"] == "error":
                what = f"error: {r['error']}"
            elif r["index"] is None:
                what = f"no index: {r['reason']}"
            else:
                what = f"index {r['index']:.1f} ({r['band']}), confidence {r['confidence']:.2f}"
            typer.echo(f"{r['source_path']}: {what}")
        typer.echo(
            f"Rescored {len(rows)} recordings: {counts['scored']} with an index, "
            f"{counts['no_index']} without, {counts['error']} errors"
            + (f"; table {out}" if out is not None else "")
        )
    if mixed:
        raise ValueError(
            "Workers ran other versions than this client (" + ", ".join(mixed[:4]) + "): install "
            "the same addictidx on every worker; the table records each row's versions."
        )
