"""The store's subjects: pseudonymous codes, their database ids and keyed hashes.

Privacy: subjects are pseudonymous codes only (:func:`addictidx.store.codes.check_subject_code`);
the store has no column for names, birth dates, phone or ID numbers, or free text about a
person. Since schema version 4 the database does not hold the codes either: it names a subject
by the id of the subject's data key (``k:<hex>``), and the code lives only in that key's file
(:mod:`addictidx.store.subject_keys`), so destroying the key leaves no code anywhere in the
database, its WAL or its backups. The audit log and research exports name subjects by keyed
hash (:meth:`Subjects.hash`), salted per subject with a salt kept in the key file as well.
"""

from __future__ import annotations

from collections.abc import Callable

from addictidx.store.codes import check_subject_code
from addictidx.store.database import utc_now
from addictidx.store.subject_keys import (
    SUBJECT_ID_PREFIX,
    SubjectKey,
    all_subject_keys,
    create_subject_key,
    key_id_of,
    read_subject_key,
)

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
        self._by_code: dict[str, SubjectKey] | None = None

    def _keys(self, *, reload: bool = False) -> dict[str, SubjectKey]:
        if self._by_code is None or reload:
            self._by_code = {sk.code: sk for sk in all_subject_keys(self._keyring())}
        return self._by_code

    def key_of(self, code: str) -> SubjectKey | None:
        """The subject's data key (None when the subject is unknown or erased)."""
        sk = self._keys().get(code)
        if sk is None:
            sk = self._keys(reload=True).get(code)
        return sk

    def ensure(self, code: str) -> str:
        """Register a pseudonymous subject code if new (creating its key); return its id."""
        from sqlalchemy import select

        check_subject_code(code)
        sk = self.key_of(code)
        if sk is None:
            sk = create_subject_key(self._keyring(), code)
            self._keys()[code] = sk
        t = self._db.tables.subjects
        with self._db.begin() as con:
            if con.execute(select(t.c.code).where(t.c.code == sk.subject_id)).first() is None:
                con.execute(t.insert().values(code=sk.subject_id, created_utc=utc_now()))
        return sk.subject_id

    def id_of(self, code: str) -> str | None:
        """The database id of a subject code (None when unknown)."""
        sk = self.key_of(code)
        return None if sk is None else sk.subject_id

    def code_of(self, sid: str | None) -> str | None:
        """The code of a database subject id (None when its key was destroyed or is missing)."""
        if sid is None or not str(sid).startswith(SUBJECT_ID_PREFIX):
            return sid
        kid = key_id_of(sid)
        for sk in self._keys().values():
            if sk.key_id == kid:
                return sk.code
        sk = read_subject_key(self._keyring(), kid)
        if sk is not None:
            self._keys()[sk.code] = sk
        return None if sk is None else sk.code

    def exists(self, code: str) -> bool:
        """Whether the subject is registered."""
        from sqlalchemy import select

        sid = self.id_of(code)
        t = self._db.tables.subjects
        return sid is not None and bool(self._db.rows(select(t.c.code).where(t.c.code == sid)))

    def codes(self) -> list[str]:
        """Every subject code in the store, sorted."""
        from sqlalchemy import select

        t = self._db.tables.subjects
        out = (self.code_of(r[0]) for r in self._db.rows(select(t.c.code)))
        return sorted(c for c in out if c is not None)

    def of_session(self, session_id: int) -> str | None:
        """The subject code of a session (None when there is no such session)."""
        from sqlalchemy import select

        s = self._db.tables.sessions
        rows = self._db.rows(select(s.c.subject_code).where(s.c.id == session_id))
        return self.code_of(rows[0][0]) if rows else None

    def hash(self, code: str, *, purpose: str = "audit") -> str:
        """Keyed hash of a subject code (audit log: ``purpose="audit"``; research exports:
        ``"research"``). Stable while the subject exists; unlinkable once they are erased."""
        from addictidx.store.keyring import subject_hash

        sk = self.key_of(code)
        return subject_hash(self._keyring(), code, "" if sk is None else sk.salt, purpose)

    def forget(self, code: str) -> None:
        """Drop a subject from the in-memory cache (after erasure)."""
        if self._by_code is not None:
            self._by_code.pop(code, None)

    def adopt_legacy(self) -> int:
        """Schema 3 -> 4: give every subject stored by code a key, and replace the code by the
        key's id in every table (keeping the hash salt). Returns how many subjects moved."""
        from sqlalchemy import select

        t = self._db.tables
        legacy = [
            r[0]
            for r in self._db.rows(select(t.subjects.c.code))
            if not str(r[0]).startswith(SUBJECT_ID_PREFIX)
        ]
        for code in legacy:
            salt = self._db.rows(
                select(t.subject_salts.c.salt).where(t.subject_salts.c.subject_code == code)
            )
            sk = create_subject_key(self._keyring(), code, salt=salt[0][0] if salt else None)
            with self._db.begin() as con:
                created = con.execute(
                    select(t.subjects.c.created_utc).where(t.subjects.c.code == code)
                ).scalar()
                con.execute(t.subjects.insert().values(code=sk.subject_id, created_utc=created))
                for tab in (t.sessions, t.consents):
                    con.execute(
                        tab.update()
                        .where(tab.c.subject_code == code)
                        .values(subject_code=sk.subject_id)
                    )
                con.execute(t.subject_salts.delete().where(t.subject_salts.c.subject_code == code))
                con.execute(t.subjects.delete().where(t.subjects.c.code == code))
        self._by_code = None
        return len(legacy)
