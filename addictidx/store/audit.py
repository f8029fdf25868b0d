"""The store's append-only audit log ``audit.jsonl``: an HMAC-keyed chain with a signed head.

One JSON object per line and per action (:data:`ACTIONS`)::

    {"seq": 7, "time_utc": "...", "action": "export", "subject": "3f9a...", "session": 12,
     "detail": {...}, "prev": "<mac of entry 6>", "mac": "<HMAC-SHA256 of this entry>"}

``mac`` is HMAC-SHA256 under the store's audit key (:func:`addictidx.store.keyring.
load_audit_key`, separate from the data keys) of the store id and the entry's canonical JSON
without ``mac``; ``prev`` is the previous entry's ``mac`` (64 zeros for the first), so nobody
without the audit key can change, insert, remove, reorder or re-seal entries. ``seq`` counts up
from 1 without gaps. The last entry's number and mac are kept, signed with the same key, in
``audit.head`` and in the database (table ``audit_head``): removing the last lines, deleting the
log with its head, or restoring an older copy of both is detected (:func:`verify_audit`).
Subjects appear only as keyed hashes (:meth:`addictidx.store.subjects.Subjects.hash`); details
hold counts and machine names, never signal values. Appends take an exclusive ``flock`` on the
log, so several processes can log at once.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from addictidx._core.errors import DataFormatError, StoreError
from addictidx.store.files import write_atomic

__all__ = [
    "AUDIT_FILE",
    "HEAD_FILE",
    "ACTIONS",
    "AuditLog",
    "AuditReport",
    "DatabaseHead",
    "verify_audit",
    "verify_store",
    "read_audit",
]

AUDIT_FILE = "audit.jsonl"
HEAD_FILE = "audit.head"
GENESIS = "0" * 64
_DOMAIN = b"addictidx-audit-2\0"
_HEAD_FORMAT = "addictidx-audit-head-2"
#: The actions the log records.
ACTIONS = (
    "view",
    "export",
    "erase",
    "model_change",
    "safety_stop",
    "consent",
    "key_rotation",
    "store_created",
    "audit_upgrade",
)
_FIELDS = ("seq", "time_utc", "action", "subject", "session", "detail", "prev", "mac")


def _canonical(entry: Mapping[str, Any]) -> bytes:
    return json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def entry_mac(key: bytes, store_id: str, entry: Mapping[str, Any]) -> str:
    """HMAC-SHA256 (hex) of an entry (without its ``mac``) for a store."""
    body = _canonical({k: v for k, v in entry.items() if k != "mac"})
    return hmac.new(key, _DOMAIN + store_id.encode() + b"\0" + body, hashlib.sha256).hexdigest()


def head_signature(key: bytes, store_id: str, seq: int, mac: str) -> str:
    """HMAC-SHA256 (hex) signing a head (``seq`` entries, the last one's ``mac``)."""
    msg = _DOMAIN + b"head\0" + f"{store_id}\0{int(seq)}\0{mac}".encode()
    return hmac.new(key, msg, hashlib.sha256).hexdigest()


class DatabaseHead:
    """The copy of the signed head kept in the store database (table ``audit_head``)."""

    def __init__(self, db) -> None:
        self._db = db

    def read(self) -> tuple[int, str, str] | None:
        """``(seq, mac, signature)``, or None when no entry was logged yet."""
        from sqlalchemy import select

        t = self._db.tables.audit_head
        rows = self._db.rows(select(t.c.seq, t.c.mac, t.c.signature).where(t.c.id == 1))
        return (int(rows[0][0]), str(rows[0][1]), str(rows[0][2])) if rows else None

    def write(self, seq: int, mac: str, signature: str) -> None:
        """Replace the head."""
        t = self._db.tables.audit_head
        with self._db.begin() as con:
            con.execute(t.delete())
            con.execute(t.insert().values(id=1, seq=int(seq), mac=mac, signature=signature))


class AuditLog:
    """Append entries to a store's ``audit.jsonl``.

    Parameters
    ----------
    directory : path-like
        The store directory.
    key : AuditKey
        The store's audit key.
    store_id : str
        The store's random id (bound into every MAC, so entries cannot move between stores).
    head : DatabaseHead | None
        Where the database keeps the last head (None: file head only).
    """

    def __init__(self, directory: str | Path, key, store_id: str, head=None) -> None:
        self.directory = Path(directory)
        self.path = self.directory / AUDIT_FILE
        self.head_path = self.directory / HEAD_FILE
        self._key = key
        self._store_id = store_id
        self._head = head

    def append(
        self,
        action: str,
        *,
        subject: str | None = None,
        session: int | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Append one entry and return it.

        Parameters
        ----------
        action : str
            One of :data:`ACTIONS`.
        subject : str | None
            The subject's keyed hash (never the code).
        session : int | None
            Session id.
        detail : mapping | None
            Counts and machine names only.
        """
        if action not in ACTIONS:
            raise ValueError(f"audit action must be one of {ACTIONS}, got {action!r}.")
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            _lock(fd)
            seq, prev = self._tail(fd)
            entry: dict[str, Any] = {
                "seq": seq + 1,
                "time_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "action": action,
                "subject": subject,
                "session": None if session is None else int(session),
                "detail": dict(detail or {}),
                "prev": prev,
            }
            entry["mac"] = entry_mac(self._key.key, self._store_id, entry)
            os.write(fd, _canonical(entry) + b"\n")
            os.fsync(fd)
            sig = head_signature(self._key.key, self._store_id, entry["seq"], entry["mac"])
            head = {"format": _HEAD_FORMAT, "seq": entry["seq"], "mac": entry["mac"], "sig": sig}
            write_atomic(self.head_path, json.dumps(head).encode())
            if self._head is not None:
                self._head.write(entry["seq"], entry["mac"], sig)
        finally:
            os.close(fd)  # releases the lock
        return entry

    def _tail(self, fd: int) -> tuple[int, str]:
        """(seq, mac) of the last complete line; an unterminated tail (crash) is cut off."""
        size = os.fstat(fd).st_size
        if size == 0:
            return 0, GENESIS
        start = max(0, size - 65536)
        data = os.pread(fd, size - start, start)
        if not data.endswith(b"\n"):
            cut = data.rfind(b"\n")
            if cut < 0 and start > 0:
                raise StoreError(f"{self.path}: last line longer than 64 KiB; run 'audit verify'.")
            os.ftruncate(fd, start + cut + 1 if cut >= 0 else start)
            data = data[: cut + 1] if cut >= 0 else b""
            if not data:
                return 0, GENESIS
        last = data[:-1].rsplit(b"\n", 1)[-1]
        try:
            e = json.loads(last)
            return int(e["seq"]), str(e["mac"])
        except (ValueError, KeyError, TypeError):
            raise StoreError(
                f"{self.path}: the last entry is not valid; run 'addictidx audit verify'."
            ) from None


@dataclass(frozen=True)
class AuditReport:
    """Result of :func:`verify_audit`.

    Attributes
    ----------
    ok : bool
    n_entries : int
        Lines read.
    first_bad : int | None
        1-based number of the first bad (or missing) entry, None when ok.
    message : str
        What was found (one line).
    key_problem : bool
        The audit key is missing or is not the store's (nothing could be authenticated).
    """

    ok: bool
    n_entries: int
    first_bad: int | None
    message: str
    key_problem: bool = False


def verify_audit(
    directory: str | Path,
    key,
    store_id: str,
    *,
    db_head: tuple[int, str, str] | None = None,
    db_checked: bool = True,
    store_has_data: bool = False,
) -> AuditReport:
    """Check a store's audit log: every MAC, the chain, the sequence, the signed file head and
    the database's copy of the head.

    Parameters
    ----------
    directory : path-like
        The store directory.
    key : AuditKey | None
        The store's audit key; None (missing) fails at entry 1 with ``key_problem``.
    store_id : str
    db_head : tuple | None
        The database's ``(seq, mac, signature)`` (None: none recorded).
    db_checked : bool
        Whether ``db_head`` was read from the database (False: not available).
    store_has_data : bool
        The store holds subjects or sessions (so an absent log is a deletion, not a new store).
    """
    directory = Path(directory)
    path = directory / AUDIT_FILE
    head_path = directory / HEAD_FILE
    if not path.exists():
        if db_head is not None or head_path.exists():
            n = db_head[0] if db_head is not None else "some"
            return AuditReport(
                False,
                0,
                1,
                f"{AUDIT_FILE} entry 1: the log is missing; the store recorded {n} "
                "entries (the log was deleted).",
            )
        if store_has_data:
            return AuditReport(
                False,
                0,
                1,
                f"{AUDIT_FILE} entry 1: the log is missing but the store holds "
                "subjects or sessions (the log was deleted).",
            )
        return AuditReport(True, 0, None, "no audit log yet (new store).")
    if key is None:
        return AuditReport(
            False,
            0,
            1,
            f"{AUDIT_FILE} entry 1: cannot be authenticated: the audit key is missing.",
            True,
        )
    lines = path.read_bytes().split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    n = len(lines)

    def bad(i: int, msg: str, key_problem: bool = False) -> AuditReport:
        return AuditReport(False, n, i, f"{AUDIT_FILE} entry {i}: {msg}", key_problem)

    prev = GENESIS
    macs: list[str] = []
    for i, line in enumerate(lines, start=1):
        try:
            entry = json.loads(line)
            if not isinstance(entry, dict):
                raise ValueError("not an object")
        except (ValueError, UnicodeDecodeError):
            return bad(i, "not a valid JSON object (line changed or cut short).")
        missing = [k for k in _FIELDS if k not in entry]
        if missing:
            return bad(i, f"missing field(s) {missing} (line changed or forged).")
        if not hmac.compare_digest(str(entry["mac"]), entry_mac(key.key, store_id, entry)):
            return bad(
                i,
                "MAC does not match (changed, forged or written without this store's audit "
                f"key {key.key_id}).",
                key_problem=i == 1,
            )
        if entry["seq"] != i:
            return bad(
                i,
                f"sequence number {entry['seq']!r} where {i} was expected "
                "(an entry before it was removed, or lines were reordered).",
            )
        if entry["prev"] != prev:
            return bad(i, f"does not chain to entry {i - 1} (entries removed or reordered).")
        prev = entry["mac"]
        macs.append(prev)
    heads = []
    if not head_path.exists():
        return bad(n, f"{HEAD_FILE} is missing (removed?); the end of the log is unconfirmed.")
    try:
        h = json.loads(head_path.read_bytes())
        heads.append((HEAD_FILE, int(h["seq"]), str(h["mac"]), str(h["sig"])))
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        return bad(n, f"{HEAD_FILE} is unreadable (changed).")
    if db_head is not None:
        heads.append(("the database's audit head", *db_head))
    elif db_checked and n:
        return bad(1, "the database holds no audit head (database reset or replaced).")
    for name, h_seq, h_mac, h_sig in heads:
        if not hmac.compare_digest(h_sig, head_signature(key.key, store_id, h_seq, h_mac)):
            return bad(n, f"{name} is not authentic (signature does not match).")
        if h_seq > n:
            return bad(
                n + 1,
                f"missing: {name} records {h_seq} entries, the log has {n} "
                "(last lines removed, or an older copy restored).",
            )
        if h_seq >= 1 and macs[h_seq - 1] != h_mac:
            return bad(h_seq, f"does not match {name} (the log was replaced).")
        if n - h_seq > 1:
            return bad(
                h_seq + 1,
                f"{n - h_seq} entries after {name} (appended without updating the head).",
            )
    lag = n - min(h[1] for h in heads) if heads else 0
    note = "" if lag == 0 else " (1 entry after the last head: a crash while logging)"
    where = " and the database" if db_head is not None else ""
    return AuditReport(
        True,
        n,
        None,
        f"{n} entries authentic, chained and matching the "
        f"signed head in {HEAD_FILE}{where}{note}.",
    )


def verify_store(directory: str | Path, *, url: str | None = None) -> AuditReport:
    """Verify a store's audit log with everything the store holds: its audit key (the id the
    database expects), its store id and the database's copy of the head.

    A missing or wrong audit key fails at entry 1 with ``key_problem`` (naming the expected
    key id); nothing is created or written.
    """
    from sqlalchemy import func, select

    from addictidx.store.database import Database
    from addictidx.store.keyring import load_audit_key

    db = Database(Path(directory), url, create=False)
    try:
        t = db.tables
        ids = {p: k for p, k in db.rows(select(t.store_keys.c.purpose, t.store_keys.c.key_id))}
        head = DatabaseHead(db).read()
        n_subjects = db.rows(select(func.count()).select_from(t.subjects))[0][0]
        n_sessions = db.rows(select(func.count()).select_from(t.sessions))[0][0]
    finally:
        db.close()
    if "store" not in ids:
        return AuditReport(
            False,
            0,
            1,
            f"{AUDIT_FILE} entry 1: cannot be verified: the database records no "
            "store id or audit key (key table emptied?).",
            True,
        )
    try:
        key = load_audit_key(directory, expect=ids.get("audit"))
    except StoreError as exc:
        return AuditReport(
            False, 0, 1, f"{AUDIT_FILE} entry 1: cannot be authenticated: {exc}", True
        )
    return verify_audit(
        directory, key, ids["store"], db_head=head, store_has_data=bool(n_subjects or n_sessions)
    )


def read_audit(directory: str | Path) -> list[dict[str, Any]]:
    """The entries of a store's audit log (no verification; see :func:`verify_audit`)."""
    path = Path(directory) / AUDIT_FILE
    if not path.exists():
        return []
    out = []
    for i, line in enumerate(path.read_bytes().splitlines(), start=1):
        try:
            out.append(json.loads(line))
        except (ValueError, UnicodeDecodeError):
            raise DataFormatError(f"{path}, line {i}: not valid JSON.") from None
    return out


def _lock(fd: int) -> None:
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: single-process use
        return
    fcntl.flock(fd, fcntl.LOCK_EX)
