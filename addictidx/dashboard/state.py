"""JSON-ready frames of a live session for the dashboard (pure functions, no web framework).

:func:`session_frame` reads a :class:`~addictidx.sessions.live.LiveAssessment`; the signal part
is incremental: only EEG samples and beats newer than the cursor the client already has are
sent, capped to the display window, so a slow client skips data instead of building a backlog.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "Cursor",
    "session_frame",
    "signal_delta",
    "index_view",
    "research_view",
    "EEG_WINDOW_S",
    "RR_WINDOW_S",
]

#: Seconds of EEG and of RR the page shows (and the most one frame carries).
EEG_WINDOW_S = 5.0
RR_WINDOW_S = 120.0
#: Decimation of EEG for display (256 Hz -> 128 Hz).
EEG_DECIMATE = 2


@dataclass
class Cursor:
    """What one client has received so far (session-clock times)."""

    session_id: int | None = None
    eeg_t: float = -math.inf
    rr_t: float = -math.inf
    n_loop: int = 0
    extra: dict = field(default_factory=dict)


def _num(v: Any, nd: int = 3) -> float | None:
    if v is None:
        return None
    v = float(v)
    return round(v, nd) if math.isfinite(v) else None


def signal_delta(live, cursor: Cursor) -> dict:
    """EEG samples and RR beats newer than ``cursor`` (updates it), on the session clock.

    Returns
    -------
    dict
        ``{"eeg": {"t": [...], "ch": [...], "data": [[...] per channel]}, "rr": {"t", "rr_ms"}}``;
        NaN (missing samples) become ``null``.
    """
    t0 = live.t0 or 0.0
    out: dict = {"eeg": None, "rr": None}
    if live.t0 is None:
        return out
    w = live.eeg_buf.latest(EEG_WINDOW_S)
    if w.times.size:
        tt = w.times - t0
        keep = tt > cursor.eeg_t + 1e-9
        idx = np.flatnonzero(keep)
        if idx.size:
            # keep the decimation grid stable across frames: absolute sample index parity
            n_abs = np.rint(tt[idx] * w.sfreq).astype(np.int64)
            idx = idx[n_abs % EEG_DECIMATE == 0]
        if idx.size:
            data = np.round(w.data[:, idx], 1)
            out["eeg"] = {
                "t": np.round(tt[idx], 4).tolist(),
                "ch": list(w.spec.channels),
                "data": [
                    [None if not math.isfinite(x) else x for x in row] for row in data.tolist()
                ],
            }
            cursor.eeg_t = float(tt[idx[-1]])
    r = live.rr_buf.latest(RR_WINDOW_S)
    if r.times.size:
        tt = r.times - t0
        keep = tt > cursor.rr_t + 1e-9
        if keep.any():
            out["rr"] = {
                "t": np.round(tt[keep], 3).tolist(),
                "rr_ms": np.round(r.data[0, keep] * 1000.0, 1).tolist(),
            }
            cursor.rr_t = float(tt[keep][-1])
    return out


def index_view(index_result: dict | None, prescription: dict | None) -> dict | None:
    """The index part of a frame from the store's JSON (``session_detail``)."""
    if index_result is None:
        return None
    contrib = index_result.get("contributions") or {}
    return {
        "index": _num(index_result.get("index"), 1),
        "band": index_result.get("band"),
        # the precision the page shows: rounded once (3 decimals then toFixed(2) rounded
        # twice, e.g. 0.2851 -> 0.285 -> "0.28" where the stored 0.2851 reads 0.29)
        "confidence": _num(index_result.get("confidence"), 2),
        "baseline": index_result.get("baseline"),
        "reason": index_result.get("reason"),
        "contributions": sorted(
            ([k, _num(v, 3)] for k, v in contrib.items() if v is not None),
            key=lambda kv: -abs(kv[1] or 0.0),
        ),
        "prescription": prescription,
    }


def research_view(block: dict | None) -> dict | None:
    """The research part of a frame (a key of its own, never inside ``index``)."""
    if block is None:
        return None
    return {
        "label": block.get("label", "research"),
        "probability": _num(block.get("probability"), 3),
        "positive_class": block.get("positive_class"),
        "n_epochs": block.get("n_epochs"),
        "model": f"{block.get('model_id')} v{block.get('model_version')}",
        "reason": block.get("reason"),
        "disclaimer": block.get("disclaimer"),
    }


def session_frame(
    live,
    *,
    session_id: int | None,
    subject: str | None,
    status: str,
    cursor: Cursor,
    index: dict | None = None,
) -> dict:
    """One frame: devices, quality, phase, HR, new signal data, loop and safety events, index.

    Parameters
    ----------
    live : LiveAssessment | None
        The running (or last) session; ``None`` before any session.
    session_id, subject : the session's id and pseudonymous code.
    status : str
        ``idle``, ``running``, ``complete``, ``stopped`` or ``error``.
    cursor : Cursor
        The client's cursor (reset when the session changes).
    index : dict | None
        :func:`index_view` of the stored result, once scored.
    """
    frame: dict = {"session_id": session_id, "subject": subject, "status": status, "index": index}
    if live is None:
        return frame
    if cursor.session_id != session_id:
        cursor.session_id, cursor.eeg_t, cursor.rr_t, cursor.n_loop = (
            session_id,
            -math.inf,
            -math.inf,
            0,
        )
    clock = live.clock
    total = live.protocol.duration_s
    phase = clock.phase
    if live.stopped:
        # "stopped" only once the session is closed in the store; until then it is saving
        state = "stopping" if status == "running" else "stopped"
    elif clock.done:
        state = "scoring" if status == "running" else "done"
    elif clock.paused:
        state = "paused"
    elif phase is not None and phase.kind == "check":
        state = "device_check"
    else:
        state = "recording"
    frame.update(
        {
            "t_s": _num(clock.last_t or 0.0, 2),
            "state": state,
            "phase": None
            if phase is None
            else {
                "name": phase.name,
                "kind": phase.kind,
                "instruction": phase.instruction,
                "duration_s": phase.duration_s,
                "elapsed_s": _num(clock.counted, 1),
            },
            "phases": [{"name": p.name, "duration_s": p.duration_s} for p in live.protocol.phases],
            "phase_index": clock.index,
            "progress": _num(min(1.0, (total - clock.remaining_s()) / total) if total else 1.0, 4),
            "time_left_s": _num(clock.remaining_s(), 1),
            "total_s": total,
            "hr_bpm": _num(live.hr_bpm, 1),
            "quality": {
                ch: _num(live.channel_quality.get(ch), 3) for ch in live.eeg_spec.channels
            },
            "quality_min": 0.5,
            "strap_contact": live.strap_contact,
            "battery": {
                ("headband" if d == live.headband.name else "strap"): _num(v, 0)
                for d, v in live.battery.items()
            },
            "connected": {
                "headband": bool(live.connected.get(live.headband.name)),
                "strap": bool(live.connected.get(live.strap.name)),
            },
            "devices": {"headband": live.headband.profile.name, "strap": live.strap.profile.name},
            "signal": signal_delta(live, cursor),
        }
    )
    new = live.loop_events[cursor.n_loop :]
    cursor.n_loop = len(live.loop_events)
    frame["loop"] = {
        "running": live.controller is not None,
        "status": None if live.controller is None else live.controller.status,
        "new_events": [{"t_s": _num(e.t_s, 1), "kind": e.kind, "reason": e.reason} for e in new],
    }
    frame["safety"] = [
        {"t_s": _num(t, 1), "kind": d.get("kind"), "reason": d.get("reason")}
        for k, t, d in live.events
        if k == "safety"
    ][-20:]
    return frame
