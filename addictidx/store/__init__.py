"""The store room: where sessions, consent, keys, the audit log and raw recordings live.

Modules (one concern each): :mod:`~addictidx.store.session_store` (the :class:`SessionStore`
facade), :mod:`~addictidx.store.database` and :mod:`~addictidx.store.migrations` (SQLite or
PostgreSQL, schema versions), :mod:`~addictidx.store.schema` (tables),
:mod:`~addictidx.store.subjects` and :mod:`~addictidx.store.codes` (pseudonymous subjects),
:mod:`~addictidx.store.consent`, :mod:`~addictidx.store.records` and
:mod:`~addictidx.store.queries` (session rows), :mod:`~addictidx.store.erasure`,
:mod:`~addictidx.store.keyring` and :mod:`~addictidx.store.crypto` (keys and the authenticated
file format), :mod:`~addictidx.store.audit`, :mod:`~addictidx.store.raw` (recording files) and
:mod:`~addictidx.store.files` (atomic, owner-only writes).

Importing this package is cheap; ``SessionStore`` and ``check_subject_code`` are loaded on first
access (SQLAlchemy is imported only then).
"""

from __future__ import annotations

__all__ = ["SessionStore", "check_subject_code"]


def __getattr__(name: str):
    if name == "SessionStore":
        from addictidx.store.session_store import SessionStore

        return SessionStore
    if name == "check_subject_code":
        from addictidx.store.codes import check_subject_code

        return check_subject_code
    raise AttributeError(f"module 'addictidx.store' has no attribute {name!r}")
