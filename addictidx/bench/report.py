"""The whole benchmark in one JSON dict: latency runs, capacity, reference, machine."""

from __future__ import annotations

import os
import platform
import sys
from collections.abc import Callable
from dataclasses import asdict

import numpy as np

from addictidx.bench.capacity import find_capacity, session_memory_bytes
from addictidx.bench.config import BenchConfig
from addictidx.bench.reference import pool_references, run_reference
from addictidx.bench.server import run_sessions
from addictidx.bench.sources import make_sources

__all__ = ["machine_info", "run_benchmark"]


def machine_info() -> dict:
    """Python, numpy/onnxruntime versions, CPU model, cores, affinity, load."""
    info = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "numpy": np.__version__,
        "cpu_count": os.cpu_count(),
    }
    try:
        info["affinity"] = sorted(os.sched_getaffinity(0))
    except AttributeError:
        info["affinity"] = None
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    info["cpu_model"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        info["loadavg_1min"] = os.getloadavg()[0]
    except OSError:
        pass
    for mod in ("scipy", "onnxruntime", "mne", "neurokit2", "sklearn"):
        m = sys.modules.get(mod)
        if m is not None:
            info[mod] = getattr(m, "__version__", None)
    import addictidx

    info["addictidx"] = addictidx.__version__
    return info


def _load() -> float | None:
    try:
        return float(os.getloadavg()[0])
    except OSError:
        return None


def _cpu_and_ingest(run) -> tuple[float, float]:
    """``(CPU s, ingest CPU s)`` per session-second of a :class:`RunResult`."""
    ss = run.n_sessions * run.duration_s
    return run.cpu_s_per_session_s, run.stage_cpu_s["ingest"] / ss


#: Timed lean-reference updates per full-reference update (a lean one costs ~1/15 as much).
LEAN_PER_FULL = 8

#: How the CPU ratios are defined (the JSON's ``reference_note``).
RATIO_NOTE = (
    "CPU per session-second, the reference's over ours. The reference recomputes every window "
    "per update (psd_array_welch + neurokit2.hrv, lean: + neurokit2.hrv_time) and gets the "
    "same ingest (decode + assemble + buffers) as ours, measured in the same run. "
    "`cpu_ratio_vs_reference` and `cpu_ratio_vs_lean_reference` are taken at the p99_at run "
    "(500 sessions on one core: the serving load the targets are about), with that run's "
    "ingest on both sides; `*_single_session` are the same ratios at the latency run "
    "(`sessions`, usually 1: fixed per-tick costs shared by nobody, the conservative figure), "
    "`*_at_capacity` at the capacity run. Without a p99_at run the headline ratios are the "
    "single-session ones. The references' CPU per update is the median of their timed "
    "updates (after untimed warm-up), half timed just before and half just after the run the "
    "headline ratios compare them with; `cpu_s_per_update_p10`/`_p90` give the spread."
)


def cpu_ratios(runs: dict, ref: dict, lean: dict, cfg: BenchConfig, p99_at: int) -> dict:
    """The reference dicts and the CPU ratios (see :data:`RATIO_NOTE`).

    Parameters
    ----------
    runs : dict
        ``{"single_session" | "p99_at" | "capacity": (cpu_s, ingest_s) per session-second}``.
    ref, lean : dict
        :func:`~addictidx.bench.reference.run_reference` results (full and lean).
    cfg : BenchConfig
        For the update rate (one per ``hop_s``).
    p99_at : int
        Sessions of the ``p99_at`` run (0: none).
    """
    per_s = 1.0 / cfg.hop_s
    head = "p99_at" if "p99_at" in runs else "single_session"
    out: dict = {"reference": ref, "reference_lean": lean}
    for name, r in (("reference", ref), ("lean_reference", lean)):
        for run, (ours, ingest) in runs.items():
            theirs = ingest + r["cpu_s_per_update"] * per_s
            suffix = "" if run == head else ("_at_capacity" if run == "capacity" else f"_{run}")
            out[f"cpu_ratio_vs_{name}{suffix}"] = theirs / ours
            r[f"cpu_s_per_session_s_{run}"] = theirs
            if run == head:
                r["cpu_s_per_session_s"] = theirs
        if head == "single_session":  # the conservative key exists in any case
            out[f"cpu_ratio_vs_{name}_single_session"] = out[f"cpu_ratio_vs_{name}"]
    out["ratio_at_sessions"] = p99_at if head == "p99_at" else None
    out["reference_note"] = RATIO_NOTE
    return out


def run_benchmark(
    *,
    sessions: int = 1,
    duration_s: float = 30.0,
    cfg: BenchConfig = BenchConfig(),
    capacity: bool = True,
    reference: bool = True,
    reference_updates: int = 5,
    sweep_duration_s: float | None = None,
    capacity_start: int = 100,
    p99_at: int = 500,
    progress: Callable[[str], None] | None = None,
    keep_raw: bool = False,
) -> dict:
    """The whole benchmark: latency runs, capacity search, reference pipeline; one JSON dict.

    Parameters
    ----------
    sessions : int
        Concurrent sessions of the latency run (``p50_ms`` ... ``max_ms``).
    duration_s : float
        Session time per run (s); the capacity sweep uses ``min(duration_s, 6)`` and confirms
        the result at ``duration_s``.
    cfg : BenchConfig
        Parameters and real-time criterion.
    capacity, reference : bool
        Run the capacity search / the reference pipeline.
    reference_updates : int
        Timed updates of the reference pipeline (``neurokit2.hrv`` costs about 0.1-0.5 s each);
        the lean reference gets :data:`LEAN_PER_FULL` times as many. Half are timed just
        before the headline run, half just after (see :func:`~addictidx.bench.reference.
        pool_references`).
    p99_at : int
        Also run this many sessions for ``p99_ms_at_<N>`` (0: no such run).
    keep_raw : bool
        Also return the latency arrays (``_raw``, not JSON) for plots.

    Returns
    -------
    dict
        Keys ``p50_ms``, ``p95_ms``, ``p99_ms``, ``max_ms``, ``overrun_rate``,
        ``cpu_s_per_session_s``, ``memory_per_session_mb``, ``max_realtime_sessions``,
        ``p99_ms_at_500``, ``cpu_ratio_vs_reference``, ``cpu_ratio_vs_lean_reference``,
        ``machine`` and details. The two CPU ratios are taken at the ``p99_at`` run (the
        serving load); ``cpu_ratio_vs_reference_single_session`` and
        ``cpu_ratio_vs_lean_reference_single_session`` (at ``sessions``, the conservative
        figures) and ``*_at_capacity`` sit beside them (:data:`RATIO_NOTE`).
    """
    say = progress or (lambda _m: None)
    load_start = _load()
    say(f"generating notification streams ({cfg.n_variants} device sets, {duration_s:g} s)")
    sources = make_sources(duration_s, cfg)
    run_sessions(1, min(duration_s, 2.0), cfg, sources)  # warm-up: imports, ONNX session
    # The references are timed in two blocks, just before and just after the run the headline
    # ratios compare them with (the p99_at run, else the latency run), so that both sides are
    # measured under the same machine load; each block warms up untimed first.
    ref_parts: dict[str, list] = {"full": [], "lean": []}
    ref_src = make_sources(max(cfg.eeg_window_s, 10.0), cfg, n_variants=1) if reference else None
    n_full, n_lean = max(1, int(reference_updates)), LEAN_PER_FULL * max(1, int(reference_updates))

    def time_references(block: int) -> None:
        if not reference:
            return
        nf = (n_full + 1) // 2 if block == 0 else n_full // 2
        nl = n_lean // 2 if block == 0 else n_lean - n_lean // 2
        say(
            f"reference pipeline ({'before' if block == 0 else 'after'} the headline run): "
            f"{nf} updates with neurokit2.hrv, {nl} with neurokit2.hrv_time"
        )
        if nf:
            ref_parts["full"].append(run_reference(nf, cfg, sources=ref_src, warmup=1))
        ref_parts["lean"].append(run_reference(nl, cfg, lean=True, sources=ref_src))

    if not p99_at:
        time_references(0)
    say(f"latency run: {sessions} session(s) x {duration_s:g} s")
    main = run_sessions(sessions, duration_s, cfg, sources)
    if not p99_at:
        time_references(1)
    ms = main.summary()
    out: dict = {
        "p50_ms": ms["p50_ms"],
        "p95_ms": ms["p95_ms"],
        "p99_ms": ms["p99_ms"],
        "max_ms": ms["max_ms"],
        "mean_ms": ms["mean_ms"],
        "sessions": sessions,
        "duration_s": float(duration_s),
        "n_index_updates": main.n_index_updates,
        "n_with_index": main.n_with_index,
        "n_notifications": main.n_notifications,
        "overrun_rate": main.overrun_rate_wall,
        "overrun_rate_cpu": main.overrun_rate_cpu,
        "latency_cpu": ms["latency_cpu"],
        "cpu_s_per_session_s": main.cpu_s_per_session_s,
        "stage_cpu_s_per_session_s": {
            k: v / (sessions * duration_s) for k, v in main.stage_cpu_s.items()
        },
        "latency_path_cpu_us_per_update": ms["latency_path_cpu_us_per_update"],
        "memory_per_session_mb": session_memory_bytes(20, cfg, sources, feed_s=2.0) / 1e6,
        "memory_note": "tracemalloc over 20 sessions after 2 s of notifications (stream hubs, "
        "buffers, rolling epochs); shared notification streams excluded",
        "realtime_held": main.held,
    }
    raw = {"latency_ms": main.latency_ms}
    # our CPU per session-second (and its ingest share) in every run, for the ratios
    runs = {"single_session": _cpu_and_ingest(main)}
    if p99_at:
        time_references(0)
        say(f"latency run: {p99_at} sessions x {duration_s:g} s")
        big = run_sessions(p99_at, duration_s, cfg, sources)
        time_references(1)
        bs = big.summary()
        out[f"p99_ms_at_{p99_at}"] = bs["p99_ms"]
        out[f"p99_cpu_ms_at_{p99_at}"] = bs["latency_cpu"]["p99_ms"]
        out[f"run_at_{p99_at}"] = {
            k: bs[k]
            for k in (
                "p50_ms",
                "p99_ms",
                "max_ms",
                "overrun_rate_wall",
                "overrun_rate_cpu",
                "cpu_load",
                "cpu_s_per_session_s",
                "held",
            )
        } | {
            "p99_cpu_ms": bs["latency_cpu"]["p99_ms"],
            "stage_cpu_s_per_session_s": {
                k: v / (p99_at * duration_s) for k, v in big.stage_cpu_s.items()
            },
            "latency_path_cpu_us_per_update": bs["latency_path_cpu_us_per_update"],
        }
        runs["p99_at"] = _cpu_and_ingest(big)
        raw[f"latency_ms_at_{p99_at}"] = big.latency_ms
    if capacity:
        n_max, curve = find_capacity(
            duration_s,
            cfg,
            sweep_duration_s=sweep_duration_s,
            start=capacity_start,
            sources=sources,
            progress=say,
        )
        out["max_realtime_sessions"] = n_max
        out["capacity_curve"] = curve
        full = [
            c
            for c in curve
            if c["n_sessions"] == n_max and c["duration_s"] == duration_s and c["held"]
        ]
        if full:
            out["capacity_run"] = full[-1]
            runs["capacity"] = (
                full[-1]["cpu_s_per_session_s"],
                full[-1]["ingest_s_per_session_s"],
            )
        held_wall = [c["n_sessions"] for c in curve if c["held_wall"]]
        out["max_realtime_sessions_wall_clock_sweep"] = max(held_wall) if held_wall else 0
    else:
        out["max_realtime_sessions"] = None
    if reference:
        ref, lean = pool_references(ref_parts["full"]), pool_references(ref_parts["lean"])
        out.update(cpu_ratios(runs, ref, lean, cfg, p99_at))
    else:
        for name in ("reference", "lean_reference"):
            out[f"cpu_ratio_vs_{name}"] = None
            out[f"cpu_ratio_vs_{name}_single_session"] = None
    out["criterion"] = {
        "tick_s": cfg.tick_s,
        "rest_ingest_ticks": cfg.rest_ingest_ticks,
        "hop_s": cfg.hop_s,
        "latency_limit_ms": cfg.latency_limit_ms,
        "max_overrun_rate": cfg.max_overrun_rate,
        "clock": cfg.clock,
        "text": (
            f"real time holds when <= {cfg.max_overrun_rate:.0%} of {cfg.tick_s * 1000:g}-ms "
            f"ticks overrun, p99 notification-to-index latency <= {cfg.latency_limit_ms:g} ms "
            f"and the final backlog is < 1 tick ({cfg.clock} clock service times)"
        ),
    }
    out["config"] = asdict(cfg)
    out["machine"] = machine_info()
    out["machine"]["loadavg_1min_at_start"] = load_start
    if keep_raw:
        out["_raw"] = raw
    return out
