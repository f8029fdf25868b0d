"""Forward-only schema migrations of the store database.

The schema version is ``PRAGMA user_version`` on SQLite (a file any sqlite3 shell can inspect)
and the one-row table ``addictidx_schema`` on other databases (PostgreSQL). Each step
``i -> i + 1`` (:data:`addictidx.store.schema.TABLES_BY_VERSION`) runs in one transaction, so the
schema change and the version bump land together.
"""

from __future__ import annotations

from addictidx._core.errors import StoreError
from addictidx.store.schema import SCHEMA_VERSION, TABLES_BY_VERSION

__all__ = ["schema_version", "migrate"]


def schema_version(con, dialect: str) -> int:
    """The schema version of an open connection's database (0: empty database)."""
    from sqlalchemy import text

    if dialect == "sqlite":
        return int(con.exec_driver_sql("PRAGMA user_version").scalar())
    con.exec_driver_sql("CREATE TABLE IF NOT EXISTS addictidx_schema (version INTEGER NOT NULL)")
    v = con.execute(text("SELECT MAX(version) FROM addictidx_schema")).scalar()
    return int(v or 0)


def _set_version(con, dialect: str, version: int) -> None:
    from sqlalchemy import text

    if dialect == "sqlite":
        con.exec_driver_sql(f"PRAGMA user_version={int(version)}")
    else:
        con.execute(text("DELETE FROM addictidx_schema"))
        con.execute(text("INSERT INTO addictidx_schema(version) VALUES (:v)"), {"v": version})


def migrate(engine, dialect: str, where: object) -> int:
    """Bring the database up to :data:`SCHEMA_VERSION`; return the version found before.

    Raises
    ------
    StoreError
        The database is newer than this addictidx (names ``where``).
    """
    with engine.begin() as con:
        version = schema_version(con, dialect)
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"Store {where} has schema version {version}, newer than this addictidx "
            f"({SCHEMA_VERSION}); upgrade addictidx."
        )
    for v in range(version, SCHEMA_VERSION):
        tables, _indexes = TABLES_BY_VERSION[v]
        # Table.create also creates the table's indexes.
        with engine.begin() as con:
            for t in tables:
                t.create(con)
            _set_version(con, dialect, v + 1)
    return version
