"""Raw session data appended to disk as it arrives, so a crash loses at most the last second.

A session's raw directory (``<store>/raw/session-<id>/``) holds:

``meta.json``
    Written once, atomically, before the first sample: stream names, channels, sampling
    frequency, units, protocol phases, the writer's process id.
``eeg.f64``
    Little-endian float64 rows ``[t_s, ch_1, ..., ch_n]`` (session-clock seconds, µV; ``NaN`` =
    a missing sample the assembler marked as a gap).
``rr.f64``
    Rows ``[t_s, rr_s]``: beat time and the RR interval that ends there.

All three files are encrypted at rest (AES-256-GCM, :mod:`addictidx.store.crypto`) with the
site key of the store the directory belongs to (``<store>/raw/session-<id>/``; a directory
elsewhere is its own store root): ``meta.json`` as one sealed record, the data files as one
sealed record per appended chunk (with the subject's own key when the store passes it, see
:mod:`addictidx.store.subject_keys`). Only authenticated files are read: a plaintext file put in
place of one (``meta.json``, ``eeg.f64``, ``rr.f64``) is rejected, never read as data.

While a writer is open it holds an exclusive ``flock`` on ``.lock`` in the folder
(:func:`recording_is_open`); another process can ask it to stop by creating ``stop``
(:func:`request_stop`, used by erasure), which the live session polls
(:meth:`RawWriter.stop_requested`).

Each append is one unbuffered ``write`` (so the data are in the operating system's page cache
as soon as the call returns and survive a SIGKILL of the process); ``fsync`` runs at least every
``sync_interval_s`` of wall time, so a power cut loses at most about that much. A row cut short
by a crash is ignored on reading (files are read in whole rows; an encrypted record cut short is
ignored the same way). A write that fails (disk full) is cut off again and raises one
:class:`~addictidx._core.errors.StoreError` saying what was kept.
"""

from __future__ import annotations

import errno
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from addictidx._core.errors import DataFormatError, StoreError
from addictidx._core.types import Chunk
from addictidx.store import crypto
from addictidx.store.files import fsync_dir, private_dir, write_atomic
from addictidx.store.keyring import load_keyring

__all__ = [
    "RawWriter",
    "RawRecording",
    "read_raw",
    "read_meta",
    "write_meta",
    "raw_dir_name",
    "store_root",
    "recording_is_open",
    "request_stop",
    "META_FILE",
]

META_FILE = "meta.json"
EEG_FILE = "eeg.f64"
RR_FILE = "rr.f64"
LOCK_FILE = ".lock"
STOP_FILE = "stop"
_DTYPE = np.dtype("<f8")
#: ``format`` in ``meta.json`` of encrypted raw directories (older ones: "addictidx-raw-1").
RAW_FORMAT = "addictidx-raw-2-aesgcm"


def raw_dir_name(session_id: int) -> str:
    """Raw directory of a session, relative to the store directory."""
    return f"raw/session-{int(session_id):06d}"


def store_root(directory: str | Path) -> Path:
    """The store a raw directory belongs to: ``<store>`` for ``<store>/raw/<name>``, else
    itself."""
    d = Path(directory)
    return d.parent.parent if d.parent.name == "raw" else d


def _ring(directory: Path, keyring):
    if keyring is not None:
        return keyring
    return load_keyring(store_root(directory))


def recording_is_open(directory: str | Path) -> bool:
    """Whether a :class:`RawWriter` (in any process) is writing into ``directory`` now."""
    p = Path(directory) / LOCK_FILE
    try:
        fd = os.open(p, os.O_RDONLY)
    except OSError:
        return False
    try:
        import fcntl

        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    except ImportError:  # pragma: no cover - Windows: no cross-process check
        return False
    finally:
        os.close(fd)


def request_stop(directory: str | Path, reason: str) -> None:
    """Ask the writer of ``directory`` to stop (it polls :meth:`RawWriter.stop_requested`)."""
    write_atomic(Path(directory) / STOP_FILE, reason.encode())


def write_meta(directory: str | Path, meta: dict[str, Any], *, keyring=None) -> None:
    """Write a raw directory's ``meta.json`` (encrypted, atomically)."""
    d = Path(directory)
    ring = _ring(d, keyring)
    crypto.write_sealed(d / META_FILE, ring, json.dumps(meta, indent=1, sort_keys=True).encode())
    fsync_dir(d)


