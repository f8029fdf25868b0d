"""The store's subjects: pseudonymous codes and their keyed hashes.

Privacy: subjects are pseudonymous codes only (:func:`addictidx.store.codes.check_subject_code`);
the store has no column for names, birth dates, phone or ID numbers, or free text about a
person. The audit log and research exports name subjects by keyed hash (:meth:`Subjects.hash`),
salted per subject; the salt is erased with the subject, after which no hash links to the code.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable

from addictidx.store.codes import check_subject_code
from addictidx.store.database import utc_now

__all__ = ["Subjects"]


class Subjects:
    """The subject registry of a store.

    Parameters
    ----------
    db : Database
    keyring : callable
        Returns the store's :class:`~addictidx.store.keyring.KeyRing` (loaded when first needed).
    """

    def __init__(self, db, keyring: Callable[[], object]) -> None:
        self._db = db
        self._keyring = keyring

    def ensure(self, code: str) -> str:
        """Register a pseudonymous subject code if new; return it."""
        from sqlalchemy import select

        check_subject_code(code)
        t = self._db.tables.subjects
        with self._db.begin() as con:
            if con.execute(select(t.c.code).where(t.c.code == code)).first() is None:
                con.execute(t.insert().values(code=code, created_utc=utc_now()))
        return code

    def exists(self, code: str) -> bool:
        """Whether the subject is registered."""
        from sqlalchemy import select

        t = self._db.tables.subjects
        return bool(self._db.rows(select(t.c.code).where(t.c.code == code)))

    def codes(self) -> list[str]:
        """Every subject code in the store, sorted."""
        from sqlalchemy import select

        t = self._db.tables.subjects
        return [r[0] for r in self._db.rows(select(t.c.code).order_by(t.c.code))]

    def of_session(self, session_id: int) -> str | None:
        """The subject code of a session (None when there is no such session)."""
        from sqlalchemy import select

        s = self._db.tables.sessions
        rows = self._db.rows(select(s.c.subject_code).where(s.c.id == session_id))
        return rows[0][0] if rows else None

    def hash(self, code: str, *, purpose: str = "audit") -> str:
        """Keyed hash of a subject code (audit log: ``purpose="audit"``; research exports:
        ``"research"``). Stable while the subject exists; unlinkable once they are erased."""
        from addictidx.store.keyring import subject_hash

        return subject_hash(self._keyring(), code, self._salt(code), purpose)

    def _salt(self, code: str) -> str:
        from sqlalchemy import select

        t = self._db.tables
        with self._db.begin() as con:
            row = con.execute(
                select(t.subject_salts.c.salt).where(t.subject_salts.c.subject_code == code)
            ).first()
            if row is not None:
                return row[0]
            known = con.execute(select(t.subjects.c.code).where(t.subjects.c.code == code)).first()
            if known is None:
                return ""
            salt = secrets.token_hex(16)
            con.execute(t.subject_salts.insert().values(subject_code=code, salt=salt))
            return salt
