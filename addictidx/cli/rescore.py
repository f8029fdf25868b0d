"""``addictidx rescore``: score an old recording (any format the readers take) with the index."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from addictidx.cli._app import _clean_errors, app


@app.command()
@_clean_errors
def rescore(
    file: Path = typer.Argument(
        ...,
        help="Recording: muse-lsl or Mind Monitor CSV, XDF, EDF/EDF+/BDF, Polar H10 CSV, or RR "
        "(the tool's _rr.tsv, a beat CSV t_s,rr_s, or a list of RR values).",
    ),
    rr_file: Path | None = typer.Option(
        None,
        "--rr",
        help="A second file with the RR intervals (EDF+, the tool's _rr.tsv, a beat CSV "
        "t_s,rr_s, or a text file of RR values).",
    ),
    rr_unit: str | None = typer.Option(
        None,
        "--rr-unit",
        help="Unit of RR values in a file that does not name it: s or ms (default: detected; "
        "a median above 3 is read as ms, with a note).",
    ),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Re-score an old recording with the current index (population norms)."""
    from addictidx._core.validate import check_option
    from addictidx.readers import limits_from_profiles, read_recording
    from addictidx.readers.recording import fill_gaps
    from addictidx.report.summary import format_index, index_result_dict
    from addictidx.sessions.scoring import SessionData, SubjectHistory, score_session

    if rr_unit is not None:
        check_option("--rr-unit", rr_unit, ("s", "ms"))
    limits = limits_from_profiles()
    rec = fill_gaps(read_recording(file, limits=limits, rr_unit=rr_unit))
    notes = list(rec.notes)
    rr = rec.rr_s
    if rr_file is not None:
        rr_rec = read_recording(rr_file, limits=limits, rr_unit=rr_unit)
        if rr_rec.rr_s is None:
            raise ValueError(f"{rr_file}: holds no RR intervals.")
        rr = rr_rec.rr_s
        notes += list(rr_rec.notes)
    eeg = rec.data if rec.ch_names and rec.units and rec.units[0] == "uV" else None
    if eeg is None and rr is None:
        raise ValueError(f"{file}: holds neither EEG nor RR intervals.")
    data = SessionData(
        eeg,
        rec.sfreq if eeg is not None else None,
        tuple(rec.ch_names) if eeg is not None else (),
        rr,
    )
    score = score_session(data, SubjectHistory.population())  # the one scoring path
    clean, result = score.features_json(), score.index
    if rr is None:
        notes.append(
            f"{file.name} holds no RR intervals: give them with --rr FILE (the tool's _rr.tsv, "
            "an EDF+ RR export, a beat CSV t_s,rr_s or a list of RR values; --rr-unit s|ms)."
        )
    gap_s = sum(g.duration_s for g in rec.gaps)
    if rec.gaps:
        notes.append(
            f"{len(rec.gaps)} gap(s), {gap_s:.1f} s in all, read as missing samples (not signal)."
        )
    if json_out:
        out = index_result_dict(result)
        out["source"] = rec.source
        out["features"] = clean
        out["notes"] = notes
        out["gaps"] = [
            {"onset_s": g.onset_s, "duration_s": g.duration_s, "reason": g.reason}
            for g in rec.gaps
        ]
        for n in notes:
            typer.echo(f"note: {n}", err=True)
        typer.echo(json.dumps(out, indent=2))
        return
    typer.echo(f"Re-scored {rec.source} against population norms.")
    typer.echo(
        "  " + "  ".join(f"{k} {'-' if v is None else f'{v:.4g}'}" for k, v in clean.items())
    )
    typer.echo(format_index(result))
    for n in notes:
        typer.echo(f"Note: {n}")