def read_meta(directory: str | Path, *, keyring=None) -> dict[str, Any]:
    """Read a raw directory's ``meta.json`` (authenticated encryption only).

    Raises
    ------
    DataFormatError
        Missing, not in the authenticated format (e.g. a plaintext file put in its place),
        unauthentic or not JSON.
    """
    d = Path(directory)
    p = d / META_FILE
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise DataFormatError(f"{d}: no {META_FILE}; not an addictidx raw session.") from None
    if not crypto.is_encrypted(data):
        raise DataFormatError(
            f"{p}: not an authenticated addictidx file (plaintext or foreign); refused."
        )
    data = crypto.open_sealed(_ring(d, keyring), data, p)
    try:
        meta = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise DataFormatError(f"{p}: unreadable ({exc}).") from None
    if not isinstance(meta, dict):
        raise DataFormatError(f"{p}: unreadable (not a JSON object).")
    return meta


class RawWriter:
    """Append decoded chunks of one session to disk.

    Parameters
    ----------
    directory : path-like
        The session's raw directory (created).
    meta : mapping
        JSON-ready description; must hold ``eeg_channels`` (list of str) and ``eeg_sfreq``.
    t0 : float
        Session-clock origin on the chunks' time axis (times are written as ``t - t0``).
    sync_interval_s : float
        Longest wall time between two ``fsync`` calls.
    keyring : KeyRing | None
        Site keys (default: those of the store the directory belongs to, see :func:`store_root`
        and :func:`addictidx.store.keyring.load_keyring`).
    """

    def __init__(
        self,
        directory: str | Path,
        meta: dict[str, Any],
        *,
        t0: float = 0.0,
        sync_interval_s: float = 1.0,
        keyring=None,
    ) -> None:
        self.directory = private_dir(directory)
        self.n_eeg_ch = len(meta["eeg_channels"])
        ring = _ring(self.directory, keyring)
        self._lock = _take_lock(self.directory)
        try:
            (self.directory / STOP_FILE).unlink()
        except FileNotFoundError:
            pass
        meta = {**meta, "pid": os.getpid(), "format": RAW_FORMAT}
        write_meta(self.directory, meta, keyring=ring)
        self.t0 = float(t0)
        self.sync_interval_s = float(sync_interval_s)
        self._eeg = crypto.EncryptedAppender(self.directory / EEG_FILE, ring)
        self._rr = crypto.EncryptedAppender(self.directory / RR_FILE, ring)
        self._last_sync = time.monotonic()
        self._dirty = False
        self.n_eeg_rows = 0
        self.n_rr_rows = 0

    def append_eeg(self, chunk: Chunk) -> None:
        """Append an EEG chunk (``n_eeg_ch`` channels)."""
        n = chunk.data.shape[1]
        if n == 0:
            return
        rows = np.empty((n, 1 + self.n_eeg_ch), dtype=_DTYPE)
        rows[:, 0] = np.asarray(chunk.times, dtype=np.float64) - self.t0
        rows[:, 1:] = np.asarray(chunk.data, dtype=np.float64).T
        self._append(self._eeg, rows, self.n_eeg_rows)
        self.n_eeg_rows += n
        self._after_write()

    def append_rr(self, chunk: Chunk) -> None:
        """Append RR intervals (seconds) with their beat times."""
        n = chunk.data.shape[1]
        if n == 0:
            return
        rows = np.empty((n, 2), dtype=_DTYPE)
        rows[:, 0] = np.asarray(chunk.times, dtype=np.float64) - self.t0
        rows[:, 1] = np.asarray(chunk.data[0], dtype=np.float64)
        self._append(self._rr, rows, self.n_rr_rows)
        self.n_rr_rows += n
        self._after_write()

    def _append(self, f, rows: np.ndarray, n_before: int) -> None:
        try:
            _append_record(f, rows.tobytes())
        except OSError as exc:
            full = exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
            what = "the disk is full" if full else f"the write failed ({exc.strerror or exc})"
            raise StoreError(
                f"Recording stopped: {what} while writing {f.path}. The {n_before} rows written "
                "before are kept and readable; free space, then run 'addictidx sessions recover'."
            ) from None

    def _after_write(self) -> None:
        self._dirty = True
        if time.monotonic() - self._last_sync >= self.sync_interval_s:
            self.sync()

    def sync(self) -> None:
        """``fsync`` both data files now."""
        if self._dirty:
            os.fsync(self._eeg.fileno())
            os.fsync(self._rr.fileno())
            self._dirty = False
        self._last_sync = time.monotonic()

    def stop_requested(self) -> str | None:
        """The reason another process asked this recording to stop (e.g. ``"erasure"``), or
        None."""
        try:
            return (self.directory / STOP_FILE).read_text()[:200] or "stop"
        except OSError:
            return None

    def close(self) -> None:
        """Sync and close the files, and release the recording lock."""
        if self._eeg.closed:
            return
        self.sync()
        self._eeg.close()
        self._rr.close()
        os.close(self._lock)  # releases the flock

    def __enter__(self) -> RawWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass(frozen=True)
