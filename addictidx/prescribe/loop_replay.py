"""Replay a beat file through the closed-loop controller (``addictidx loop-sim``)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from addictidx._core.validate import check_positive
from addictidx.prescribe.controller import LoopConfig, LoopController, LoopEvent

__all__ = ["run_loop"]


def run_loop(
    t_s: Sequence[float],
    rr_s: Sequence[float],
    config: LoopConfig,
    *,
    tick_s: float = 1.0,
    end_work_at: float | None = None,
    workload: Sequence[tuple[float, float]] = (),
    actions: Sequence[tuple[float, str, object]] = (),
) -> list[LoopEvent]:
    """Replay a beat series (one beat per row) through a :class:`LoopController`.

    Parameters
    ----------
    t_s, rr_s : sequences of float, same length
        Beat times (s, non-decreasing) and the RR interval ending at each beat (s). Missing
        beats are silence.
    config : LoopConfig
        Session settings.
    tick_s : float
        Clock ticks between beats (at whole multiples of ``tick_s``), so silence is noticed
        within ``tick_s``. No ticks after the last beat (the file ends).
    end_work_at : float | None
        Time the work phase ends (cool-down, music descent, 1-min HR recovery).
    workload : sequence of (t_s, level)
        Prescribed workload changes (S3).
    actions : sequence of (t_s, name, arg)
        Other inputs: ``"stop"`` (arg: reason), ``"symptom"`` (arg: symptom), ``"heat"``
        (arg: detail), ``"tempo"`` (arg: bpm), ``"music_off"``.

    Returns
    -------
    list of LoopEvent
        In time order. At equal times beats come first, then inputs, then the tick.
    """
    t = np.asarray(t_s, dtype=np.float64)
    rr = np.asarray(rr_s, dtype=np.float64)
    if t.ndim != 1 or rr.shape != t.shape:
        raise ValueError(
            f"t_s and rr_s must be 1D and the same length, got {t.shape} and {rr.shape}."
        )
    if t.size == 0:
        return []
    if not np.all(np.isfinite(t)) or np.any(np.diff(t) < 0):
        raise ValueError("t_s must be finite and non-decreasing.")
    tick = check_positive("tick_s", tick_s)
    items: list[tuple[float, int, int, str, object]] = []
    for i in range(t.size):
        items.append((float(t[i]), 0, i, "beat", float(rr[i])))
    seq = 0
    for tw, level in workload:
        items.append((float(tw), 1, seq, "workload", float(level)))
        seq += 1
    if end_work_at is not None:
        items.append((float(end_work_at), 1, seq, "end_work", None))
        seq += 1
    for ta, name, arg in actions:
        items.append((float(ta), 1, seq, str(name), arg))
        seq += 1
    k0, k1 = math.ceil(t[0] / tick), math.floor(t[-1] / tick)
    for k in range(k0, k1 + 1):
        items.append((k * tick, 2, k, "tick", None))
    items.sort(key=lambda x: (x[0], x[1], x[2]))
    ctl = LoopController(config, t0_s=float(t[0]))
    handlers = {
        "beat": lambda tt, a: ctl.feed(tt, a),
        "tick": lambda tt, a: ctl.tick(tt),
        "workload": lambda tt, a: ctl.set_workload(tt, a),
        "end_work": lambda tt, a: ctl.end_work(tt),
        "stop": lambda tt, a: ctl.press_stop(tt, a or "stop button pressed"),
        "symptom": lambda tt, a: ctl.report_symptom(tt, a),
        "heat": lambda tt, a: ctl.heat_warning(tt, a),
        "tempo": lambda tt, a: ctl.set_tempo(tt, a),
        "music_off": lambda tt, a: ctl.music_off(tt),
    }
    for tt, _, _, name, arg in items:
        if name not in handlers:
            raise ValueError(
                f"Unknown action {name!r}; allowed: {sorted(set(handlers) - {'beat', 'tick'})}."
            )
        handlers[name](tt, arg)
    return ctl.events
