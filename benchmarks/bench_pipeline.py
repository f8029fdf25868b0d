"""End-to-end pipeline benchmark: latency, real-time capacity, CPU against MNE/NeuroKit2/sklearn.

Runs :func:`addictidx.bench.run_benchmark` (the same harness as ``addictidx bench``, which serves
the production path: StreamHub -> RollingEpochs -> score_sessions),
writes ``benchmarks/results/pipeline.json``, ``latency_hist.png`` and ``capacity_curve.png``
(matplotlib, Agg backend) and regenerates the results table in ``benchmarks/README.md``.

Run on one core (the documented floors are for one core)::

    taskset -c 0 python benchmarks/bench_pipeline.py --duration 30

``--per-core`` additionally runs one process per CPU core (each pinned to its core) at the
capacity found, all at once, and reports whether every process held real time.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import re
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
README = HERE / "README.md"
START, END = "<!-- pipeline-results:start -->", "<!-- pipeline-results:end -->"


def _per_core_worker(args):
    core, n, duration = args
    os.sched_setaffinity(0, {core})
    from addictidx.bench import BenchConfig, make_sources, run_sessions

    cfg = BenchConfig()
    src = make_sources(duration, cfg)
    run_sessions(1, 2.0, cfg, src)
    r = run_sessions(n, duration, cfg, src)
    return {
        "core": core,
        "n_sessions": n,
        "held": r.held,
        "held_wall": r.held_wall,
        "p99_ms": r.summary()["p99_ms"],
        "p99_cpu_ms": r.summary()["latency_cpu"]["p99_ms"],
        "cpu_load": r.cpu_s / r.duration_s,
    }


def _plots(res: dict, raw: dict) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    files = []
    lat = np.asarray(raw["latency_ms"])
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.hist(lat, bins=min(40, max(5, lat.size // 2)), color="tab:blue")
    for k, c in (("p50_ms", "k"), ("p99_ms", "r")):
        ax.axvline(res[k], color=c, ls="--", label=f"{k[:-3]} {res[k]:.2f} ms")
    ax.set_xlabel("notification-to-index latency (ms, wall clock)")
    ax.set_ylabel("index updates")
    ax.set_title(f"{res['sessions']} session(s), {res['duration_s']:g} s")
    ax.legend()
    fig.tight_layout()
    fig.savefig(RESULTS / "latency_hist.png", dpi=110)
    plt.close(fig)
    files.append("latency_hist.png")
    curve = res.get("capacity_curve") or []
    if curve:
        curve = sorted(curve, key=lambda c: (c["n_sessions"], c["duration_s"]))
        n = [c["n_sessions"] for c in curve]
        fig, ax = plt.subplots(figsize=(6, 3.5))
        ax.plot(n, [c["p99_cpu_ms"] for c in curve], "o-", label="p99, CPU-clock service")
        ax.plot(n, [c["p99_ms"] for c in curve], "s:", label="p99, wall clock (shared VM)")
        ax.axhline(res["criterion"]["latency_limit_ms"], color="r", ls="--", label="limit")
        ax.axvline(
            res["max_realtime_sessions"],
            color="g",
            ls="--",
            label=f"max real-time N = {res['max_realtime_sessions']}",
        )
        ax.set_yscale("log")
        ax.set_xlabel("concurrent sessions in one process")
        ax.set_ylabel("p99 latency (ms)")
        ax2 = ax.twinx()
        ax2.plot(n, [c["cpu_load"] for c in curve], "^-", color="tab:gray", alpha=0.6)
        ax2.set_ylabel("CPU load (cores)", color="tab:gray")
        ax.legend(fontsize=7, loc="upper left")
        fig.tight_layout()
        fig.savefig(RESULTS / "capacity_curve.png", dpi=110)
        plt.close(fig)
        files.append("capacity_curve.png")
    return files


def _table(res: dict) -> str:
    def f(v, spec=".2f"):
        return "n/a" if v is None else format(v, spec)

    st = res["stage_cpu_s_per_session_s"]
    m = res["machine"]
    n99 = next((int(k[10:]) for k in res if k.startswith("p99_ms_at_")), 0)
    lines = [
        f"Run: `{res.get('command', 'benchmarks/bench_pipeline.py')}` on "
        f"{m.get('cpu_model', '?')}, "
        f"affinity {m.get('affinity')}, load average {f(m.get('loadavg_1min'))} at the end "
        "(shared 2-vCPU VM: compare ratios within one run).",
        "",
        "| figure | value |",
        "|---|---|",
        f"| p50 / p95 / p99 / max latency, {res['sessions']} session(s) (ms, wall) | "
        f"{f(res['p50_ms'])} / {f(res['p95_ms'])} / {f(res['p99_ms'])} / {f(res['max_ms'])} |",
        f"| same on CPU-clock service times (ms) | {f(res['latency_cpu']['p50_ms'])} / "
        f"{f(res['latency_cpu']['p95_ms'])} / {f(res['latency_cpu']['p99_ms'])} / "
        f"{f(res['latency_cpu']['max_ms'])} |",
        f"| overrun rate (wall / CPU) | {f(res['overrun_rate'], '.2%')} / "
        f"{f(res['overrun_rate_cpu'], '.2%')} |",
        f"| max real-time sessions, one process (a full-length run held) | "
        f"{res.get('max_realtime_sessions')} |",
        *(
            [
                f"| p99 latency at {n99} sessions (ms, wall / CPU) | "
                f"{f(res[f'p99_ms_at_{n99}'])} / {f(res[f'p99_cpu_ms_at_{n99}'])} |"
            ]
            if n99
            else []
        ),
        f"| CPU s per session-second, {res['sessions']} session(s) | "
        f"{f(res['cpu_s_per_session_s'], '.2e')} |",
        "| of which ingest / epochs / features / ONNX index / prescribe | "
        + " / ".join(
            f(st[k], ".1e") for k in ("ingest", "epochs", "features", "onnx_index", "prescribe")
        )
        + " |",
        f"| memory per session (MB) | {f(res['memory_per_session_mb'], '.3f')} |",
        *(
            [
                f"| CPU s per session-second at capacity ({cap['n_sessions']} sessions, CPU load "
                f"{f(cap['cpu_load'])}) | {f(cap['cpu_s_per_session_s'], '.2e')} |"
            ]
            if (cap := res.get("capacity_run"))
            else []
        ),
        f"| CPU ratio vs reference (MNE + `nk.hrv` + sklearn) | "
        f"{f(res.get('cpu_ratio_vs_reference'), '.1f')}x (at capacity "
        f"{f(res.get('cpu_ratio_vs_reference_at_capacity'), '.1f')}x) |",
        f"| CPU ratio vs lean reference (MNE + `nk.hrv_time` + sklearn), at "
        f"{res.get('ratio_at_sessions') or 1} sessions (1 session) | "
        f"{f(res.get('cpu_ratio_vs_lean_reference'), '.1f')}x "
        f"({f(res.get('cpu_ratio_vs_lean_reference_single_session'), '.1f')}x) |",
    ]
    if res.get("per_core"):
        pc = res["per_core"]
        lines.append(
            f"| one process per core ({len(pc)} x {pc[0]['n_sessions']} sessions) | "
            + ", ".join(
                f"core {p['core']}: {'held' if p['held'] else 'broke'} (p99 "
                f"{f(p['p99_cpu_ms'], '.1f')} ms CPU / {f(p['p99_ms'], '.0f')} ms "
                f"wall, load {f(p['cpu_load'])})"
                for p in pc
            )
            + " |"
        )
    lines += ["", f"Criterion: {res['criterion']['text']}."]
    return "\n".join(lines)


def _update_readme(table: str) -> None:
    text = README.read_text("utf-8") if README.exists() else f"# Benchmarks\n\n{START}\n{END}\n"
    block = f"{START}\n{table}\n{END}"
    if START in text and END in text:
        text = re.sub(
            re.escape(START) + ".*?" + re.escape(END), lambda _m: block, text, flags=re.S
        )
    else:
        text += "\n" + block + "\n"
    README.write_text(text, "utf-8")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--duration", type=float, default=30.0)
    ap.add_argument("--sessions", type=int, default=1)
    ap.add_argument("--reference-updates", type=int, default=5)
    ap.add_argument("--per-core", action="store_true")
    ap.add_argument("--p99-at", type=int, default=500)
    a = ap.parse_args(argv)
    from addictidx.bench import run_benchmark

    res = run_benchmark(
        sessions=a.sessions,
        duration_s=a.duration,
        reference_updates=a.reference_updates,
        p99_at=a.p99_at,
        keep_raw=True,
        progress=lambda m: print(f"[bench] {m}", file=sys.stderr),
    )
    raw = res.pop("_raw")
    res["command"] = "python benchmarks/bench_pipeline.py " + " ".join(argv or sys.argv[1:])
    if a.per_core and res.get("max_realtime_sessions"):
        cores = (
            sorted(os.sched_getaffinity(0))
            if len(os.sched_getaffinity(0)) > 1
            else list(range(os.cpu_count() or 1))
        )
        with mp.get_context("spawn").Pool(len(cores)) as pool:
            res["per_core"] = pool.map(
                _per_core_worker, [(c, res["max_realtime_sessions"], a.duration) for c in cores]
            )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "pipeline.json").write_text(json.dumps(res, indent=2, default=float) + "\n")
    files = _plots(res, raw)
    _update_readme(_table(res))
    print(
        json.dumps(
            {
                k: res.get(k)
                for k in (
                    "p50_ms",
                    "p99_ms",
                    f"p99_ms_at_{a.p99_at}",
                    "max_realtime_sessions",
                    "cpu_ratio_vs_reference",
                    "cpu_ratio_vs_lean_reference",
                )
            },
            default=float,
        )
    )
    print(f"wrote results/pipeline.json, {', '.join(files)} and README.md", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
