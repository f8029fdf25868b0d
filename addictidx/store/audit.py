"""The store's append-only, hash-chained audit log ``audit.jsonl``.

One JSON object per line and per action (``view``, ``export``, ``erase``, ``model_change``,
``safety_stop``, ``consent``, ``key_rotation``)::

    {"seq": 7, "time_utc": "...", "action": "export", "subject": "3f9a...", "session": 12,
     "detail": {...}, "prev": "<SHA-256 of line 6>", "hash": "<SHA-256 of this entry>"}

``prev`` is the SHA-256 (hex) of the previous line's bytes (64 zeros for the first entry) and
``hash`` the SHA-256 of this entry's canonical JSON without ``hash``. Subjects appear only as
keyed hashes (:func:`addictidx.store.keyring.subject_hash`), never as codes; details hold
counts and machine names, never signal values.

The last entry's number and hash are also kept in ``audit.head``, encrypted and authenticated
with the site key, so removing the last lines or rewriting the whole chain is detected too
(:func:`verify_audit`). Appends take an exclusive ``flock`` on the log, so several processes
(a recording, a staff member viewing a report) can log at once.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from addictidx._core.errors import AddictIdxError, DataFormatError, StoreError

__all__ = ["AUDIT_FILE", "HEAD_FILE", "ACTIONS", "AuditLog", "AuditReport", "verify_audit"]

AUDIT_FILE = "audit.jsonl"
HEAD_FILE = "audit.head"
GENESIS = "0" * 64
#: The actions the log records.
ACTIONS = (
    "view",
    "export",
    "erase",
    "model_change",
    "safety_stop",
    "consent",
    "key_rotation",
)
_FIELDS = ("seq", "time_utc", "action", "subject", "session", "detail", "prev", "hash")


def _canonical(entry: Mapping[str, Any]) -> bytes:
    return json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _entry_hash(entry: Mapping[str, Any]) -> str:
    return _sha(_canonical({k: v for k, v in entry.items() if k != "hash"}))


class AuditLog:
    """Append entries to a store's ``audit.jsonl``.

    Parameters
    ----------
    directory : path-like
        The store directory.
    keyring : KeyRing | None
        Site keys, to seal ``audit.head`` (default: loaded from the store when first needed).
    """

    def __init__(self, directory: str | Path, keyring=None) -> None:
        self.directory = Path(directory)
        self.path = self.directory / AUDIT_FILE
        self.head_path = self.directory / HEAD_FILE
        self._ring = keyring

    @property
    def keyring(self):
        if self._ring is None:
            from addictidx.store.keyring import load_keyring

            self._ring = load_keyring(self.directory)
        return self._ring

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
        self.directory.mkdir(parents=True, exist_ok=True)
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
            entry["hash"] = _entry_hash(entry)
            line = _canonical(entry)
            os.write(fd, line + b"\n")
            os.fsync(fd)
            self._write_head(entry["seq"], _sha(line))
        finally:
            os.close(fd)  # releases the lock
        return entry

    def _tail(self, fd: int) -> tuple[int, str]:
        """(seq, SHA-256) of the last complete line; an unterminated tail (crash) is cut off."""
        size = os.fstat(fd).st_size
        if size == 0:
            return 0, GENESIS
        start = max(0, size - 65536)
        data = os.pread(fd, size - start, start)
        if not data.endswith(b"\n"):
            cut = data.rfind(b"\n")
            new_size = start + cut + 1 if cut >= 0 else start
            if cut < 0 and start > 0:
                raise StoreError(f"{self.path}: last line longer than 64 KiB; run 'audit verify'.")
            os.ftruncate(fd, new_size)
            data = data[: cut + 1] if cut >= 0 else b""
            if not data:
                return 0, GENESIS
        last = data[:-1].rsplit(b"\n", 1)[-1]
        try:
            seq = int(json.loads(last)["seq"])
        except (ValueError, KeyError, TypeError):
            raise StoreError(
                f"{self.path}: the last entry is not valid; run 'addictidx audit verify'."
            ) from None
        return seq, _sha(last)

    def _write_head(self, seq: int, digest: str) -> None:
        from addictidx.store.crypto import write_sealed

        write_sealed(
            self.head_path, self.keyring, json.dumps({"seq": seq, "hash": digest}).encode()
        )


@dataclass(frozen=True)
class AuditReport:
    """Result of :func:`verify_audit`.

    Attributes
    ----------
    ok : bool
    n_entries : int
        Lines read.
    first_bad : int | None
        1-based number of the first bad entry (line), None when ok.
    message : str
        What was found (one line).
    head_checked : bool
        Whether ``audit.head`` was checked (it needs the site key).
    """

    ok: bool
    n_entries: int
    first_bad: int | None
    message: str
    head_checked: bool


def verify_audit(directory: str | Path, *, keyring=None) -> AuditReport:
    """Check the chain of a store's audit log and its sealed head.

    Detects a changed line (its ``hash`` or the next line's ``prev`` no longer matches), a
    removed or reordered line (``seq`` out of order, ``prev`` mismatch) and removed last lines or
    a rewritten chain (``audit.head`` names another last entry).
    """
    directory = Path(directory)
    path = directory / AUDIT_FILE
    if not path.exists():
        return AuditReport(True, 0, None, f"{path}: no audit log yet (nothing to verify).", False)
    data = path.read_bytes()
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    prev = GENESIS

    def bad(i: int, msg: str) -> AuditReport:
        return AuditReport(False, len(lines), i, f"{AUDIT_FILE} entry {i}: {msg}", False)

    for i, line in enumerate(lines, start=1):
        try:
            entry = json.loads(line)
            if not isinstance(entry, dict):
                raise ValueError("not an object")
        except (ValueError, UnicodeDecodeError):
            return bad(i, "not a valid JSON object (line changed or cut short).")
        missing = [k for k in _FIELDS if k not in entry]
        if missing:
            return bad(i, f"missing field(s) {missing} (line changed).")
        if entry["seq"] != i:
            return bad(
                i,
                f"sequence number {entry['seq']!r} where {i} was expected "
                f"(an entry before it was removed, or lines were reordered).",
            )
        if entry["hash"] != _entry_hash(entry):
            return bad(i, "content does not match its hash (line changed).")
        if entry["prev"] != prev:
            return bad(
                i,
                f"does not chain to entry {i - 1} (entry {i - 1} or this one was "
                "changed, or lines were removed or reordered).",
            )
        prev = _sha(line)
    n = len(lines)
    head_path = directory / HEAD_FILE
    if not head_path.exists():
        if n:
            return AuditReport(
                False,
                n,
                n,
                f"{HEAD_FILE} is missing (removed?); the end of the log cannot be confirmed.",
                False,
            )
        return AuditReport(True, 0, None, "empty audit log.", False)
    try:
        from addictidx.store.crypto import open_sealed
        from addictidx.store.keyring import load_keyring

        ring = keyring if keyring is not None else load_keyring(directory, create=False)
        head = json.loads(open_sealed(ring, head_path.read_bytes(), head_path))
        h_seq, h_hash = int(head["seq"]), str(head["hash"])
    except StoreError as exc:  # no key here: the chain alone was checked
        return AuditReport(
            True, n, None, f"{n} entries chain correctly; {HEAD_FILE} not checked ({exc}).", False
        )
    except (AddictIdxError, ValueError, KeyError, TypeError) as exc:
        return AuditReport(
            False, n, n, f"{HEAD_FILE} is not authentic or unreadable ({exc}).", False
        )
    if h_seq > n:
        return AuditReport(
            False,
            n,
            n + 1,
            f"{AUDIT_FILE} entry {n + 1}: missing; "
            f"{HEAD_FILE} records {h_seq} entries, the log has {n} (last "
            "lines removed).",
            True,
        )
    head_line_hash = _sha(lines[h_seq - 1]) if h_seq >= 1 else None
    if h_seq >= 1 and head_line_hash != h_hash:
        return AuditReport(
            False,
            n,
            h_seq,
            f"{AUDIT_FILE} entry {h_seq}: does not match the "
            f"sealed {HEAD_FILE} (the chain was rewritten).",
            True,
        )
    lag = n - h_seq
    note = (
        ""
        if lag == 0
        else f" ({lag} entr{'y' if lag == 1 else 'ies'} after the sealed head: "
        "a crash while logging)"
    )
    if lag > 1:
        return AuditReport(
            False,
            n,
            h_seq + 1,
            f"{AUDIT_FILE} entry {h_seq + 1}: {lag} entries "
            f"after the sealed head (appended by someone without the key?).",
            True,
        )
    return AuditReport(
        True, n, None, f"{n} entries chain correctly and match the sealed head{note}.", True
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
