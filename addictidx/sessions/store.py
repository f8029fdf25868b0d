"""SQLite session store: pseudonymous subjects, sessions, feature windows, index results, prescriptions.

One store per site, one SQLite file (``addictidx.sqlite``) in the store directory, opened in WAL
mode so a crash loses at most the last uncommitted transaction. The schema is versioned with
``PRAGMA user_version`` and migrated forward on open.

Privacy: subjects are pseudonymous codes only (see :func:`check_subject_code`); the store has no
column for names, birth dates, phone or ID numbers, or free text about a person.
"""

from __future__ import annotations

import json
import math
import re
import sqlite3
import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

from addictidx._core.errors import StoreError
from addictidx._core.types import IndexResult, Prescription

__all__ = ["SessionStore", "check_subject_code", "STORE_FILENAME", "SCHEMA_VERSION"]

STORE_FILENAME = "addictidx.sqlite"

_CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{2,31}$")

# Each entry migrates the schema from version i to i + 1.
_MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE subjects (
        code        TEXT PRIMARY KEY,
        created_utc TEXT NOT NULL
    );
    CREATE TABLE sessions (
        id            INTEGER PRIMARY KEY AUTOINCREMENT,
        subject_code  TEXT NOT NULL REFERENCES subjects(code),
        started_utc   TEXT NOT NULL,
        ended_utc     TEXT,
        status        TEXT NOT NULL CHECK (status IN ('running', 'complete', 'aborted')),
        simulated     INTEGER NOT NULL,
        devices_json  TEXT NOT NULL,
        software      TEXT NOT NULL
    );
    CREATE TABLE phases (
        session_id INTEGER NOT NULL REFERENCES sessions(id),
        name       TEXT NOT NULL,
        t_start_s  REAL NOT NULL,
        t_end_s    REAL
    );
    CREATE TABLE feature_windows (
        session_id  INTEGER NOT NULL REFERENCES sessions(id),
        phase       TEXT NOT NULL,
        t_end_s     REAL NOT NULL,
        values_json TEXT NOT NULL,
        usable      INTEGER NOT NULL,
        flags_json  TEXT NOT NULL
    );
    CREATE TABLE session_features (
        session_id  INTEGER PRIMARY KEY REFERENCES sessions(id),
        values_json TEXT NOT NULL,
        usable      INTEGER NOT NULL,
        quality_json TEXT NOT NULL
    );
    CREATE TABLE index_results (
        session_id  INTEGER PRIMARY KEY REFERENCES sessions(id),
        idx         REAL,
        band        TEXT,
        z           REAL,
        confidence  REAL NOT NULL,
        baseline    TEXT NOT NULL,
        model_id    TEXT NOT NULL,
        model_version TEXT NOT NULL,
        result_json TEXT NOT NULL
    );
    CREATE TABLE prescriptions (
        session_id  INTEGER PRIMARY KEY REFERENCES sessions(id),
        rule_id     TEXT NOT NULL,
        state       TEXT NOT NULL,
        activity    TEXT NOT NULL,
        json        TEXT NOT NULL
    );
    CREATE TABLE events (
        session_id INTEGER NOT NULL REFERENCES sessions(id),
        t_s        REAL NOT NULL,
        kind       TEXT NOT NULL,
        detail_json TEXT NOT NULL
    );
    CREATE INDEX idx_sessions_subject ON sessions(subject_code);
    CREATE INDEX idx_fw_session ON feature_windows(session_id);
    CREATE INDEX idx_events_session ON events(session_id);
    """,
)

SCHEMA_VERSION = len(_MIGRATIONS)


def check_subject_code(code: str) -> str:
    """Validate a pseudonymous subject code and return it.

    A code is 3-32 characters of letters, digits, ``-`` or ``_``, starts with a letter or digit
    and contains at least one digit (``P001``, ``SITE2-0042``). The digit rule keeps people from
    typing a name where a code belongs; the store never holds names or other identifiers.

    Raises
    ------
    ValueError
        If the code does not follow these rules.
    """
    if not isinstance(code, str) or not _CODE_RE.match(code) or not any(c.isdigit() for c in code):
        raise ValueError(
            f"Invalid subject code {code!r}: use a pseudonymous code of 3-32 letters, digits, '-' "
            "or '_' that contains at least one digit (e.g. 'P001'); never a name or ID number."
        )
    return code


def _utc_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "item"):
        return obj.item()
    if isinstance(obj, (set, frozenset, tuple)):
        return list(obj)
    if isinstance(obj, Mapping):
        return dict(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def _clean(obj: Any) -> Any:
    """Replace non-finite floats by None so the JSON stays standard."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, Mapping):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    return obj


