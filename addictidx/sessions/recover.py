"""Complete a session interrupted by a crash from its raw files (``addictidx sessions recover``).

The phases that ended are kept; the running one is closed at the last sample on disk; the trend
windows after the last stored one are computed from the raw data; the scored phases are scored
by :func:`~addictidx.sessions.run.score_and_store` (the one scoring path), as a live session
would be.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import numpy as np

from addictidx._core.errors import StoreError
from addictidx.sessions.live import TREND_EEG_S, TREND_HOP_S, TREND_RR_S
from addictidx.sessions.protocol import PhaseSpan, Protocol
from addictidx.sessions.run import research_time, score_and_store
from addictidx.sessions.scoring import SessionData
from addictidx.store.raw import read_raw
from addictidx.store.session_store import SessionStore

__all__ = ["recover_session"]


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def recover_session(
    store: SessionStore,
    session_id: int,
    *,
    age: float | None = None,
    screening: Mapping | None = None,
    force: bool = False,
    research: bool = False,
) -> dict:
    """Complete a session interrupted by a crash from its raw files.

    The phases that ended are kept; the running one is closed at the last sample on disk; the
    trend windows after the last stored one are computed from the raw data; the scored phases
    are scored as a live session would be; the session is marked complete with a ``recovered``
    event stating how much data survived.

    Parameters
    ----------
    store : SessionStore
    session_id : int
    age : float | None
        For the prescription; ``None`` (default) = no prescription (an age is never assumed).
    screening : mapping | None
        Pre-session screening answers.
    force : bool
        Recover even when the recording process still seems to run.
    research : bool
        Also score the research classifier (stored apart from the index).

    Returns
    -------
    summary : dict
        ``{"session_id", "data_end_s", "eeg_s", "n_beats", "phases", "index", "band"}``.

    Raises
    ------
    StoreError
        The session is not running, has no raw recording, or its writer is still alive.
    """
    from addictidx.features import compute_index_features

    detail = store.queries.session_detail(session_id)
    if detail["status"] != "running":
        raise StoreError(f"Session {session_id} is {detail['status']}, not interrupted.")
    rec = store.queries.recording(session_id)
    if rec is None:
        raise StoreError(f"Session {session_id} has no raw recording to recover from.")
    raw = read_raw(rec["raw_dir"])
    pid = raw.meta.get("pid")
    if not force and pid is not None and _pid_alive(int(pid)):
        raise StoreError(
            f"Session {session_id} is still being recorded by process {pid}; "
            "stop it first or pass --force."
        )
    protocol = Protocol.from_dict(rec["meta"]["protocol"])
    t_end = max(
        float(raw.eeg_times[-1]) if raw.eeg_times.size else 0.0,
        float(raw.rr_times[-1]) if raw.rr_times.size else 0.0,
    )
    # Rebuild where the phases ran from the events committed live.
    spans = _spans_from_events(protocol, detail["events"], t_end)
    store_phases = {p["name"] for p in detail["phases"]}
    for s in spans:
        if s.name not in store_phases:
            store.add_phase(session_id, s.name, s.t_start_s, s.t_end_s)

    # Trend windows the crash did not let the live session write.
    last = max((w["t_end_s"] for w in store.queries.feature_windows(session_id)), default=0.0)
    thresholds = rec["meta"].get("eeg_thresholds")
    t = last + TREND_HOP_S
    rows: dict[str, list] = {}
    while t <= t_end + 1e-9:
        me = (raw.eeg_times > t - TREND_EEG_S) & (raw.eeg_times <= t)
        mr = (raw.rr_times > t - TREND_RR_S) & (raw.rr_times <= t)
        feats, q = compute_index_features(
            raw.eeg[:, me] if me.any() else None,
            raw.sfreq,
            list(raw.ch_names),
            raw.rr_s[mr] if mr.any() else None,
            eeg_thresholds=thresholds,
        )
        ph = next(
            (s.name for s in spans if s.t_start_s <= t - 1e-9 < (s.t_end_s or 1e18)),
            spans[-1].name if spans else "unknown",
        )
        rows.setdefault(ph, []).append((t, feats, q.usable, q.flags))
        t += TREND_HOP_S
    for ph, r in rows.items():
        store.add_feature_windows(session_id, ph, r)

    data = SessionData.from_recording(
        spans,
        raw.eeg_times,
        raw.eeg,
        raw.rr_times,
        raw.rr_s,
        sfreq=raw.sfreq,
        ch_names=raw.ch_names,
        eeg_thresholds=thresholds,
    )
    score = score_and_store(
        store,
        session_id,
        detail["subject"],
        data,
        age=age,
        screening=screening,
        research=research,
        research_t_s=research_time(spans, raw.eeg_times),
    )
    n_eeg = int(np.isfinite(raw.eeg).all(axis=0).sum()) if raw.eeg.size else 0
    info = {
        "data_end_s": round(t_end, 3),
        "eeg_s": round(n_eeg / raw.sfreq, 3),
        "n_beats": int(raw.rr_s.size),
        "partial_bytes_dropped": raw.n_partial_bytes,
        "protocol_complete": bool(
            spans
            and spans[-1].name == protocol.phases[-1].name
            and spans[-1].t_end_s is not None
            and t_end >= spans[-1].t_end_s
        ),
    }
    store.add_event(session_id, t_end, "recovered", info)
    store.end_session(session_id, status="complete")
    return {
        "session_id": session_id,
        **info,
        "phases": [(s.name, s.t_start_s, s.t_end_s) for s in spans],
        "index": score.index.index,
        "band": score.index.band,
    }


def _spans_from_events(protocol: Protocol, events: list[dict], t_end: float) -> list[PhaseSpan]:
    """Phase spans from the live ``phase_*`` / ``signal_*`` events (or the protocol timing)."""
    by_name = {p.name: p for p in protocol.phases}
    spans: list[PhaseSpan] = []
    pause_start = None
    for ev in events:
        kind, t, d = ev["kind"], float(ev["t_s"]), ev["detail"]
        if kind == "signal_lost":
            pause_start = t
        elif kind == "signal_resumed" and pause_start is not None and spans:
            spans[-1].pauses.append((pause_start, t))
            pause_start = None
        elif kind == "phase" and d.get("phase") in by_name:
            p = by_name[d["phase"]]
            if spans and spans[-1].t_end_s is None:
                spans[-1].t_end_s = t
            spans.append(PhaseSpan(p.name, p.kind, p.scored, t))
    if not spans:  # no phase events: the protocol's own timing, cut at the data's end
        for p, a, b in protocol.spans():
            if a >= t_end:
                break
            spans.append(PhaseSpan(p.name, p.kind, p.scored, a, min(b, t_end)))
        return spans
    if pause_start is not None:
        spans[-1].pauses.append((pause_start, t_end))
    if spans[-1].t_end_s is None:
        spans[-1].t_end_s = t_end
    return spans
