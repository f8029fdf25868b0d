"""``addictidx loop-sim``: run the closed-loop controller on a beat file (issue #6 item 6)."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from addictidx.cli.app import app, clean_errors


@app.command("loop-sim")
@clean_errors
def loop_sim_cmd(
    rr: Path = typer.Option(
        ...,
        "--rr",
        help="Beat file: a beat CSV t_s,rr_s (one row per beat; missing beats = silence), the "
        "tool's _rr.tsv (beat_time_s, rr_ms) or _rr.edf, a Polar H10 CSV, or a list of RR "
        "values (beat times = their sums).",
    ),
    rr_unit: str | None = typer.Option(
        None,
        "--rr-unit",
        help="Unit of RR values in a file that does not name it: s or ms (default: detected; "
        "a median above 3 is read as ms, with a note).",
    ),
    age: float = typer.Option(
        ..., "--age", help="Age in years (HRmax = 208 - 0.7 x age unless --hrmax)."
    ),
    resting_hr: float = typer.Option(
        ..., "--resting-hr", help="Resting heart rate (bpm, from RR)."
    ),
    zone_pct: tuple[float, float] = typer.Option(
        ..., "--zone-pct", help="Target zone LO HI in % of heart-rate reserve."
    ),
    hrmax: float | None = typer.Option(None, "--hrmax", help="Measured HRmax (bpm)."),
    warmup_s: float = typer.Option(
        0.0, "--warmup-s", help="No zone guidance during the first seconds of work."
    ),
    cooldown_at: float | None = typer.Option(
        None,
        "--cooldown-at",
        help="Time (s) the work ends: cool-down, music descent, 1-min HR recovery.",
    ),
    music_bpm: float | None = typer.Option(
        None, "--music-bpm", help="Run the music-tempo loop from this preferred start tempo (bpm)."
    ),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Replay RR beats through the closed-loop controller and list its events."""
    import numpy as np

    from addictidx._core.validate import check_option
    from addictidx.prescribe.controller import LoopConfig
    from addictidx.prescribe.loop_replay import run_loop
    from addictidx.prescribe.safety import safety_limits
    from addictidx.readers import read_recording

    if rr_unit is not None:
        check_option("--rr-unit", rr_unit, ("s", "ms"))
    beats = read_recording(rr, rr_unit=rr_unit)
    if beats.rr_s is None:
        raise ValueError(f"{rr}: holds no RR intervals.")
    for note in beats.notes:
        typer.echo(f"note: {note}", err=True)
    rr_s = beats.rr_s
    t_s = beats.rr_times_s if beats.rr_times_s is not None else np.cumsum(rr_s)
    limits = safety_limits(age=age, resting_hr=resting_hr, hrmax=hrmax, zone_pct_hrr=zone_pct)
    cfg = LoopConfig(
        limits=limits,
        warmup_s=warmup_s,
        music=music_bpm is not None,
        music_preferred_bpm=music_bpm,
    )
    events = run_loop(t_s, rr_s, cfg, end_work_at=cooldown_at)
    if json_out:
        typer.echo(json.dumps({"events": [e.to_dict() for e in events]}, indent=2))
        return
    lo, hi = limits.zone_bpm
    typer.echo(
        f"zone {lo:g}-{hi:g} bpm; stop at {limits.stop_bpm:.1f} bpm; {len(t_s)} beats, "
        f"{t_s[-1] - t_s[0]:.0f} s; {len(events)} events"
    )
    for e in events:
        typer.echo(f"{e.t_s:9.2f} s  {e.kind:<11} {e.reason}")
