"""The session store: pseudonymous subjects, consent records, sessions, phases, feature windows,
index results, prescriptions, events and safety events.

One store per site. By default it is one SQLite file (``addictidx.sqlite``) in the store
directory, opened in WAL mode so a crash loses at most the last uncommitted transaction; a site
can instead point ``url`` (or the ``ADDICTIDX_DB_URL`` environment variable) at a PostgreSQL
database (``postgresql+psycopg://user@host/db``). All SQL goes through SQLAlchemy Core, so the same
code runs on both. The schema is versioned (:mod:`addictidx.sessions.schema`) and migrated forward
on open, one transaction per step. Raw recordings always live in the store directory
(``raw/session-<id>/``).

Privacy: subjects are pseudonymous codes only (see :func:`check_subject_code`); the store has no
column for names, birth dates, phone or ID numbers, or free text about a person. Nothing here
logs a subject code. ``secure_delete`` is on for SQLite, so erased rows are overwritten;
:meth:`SessionStore.erase_subject` also removes the subject's raw and derived files, vacuums the
database and empties the WAL, so the code is left in no byte of the store.

Trust: files other than the database and ``audit.jsonl`` are encrypted with the site key
(:mod:`addictidx.sessions.crypto`); views, exports, erasures, consent changes, model changes and
safety stops are appended to the hash-chained audit log (:mod:`addictidx.sessions.audit`), which
names subjects only by keyed hash. Consent is recorded per scope (:data:`CONSENT_SCOPES`) with
the date it was signed and an optional expiry.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import re
import secrets
import shutil
import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

from addictidx._core.errors import StoreError
from addictidx._core.types import IndexResult, Prescription
from addictidx.sessions.schema import SCHEMA_VERSION, TABLES_BY_VERSION

__all__ = [
    "SessionStore",
    "check_subject_code",
    "dumps",
    "STORE_FILENAME",
    "SCHEMA_VERSION",
    "DB_URL_ENV",
    "CONSENT_SCOPES",
]

#: Consent scopes: the assessment itself, research use of the pseudonymised data, sharing with
#: another care provider.
CONSENT_SCOPES = ("assessment", "research", "sharing")
#: Safety-event kinds that are stops (logged to the audit trail).
SAFETY_STOP_KINDS = ("stop",)

STORE_FILENAME = "addictidx.sqlite"
#: Environment variable holding a database URL that replaces the default SQLite file.
DB_URL_ENV = "ADDICTIDX_DB_URL"

_CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{2,31}$")


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
    if hasattr(obj, "item") and not isinstance(obj, (str, bytes)):
        try:
            return _clean(obj.item())
        except (TypeError, ValueError):
            return obj
    if isinstance(obj, Mapping):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    return obj


def dumps(obj: Any) -> str:
    """Serialise to standard JSON (NaN -> null)."""
    return json.dumps(_clean(obj), default=_json_default, sort_keys=True)


def _sqlite_engine(path: Path):
    from sqlalchemy import create_engine, event

    engine = create_engine(f"sqlite:///{path}", future=True)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_con, _record):  # pragma: no cover - exercised by every test
        # Let SQLAlchemy (not the sqlite3 module) emit BEGIN, so DDL is transactional too.
        dbapi_con.isolation_level = None
        cur = dbapi_con.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA secure_delete=ON")
        # WAL + NORMAL: a crash of the program loses nothing committed; a power cut at most the
        # last transactions.
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA busy_timeout=10000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):  # pragma: no cover
        conn.exec_driver_sql("BEGIN")

    return engine


class SessionStore:
    """A site's session store.

    Parameters
    ----------
    directory : path-like
        Store directory, created if missing. Holds the SQLite file (unless ``url`` is given) and
        the raw recordings.
    url : str | None
        SQLAlchemy database URL that replaces the SQLite file, e.g.
        ``postgresql+psycopg://addictidx@dbhost/site1``. Default: the ``ADDICTIDX_DB_URL``
        environment variable when set, else ``<directory>/addictidx.sqlite``.

    Notes
    -----
    Use as a context manager or call :meth:`close`. Every write is its own transaction.
    """

    def __init__(self, directory: str | Path, *, url: str | None = None) -> None:
        from sqlalchemy import create_engine
        from sqlalchemy.exc import SQLAlchemyError

        self.directory = Path(directory)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"Cannot create store directory {self.directory}: {exc}") from exc
        url = url if url is not None else os.environ.get(DB_URL_ENV) or None
        self.path = self.directory / STORE_FILENAME
        self.url = url or f"sqlite:///{self.path}"
        where = self.path if url is None else _redact(url)
        try:
            if url is None:
                self._engine = _sqlite_engine(self.path)
            else:
                self._engine = create_engine(url, future=True, pool_pre_ping=True)
            self.dialect = self._engine.dialect.name
            self._migrate()
            if url is None:
                _owner_only(self.path)
        except SQLAlchemyError as exc:
            raise StoreError(f"Cannot open session store {where}: {_first_line(exc)}") from None
        except ModuleNotFoundError as exc:
            raise StoreError(
                f"Cannot open session store {where}: database driver {exc.name!r} is not "
                "installed (for PostgreSQL: pip install 'psycopg[binary]')."
            ) from None
        from addictidx.sessions import schema

        self._t = schema
        self._ring = None
        self._audit = None

    # -- keys and audit ----------------------------------------------------------------------
    @property
    def keyring(self):
        """The site key ring (created on first use, see :mod:`addictidx.sessions.crypto`)."""
        if self._ring is None:
            from addictidx.sessions.crypto import load_keyring

            self._ring = load_keyring(self.directory)
        return self._ring

    @property
    def audit(self):
        """The store's :class:`~addictidx.sessions.audit.AuditLog`."""
        if self._audit is None:
            from addictidx.sessions.audit import AuditLog

            self._audit = AuditLog(self.directory, self.keyring)
        return self._audit

    def _salt(self, code: str, *, create: bool) -> str:
        from sqlalchemy import select

        t = self._t.subject_salts
        with self._engine.begin() as con:
            row = con.execute(select(t.c.salt).where(t.c.subject_code == code)).first()
            if row is not None:
                return row[0]
            if (
                not create
                or con.execute(
                    select(self._t.subjects.c.code).where(self._t.subjects.c.code == code)
                ).first()
                is None
            ):
                return ""
            salt = secrets.token_hex(16)
            con.execute(t.insert().values(subject_code=code, salt=salt))
            return salt

    def subject_hash(self, code: str, *, purpose: str = "audit") -> str:
        """Keyed hash of a subject code (audit log: ``purpose="audit"``; research exports:
        ``"research"``). Stable while the subject exists; unlinkable once they are erased."""
        from addictidx.sessions.crypto import subject_hash

        return subject_hash(self.keyring, code, self._salt(code, create=True), purpose)

    def _session_subject(self, session_id: int) -> str | None:
        from sqlalchemy import select

        s = self._t.sessions
        rows = self._rows(select(s.c.subject_code).where(s.c.id == session_id))
        return rows[0][0] if rows else None

    def audit_event(
        self,
        action: str,
        *,
        subject: str | None = None,
        session: int | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Append an action to the audit log; ``subject`` is a code, logged as its keyed hash
        (looked up from ``session`` when not given)."""
        if subject is None and session is not None:
            subject = self._session_subject(session)
        h = None if subject is None else self.subject_hash(subject)
        return self.audit.append(action, subject=h, session=session, detail=detail)

    # -- lifecycle ---------------------------------------------------------------------------
    def _get_version(self, con) -> int:
        from sqlalchemy import text

        if self.dialect == "sqlite":
            return int(con.exec_driver_sql("PRAGMA user_version").scalar())
        con.exec_driver_sql(
            "CREATE TABLE IF NOT EXISTS addictidx_schema (version INTEGER NOT NULL)"
        )
        v = con.execute(text("SELECT MAX(version) FROM addictidx_schema")).scalar()
        return int(v or 0)

    def _set_version(self, con, version: int) -> None:
        from sqlalchemy import text

        if self.dialect == "sqlite":
            con.exec_driver_sql(f"PRAGMA user_version={int(version)}")
        else:
            con.execute(text("DELETE FROM addictidx_schema"))
            con.execute(text("INSERT INTO addictidx_schema(version) VALUES (:v)"), {"v": version})

    def _migrate(self) -> None:
        with self._engine.begin() as con:
            version = self._get_version(con)
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"Store {self.path if self.dialect == 'sqlite' else _redact(self.url)} has schema "
                f"version {version}, newer than this addictidx ({SCHEMA_VERSION}); upgrade addictidx."
            )
        for v in range(version, SCHEMA_VERSION):
            tables, _indexes = TABLES_BY_VERSION[v]
            # One transaction per step: the schema change and the version bump land together.
            # (Table.create also creates the table's indexes.)
            with self._engine.begin() as con:
                for t in tables:
                    t.create(con)
                self._set_version(con, v + 1)

    def close(self) -> None:
        """Release the database connections."""
        self._engine.dispose()

    def __enter__(self) -> SessionStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self, stmt, params: Any = None):
        with self._engine.begin() as con:
            return con.execute(stmt, params) if params is not None else con.execute(stmt)

    def _rows(self, stmt) -> list:
        with self._engine.connect() as con:
            return list(con.execute(stmt))

    # -- subjects, consent and sessions ---------------------------------------------------------
    def ensure_subject(self, code: str) -> str:
        """Register a pseudonymous subject code if new; return it."""
        from sqlalchemy import select

        check_subject_code(code)
        t = self._t.subjects
        with self._engine.begin() as con:
            if con.execute(select(t.c.code).where(t.c.code == code)).first() is None:
                con.execute(t.insert().values(code=code, created_utc=_utc_now()))
        return code

    def add_consent(
        self,
        code: str,
        *,
        scope: str = "assessment",
        status: str = "given",
        document_version: str = "1",
        signed_on: str | _dt.date | None = None,
        expires_on: str | _dt.date | None = None,
    ) -> None:
        """Record that a subject gave (or withdrew) consent for ``scope``.

        Parameters
        ----------
        code : str
            Pseudonymous subject code.
        scope : {"assessment", "research", "sharing"}
            What the consent covers.
        status : {"given", "withdrawn"}
        document_version : str
            Version of the consent form.
        signed_on : date | str | None
            Date the form was signed (or consent withdrawn); default today (UTC).
        expires_on : date | str | None
            Last day the consent holds (None: until withdrawn).
        """
        from addictidx.sessions.consent import parse_date

        if status not in ("given", "withdrawn"):
            raise ValueError(f"consent status must be 'given' or 'withdrawn', got {status!r}.")
        if scope not in CONSENT_SCOPES:
            raise ValueError(f"consent scope must be one of {CONSENT_SCOPES}, got {scope!r}.")
        signed = parse_date(signed_on, "signed_on") or _dt.datetime.now(_dt.timezone.utc).date()
        expires = parse_date(expires_on, "expires_on")
        if expires is not None and expires < signed:
            raise ValueError(f"expires_on {expires} is before signed_on {signed}.")
        self.ensure_subject(code)
        with self._engine.begin() as con:
            res = con.execute(
                self._t.consents.insert().values(
                    subject_code=code,
                    recorded_utc=_utc_now(),
                    scope=str(scope),
                    status=status,
                    document_version=str(document_version),
                )
            )
            con.execute(
                self._t.consent_terms.insert().values(
                    consent_id=int(res.inserted_primary_key[0]),
                    signed_on=signed.isoformat(),
                    expires_on=None if expires is None else expires.isoformat(),
                )
            )
        self.audit_event(
            "consent",
            subject=code,
            detail={"scope": scope, "status": status, "document_version": str(document_version)},
        )

    def consents(self, code: str) -> list[dict[str, Any]]:
        """Consent records of a subject, oldest first (``recorded_utc, scope, status,
        document_version, signed_on, expires_on``)."""
        from sqlalchemy import select

        t, d = self._t.consents, self._t.consent_terms
        rows = self._rows(
            select(
                t.c.recorded_utc,
                t.c.scope,
                t.c.status,
                t.c.document_version,
                d.c.signed_on,
                d.c.expires_on,
            )
            .select_from(t.outerjoin(d, d.c.consent_id == t.c.id))
            .where(t.c.subject_code == code)
            .order_by(t.c.id)
        )
        keys = ("recorded_utc", "scope", "status", "document_version", "signed_on", "expires_on")
        return [dict(zip(keys, r)) for r in rows]

    def consent_in_force(self, code: str, scope: str, on: str | _dt.date | None = None) -> bool:
        """Whether the subject's latest consent for ``scope`` signed on or before ``on`` (default
        today) is ``given`` and not expired (see :func:`addictidx.sessions.consent.in_force`)."""
        from addictidx.sessions.consent import in_force

        return in_force(self.consents(code), scope, on)

    def subjects(self) -> list[str]:
        """Every subject code in the store, sorted."""
        from sqlalchemy import select

        t = self._t.subjects
        return [r[0] for r in self._rows(select(t.c.code).order_by(t.c.code))]

    def consenting_subjects(self, scope: str, on: str | _dt.date | None = None) -> list[str]:
        """Codes of the subjects whose consent for ``scope`` is in force ``on`` (default today)."""
        return [c for c in self.subjects() if self.consent_in_force(c, scope, on)]

    def start_session(
        self, subject_code: str, *, devices: Mapping[str, str], simulated: bool, software: str
    ) -> int:
        """Create a running session and return its id."""
        self.ensure_subject(subject_code)
        res = self._run(
            self._t.sessions.insert().values(
                subject_code=subject_code,
                started_utc=_utc_now(),
                status="running",
                simulated=int(simulated),
                devices_json=dumps(devices),
                software=software,
            )
        )
        return int(res.inserted_primary_key[0])

    def end_session(self, session_id: int, *, status: str = "complete") -> None:
        """Mark a session complete (or aborted)."""
        t = self._t.sessions
        self._run(
            t.update().where(t.c.id == session_id).values(ended_utc=_utc_now(), status=status)
        )

    def set_recording(
        self, session_id: int, raw_dir: str, *, protocol: str, meta: Mapping[str, Any]
    ) -> None:
        """Register the raw-data directory (relative to the store directory) of a session."""
        t = self._t.recordings
        with self._engine.begin() as con:
            con.execute(t.delete().where(t.c.session_id == session_id))
            con.execute(
                t.insert().values(
                    session_id=session_id,
                    raw_dir=str(raw_dir),
                    protocol=protocol,
                    meta_json=dumps(meta),
                )
            )

    def recording(self, session_id: int) -> dict[str, Any] | None:
        """``{"raw_dir": absolute Path, "protocol", "meta"}`` of a session, or None."""
        from sqlalchemy import select

        t = self._t.recordings
        rows = self._rows(
            select(t.c.raw_dir, t.c.protocol, t.c.meta_json).where(t.c.session_id == session_id)
        )
        if not rows:
            return None
        raw, proto, meta = rows[0]
        return {"raw_dir": self.directory / raw, "protocol": proto, "meta": json.loads(meta)}

    def add_phase(self, session_id: int, name: str, t_start_s: float, t_end_s: float) -> None:
        """Record one protocol phase and its session-clock span."""
        self._run(
            self._t.phases.insert().values(
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
            self._run(self._t.feature_windows.insert(), data)
        return len(data)

    def set_session_features(
        self, session_id: int, values: Mapping[str, float | None], *, usable: bool, quality: Any
    ) -> None:
        """Store the session-level (scored) feature values and their quality report."""
        q = asdict(quality) if hasattr(quality, "__dataclass_fields__") else quality
        self._replace(
            self._t.session_features,
            session_id,
            values_json=dumps(values),
            usable=int(usable),
            quality_json=dumps(q),
        )

    def _replace(self, table, session_id: int, **values: Any) -> None:
        with self._engine.begin() as con:
            con.execute(table.delete().where(table.c.session_id == session_id))
            con.execute(table.insert().values(session_id=session_id, **values))

    def set_index_result(self, session_id: int, result: IndexResult) -> None:
        """Store the index result of a session; a model id/version different from the one that
        scored the store's previous session is logged as ``model_change``."""
        from sqlalchemy import select

        ir = self._t.index_results
        prev = self._rows(
            select(ir.c.model_id, ir.c.model_version)
            .where(ir.c.session_id != session_id)
            .order_by(ir.c.session_id.desc())
            .limit(1)
        )
        new = (str(result.model_id), str(result.model_version))
        if prev and tuple(map(str, prev[0])) != new:
            self.audit_event(
                "model_change",
                session=session_id,
                detail={"from": f"{prev[0][0]} {prev[0][1]}", "to": f"{new[0]} {new[1]}"},
            )
        self._replace(
            self._t.index_results,
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
        self._replace(
            self._t.prescriptions,
            session_id,
            rule_id=rx.rule_id,
            state=rx.state,
            activity=rx.activity,
            json=dumps(asdict(rx)),
        )

    def add_event(self, session_id: int, t_s: float, kind: str, detail: Mapping[str, Any]) -> None:
        """Record a timestamped event (gap, signal loss, staff mark, recovery)."""
        self._run(
            self._t.events.insert().values(
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

        ev = self._t.events
        with self._engine.begin() as con:
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

    def research_result(self, session_id: int) -> dict[str, Any] | None:
        """The session's research-classifier output, or None when it was not enabled."""
        from sqlalchemy import select

        from addictidx.models.research import RESEARCH_EVENT_KIND

        ev = self._t.events
        rows = self._rows(
            select(ev.c.detail_json).where(
                (ev.c.session_id == session_id) & (ev.c.kind == RESEARCH_EVENT_KIND)
            )
        )
        return json.loads(rows[-1][0]) if rows else None

    def add_safety_event(
        self, session_id: int, t_s: float, kind: str, detail: Mapping[str, Any]
    ) -> None:
        """Record a safety event (HR ceiling, stop, irregular beats) of a session; stops are
        also appended to the audit log (``safety_stop``, with the rule that fired)."""
        self._run(
            self._t.safety_events.insert().values(
                session_id=session_id, t_s=float(t_s), kind=kind, detail_json=dumps(detail)
            )
        )
        if kind in SAFETY_STOP_KINDS:
            rule = detail.get("rule") if isinstance(detail, Mapping) else None
            self.audit_event(
                "safety_stop",
                session=session_id,
                detail={
                    "kind": kind,
                    "rule": None if rule is None else str(rule),
                    "t_s": round(float(t_s), 1),
                },
            )

    # -- erase -------------------------------------------------------------------------------------
    def erase_session(self, session_id: int) -> bool:
        """Delete a session, all its rows, its raw recording and its derived files (reports,
        exports in the store directory); True if it existed."""
        existed = self._erase_session_rows(session_id)
        if existed:
            self._purge_database()
        return existed

    def _erase_session_rows(self, session_id: int, *, log: bool = True) -> bool:
        t = self._t
        rec = self.recording(session_id)
        code = self._session_subject(session_id)
        if log and code is not None:
            self.audit_event("erase", subject=code, session=session_id, detail={"what": "session"})
        with self._engine.begin() as con:
            for tab in (
                t.phases,
                t.feature_windows,
                t.session_features,
                t.index_results,
                t.prescriptions,
                t.events,
                t.safety_events,
                t.recordings,
            ):
                con.execute(tab.delete().where(tab.c.session_id == session_id))
            n = con.execute(t.sessions.delete().where(t.sessions.c.id == session_id)).rowcount
        if rec is not None and rec["raw_dir"].is_dir():
            _remove_tree(rec["raw_dir"])
        if code is not None:
            stem = f"{_safe_name(code)}_ses-{int(session_id):04d}"
            for p in self._derived_files():
                if p.name.startswith(stem):
                    _remove_file(p)
        return bool(n)

    def erase_subject(self, code: str) -> int:
        """Delete every trace of a subject; return the number of sessions erased.

        Rows (subject, consents, sessions with their phases, features, index history,
        prescriptions, events, safety events, recordings), raw recordings, derived files in the
        store directory named after the subject (reports, exports, BIDS folders), then the
        database is vacuumed and its WAL emptied so no free page keeps the code. The audit log
        keeps an ``erase`` entry naming the subject by keyed hash; the subject's hash salt is
        erased too, so no hash in the log can be linked to the code afterwards.
        """
        from sqlalchemy import select

        t = self._t
        ids = [
            r[0]
            for r in self._rows(select(t.sessions.c.id).where(t.sessions.c.subject_code == code))
        ]
        known = bool(ids) or bool(
            self._rows(select(t.subjects.c.code).where(t.subjects.c.code == code))
        )
        if known:
            self.audit_event(
                "erase", subject=code, detail={"what": "subject", "sessions": len(ids)}
            )
        for sid in ids:
            self._erase_session_rows(sid, log=False)
        with self._engine.begin() as con:
            cids = select(t.consents.c.id).where(t.consents.c.subject_code == code)
            con.execute(t.consent_terms.delete().where(t.consent_terms.c.consent_id.in_(cids)))
            con.execute(t.consents.delete().where(t.consents.c.subject_code == code))
            con.execute(t.subject_salts.delete().where(t.subject_salts.c.subject_code == code))
            con.execute(t.subjects.delete().where(t.subjects.c.code == code))
        safe = _safe_name(code)
        bids = "sub-" + safe.replace("-", "").replace("_", "")
        for p in self._derived_files(dirs=True):
            if p.name.startswith(safe + "_ses-") or p.name == safe or p.name == bids:
                _remove_tree(p) if p.is_dir() else _remove_file(p)
        self._purge_database()
        return len(ids)

    def _derived_files(self, *, dirs: bool = False) -> list[Path]:
        """Files (and with ``dirs`` folders) of the store directory outside raw/ and keys/."""
        out = []
        skip = {"raw", "keys"}
        for root, dnames, fnames in os.walk(self.directory):
            rel = Path(root).relative_to(self.directory)
            if rel.parts and rel.parts[0] in skip:
                dnames[:] = []
                continue
            if not rel.parts:
                dnames[:] = [d for d in dnames if d not in skip]
            out += [Path(root) / f for f in fnames]
            if dirs:
                out += [Path(root) / d for d in dnames]
        return out

    def _purge_database(self) -> None:
        """Rebuild the database without free pages and empty the WAL (SQLite); VACUUM on others."""
        if self.dialect == "sqlite":
            raw = self._engine.raw_connection()
            try:
                con = raw.driver_connection
                con.execute("VACUUM")
                con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                raw.close()
            self._engine.dispose()  # pooled connections hold no old pages after this
            raw = self._engine.raw_connection()
            try:
                raw.driver_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                raw.close()
        else:  # pragma: no cover - needs a PostgreSQL server
            from sqlalchemy.exc import SQLAlchemyError

            try:
                with self._engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
                    c.exec_driver_sql("VACUUM")
            except SQLAlchemyError:
                pass

    def files_containing(self, text: str) -> list[Path]:
        """Files of the store directory whose bytes contain ``text`` (UTF-8), e.g. to confirm an
        erasure. Encrypted files are scanned as they are on disk (ciphertext)."""
        needle = text.encode()
        found = []
        for p in sorted(self.directory.rglob("*")):
            if p.is_file():
                try:
                    if needle in p.read_bytes():
                        found.append(p)
                except OSError:
                    continue
        return found

    # -- queries ---------------------------------------------------------------------------
    def prior_session_features(
        self, subject_code: str, *, before_session: int | None = None
    ) -> list[dict[str, float | None]]:
        """Usable session-level features of a subject's complete sessions, oldest first."""
        from sqlalchemy import select

        f, s = self._t.session_features, self._t.sessions
        q = (
            select(f.c.values_json)
            .join(s, s.c.id == f.c.session_id)
            .where(s.c.subject_code == subject_code, s.c.status == "complete", f.c.usable == 1)
        )
        if before_session is not None:
            q = q.where(s.c.id < before_session)
        return [json.loads(r[0]) for r in self._rows(q.order_by(s.c.id))]

    def prior_emg_indicators(
        self, subject_code: str, *, before_session: int | None = None
    ) -> list[float]:
        """Stored session EMG indicators (``quality_json["emg_gate"]["indicator"]``) of a
        subject's complete, usable sessions, oldest first; sessions without one (no EEG, or
        stored before the EMG gate existed) are skipped."""
        from sqlalchemy import select

        f, s = self._t.session_features, self._t.sessions
        q = (
            select(f.c.quality_json)
            .join(s, s.c.id == f.c.session_id)
            .where(s.c.subject_code == subject_code, s.c.status == "complete", f.c.usable == 1)
        )
        if before_session is not None:
            q = q.where(s.c.id < before_session)
        out = []
        for (qj,) in self._rows(q.order_by(s.c.id)):
            gate = (json.loads(qj) or {}).get("emg_gate") if qj else None
            v = gate.get("indicator") if isinstance(gate, dict) else None
            if isinstance(v, (int, float)) and math.isfinite(v):
                out.append(float(v))
        return out

    def session_quality(self, session_id: int) -> dict[str, Any] | None:
        """The stored quality JSON of a session's scored features (None before scoring)."""
        from sqlalchemy import select

        f = self._t.session_features
        rows = self._rows(select(f.c.quality_json).where(f.c.session_id == session_id))
        return json.loads(rows[0][0]) if rows and rows[0][0] else None

    def list_sessions(self, subject_code: str | None = None) -> list[dict[str, Any]]:
        """Sessions with their index and band, newest last."""
        from sqlalchemy import select

        s, i = self._t.sessions, self._t.index_results
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
            q = q.where(s.c.subject_code == subject_code)
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
        return [dict(zip(keys, row)) for row in self._rows(q.order_by(s.c.id))]

    def running_sessions(self) -> list[int]:
        """Ids of sessions still marked running (live, or interrupted by a crash)."""
        from sqlalchemy import select

        s = self._t.sessions
        return [
            r[0]
            for r in self._rows(select(s.c.id).where(s.c.status == "running").order_by(s.c.id))
        ]

    def subject_trend(self, subject_code: str) -> list[dict[str, Any]]:
        """Complete sessions of a subject with index, Z, band and core features, oldest first."""
        from sqlalchemy import select

        s, i, f = self._t.sessions, self._t.index_results, self._t.session_features
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
            .where(s.c.subject_code == subject_code, s.c.status == "complete")
            .order_by(s.c.id)
        )
        out = []
        for sid, started, idx, z, band, base, vals, usable in self._rows(q):
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

        t = self._t.feature_windows
        rows = self._rows(
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

        t = self._t
        s = t.sessions
        rows = self._rows(
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
            raise StoreError(f"No session with id {session_id} in this store ({self.directory}).")
        row = rows[0]
        out: dict[str, Any] = dict(
            zip(("id", "subject", "started_utc", "ended_utc", "status", "simulated"), row[:6])
        )
        out["devices"] = json.loads(row[6])
        out["software"] = row[7]
        with self._engine.connect() as con:
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


def _owner_only(path: Path) -> None:
    """chmod 600 the database and its WAL files (they hold subject codes in plain text)."""
    for p in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        try:
            if p.exists() and p.stat().st_mode & 0o077:
                os.chmod(p, 0o600)
        except OSError:  # pragma: no cover - e.g. another user's file: nothing to do
            pass


def _safe_name(code: str) -> str:
    """A code as used in export and report file names (see ``addictidx.sessions.io``)."""
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in code)


def _remove_file(p: Path) -> None:
    """Overwrite a plaintext file with zeros, then unlink it (best effort on SSDs/CoW)."""
    try:
        n = p.stat().st_size
        with open(p, "r+b", buffering=0) as f:
            f.write(b"\0" * n)
            os.fsync(f.fileno())
    except OSError:
        pass
    try:
        p.unlink()
    except FileNotFoundError:
        pass


def _remove_tree(d: Path) -> None:
    for p in sorted(d.rglob("*"), reverse=True):
        if p.is_file() or p.is_symlink():
            _remove_file(p)
    shutil.rmtree(d, ignore_errors=True)


def _redact(url: str) -> str:
    """A database URL without its password (for messages)."""
    return re.sub(r"://([^:/@]+):[^@]*@", r"://\1:***@", url)


def _first_line(exc: BaseException) -> str:
    msg = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return msg[0] if msg else type(exc).__name__
