"""Erasing a session or a subject by crypto-shredding.

A subject's raw recordings are encrypted under the subject's own data key, the reports and
exports the tool wrote for them are tracked (table ``subject_files``, paths sealed under that
key), and the database names the subject only by the key's id. :meth:`Erasure.erase_subject`
stops a live recording of the subject first, removes the rows, the raw folders and every tracked
file still where the tool wrote it, then destroys the key: every other copy (a backup of the
store, a WAL segment, PostgreSQL pages, a copied raw folder) is left without a key, and the ids
in the database, the audit log and research exports can no longer be linked to the code. What
it cannot reach (files moved or copied by people, printed reports, exports handed out) is named
in the :class:`ErasureReport`.
"""

from __future__ import annotations

import base64
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from addictidx._core.errors import StoreError
from addictidx.store import crypto
from addictidx.store.database import utc_now
from addictidx.store.files import remove_file, remove_tree, safe_name
from addictidx.store.raw import recording_is_open, request_stop
from addictidx.store.subject_keys import destroy_subject_key

__all__ = ["Erasure", "ErasureReport", "STOP_WAIT_S"]

#: How long an erasure waits for a live recording of the subject to stop.
STOP_WAIT_S = 60.0


@dataclass(frozen=True)
class ErasureReport:
    """What :meth:`Erasure.erase_subject` did.

    Attributes
    ----------
    n_sessions : int
    n_raw_files : int
        Raw recording files removed.
    removed : tuple of Path
        Reports and exports the tool had written for the subject, removed.
    not_found : tuple of Path
        Tracked files no longer where the tool wrote them (moved, copied or deleted by people):
        out of reach, but their content is plaintext the tool cannot recall.
    key_id : str | None
        Id of the destroyed subject key.
    stopped : tuple of int
        Live sessions stopped before erasing.
    """

    n_sessions: int
    n_raw_files: int
    removed: tuple
    not_found: tuple
    key_id: str | None
    stopped: tuple = ()


