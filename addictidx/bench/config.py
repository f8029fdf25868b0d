"""Benchmark parameters, per-run measurements and latency summaries."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np

__all__ = ["BenchConfig", "RunResult", "latency_summary"]


@dataclass(frozen=True)
class BenchConfig:
    """Parameters of the benchmark (defaults are the documented ones).

    Parameters
    ----------
    tick_s : float
        Server tick = BLE connection interval (s).
    rest_ingest_ticks : int
        The server's batching window for the sessions **not** due for an index update: their
        notifications are handed to their hubs every this many ticks (2: every 50 ms), all
        of them since their last hand-over in one batch; their buffers lag the radio by at
        most that. A session due for an update always gets every notification up to the
        current tick before it is scored, so its index and its latency do not change
        (1: every session every tick).
    hop_s : float
        Index update period per session (s of session time).
    eeg_window_s, rr_window_s : float
        Rolling windows of the index features (s). The RR window is longer than the 2 min of
        clean RR the index needs (EVIDENCE.md §7(i)), so that a few rejected beats do not
        leave every update without an index.
    latency_limit_ms : float
        Real-time criterion: p99 notification-to-index latency at most this.
    max_overrun_rate : float
        Real-time criterion: share of ticks overrunning at most this.
    clock : {"cpu", "wall"}
        Service-time clock used for the capacity verdict.
    n_variants : int
        Distinct recording offsets (sessions cycle through them).
    age : int
        Age passed to the prescription (HRmax by Tanaka).
    seed : int
        Seed of the simulated devices.
    prefill : bool
        Start every session with ``rr_window_s`` of RR and ``eeg_window_s`` of EEG epochs (a
        session that has been running for a while), so the index is defined from the first
        update. Off, the index is defined once the windows have filled.
    headband, strap : str
        Device profiles of the simulated headband and strap (rates and characteristics come
        from them).
    """

    tick_s: float = 0.025
    rest_ingest_ticks: int = 2
    hop_s: float = 1.0
    eeg_window_s: float = 30.0
    rr_window_s: float = 150.0
    latency_limit_ms: float = 100.0
    max_overrun_rate: float = 0.01
    clock: str = "cpu"
    n_variants: int = 8
    age: int = 30
    seed: int = 0
    prefill: bool = True
    headband: str = "sim-muse"
    strap: str = "polar-h10"

    def __post_init__(self) -> None:
        if self.clock not in ("cpu", "wall"):
            raise ValueError(f"clock must be 'cpu' or 'wall', got {self.clock!r}.")
        for name in ("tick_s", "hop_s", "eeg_window_s", "rr_window_s", "latency_limit_ms"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)!r}.")
        r = self.rest_ingest_ticks
        if isinstance(r, bool) or not isinstance(r, int) or r < 1:
            raise ValueError(f"rest_ingest_ticks must be an integer >= 1, got {r!r}.")


@dataclass
class RunResult:
    """Measurements of one run of ``n_sessions`` concurrent sessions.

    Latencies are on the wall clock (``latency_ms``) and on the CPU clock
    (``latency_cpu_ms``); see :mod:`addictidx.bench` for the server model.
    """

    n_sessions: int
    duration_s: float
    tick_s: float
    n_ticks: int
    n_notifications: int
    n_index_updates: int
    n_with_index: int
    latency_ms: np.ndarray = field(repr=False)
    latency_cpu_ms: np.ndarray = field(repr=False)
    overrun_rate_wall: float
    overrun_rate_cpu: float
    backlog_wall_s: float
    backlog_cpu_s: float
    cpu_s: float
    wall_s: float
    stage_cpu_s: dict
    rss_growth_per_session_bytes: float  # RSS growth / N (allocator reuse makes it noisy)
    held_wall: bool
    held_cpu: bool
    held: bool
    last_index: float | None
    scores: list = field(default_factory=list, repr=False)
    #: CPU seconds of each stage on the latency path only (the work of the sessions due in a
    #: tick, done before their prescriptions are ready): what the latencies are made of.
    due_stage_cpu_s: dict = field(default_factory=dict)

    @property
    def cpu_s_per_session_s(self) -> float:
        """CPU seconds per session-second of data."""
        return self.cpu_s / (self.n_sessions * self.duration_s)

    def summary(self) -> dict:
        """JSON-ready dict (latency percentiles instead of the raw arrays)."""
        skip = ("latency_ms", "latency_cpu_ms", "scores")
        d = {k: v for k, v in asdict(self).items() if k not in skip}
        d.update(latency_summary(self.latency_ms))
        d["latency_cpu"] = latency_summary(self.latency_cpu_ms)
        d["cpu_s_per_session_s"] = self.cpu_s_per_session_s
        d["cpu_load"] = self.cpu_s / self.duration_s
        d["ingest_s_per_session_s"] = self.stage_cpu_s.get("ingest", 0.0) / (
            self.n_sessions * self.duration_s
        )
        d["latency_path_cpu_us_per_update"] = {
            k: v / max(self.n_index_updates, 1) * 1e6 for k, v in self.due_stage_cpu_s.items()
        }
        return d


def latency_summary(lat_ms) -> dict:
    """``p50_ms``, ``p95_ms``, ``p99_ms``, ``max_ms``, ``mean_ms`` and ``n`` of latencies."""
    a = np.asarray(lat_ms, dtype=np.float64)
    if a.size == 0:
        return dict.fromkeys(("p50_ms", "p95_ms", "p99_ms", "max_ms", "mean_ms"), None) | {"n": 0}
    p50, p95, p99 = np.percentile(a, [50, 95, 99])
    return {
        "p50_ms": float(p50),
        "p95_ms": float(p95),
        "p99_ms": float(p99),
        "max_ms": float(a.max()),
        "mean_ms": float(a.mean()),
        "n": int(a.size),
    }


def n_hops(duration_s: float, hop_s: float) -> int:
    """Index updates per session in ``duration_s``."""
    return int(math.floor(duration_s / hop_s + 1e-9))
