"""``addictidx bench``: end-to-end real-time latency, capacity and CPU against a reference."""

from __future__ import annotations

import json
import sys

import typer

from addictidx.cli.app import app, clean_errors


@app.command("bench")
@clean_errors
def bench(
    sessions: int = typer.Option(
        1, "--sessions", min=1, help="Concurrent sessions of the latency run (p50/p99 at N)."
    ),
    duration: float = typer.Option(
        30.0, "--duration", min=1.0, help="Session time per run, seconds."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the results as JSON."),
    capacity: bool = typer.Option(
        True, "--capacity/--no-capacity", help="Search the largest real-time session count."
    ),
    reference: bool = typer.Option(
        True,
        "--reference/--no-reference",
        help="Time the MNE + NeuroKit2 + scikit-learn reference pipeline (imports ~5 s).",
    ),
    reference_updates: int = typer.Option(5, "--reference-updates", min=1),
    clock: str = typer.Option(
        "cpu", "--clock", help="Clock of the capacity verdict: cpu or wall."
    ),
    latency_limit_ms: float = typer.Option(100.0, "--latency-limit-ms", min=0.001),
    p99_at: int = typer.Option(
        500, "--p99-at", min=0, help="Also run this many sessions for p99_ms_at_<N> (0: skip)."
    ),
    out: str | None = typer.Option(None, "--out", help="Also write the JSON to this file."),
    rest_ingest_ticks: int = typer.Option(
        2,
        "--rest-ingest-ticks",
        min=1,
        help="Batching window (ticks) of the sessions not due for an update (1: every tick).",
    ),
) -> None:
    """Replay simulated Muse + H10 sessions through decode -> buffers -> features -> ONNX index ->
    prescription and report notification-to-index latency, real-time capacity and CPU per
    session-second against a reference pipeline (run under `taskset -c 0` for one core)."""
    from addictidx.bench import BenchConfig, run_benchmark

    cfg = BenchConfig(
        clock=clock, latency_limit_ms=latency_limit_ms, rest_ingest_ticks=rest_ingest_ticks
    )

    def say(msg: str) -> None:
        typer.echo(f"[bench] {msg}", err=True)

    res = run_benchmark(
        sessions=sessions,
        duration_s=duration,
        cfg=cfg,
        capacity=capacity,
        reference=reference,
        reference_updates=reference_updates,
        p99_at=p99_at,
        progress=say,
    )
    text = json.dumps(res, indent=2, default=float)
    if out:
        with open(out, "w", encoding="utf-8") as fh:
            fh.write(text + "\n")
    if as_json:
        sys.stdout.write(text + "\n")
        return
    _print_table(res)


def _fmt(v, spec: str = ".2f") -> str:
    return "n/a" if v is None else format(v, spec)


def _print_table(res: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"addictidx bench ({res['sessions']} session(s), {res['duration_s']:g} s)")
    p99_n = next((int(k[10:]) for k in res if k.startswith("p99_ms_at_")), 0)
    t.add_column("measure")
    t.add_column("value", justify="right")
    rows = [
        (
            "p50 / p95 / p99 / max latency (ms)",
            " / ".join(_fmt(res[k]) for k in ("p50_ms", "p95_ms", "p99_ms", "max_ms")),
        ),
        ("overrun rate (wall)", _fmt(res["overrun_rate"], ".3%")),
        ("CPU s per session-second", _fmt(res["cpu_s_per_session_s"], ".2e")),
        ("memory per session (MB)", _fmt(res["memory_per_session_mb"], ".3f")),
        (
            f"p99 latency at {p99_n} sessions (ms)",
            _fmt(res.get(f"p99_ms_at_{p99_n}")) if p99_n else "n/a",
        ),
        ("max real-time sessions (a full-length run held)", str(res.get("max_realtime_sessions"))),
    ]
    at = res.get("ratio_at_sessions")
    where = f"at {at} sessions" if at else "1 session"
    for label, key in (("reference (nk.hrv)", "reference"), ("lean reference", "lean_reference")):
        one = res.get(f"cpu_ratio_vs_{key}_single_session")
        rows.append(
            (
                f"CPU ratio vs {label}, {where} (single session)",
                f"{_fmt(res.get(f'cpu_ratio_vs_{key}'), '.1f')} ({_fmt(one, '.1f')})",
            )
        )
    for k, v in rows:
        t.add_row(k, v)
    Console().print(t)
    Console().print(res["criterion"]["text"])