def dumps(obj: Any) -> str:
    """Serialise to standard JSON (NaN -> null)."""
    return json.dumps(_clean(obj), default=_json_default, sort_keys=True)


class SessionStore:
    """A site's session store: one SQLite file in ``directory``.

    Parameters
    ----------
    directory : path-like
        Store directory; created if missing.

    Notes
    -----
    Use as a context manager or call :meth:`close`. Every write is its own transaction.
    """

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"Cannot create store directory {self.directory}: {exc}") from exc
        self.path = self.directory / STORE_FILENAME
        try:
            self._con = sqlite3.connect(self.path, isolation_level=None)
            self._con.execute("PRAGMA journal_mode=WAL")
            self._con.execute("PRAGMA foreign_keys=ON")
            self._con.execute("PRAGMA secure_delete=ON")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"Cannot open session store {self.path}: {exc}") from exc

    # -- lifecycle ---------------------------------------------------------------------------
    def _migrate(self) -> None:
        (version,) = self._con.execute("PRAGMA user_version").fetchone()
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"Store {self.path} has schema version {version}, newer than this addictidx "
                f"({SCHEMA_VERSION}); upgrade addictidx."
            )
        for v in range(version, SCHEMA_VERSION):
            # One transaction per step: the schema change and the version bump land together.
            self._con.executescript(
                f"BEGIN;\n{_MIGRATIONS[v]}\nPRAGMA user_version={v + 1};\nCOMMIT;"
            )

    def close(self) -> None:
        """Close the database connection."""
        self._con.close()

    def __enter__(self) -> SessionStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _write(self, sql: str, params: Iterable[Any] = ()) -> sqlite3.Cursor:
        with self._con:
            return self._con.execute(sql, tuple(params))

    # -- subjects and sessions ------------------------------------------------------------
    def ensure_subject(self, code: str) -> str:
        """Register a pseudonymous subject code if new; return it."""
        check_subject_code(code)
        self._write(
            "INSERT OR IGNORE INTO subjects(code, created_utc) VALUES (?, ?)", (code, _utc_now())
        )
        return code

    def start_session(
        self, subject_code: str, *, devices: Mapping[str, str], simulated: bool, software: str
    ) -> int:
        """Create a running session and return its id."""
        self.ensure_subject(subject_code)
        cur = self._write(
            "INSERT INTO sessions(subject_code, started_utc, status, simulated, devices_json, "
            "software) VALUES (?, ?, 'running', ?, ?, ?)",
            (subject_code, _utc_now(), int(simulated), dumps(devices), software),
        )
        return int(cur.lastrowid)

    def end_session(self, session_id: int, *, status: str = "complete") -> None:
        """Mark a session complete (or aborted)."""
        self._write(
            "UPDATE sessions SET ended_utc=?, status=? WHERE id=?", (_utc_now(), status, session_id)
        )

    def add_phase(self, session_id: int, name: str, t_start_s: float, t_end_s: float) -> None:
        """Record one protocol phase and its session-clock span."""
        self._write(
            "INSERT INTO phases(session_id, name, t_start_s, t_end_s) VALUES (?, ?, ?, ?)",
            (session_id, name, t_start_s, t_end_s),
        )

    def add_feature_windows(
        self,
        session_id: int,
        phase: str,
        rows: Iterable[tuple[float, Mapping[str, float | None], bool, Iterable[str]]],
    ) -> int:
        """Append feature windows ``(t_end_s, values, usable, flags)``; return how many."""
        data = [
            (session_id, phase, float(t), dumps(vals), int(bool(ok)), dumps(list(flags)))
            for t, vals, ok, flags in rows
        ]
        with self._con:
            self._con.executemany(
                "INSERT INTO feature_windows(session_id, phase, t_end_s, values_json, usable, "
                "flags_json) VALUES (?, ?, ?, ?, ?, ?)",
                data,
            )
        return len(data)

    def set_session_features(
        self, session_id: int, values: Mapping[str, float | None], *, usable: bool, quality: Any
    ) -> None:
        """Store the session-level (scored) feature values and their quality report."""
        q = asdict(quality) if hasattr(quality, "__dataclass_fields__") else quality
        self._write(
            "INSERT OR REPLACE INTO session_features(session_id, values_json, usable, quality_json)"
            " VALUES (?, ?, ?, ?)",
            (session_id, dumps(values), int(usable), dumps(q)),
        )

    def set_index_result(self, session_id: int, result: IndexResult) -> None:
        """Store the index result of a session."""
        payload = asdict(result)
        self._write(
            "INSERT OR REPLACE INTO index_results(session_id, idx, band, z, confidence, baseline, "
            "model_id, model_version, result_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                session_id,
                result.index,
                result.band,
                result.z,
                result.confidence,
                result.baseline,
                result.model_id,
                result.model_version,
                dumps(payload),
            ),
        )

    def set_prescription(self, session_id: int, rx: Prescription) -> None:
        """Store the prescription of a session."""
        self._write(
            "INSERT OR REPLACE INTO prescriptions(session_id, rule_id, state, activity, json) "
            "VALUES (?, ?, ?, ?, ?)",
            (session_id, rx.rule_id, rx.state, rx.activity, dumps(asdict(rx))),
        )

    def add_event(self, session_id: int, t_s: float, kind: str, detail: Mapping[str, Any]) -> None:
        """Record a timestamped event (gap, signal loss, safety stop, staff mark)."""
        self._write(
            "INSERT INTO events(session_id, t_s, kind, detail_json) VALUES (?, ?, ?, ?)",
            (session_id, float(t_s), kind, dumps(detail)),
        )

    # -- queries ---------------------------------------------------------------------------
    def prior_session_features(
        self, subject_code: str, *, before_session: int | None = None
    ) -> list[dict[str, float | None]]:
        """Usable session-level features of a subject's complete sessions, oldest first."""
        sql = (
            "SELECT f.values_json FROM session_features f JOIN sessions s ON s.id = f.session_id "
            "WHERE s.subject_code=? AND s.status='complete' AND f.usable=1"
        )
        params: list[Any] = [subject_code]
        if before_session is not None:
            sql += " AND s.id < ?"
            params.append(before_session)
        sql += " ORDER BY s.id"
        return [json.loads(r[0]) for r in self._con.execute(sql, params)]

    def list_sessions(self, subject_code: str | None = None) -> list[dict[str, Any]]:
        """Sessions with their index and band, newest last."""
        sql = (
            "SELECT s.id, s.subject_code, s.started_utc, s.ended_utc, s.status, s.simulated, "
            "i.idx, i.band, i.confidence, i.baseline FROM sessions s "
            "LEFT JOIN index_results i ON i.session_id = s.id"
        )
        params: list[Any] = []
        if subject_code is not None:
            sql += " WHERE s.subject_code=?"
            params.append(subject_code)
        sql += " ORDER BY s.id"
        keys = (
            "id", "subject", "started_utc", "ended_utc", "status", "simulated",
            "index", "band", "confidence", "baseline",
        )
        return [dict(zip(keys, row)) for row in self._con.execute(sql, params)]

    def session_detail(self, session_id: int) -> dict[str, Any]:
        """Everything stored about one session, as plain JSON-ready data."""
        row = self._con.execute(
            "SELECT id, subject_code, started_utc, ended_utc, status, simulated, devices_json, "
            "software FROM sessions WHERE id=?",
            (session_id,),
        ).fetchone()
        if row is None:
            raise StoreError(f"No session with id {session_id} in {self.path}.")
        out: dict[str, Any] = dict(
            zip(
                ("id", "subject", "started_utc", "ended_utc", "status", "simulated"),
                row[:6],
            )
        )
        out["devices"] = json.loads(row[6])
        out["software"] = row[7]
        out["phases"] = [
            {"name": n, "t_start_s": a, "t_end_s": b}
            for n, a, b in self._con.execute(
                "SELECT name, t_start_s, t_end_s FROM phases WHERE session_id=? ORDER BY rowid",
                (session_id,),
            )
        ]
        out["n_feature_windows"] = self._con.execute(
            "SELECT COUNT(*) FROM feature_windows WHERE session_id=?", (session_id,)
        ).fetchone()[0]
        f = self._con.execute(
            "SELECT values_json, usable, quality_json FROM session_features WHERE session_id=?",
            (session_id,),
        ).fetchone()
        out["features"] = None if f is None else json.loads(f[0])
        out["features_usable"] = None if f is None else bool(f[1])
        out["quality"] = None if f is None else json.loads(f[2])
        r = self._con.execute(
            "SELECT result_json FROM index_results WHERE session_id=?", (session_id,)
        ).fetchone()
        out["index_result"] = None if r is None else json.loads(r[0])
        p = self._con.execute(
            "SELECT json FROM prescriptions WHERE session_id=?", (session_id,)
        ).fetchone()
        out["prescription"] = None if p is None else json.loads(p[0])
        out["events"] = [
            {"t_s": t, "kind": k, "detail": json.loads(d)}
            for t, k, d in self._con.execute(
                "SELECT t_s, kind, detail_json FROM events WHERE session_id=? ORDER BY t_s",
                (session_id,),
            )
        ]
        return out
