"""The store database: one SQLite file in WAL mode, or a PostgreSQL database.

By default the database is one SQLite file (``addictidx.sqlite``) in the store directory, opened
in WAL mode so a crash loses at most the last uncommitted transaction; a site can instead point
``url`` (or ``ADDICTIDX_DB_URL``) at PostgreSQL (``postgresql+psycopg://user@host/db``). All SQL
goes through SQLAlchemy Core, so the same code runs on both. ``secure_delete`` is on for SQLite so
deleted rows are overwritten; :meth:`Database.purge` vacuums and empties the WAL.
"""

from __future__ import annotations

import json
import math
import os
import re
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from addictidx._core.errors import NoStoreError, StoreError

__all__ = ["Database", "STORE_FILENAME", "DB_URL_ENV", "dumps", "utc_now", "redact_url"]

STORE_FILENAME = "addictidx.sqlite"
#: Environment variable holding a database URL that replaces the default SQLite file.
DB_URL_ENV = "ADDICTIDX_DB_URL"


def utc_now() -> str:
    """The current UTC time as ``YYYY-MM-DDTHH:MM:SSZ``."""
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


def redact_url(url: str) -> str:
    """A database URL without its password (for messages)."""
    return re.sub(r"://([^:/@]+):[^@]*@", r"://\1:***@", url)


def _first_line(exc: BaseException) -> str:
    msg = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return msg[0] if msg else type(exc).__name__


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


class Database:
    """The store's database connection, migrated to the current schema on open.

    Parameters
    ----------
    directory : Path
        Store directory (holds the SQLite file unless ``url`` is given).
    url : str | None
        SQLAlchemy URL replacing the SQLite file.
    create : bool
        Create the database (and its schema) when it does not exist yet. When False, a missing
        SQLite file or an empty database is a :class:`StoreError`.

    Attributes
    ----------
    engine : sqlalchemy.Engine
    dialect : str
        ``"sqlite"`` or ``"postgresql"``.
    path : Path
        The SQLite file (also set, unused, for other databases).
    url : str
    where : str
        How messages name this database (no password).
    created : bool
        Whether this open created the database (schema version was 0).
    """

    def __init__(self, directory: Path, url: str | None = None, *, create: bool = True) -> None:
        from sqlalchemy import create_engine
        from sqlalchemy.exc import SQLAlchemyError

        from addictidx.store import schema
        from addictidx.store.migrations import migrate, schema_version

        self.path = Path(directory) / STORE_FILENAME
        self.url = url or f"sqlite:///{self.path}"
        self.where = str(self.path) if url is None else redact_url(url)
        self.tables = schema
        if url is None and not create and not self.path.exists():
            raise NoStoreError(f"{directory}: not an addictidx store (no {STORE_FILENAME}).")
        try:
            if url is None:
                self.engine = _sqlite_engine(self.path)
            else:
                self.engine = create_engine(url, future=True, pool_pre_ping=True)
            self.dialect = self.engine.dialect.name
            if not create:
                with self.engine.begin() as con:
                    if schema_version(con, self.dialect) == 0:
                        raise NoStoreError(
                            f"{self.where}: not an addictidx store (empty database)."
                        )
            self.created = migrate(self.engine, self.dialect, self.where) == 0
            if url is None:
                _owner_only(self.path)
        except SQLAlchemyError as exc:
            raise StoreError(
                f"Cannot open session store {self.where}: {_first_line(exc)}"
            ) from None
        except ModuleNotFoundError as exc:
            raise StoreError(
                f"Cannot open session store {self.where}: database driver {exc.name!r} is not "
                "installed (for PostgreSQL: pip install 'psycopg[binary]')."
            ) from None

    def run(self, stmt, params: Any = None):
        """Execute one statement in its own transaction."""
        with self.engine.begin() as con:
            return con.execute(stmt, params) if params is not None else con.execute(stmt)

    def rows(self, stmt) -> list:
        """The rows of a query."""
        with self.engine.connect() as con:
            return list(con.execute(stmt))

    def replace(self, table, session_id: int, **values: Any) -> None:
        """Replace a session's one row in ``table``."""
        with self.engine.begin() as con:
            con.execute(table.delete().where(table.c.session_id == session_id))
            con.execute(table.insert().values(session_id=session_id, **values))

    def begin(self):
        """A transaction (context manager yielding a connection)."""
        return self.engine.begin()

    def connect(self):
        """A connection without a transaction (reads)."""
        return self.engine.connect()

    def purge(self) -> None:
        """Rebuild the database without free pages and empty the WAL (SQLite); VACUUM and
        CHECKPOINT on PostgreSQL (best effort: it needs the privilege)."""
        if self.dialect == "sqlite":
            raw = self.engine.raw_connection()
            try:
                con = raw.driver_connection
                con.execute("VACUUM")
                con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                raw.close()
            self.engine.dispose()  # pooled connections hold no old pages after this
            raw = self.engine.raw_connection()
            try:
                raw.driver_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                raw.close()
        else:  # pragma: no cover - needs a PostgreSQL server
            from sqlalchemy.exc import SQLAlchemyError

            try:
                with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
                    c.exec_driver_sql("VACUUM")
            except SQLAlchemyError:
                pass

    def close(self) -> None:
        """Release the connections."""
        self.engine.dispose()


def _owner_only(path: Path) -> None:
    """chmod 600 the database and its WAL files."""
    for p in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        try:
            if p.exists() and p.stat().st_mode & 0o077:
                os.chmod(p, 0o600)
        except OSError:  # pragma: no cover - e.g. another user's file: nothing to do
            pass