class RawRecording:
    """A session's raw data read back from disk.

    Attributes
    ----------
    meta : dict
        Contents of ``meta.json``.
    eeg_times : ndarray, shape (n_times,)
        Session-clock seconds of the EEG samples.
    eeg : ndarray, shape (n_channels, n_times)
        EEG in µV (``NaN`` = missing).
    ch_names : tuple of str
    sfreq : float
    rr_times, rr_s : ndarray, shape (n_beats,)
        Beat times and RR intervals in seconds.
    n_partial_bytes : int
        Bytes of an incomplete last row (a crash mid-write), ignored.
    """

    meta: dict
    eeg_times: np.ndarray
    eeg: np.ndarray
    ch_names: tuple[str, ...]
    sfreq: float
    rr_times: np.ndarray
    rr_s: np.ndarray
    n_partial_bytes: int = 0

    @property
    def duration_s(self) -> float:
        """Span of the EEG in seconds (0 when empty)."""
        return float(self.eeg_times[-1] - self.eeg_times[0]) if self.eeg_times.size else 0.0


def _append_record(f, data: bytes) -> None:
    """Append one encrypted record (a seam the disk-full tests replace)."""
    f.append(data)


def _take_lock(directory: Path) -> int:
    fd = os.open(directory / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        import fcntl

        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise StoreError(f"{directory}: another process is recording into it.") from None
    except ImportError:  # pragma: no cover - Windows
        pass
    return fd


def _read_rows(path: Path, width: int, ring_of) -> tuple[np.ndarray, int]:
    if not path.exists():
        return np.zeros((0, width)), 0
    raw = path.read_bytes()
    partial = 0
    if raw and not crypto.is_encrypted(raw):
        raise DataFormatError(
            f"{path}: not an authenticated addictidx file (plaintext or foreign); refused."
        )
    if raw:
        recs, partial = crypto.open_records(ring_of(), raw, path)
        raw = b"".join(recs)
    row = width * _DTYPE.itemsize
    n = len(raw) // row
    return (
        np.frombuffer(raw[: n * row], dtype=_DTYPE).reshape(n, width),
        partial + len(raw) - n * row,
    )


def read_raw(directory: str | Path, *, keyring=None) -> RawRecording:
    """Read a session's raw directory (complete or cut short by a crash).

    Raises
    ------
    DataFormatError
        If ``meta.json`` is missing or unreadable, or an encrypted record fails authentication
        (names the file and byte offset).
    StoreError
        The files were encrypted with a key the site key ring does not hold.
    """
    directory = Path(directory)
    cache: list = []

    def ring_of():
        if not cache:
            cache.append(_ring(directory, keyring))
        return cache[0]

    meta = read_meta(directory, keyring=keyring)
    try:
        ch = tuple(str(c) for c in meta["eeg_channels"])
        sfreq = float(meta["eeg_sfreq"])
    except (ValueError, KeyError, TypeError) as exc:
        raise DataFormatError(
            f"{directory / META_FILE}: unreadable (bad or missing {exc})."
        ) from None
    eeg, p1 = _read_rows(directory / EEG_FILE, 1 + len(ch), ring_of)
    rr, p2 = _read_rows(directory / RR_FILE, 2, ring_of)
    return RawRecording(
        meta=meta,
        eeg_times=eeg[:, 0].copy(),
        eeg=np.ascontiguousarray(eeg[:, 1:].T),
        ch_names=ch,
        sfreq=sfreq,
        rr_times=rr[:, 0].copy(),
        rr_s=rr[:, 1].copy(),
        n_partial_bytes=p1 + p2,
    )
