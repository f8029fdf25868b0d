"""Erasing a session or a subject: rows, raw recordings, derived files, free database pages."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from addictidx.store.files import remove_file, remove_tree, safe_name

__all__ = ["Erasure"]


class Erasure:
    """Erase sessions and subjects from a store.

    Parameters
    ----------
    db : Database
    directory : Path
        The store directory.
    subjects : Subjects
    queries : SessionQueries
    log : callable
        ``log(action, subject=..., session=..., detail=...)`` appends to the audit log.
    """

    def __init__(self, db, directory: Path, subjects, queries, log: Callable[..., Any]) -> None:
        self._db = db
        self._directory = Path(directory)
        self._subjects = subjects
        self._queries = queries
        self._log = log

    def erase_session(self, session_id: int) -> bool:
        """Delete a session, all its rows, its raw recording and its derived files (reports,
        exports in the store directory); True if it existed."""
        existed = self._erase_session_rows(session_id)
        if existed:
            self._db.purge()
        return existed

    def _erase_session_rows(self, session_id: int, *, log: bool = True) -> bool:
        t = self._db.tables
        rec = self._queries.recording(session_id)
        code = self._subjects.of_session(session_id)
        if log and code is not None:
            self._log("erase", subject=code, session=session_id, detail={"what": "session"})
        with self._db.begin() as con:
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
            remove_tree(rec["raw_dir"])
        if code is not None:
            stem = f"{safe_name(code)}_ses-{int(session_id):04d}"
            for p in self._derived_files():
                if p.name.startswith(stem):
                    remove_file(p)
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

        t = self._db.tables
        ids = [
            r[0]
            for r in self._db.rows(
                select(t.sessions.c.id).where(t.sessions.c.subject_code == code)
            )
        ]
        if ids or self._subjects.exists(code):
            self._log("erase", subject=code, detail={"what": "subject", "sessions": len(ids)})
        for sid in ids:
            self._erase_session_rows(sid, log=False)
        with self._db.begin() as con:
            cids = select(t.consents.c.id).where(t.consents.c.subject_code == code)
            con.execute(t.consent_terms.delete().where(t.consent_terms.c.consent_id.in_(cids)))
            con.execute(t.consents.delete().where(t.consents.c.subject_code == code))
            con.execute(t.subject_salts.delete().where(t.subject_salts.c.subject_code == code))
            con.execute(t.subjects.delete().where(t.subjects.c.code == code))
        safe = safe_name(code)
        bids = "sub-" + safe.replace("-", "").replace("_", "")
        for p in self._derived_files(dirs=True):
            if p.name.startswith(safe + "_ses-") or p.name == safe or p.name == bids:
                remove_tree(p) if p.is_dir() else remove_file(p)
        self._db.purge()
        return len(ids)

    def _derived_files(self, *, dirs: bool = False) -> list[Path]:
        """Files (and with ``dirs`` folders) of the store directory outside raw/ and keys/."""
        out = []
        skip = {"raw", "keys"}
        for root, dnames, fnames in os.walk(self._directory):
            rel = Path(root).relative_to(self._directory)
            if rel.parts and rel.parts[0] in skip:
                dnames[:] = []
                continue
            if not rel.parts:
                dnames[:] = [d for d in dnames if d not in skip]
            out += [Path(root) / f for f in fnames]
            if dirs:
                out += [Path(root) / d for d in dnames]
        return out

    def files_containing(self, text: str) -> list[Path]:
        """Files of the store directory whose bytes contain ``text`` (UTF-8), e.g. to confirm an
        erasure. Encrypted files are scanned as they are on disk (ciphertext)."""
        needle = text.encode()
        found = []
        for p in sorted(self._directory.rglob("*")):
            if p.is_file():
                try:
                    if needle in p.read_bytes():
                        found.append(p)
                except OSError:
                    continue
        return found
