"""Writing a session: sessions, recordings, phases, feature windows, results and events."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict
from typing import Any

from addictidx._core.types import IndexResult, Prescription
from addictidx.store.database import dumps, utc_now

__all__ = ["SessionRecords", "SAFETY_STOP_KINDS"]

#: Safety-event kinds that are stops (logged to the audit trail).
SAFETY_STOP_KINDS = ("stop",)


class SessionRecords:
    """The rows a session writes while it runs and when it is scored.

    Parameters
    ----------
    db : Database
    subjects : Subjects
    log : callable
        ``log(action, subject=..., session=..., detail=...)`` appends to the audit log.
    """

    def __init__(self, db, subjects, log: Callable[..., Any]) -> None:
        self._db = db
        self._subjects = subjects
        self._log = log

    def start_session(
        self, subject_code: str, *, devices: Mapping[str, str], simulated: bool, software: str
    ) -> int:
        """Create a running session and return its id."""
        sid = self._subjects.ensure(subject_code)
        res = self._db.run(
            self._db.tables.sessions.insert().values(
                subject_code=sid,
                started_utc=utc_now(),
                status="running",
                simulated=int(simulated),
                devices_json=dumps(devices),
                software=software,
            )
        )
        return int(res.inserted_primary_key[0])

    def end_session(self, session_id: int, *, status: str = "complete") -> None:
        """Mark a session complete (or aborted)."""
        t = self._db.tables.sessions
        self._db.run(
            t.update().where(t.c.id == session_id).values(ended_utc=utc_now(), status=status)
        )

    def set_recording(
        self, session_id: int, raw_dir: str, *, protocol: str, meta: Mapping[str, Any]
    ) -> None:
        """Register the raw-data directory (relative to the store directory) of a session."""
        t = self._db.tables.recordings
        with self._db.begin() as con:
            con.execute(t.delete().where(t.c.session_id == session_id))
            con.execute(
                t.insert().values(
                    session_id=session_id,
                    raw_dir=str(raw_dir),
                    protocol=protocol,
                    meta_json=dumps(meta),
                )
            )

    def add_phase(self, session_id: int, name: str, t_start_s: float, t_end_s: float) -> None:
        """Record one protocol phase and its session-clock span."""
        self._db.run(
            self._db.tables.phases.insert().values(
                session_id=session_id,
                name=name,
                t_start_s=float(t_start_s),
                t_end_s=None if t_end_s is None else float(t_end_s),
            )
        )

    def add_feature_windows(
        self,
        session_id: int,
        phase: str,
        rows: Iterable[tuple[float, Mapping[str, float | None], bool, Iterable[str]]],
    ) -> int:
        """Append feature windows ``(t_end_s, values, usable, flags)``; return how many."""
        data = [
            {
                "session_id": session_id,
                "phase": phase,
                "t_end_s": float(t),
                "values_json": dumps(vals),
                "usable": int(bool(ok)),
                "flags_json": dumps(list(flags)),
            }
            for t, vals, ok, flags in rows
        ]
        if data:
            self._db.run(self._db.tables.feature_windows.insert(), data)
        return len(data)

    def set_session_features(
        self, session_id: int, values: Mapping[str, float | None], *, usable: bool, quality: Any
    ) -> None:
        """Store the session-level (scored) feature values and their quality report."""
        q = asdict(quality) if hasattr(quality, "__dataclass_fields__") else quality
        self._db.replace(
            self._db.tables.session_features,
            session_id,
            values_json=dumps(values),
            usable=int(usable),
            quality_json=dumps(q),
        )

    def set_index_result(self, session_id: int, result: IndexResult) -> None:
        """Store the index result of a session; a model id/version different from the one that
        scored the store's previous session is logged as ``model_change``."""
        from sqlalchemy import select

        ir = self._db.tables.index_results
        prev = self._db.rows(
            select(ir.c.model_id, ir.c.model_version)
            .where(ir.c.session_id != session_id)
            .order_by(ir.c.session_id.desc())
            .limit(1)
        )
        new = (str(result.model_id), str(result.model_version))
        if prev and tuple(map(str, prev[0])) != new:
            self._log(
                "model_change",
                session=session_id,
                detail={"from": f"{prev[0][0]} {prev[0][1]}", "to": f"{new[0]} {new[1]}"},
            )
        self._db.replace(
            ir,
            session_id,
            idx=result.index,
            band=result.band,
            z=result.z,
            confidence=result.confidence,
            baseline=result.baseline,
            model_id=result.model_id,
            model_version=result.model_version,
            result_json=dumps(asdict(result)),
        )

    def set_prescription(self, session_id: int, rx: Prescription) -> None:
        """Store the prescription of a session."""
        self._db.replace(
            self._db.tables.prescriptions,
            session_id,
            rule_id=rx.rule_id,
            state=rx.state,
            activity=rx.activity,
            json=dumps(asdict(rx)),
        )

    def add_event(self, session_id: int, t_s: float, kind: str, detail: Mapping[str, Any]) -> None:
        """Record a timestamped event (gap, signal loss, staff mark, recovery)."""
        self._db.run(
            self._db.tables.events.insert().values(
                session_id=session_id, t_s=float(t_s), kind=kind, detail_json=dumps(detail)
            )
        )

    def set_research_result(self, session_id: int, t_s: float, block: Mapping[str, Any]) -> None:
        """Store a session's research-classifier output (replacing an earlier one).

        Kept as an event of kind ``research_probability``, never in the index tables, so it
        cannot be mistaken for or fused into the index (EVIDENCE.md §7(ii) step 6); erased with
        the session like every event.
        """
        from addictidx.models.research import RESEARCH_EVENT_KIND

        ev = self._db.tables.events
        with self._db.begin() as con:
            con.execute(
                ev.delete().where(
                    (ev.c.session_id == session_id) & (ev.c.kind == RESEARCH_EVENT_KIND)
                )
            )
            con.execute(
                ev.insert().values(
                    session_id=session_id,
                    t_s=float(t_s),
                    kind=RESEARCH_EVENT_KIND,
                    detail_json=dumps(block),
                )
            )

    def add_safety_event(
        self, session_id: int, t_s: float, kind: str, detail: Mapping[str, Any]
    ) -> None:
        """Record a safety event (HR ceiling, stop, irregular beats) of a session; stops are
        also appended to the audit log (``safety_stop``, with the rule that fired)."""
        self._db.run(
            self._db.tables.safety_events.insert().values(
                session_id=session_id, t_s=float(t_s), kind=kind, detail_json=dumps(detail)
            )
        )
        if kind in SAFETY_STOP_KINDS:
            rule = detail.get("rule") if isinstance(detail, Mapping) else None
            self._log(
                "safety_stop",
                session=session_id,
                detail={
                    "kind": kind,
                    "rule": None if rule is None else str(rule),
                    "t_s": round(float(t_s), 1),
                },
            )
