"""The benchmark's timeline: when each session's notifications are handed over and its index
is due (the radio's schedule, harness data), and the real-time replay of measured service
times (latency, overruns, backlog). See :mod:`addictidx.bench.server` for the server model.
"""

from __future__ import annotations

import math

import numpy as np

from addictidx.bench.config import BenchConfig, n_hops

__all__ = ["stagger_period", "session_phases", "plan_ticks", "schedule"]


def stagger_period(cfg: BenchConfig, sources) -> float:
    """The span the sessions' clocks are staggered over (s): the shortest whole number of hops
    that also holds a whole EEG epoch (2 s epochs, 1 s hops: 2 s). Staggering over one hop only
    would make every session complete its epochs in the same half of each 2 s, loading every
    other second's ticks with all the epoch checks."""
    from addictidx.features import DEFAULT_EEG_THRESHOLDS

    quality = sources.variants[0].headband.profile.stream("eeg").quality or {}
    epoch_s = float({**DEFAULT_EEG_THRESHOLDS, **quality}["epoch_s"])
    return cfg.hop_s * max(1, math.ceil(epoch_s / cfg.hop_s - 1e-9))


def session_phases(n_sessions: int, cfg: BenchConfig, sources) -> np.ndarray:
    """Each session's clock offset on the server clock (s): staggered evenly over
    :func:`stagger_period`."""
    return np.arange(n_sessions) * (stagger_period(cfg, sources) / n_sessions)


def plan_ticks(n_sessions: int, duration_s: float, cfg: BenchConfig, sources) -> tuple:
    """``(n_ticks, bounds, due)``: notes ``[bounds[i][k], bounds[i][k+1])`` of session ``i``
    are handed over in tick ``k``; ``due[k]`` lists the ``(i, session_time)`` updates.

    Session ``i`` replays device set ``i % n_variants`` with clock offset
    :func:`session_phases` ``[i]``, as :class:`SessionServer` builds it.
    """
    tick = cfg.tick_s
    duration_s = float(duration_s)
    phases = session_phases(n_sessions, cfg, sources)
    n_ticks = int(math.ceil((duration_s + stagger_period(cfg, sources)) / tick))
    T = np.arange(n_ticks + 1) * tick
    variants = sources.variants
    bounds = []
    due: list[list[tuple[int, float]]] = [[] for _ in range(n_ticks)]
    for i, phase in enumerate(phases.tolist()):
        t = variants[i % len(variants)].t
        lim = np.minimum(T - phase, duration_s)
        b = np.searchsorted(t, lim, side="right")
        b[0] = np.searchsorted(t, 0.0, side="left")
        bounds.append(b.tolist())
        for m in range(1, n_hops(duration_s, cfg.hop_s) + 1):
            st = m * cfg.hop_s
            k = int(math.ceil((st + phase) / tick - 1e-9)) - 1
            due[min(max(k, 0), n_ticks - 1)].append((i, st))
    return n_ticks, bounds, due


def schedule(service: np.ndarray, tick_s: float, tick_of_update: np.ndarray, offsets=None):
    """Replay the real-time schedule: latencies of updates (ms), overrun rate, final backlog.

    Parameters
    ----------
    service : ndarray, shape (n_ticks,)
        Service time of every tick (s).
    tick_s : float
        Tick length (s).
    tick_of_update : ndarray of int
        Tick of every index update.
    offsets : ndarray | None
        Time into its tick at which each update was ready (s); default: the tick's end.
    """
    n = service.size
    start = np.empty(n)
    prev = 0.0
    for k in range(n):
        s = max((k + 1) * tick_s, prev)
        start[k] = s
        prev = s + service[k]
    T = (np.arange(n) + 1) * tick_s
    end = start + service
    if offsets is None:
        offsets = service[tick_of_update]
    lat = (start[tick_of_update] + offsets - T[tick_of_update]) * 1000.0
    overrun = float(np.mean(end > T + tick_s)) if n else 0.0
    backlog = float(end[-1] - T[-1]) if n else 0.0
    return lat, overrun, backlog
