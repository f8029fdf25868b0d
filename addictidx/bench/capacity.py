"""Real-time capacity (the largest session count a run held) and memory per session."""

from __future__ import annotations

import gc
from collections.abc import Callable

import numpy as np

from addictidx.bench.config import BenchConfig, RunResult
from addictidx.bench.server import SessionServer, run_sessions
from addictidx.bench.sources import BenchSources, make_sources

__all__ = ["find_capacity", "session_memory_bytes"]

_CURVE_KEYS = (
    "n_sessions",
    "duration_s",
    "p50_ms",
    "p99_ms",
    "max_ms",
    "overrun_rate_wall",
    "overrun_rate_cpu",
    "cpu_load",
    "cpu_s_per_session_s",
    "ingest_s_per_session_s",
    "held_wall",
    "held_cpu",
    "held",
)


def find_capacity(
    duration_s: float,
    cfg: BenchConfig = BenchConfig(),
    *,
    sweep_duration_s: float | None = None,
    start: int = 100,
    max_sessions: int = 3200,
    sources: BenchSources | None = None,
    progress: Callable[[str], None] | None = None,
) -> tuple[int, list[dict]]:
    """Largest ``N`` for which a full-length run held real time.

    Short sweep runs (``min(duration_s, 6)`` s) double from ``start`` until one breaks and
    bisect to about 10 %; then full-length runs (``duration_s``) confirm, stepping down by
    10 % until one holds. Only a count a full-length run actually held is returned.

    Returns
    -------
    max_sessions : int
        The largest session count of a full-length run that held (0 when none did).
    curve : list of dict
        One entry per run: sessions, duration, p50/p99 (wall and CPU), overrun rates, CPU load,
        CPU per session-second, verdicts.
    """
    sweep = min(duration_s, 6.0) if sweep_duration_s is None else sweep_duration_s
    if sources is None or sources.duration_s < duration_s:
        sources = make_sources(duration_s, cfg)
    curve: list[dict] = []
    cache: dict[tuple[int, float], RunResult] = {}

    def run(n: int, d: float) -> RunResult:
        if (n, d) not in cache:
            r = run_sessions(n, d, cfg, sources)
            cache[(n, d)] = r
            e = r.summary()
            curve.append(
                {k: e[k] for k in _CURVE_KEYS} | {"p99_cpu_ms": e["latency_cpu"]["p99_ms"]}
            )
            if progress:
                progress(
                    f"capacity: N={n} ({d:g} s): p99 {e['p99_ms']:.1f} ms wall / "
                    f"{e['latency_cpu']['p99_ms']:.1f} ms cpu, load {e['cpu_load']:.2f}, "
                    f"{'held' if r.held else 'broke'}"
                )
        return cache[(n, d)]

    lo, hi = 0, None
    n = start
    while n <= max_sessions:
        if run(n, sweep).held:
            lo, n = n, n * 2
        else:
            hi = n
            break
    if lo == 0:  # even `start` broke: search below it
        hi, n = start, max(1, start // 2)
        while n >= 1 and not run(n, sweep).held:
            hi, n = n, n // 2
        lo = n if n >= 1 else 0
    if hi is None:
        hi = max_sessions + 1
    while lo and hi - lo > max(2, lo // 10):  # bisect to ~10 %
        mid = (lo + hi) // 2
        if run(mid, sweep).held:
            lo = mid
        else:
            hi = mid
    # confirm at the full duration: step down by 10 % until a run holds
    n = lo
    while n >= 1 and not run(n, duration_s).held:
        n = min(n - 1, int(n * 0.9))
    held_full = [c["n_sessions"] for c in curve if c["duration_s"] == duration_s and c["held"]]
    return (max(held_full) if held_full else 0), curve


def session_memory_bytes(
    n_sessions: int = 50,
    cfg: BenchConfig = BenchConfig(),
    sources: BenchSources | None = None,
    feed_s: float = 4.0,
) -> float:
    """Python + numpy memory held per session (tracemalloc), after ``feed_s`` of notifications.

    Counts each session's stream hub (assemblers, ring and event buffers with the pre-filled
    RR window) and its share of the rolling epoch results; the shared pre-generated
    notification streams and the ring pool's slots no session took are not counted.
    """
    import tracemalloc

    if sources is None or sources.duration_s < feed_s:
        sources = make_sources(max(feed_s, cfg.hop_s), cfg)
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        srv = SessionServer(n_sessions, sources.duration_s, cfg, sources)
        for s in srv.sessions:
            v = s.var
            for j in range(int(np.searchsorted(v.t, feed_s, side="right"))):
                s.feed(v.devices[j], v.chars[j], v.payloads[j], v.t_l[j])
        srv.epochs(range(n_sessions))
        gc.collect()
        # the shared ring pool's slots no session took are reserved, never written (np.empty:
        # no memory is mapped for them), so they are not any session's memory
        used = tracemalloc.get_traced_memory()[0] - base - srv.ring_pool.unused_bytes()
    finally:
        tracemalloc.stop()
    del srv
    return used / n_sessions
