"""The session store of a site: a facade over its database, subjects, consent, session records,
queries, erasure, keys and audit log.

One store per site: a directory holding the database (``addictidx.sqlite``, or a PostgreSQL
database named by ``url`` / ``ADDICTIDX_DB_URL``), the raw recordings (``raw/session-<id>/``,
:mod:`addictidx.store.raw`) and the audit log (``audit.jsonl``, :mod:`addictidx.store.audit`).
Each concern lives in its own module; :class:`SessionStore` composes them:

====================  ==============================================  =========================
part                  what it holds                                   module
====================  ==============================================  =========================
``db``                engine, transactions, vacuum                    :mod:`~.database`
(migrations)          schema versions, forward-only steps             :mod:`~.migrations`
``subject_registry``  pseudonymous codes, keyed hashes                :mod:`~.subjects`
``consent``           consent decisions per scope                     :mod:`~.consent`
``records``           what a running session writes                   :mod:`~.records`
``queries``           lists, details, trends, baseline history        :mod:`~.queries`
``erasure``           erasing sessions and subjects                   :mod:`~.erasure`
``keyring``           site keys, subject hashes, rotation             :mod:`~.keyring`
``audit``             the tamper-evident audit log                    :mod:`~.audit`
====================  ==============================================  =========================

What a running session writes (``start_session``, ``add_phase`` ...) is forwarded here so a session
runs against one object (19 public methods); reads go through ``store.queries`` (``list_sessions``,
``session_detail`` ...), consent, erasure and subjects through their parts (``store.consent.add``,
``store.erasure.erase_subject``, ``store.subject_registry.codes``).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from addictidx._core.errors import NoStoreError, StoreError
from addictidx._core.types import IndexResult, Prescription
from addictidx.store.consent import ConsentRecords
from addictidx.store.database import DB_URL_ENV, Database
from addictidx.store.erasure import Erasure
from addictidx.store.files import private_dir
from addictidx.store.queries import SessionQueries
from addictidx.store.records import SessionRecords
from addictidx.store.subjects import Subjects

__all__ = ["SessionStore"]


class SessionStore:
    """A site's session store.

    Parameters
    ----------
    directory : path-like
        Store directory. Holds the SQLite file (unless ``url`` is given), the raw recordings
        and the audit log.
    url : str | None
        SQLAlchemy database URL that replaces the SQLite file, e.g.
        ``postgresql+psycopg://addictidx@dbhost/site1``. Default: the ``ADDICTIDX_DB_URL``
        environment variable when set, else ``<directory>/addictidx.sqlite``.
    create : bool
        Create the store (folder, database, keys) when it does not exist yet (default). With
        False, opening something that is not a store is a :class:`StoreError` and nothing is
        written. An existing store never gets new keys: a missing key is an error naming the
        key id the store expects.

    Attributes
    ----------
    directory, path, url, dialect
        Where the store lives.
    db, subject_registry, consent, records, queries, erasure
        The parts (see the module notes).

    Notes
    -----
    Use as a context manager or call :meth:`close`. Every write is its own transaction.
    """

    def __init__(
        self, directory: str | Path, *, url: str | None = None, create: bool = True
    ) -> None:
        self.directory = Path(directory)
        url = url if url is not None else os.environ.get(DB_URL_ENV) or None
        if not self.directory.is_dir():
            if not create:
                raise NoStoreError(f"{self.directory}: not an addictidx store (no such folder).")
            try:
                private_dir(self.directory)
            except OSError as exc:
                raise StoreError(f"Cannot create store directory {self.directory}: {exc}") from exc
        self.db = Database(self.directory, url, create=create)
        self.path, self.url, self.dialect = self.db.path, self.db.url, self.db.dialect
        self._ring = None
        self._audit = None
        self.subject_registry = Subjects(self.db, lambda: self.keyring)
        self.consent = ConsentRecords(self.db, self.subject_registry, self.audit_event)
        self.records = SessionRecords(self.db, self.subject_registry, self.audit_event)
        self.queries = SessionQueries(self.db, self.directory, self.subject_registry)
        self.erasure = Erasure(
            self.db,
            self.directory,
            self.subject_registry,
            self.queries,
            lambda: self.keyring,
            self.audit_event,
        )
        try:
            if not self.key_ids():
                self._first_keys()
        except BaseException:
            self.db.close()
            raise

    # -- keys and audit ----------------------------------------------------------------------
    def key_ids(self) -> dict[str, str]:
        """The key ids this store expects (``data``, ``hash``, ``audit``) and its ``store`` id."""
        from sqlalchemy import select

        t = self.db.tables.store_keys
        return {p: k for p, k in self.db.rows(select(t.c.purpose, t.c.key_id))}

    def _set_key_ids(self, ids: Mapping[str, str]) -> None:
        t = self.db.tables.store_keys
        with self.db.begin() as con:
            for purpose, kid in ids.items():
                con.execute(t.delete().where(t.c.purpose == purpose))
                con.execute(t.insert().values(purpose=purpose, key_id=kid))

    def _first_keys(self) -> None:
        """A new store: create its keys; a store from before schema 4: adopt its site key
        (never replaced), add an audit key, move subject codes into subject keys and start a
        keyed audit chain after the old one."""
        from addictidx.store.keyring import init_keys, key_file_path

        new = self.db.created
        if (
            not new
            and not os.environ.get("ADDICTIDX_KEY")
            and not key_file_path(self.directory).exists()
            and self._had_keys()
        ):
            raise StoreError(
                f"{self.directory}: this store has no key ids recorded and its site key "
                f"{key_file_path(self.directory)} is missing; restore it (or run "
                "'addictidx keys init' if the store never had one)."
            )
        ring, audit_key = init_keys(self.directory)
        self._set_key_ids(
            {
                "data": ring.current.hex(),
                "hash": ring.hash_key_id,
                "audit": audit_key.key_id,
                "store": secrets.token_hex(8),
            }
        )
        if new:
            self.audit_event("store_created", detail={"schema": "v4"})
            return
        from addictidx.store.audit import AUDIT_FILE, HEAD_FILE

        legacy = {}
        old = self.directory / AUDIT_FILE
        if old.exists():
            import hashlib

            data = old.read_bytes()
            name = "audit-legacy.jsonl"
            old.replace(self.directory / name)
            if (self.directory / HEAD_FILE).exists():
                (self.directory / HEAD_FILE).replace(self.directory / "audit-legacy.head")
            legacy = {
                "legacy_file": name,
                "legacy_entries": data.count(b"\n"),
                "legacy_sha256": hashlib.sha256(data).hexdigest(),
            }
        moved = self.subject_registry.adopt_legacy()
        n_files = self._rekey_legacy_recordings() if moved else 0
        self.audit_event(
            "audit_upgrade",
            detail={**legacy, "subjects_keyed": moved, "raw_files_rekeyed": n_files},
        )
        if moved:
            self.db.purge()

    def _rekey_legacy_recordings(self) -> int:
        """Re-encrypt raw files written under the site key by older versions under their
        subject's key, so erasing the subject shreds every copy of them too."""
        from addictidx.store.crypto import reencrypt_file

        n = 0
        for row in self.queries.list_sessions():
            rec = self.queries.recording(row["id"])
            if rec is None or not rec["raw_dir"].is_dir():
                continue
            ring = self.recording_keyring(row["id"])
            for p in sorted(rec["raw_dir"].iterdir()):
                if p.is_file() and p.name != ".lock":
                    try:
                        n += reencrypt_file(p, ring)
                    except (OSError, ValueError):  # a plaintext or broken file: left as it is
                        continue
        return n

    def _had_keys(self) -> bool:
        """Whether an old store shows signs of having had a site key (encrypted files or a
        sealed audit head): then a missing key is lost, not never made."""
        from addictidx.store.audit import HEAD_FILE
        from addictidx.store.crypto import encrypted_files

        return (self.directory / HEAD_FILE).exists() or bool(encrypted_files(self.directory))

    @property
    def keyring(self):
        """The site key ring (see :mod:`addictidx.store.keyring`); the keys this store expects,
        never a new one."""
        if self._ring is None:
            from addictidx.store.keyring import load_keyring

            ids = self.key_ids()
            self._ring = load_keyring(
                self.directory, expect=ids.get("data"), expect_hash=ids.get("hash")
            )
        return self._ring

    @property
    def audit(self):
        """The store's :class:`~addictidx.store.audit.AuditLog`."""
        if self._audit is None:
            from addictidx.store.audit import AuditLog, DatabaseHead
            from addictidx.store.keyring import load_audit_key

            ids = self.key_ids()
            key = load_audit_key(self.directory, expect=ids.get("audit"))
            self._audit = AuditLog(self.directory, key, ids["store"], DatabaseHead(self.db))
        return self._audit

    def reload_keys(self) -> None:
        """Forget the loaded keys (after a rotation), so the next use reads them again."""
        self._ring = None
        self._audit = None

    def recording_keyring(self, session_id: int):
        """The key ring a session's raw files are written with: the subject's own data key
        encrypts them (crypto-shredding), the site keys stay for reading."""
        code = self.subject_registry.of_session(session_id)
        sk = None if code is None else self.subject_registry.key_of(code)
        if sk is None:
            raise StoreError(f"No session with id {session_id} in this store ({self.directory}).")
        return self.keyring.with_current(sk.key_id, sk.key)

    def rotate_keys(self):
        """Rotate the site data key (:func:`addictidx.store.rotation.rotate_site_key`), record
        the new key id and log it; returns the :class:`RotationResult`."""
        from addictidx.store.rotation import rotate_site_key

        res = rotate_site_key(self.directory, self.keyring, self.queries.running_sessions())
        self._set_key_ids({"data": res.new_key_id})
        self.reload_keys()
        self.audit_event(
            "key_rotation",
            detail={
                "new_key": res.new_key_id,
                "n_files": res.n_files,
                "n_subject_keys": res.n_subject_keys,
                "old_keys": list(res.old_key_ids),
            },
        )
        return res

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
            subject = self.subject_registry.of_session(session)
        h = None if subject is None else self.subject_registry.hash(subject)
        return self.audit.append(action, subject=h, session=session, detail=detail)

    # -- lifecycle ---------------------------------------------------------------------------
    def close(self) -> None:
        """Release the database connections."""
        self.db.close()

    def __enter__(self) -> SessionStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- a session's records (forwarded to ``records``) ------------------------------------
    def start_session(
        self, subject_code: str, *, devices: Mapping[str, str], simulated: bool, software: str
    ) -> int:
        """Create a running session and return its id (:meth:`SessionRecords.start_session`)."""
        return self.records.start_session(
            subject_code, devices=devices, simulated=simulated, software=software
        )

    def end_session(self, session_id: int, *, status: str = "complete") -> None:
        """Mark a session complete (or aborted)."""
        self.records.end_session(session_id, status=status)

    def set_recording(
        self, session_id: int, raw_dir: str, *, protocol: str, meta: Mapping[str, Any]
    ) -> None:
        """Register the raw-data directory (relative to the store directory) of a session."""
        self.records.set_recording(session_id, raw_dir, protocol=protocol, meta=meta)

    def add_phase(self, session_id: int, name: str, t_start_s: float, t_end_s: float) -> None:
        """Record one protocol phase and its session-clock span."""
        self.records.add_phase(session_id, name, t_start_s, t_end_s)

    def add_feature_windows(
        self,
        session_id: int,
        phase: str,
        rows: Iterable[tuple[float, Mapping[str, float | None], bool, Iterable[str]]],
    ) -> int:
        """Append feature windows ``(t_end_s, values, usable, flags)``; return how many."""
        return self.records.add_feature_windows(session_id, phase, rows)

    def set_session_features(
        self, session_id: int, values: Mapping[str, float | None], *, usable: bool, quality: Any
    ) -> None:
        """Store the session-level (scored) feature values and their quality report."""
        self.records.set_session_features(session_id, values, usable=usable, quality=quality)

    def set_index_result(self, session_id: int, result: IndexResult) -> None:
        """Store the index result of a session (:meth:`SessionRecords.set_index_result`)."""
        self.records.set_index_result(session_id, result)

    def set_prescription(self, session_id: int, rx: Prescription) -> None:
        """Store the prescription of a session."""
        self.records.set_prescription(session_id, rx)

    def add_event(self, session_id: int, t_s: float, kind: str, detail: Mapping[str, Any]) -> None:
        """Record a timestamped event (gap, signal loss, staff mark, recovery)."""
        self.records.add_event(session_id, t_s, kind, detail)

    def set_research_result(self, session_id: int, t_s: float, block: Mapping[str, Any]) -> None:
        """Store a session's research-classifier output (:meth:`SessionRecords.
        set_research_result`)."""
        self.records.set_research_result(session_id, t_s, block)

    def add_safety_event(
        self, session_id: int, t_s: float, kind: str, detail: Mapping[str, Any]
    ) -> None:
        """Record a safety event of a session (stops are also audited)."""
        self.records.add_safety_event(session_id, t_s, kind, detail)

    # -- reading sessions back (forwarded to ``queries``) -------------------------------------
