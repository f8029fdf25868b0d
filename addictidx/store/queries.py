"""Reading sessions back: lists, details, trends, the baseline history and recordings."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from addictidx._core.errors import StoreError

__all__ = ["SessionQueries"]


class SessionQueries:
    """Read-only queries over a store's sessions.

    Parameters
    ----------
    db : Database
    directory : Path
        The store directory (recordings are stored relative to it).
    subjects : Subjects
        Translates codes to the database's subject ids and back.
    """

    def __init__(self, db, directory: Path, subjects) -> None:
        self._db = db
        self._directory = Path(directory)
        self._subjects = subjects

    def recording(self, session_id: int) -> dict[str, Any] | None:
        """``{"raw_dir": absolute Path, "protocol", "meta"}`` of a session, or None."""
        from sqlalchemy import select

        t = self._db.tables.recordings
        rows = self._db.rows(
            select(t.c.raw_dir, t.c.protocol, t.c.meta_json).where(t.c.session_id == session_id)
        )
        if not rows:
            return None
        raw, proto, meta = rows[0]
        return {"raw_dir": self._directory / raw, "protocol": proto, "meta": json.loads(meta)}

    def research_result(self, session_id: int) -> dict[str, Any] | None:
        """The session's research-classifier output, or None when it was not enabled."""
        from sqlalchemy import select

        from addictidx.models.research import RESEARCH_EVENT_KIND

        ev = self._db.tables.events
        rows = self._db.rows(
            select(ev.c.detail_json).where(
                (ev.c.session_id == session_id) & (ev.c.kind == RESEARCH_EVENT_KIND)
            )
        )
        return json.loads(rows[-1][0]) if rows else None

    def prior_session_features(
        self, subject_code: str, *, before_session: int | None = None
    ) -> list[dict[str, float | None]]:
        """Usable session-level features of a subject's complete sessions, oldest first."""
        sid = self._subjects.id_of(subject_code)
        if sid is None:
            return []
        from sqlalchemy import select

        f, s = self._db.tables.session_features, self._db.tables.sessions
        q = (
            select(f.c.values_json)
            .join(s, s.c.id == f.c.session_id)
            .where(s.c.subject_code == sid, s.c.status == "complete", f.c.usable == 1)
        )
        if before_session is not None:
            q = q.where(s.c.id < before_session)
        return [json.loads(r[0]) for r in self._db.rows(q.order_by(s.c.id))]

    def prior_emg_indicators(
        self, subject_code: str, *, before_session: int | None = None
    ) -> list[float]:
        """Stored session EMG indicators (``quality_json["emg_gate"]["indicator"]``) of a
        subject's complete, usable sessions, oldest first; sessions without one (no EEG, or
        stored before the EMG gate existed) are skipped."""
        sid = self._subjects.id_of(subject_code)
        if sid is None:
            return []
        from sqlalchemy import select

        f, s = self._db.tables.session_features, self._db.tables.sessions
        q = (
            select(f.c.quality_json)
            .join(s, s.c.id == f.c.session_id)
            .where(s.c.subject_code == sid, s.c.status == "complete", f.c.usable == 1)
        )
        if before_session is not None:
            q = q.where(s.c.id < before_session)
        out = []
        for (qj,) in self._db.rows(q.order_by(s.c.id)):
            gate = (json.loads(qj) or {}).get("emg_gate") if qj else None
            v = gate.get("indicator") if isinstance(gate, dict) else None
            if isinstance(v, (int, float)) and math.isfinite(v):
                out.append(float(v))
        return out

    def session_quality(self, session_id: int) -> dict[str, Any] | None:
        """The stored quality JSON of a session's scored features (None before scoring)."""
        from sqlalchemy import select

        f = self._db.tables.session_features
        rows = self._db.rows(select(f.c.quality_json).where(f.c.session_id == session_id))
        return json.loads(rows[0][0]) if rows and rows[0][0] else None

    def list_sessions(self, subject_code: str | None = None) -> list[dict[str, Any]]:
        """Sessions with their index and band, newest last."""
        from sqlalchemy import select

        s, i = self._db.tables.sessions, self._db.tables.index_results
        q = select(
            s.c.id,
            s.c.subject_code,
            s.c.started_utc,
            s.c.ended_utc,
            s.c.status,
            s.c.simulated,
            i.c.idx,
            i.c.band,
            i.c.confidence,
            i.c.baseline,
        ).select_from(s.outerjoin(i, i.c.session_id == s.c.id))
        if subject_code is not None:
            sid = self._subjects.id_of(subject_code)
            if sid is None:
                return []
            q = q.where(s.c.subject_code == sid)
        keys = (
            "id",
            "subject",
            "started_utc",
            "ended_utc",
            "status",
            "simulated",
            "index",
            "band",
            "confidence",
            "baseline",
        )
        out = [dict(zip(keys, row)) for row in self._db.rows(q.order_by(s.c.id))]
        for r in out:
            r["subject"] = self._subjects.code_of(r["subject"])
        return out

    def running_sessions(self) -> list[int]:
        """Ids of sessions still marked running (live, or interrupted by a crash)."""
        from sqlalchemy import select

        s = self._db.tables.sessions
        return [
            r[0]
            for r in self._db.rows(select(s.c.id).where(s.c.status == "running").order_by(s.c.id))
        ]

    def subject_trend(self, subject_code: str) -> list[dict[str, Any]]:
        """Complete sessions of a subject with index, Z, band and core features, oldest first."""
        sid = self._subjects.id_of(subject_code)
        if sid is None:
            return []
        from sqlalchemy import select

        s, i, f = (
            self._db.tables.sessions,
            self._db.tables.index_results,
            self._db.tables.session_features,
        )
        q = (
            select(
                s.c.id,
                s.c.started_utc,
                i.c.idx,
                i.c.z,
                i.c.band,
                i.c.baseline,
                f.c.values_json,
                f.c.usable,
            )
            .select_from(
                s.outerjoin(i, i.c.session_id == s.c.id).outerjoin(f, f.c.session_id == s.c.id)
            )
            .where(s.c.subject_code == sid, s.c.status == "complete")
            .order_by(s.c.id)
        )
        out = []
        for sid, started, idx, z, band, base, vals, usable in self._db.rows(q):
            out.append(
                {
                    "id": sid,
                    "started_utc": started,
                    "index": idx,
                    "z": z,
                    "band": band,
                    "baseline": base,
                    "features": json.loads(vals) if vals else {},
                    "usable": bool(usable),
                }
            )
        return out

    def feature_windows(self, session_id: int) -> list[dict[str, Any]]:
        """The trend windows of a session, in time order."""
        from sqlalchemy import select

        t = self._db.tables.feature_windows
        rows = self._db.rows(
            select(t.c.phase, t.c.t_end_s, t.c.values_json, t.c.usable, t.c.flags_json)
            .where(t.c.session_id == session_id)
            .order_by(t.c.t_end_s)
        )
        return [
            {
                "phase": p,
                "t_end_s": te,
                "values": json.loads(v),
                "usable": bool(u),
                "flags": json.loads(fl),
            }
            for p, te, v, u, fl in rows
        ]

    def session_detail(self, session_id: int) -> dict[str, Any]:
        """Everything stored about one session, as plain JSON-ready data."""
        from sqlalchemy import func, select

        t = self._db.tables
        s = t.sessions
        rows = self._db.rows(
            select(
                s.c.id,
                s.c.subject_code,
                s.c.started_utc,
                s.c.ended_utc,
                s.c.status,
                s.c.simulated,
                s.c.devices_json,
                s.c.software,
            ).where(s.c.id == session_id)
        )
        if not rows:
            raise StoreError(f"No session with id {session_id} in this store ({self._directory}).")
        row = rows[0]
        out: dict[str, Any] = dict(
            zip(("id", "subject", "started_utc", "ended_utc", "status", "simulated"), row[:6])
        )
        out["subject"] = self._subjects.code_of(out["subject"])
        out["devices"] = json.loads(row[6])
        out["software"] = row[7]
        with self._db.connect() as con:
            p = t.phases
            out["phases"] = [
                {"name": n, "t_start_s": a, "t_end_s": b}
                for n, a, b in con.execute(
                    select(p.c.name, p.c.t_start_s, p.c.t_end_s)
                    .where(p.c.session_id == session_id)
                    .order_by(p.c.t_start_s)
                )
            ]
            fw = t.feature_windows
            out["n_feature_windows"] = con.execute(
                select(func.count()).select_from(fw).where(fw.c.session_id == session_id)
            ).scalar()
            sf = t.session_features
            f = con.execute(
                select(sf.c.values_json, sf.c.usable, sf.c.quality_json).where(
                    sf.c.session_id == session_id
                )
            ).first()
            out["features"] = None if f is None else json.loads(f[0])
            out["features_usable"] = None if f is None else bool(f[1])
            out["quality"] = None if f is None else json.loads(f[2])
            ir = t.index_results
            r = con.execute(select(ir.c.result_json).where(ir.c.session_id == session_id)).first()
            out["index_result"] = None if r is None else json.loads(r[0])
            pr = t.prescriptions
            r = con.execute(select(pr.c.json).where(pr.c.session_id == session_id)).first()
            out["prescription"] = None if r is None else json.loads(r[0])
            for key, tab in (("events", t.events), ("safety_events", t.safety_events)):
                out[key] = [
                    {"t_s": ts, "kind": k, "detail": json.loads(d)}
                    for ts, k, d in con.execute(
                        select(tab.c.t_s, tab.c.kind, tab.c.detail_json)
                        .where(tab.c.session_id == session_id)
                        .order_by(tab.c.t_s)
                    )
                ]
        rec = self.recording(session_id)
        out["recording"] = (
            None
            if rec is None
            else {
                "raw_dir": str(rec["raw_dir"]),
                "protocol": rec["protocol"],
                "meta": rec["meta"],
            }
        )
        return out