class Erasure:
    """Erase sessions and subjects from a store.

    Parameters
    ----------
    db : Database
    directory : Path
        The store directory.
    subjects : Subjects
    queries : SessionQueries
    keyring : callable
        Returns the store's key ring.
    log : callable
        ``log(action, subject=..., session=..., detail=...)`` appends to the audit log.
    """

    def __init__(
        self, db, directory: Path, subjects, queries, keyring, log: Callable[..., Any]
    ) -> None:
        self._db = db
        self._directory = Path(directory)
        self._subjects = subjects
        self._queries = queries
        self._keyring = keyring
        self._log = log

    # -- tracking files written outside the store --------------------------------------------
    def track(self, code: str, path: str | Path, kind: str) -> None:
        """Record a report or export the tool wrote for a subject, so erasure removes it."""
        sk = self._subjects.key_of(code)
        if sk is None:
            raise StoreError("Cannot track a file of a subject that is not in this store.")
        ring = self._keyring().with_current(sk.key_id, sk.key)
        sealed = crypto.seal(ring, str(Path(path).resolve()).encode())
        self._db.run(
            self._db.tables.subject_files.insert().values(
                subject_code=sk.subject_id,
                kind=str(kind),
                path_sealed=base64.b64encode(sealed).decode(),
                created_utc=utc_now(),
            )
        )

    def tracked_files(self, code: str) -> list[tuple[int, str, Path]]:
        """``(row id, kind, path)`` of the files tracked for a subject."""
        from sqlalchemy import select

        sk = self._subjects.key_of(code)
        if sk is None:
            return []
        ring = self._keyring().with_current(sk.key_id, sk.key)
        t = self._db.tables.subject_files
        rows = self._db.rows(
            select(t.c.id, t.c.kind, t.c.path_sealed).where(t.c.subject_code == sk.subject_id)
        )
        out = []
        for rid, kind, sealed in rows:
            p = crypto.open_sealed(ring, base64.b64decode(sealed), "tracked file")
            out.append((int(rid), str(kind), Path(p.decode())))
        return out

    # -- erasing -----------------------------------------------------------------------------
    def erase_session(self, session_id: int) -> bool:
        """Delete a session, its rows, raw recording and tracked reports/exports; True if it
        existed. A live recording of it is stopped first."""
        code = self._subjects.of_session(session_id)
        self._stop_live([session_id])
        existed = self._erase_session_rows(session_id) >= 0
        if code is not None:
            stem = f"_ses-{int(session_id):04d}"
            for rid, _kind, p in self.tracked_files(code):
                if stem in p.name:
                    _remove_any(p)
                    self._forget_tracked(rid)
        if existed:
            self._db.purge()
        return existed

    def _erase_session_rows(self, session_id: int, *, log: bool = True) -> int:
        """Delete the rows and raw folder of a session; return the raw files removed."""
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
        raw = rec["raw_dir"] if rec is not None else self._directory / _raw_name(session_id)
        n_files = remove_tree(raw) if raw.is_dir() else 0
        return n_files if n else -1

    def erase_subject(self, code: str) -> ErasureReport:
        """Erase every trace of a subject (see the module notes) and return what was done.

        Raises
        ------
        StoreError
            A live recording of the subject did not stop within :data:`STOP_WAIT_S` (nothing
            was erased).
        """
        from sqlalchemy import select

        t = self._db.tables
        sid = self._subjects.id_of(code)
        sk = self._subjects.key_of(code)
        ids = (
            []
            if sid is None
            else [
                r[0]
                for r in self._db.rows(
                    select(t.sessions.c.id).where(t.sessions.c.subject_code == sid)
                )
            ]
        )
        stopped = self._stop_live(ids)
        if ids or self._subjects.exists(code):
            self._log("erase", subject=code, detail={"what": "subject", "sessions": len(ids)})
        n_raw = sum(max(0, self._erase_session_rows(i, log=False)) for i in ids)
        removed, not_found = [], []
        for _rid, _kind, p in self.tracked_files(code):
            (removed if _remove_any(p) else not_found).append(p)
        if sid is not None:
            with self._db.begin() as con:
                cids = select(t.consents.c.id).where(t.consents.c.subject_code == sid)
                con.execute(t.consent_terms.delete().where(t.consent_terms.c.consent_id.in_(cids)))
                for tab in (t.consents, t.subject_files, t.subject_salts):
                    con.execute(tab.delete().where(tab.c.subject_code == sid))
                con.execute(t.subjects.delete().where(t.subjects.c.code == sid))
        removed += self._remove_named_in_store(code)
        if sk is not None:
            destroy_subject_key(self._keyring(), sk.key_id)
        self._subjects.forget(code)
        self._db.purge()
        return ErasureReport(
            len(ids),
            n_raw,
            tuple(removed),
            tuple(not_found),
            None if sk is None else sk.key_id.hex(),
            tuple(stopped),
        )

    def _stop_live(self, session_ids: list[int]) -> list[int]:
        """Ask live recordings among ``session_ids`` to stop and wait until they have."""
        live = [s for s in session_ids if recording_is_open(self._directory / _raw_name(s))]
        for s in live:
            request_stop(self._directory / _raw_name(s), "erasure")
        deadline = time.monotonic() + STOP_WAIT_S
        while any(recording_is_open(self._directory / _raw_name(s)) for s in live):
            if time.monotonic() > deadline:
                raise StoreError(
                    f"Session(s) {live} are still recording {STOP_WAIT_S:.0f} s after the stop "
                    "request; nothing was erased. Stop the recording, then erase again."
                )
            time.sleep(0.2)
        return live

    def _forget_tracked(self, rid: int) -> None:
        t = self._db.tables.subject_files
        self._db.run(t.delete().where(t.c.id == rid))

    def _remove_named_in_store(self, code: str) -> list[Path]:
        """Files or folders inside the store directory (outside raw/) named after the code,
        e.g. reports written there by older versions."""
        safe = safe_name(code)
        bids = "sub-" + safe.replace("-", "").replace("_", "")
        out = []
        for root, dnames, fnames in os.walk(self._directory):
            rel = Path(root).relative_to(self._directory)
            if rel.parts[:1] == ("raw",):
                dnames[:] = []
                continue
            for name in [*fnames, *dnames]:
                if name.startswith(safe + "_ses-") or name in (safe, bids):
                    p = Path(root) / name
                    if _remove_any(p):
                        out.append(p)
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


def _raw_name(session_id: int) -> str:
    from addictidx.store.raw import raw_dir_name

    return raw_dir_name(session_id)


def _remove_any(p: Path) -> bool:
    if p.is_dir() and not p.is_symlink():
        remove_tree(p)
        return True
    return remove_file(p) if (p.exists() or p.is_symlink()) else False
