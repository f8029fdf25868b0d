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

Each append is one unbuffered ``write`` (so the data are in the operating system's page cache
as soon as the call returns and survive a SIGKILL of the process); ``fsync`` runs at least every
``sync_interval_s`` of wall time, so a power cut loses at most about that much. A row cut short
by a crash is ignored on reading (files are read in whole rows).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from addictidx._core.errors import DataFormatError
from addictidx._core.types import Chunk

__all__ = ["RawWriter", "RawRecording", "read_raw", "raw_dir_name", "META_FILE"]

META_FILE = "meta.json"
EEG_FILE = "eeg.f64"
RR_FILE = "rr.f64"
_DTYPE = np.dtype("<f8")


def raw_dir_name(session_id: int) -> str:
    """Raw directory of a session, relative to the store directory."""
    return f"raw/session-{int(session_id):06d}"


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
    """

    def __init__(
        self, directory: str | Path, meta: dict[str, Any], *, t0: float = 0.0,
        sync_interval_s: float = 1.0,
    ) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.n_eeg_ch = len(meta["eeg_channels"])
        meta = {**meta, "pid": os.getpid(), "format": "addictidx-raw-1"}
        tmp = self.directory / (META_FILE + ".tmp")
        tmp.write_text(json.dumps(meta, indent=1, sort_keys=True))
        os.replace(tmp, self.directory / META_FILE)
        _fsync_dir(self.directory)
        self.t0 = float(t0)
        self.sync_interval_s = float(sync_interval_s)
        self._eeg = open(self.directory / EEG_FILE, "ab", buffering=0)
        self._rr = open(self.directory / RR_FILE, "ab", buffering=0)
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
        self._eeg.write(rows.tobytes())
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
        self._rr.write(rows.tobytes())
        self.n_rr_rows += n
        self._after_write()

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

    def close(self) -> None:
        """Sync and close the files."""
        if self._eeg.closed:
            return
        self.sync()
        self._eeg.close()
        self._rr.close()

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


def _read_rows(path: Path, width: int) -> tuple[np.ndarray, int]:
    if not path.exists():
        return np.zeros((0, width)), 0
    raw = path.read_bytes()
    row = width * _DTYPE.itemsize
    n = len(raw) // row
    return np.frombuffer(raw[: n * row], dtype=_DTYPE).reshape(n, width), len(raw) - n * row


def read_raw(directory: str | Path) -> RawRecording:
    """Read a session's raw directory (complete or cut short by a crash).

    Raises
    ------
    DataFormatError
        If ``meta.json`` is missing or unreadable.
    """
    directory = Path(directory)
    try:
        meta = json.loads((directory / META_FILE).read_text())
        ch = tuple(meta["eeg_channels"])
        sfreq = float(meta["eeg_sfreq"])
    except FileNotFoundError:
        raise DataFormatError(f"{directory}: no {META_FILE}; not an addictidx raw session.") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise DataFormatError(f"{directory / META_FILE}: unreadable ({exc}).") from None
    eeg, p1 = _read_rows(directory / EEG_FILE, 1 + len(ch))
    rr, p2 = _read_rows(directory / RR_FILE, 2)
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


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - e.g. Windows
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)
