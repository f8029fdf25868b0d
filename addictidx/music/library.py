"""The centre's music library, cached in the store's database (table ``music_tracks``).

``scan(directory)`` walks a folder for audio files (:data:`~addictidx.music.analysis.
AUDIO_EXTENSIONS`) and analyses each new or changed file once; the result is one row per file.
A file is *unchanged* when its size and modification time equal the row's (then it is not even
read); a file whose bytes hash to a known row (copied or moved) takes that row's analysis. A
file no decoder reads is stored with its error, reported as one line and skipped on the next
scan until it changes. Rows of an older :data:`~addictidx.music.analysis.ANALYSIS_VERSION` are
analysed again.

The table lives in the store's database (SQLite file or PostgreSQL, :class:`~addictidx.store.
database.Database`) and is created when missing. It holds no data about people: paths, tags and
acoustic measures only. Track ids are stable, so a playlist or a session event names a track by
id, and the dashboard serves a track's file only through its id (never a path from a request).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from addictidx.music.analysis import (
    ANALYSIS_VERSION,
    AUDIO_EXTENSIONS,
    AudioDecodeError,
    TrackAnalysis,
    analyse_file,
    file_sha256,
)

__all__ = ["Track", "ScanReport", "MusicLibrary", "music_table", "iter_audio_files"]

_TABLE = None


def music_table():
    """The SQLAlchemy table ``music_tracks`` (its own MetaData; created when missing)."""
    global _TABLE
    if _TABLE is None:
        from sqlalchemy import Column, Float, Integer, MetaData, Table, Text

        _TABLE = Table(
            "music_tracks",
            MetaData(),
            Column("id", Integer, primary_key=True, autoincrement=True),
            Column("path", Text, nullable=False, unique=True),
            Column("size_bytes", Integer, nullable=False),
            Column("mtime_ns", Integer, nullable=False),
            Column("sha256", Text, nullable=False),
            Column("analysis_version", Integer, nullable=False),
            Column("scanned_utc", Text, nullable=False),
            Column("error", Text),
            Column("title", Text),
            Column("artist", Text),
            Column("tag_bpm", Float),
            Column("tempo_bpm", Float),
            Column("tempo_confidence", Float),
            Column("beat_strength", Float),
            Column("octave_reason", Text),
            Column("duration_s", Float),
            Column("sfreq", Float),
            Column("n_channels", Integer),
            Column("loudness", Float),
            Column("loudness_method", Text),
            Column("energy_rms_dbfs", Float),
            Column("decoder", Text),
            sqlite_autoincrement=True,
        )
    return _TABLE


@dataclass(frozen=True)
class Track:
    """One playable track of the library."""

    id: int
    path: str
    title: str | None
    artist: str | None
    tag_bpm: float | None
    tempo_bpm: float
    tempo_confidence: float
    beat_strength: float
    duration_s: float
    loudness: float
    loudness_method: str
    energy_rms_dbfs: float
    sha256: str
    size_bytes: int
    mtime_ns: int

    @property
    def label(self) -> str:
        """``Title - Artist`` from the tags, else the file name."""
        if self.title:
            return self.title + (f" - {self.artist}" if self.artist else "")
        return Path(self.path).name

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (non-finite numbers as None)."""
        out = {}
        for k, v in self.__dict__.items():
            out[k] = None if isinstance(v, float) and not math.isfinite(v) else v
        out["label"] = self.label
        return out


@dataclass
class ScanReport:
    """What one scan did: counts and one line per file that could not be decoded."""

    analysed: int = 0
    unchanged: int = 0
    reused: int = 0
    failed: list[str] = field(default_factory=list)
    removed: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "analysed": self.analysed,
            "unchanged": self.unchanged,
            "reused": self.reused,
            "failed": list(self.failed),
            "removed": self.removed,
        }


def iter_audio_files(directory: Path) -> Iterator[Path]:
    """Audio files under ``directory`` (recursive, sorted, no symlinked folders followed)."""
    for root, dirs, files in os.walk(directory):
        dirs.sort()
        for name in sorted(files):
            if name.lower().endswith(AUDIO_EXTENSIONS) and not name.startswith("."):
                yield Path(root) / name


def _row_values(a: TrackAnalysis) -> dict[str, Any]:
    return {
        "sha256": a.sha256,
        "analysis_version": ANALYSIS_VERSION,
        "error": None,
        "title": a.title,
        "artist": a.artist,
        "tag_bpm": a.tag_bpm,
        "tempo_bpm": a.tempo_bpm if math.isfinite(a.tempo_bpm) else None,
        "tempo_confidence": a.tempo_confidence,
        "beat_strength": a.beat_strength,
        "octave_reason": a.octave_reason,
        "duration_s": a.duration_s,
        "sfreq": a.sfreq,
        "n_channels": a.n_channels,
        "loudness": a.loudness if math.isfinite(a.loudness) else None,
        "loudness_method": a.loudness_method,
        "energy_rms_dbfs": a.energy_rms_dbfs if math.isfinite(a.energy_rms_dbfs) else None,
        "decoder": a.decoder,
    }


_ANALYSIS_COLUMNS = (
    "title",
    "artist",
    "tag_bpm",
    "tempo_bpm",
    "tempo_confidence",
    "beat_strength",
    "octave_reason",
    "duration_s",
    "sfreq",
    "n_channels",
    "loudness",
    "loudness_method",
    "energy_rms_dbfs",
    "decoder",
)


def _nan(v) -> float:
    return math.nan if v is None else float(v)


class MusicLibrary:
    """The music library of a store.

    Parameters
    ----------
    store_dir : path-like
        Store directory (its database holds the library).
    url : str | None
        Database URL instead of the store's SQLite file.
    create : bool
        Create the store when missing (``scan``); False for readers (``list``, ``playlist``):
        a missing store is then a :class:`~addictidx._core.errors.StoreError`.
    """

    def __init__(
        self, store_dir: str | Path, *, url: str | None = None, create: bool = True
    ) -> None:
        from addictidx.store.database import DB_URL_ENV, Database

        url = url if url is not None else os.environ.get(DB_URL_ENV) or None
        store_dir = Path(store_dir)
        if create:
            store_dir.mkdir(parents=True, exist_ok=True)
        self.db = Database(store_dir, url, create=create)
        self.table = music_table()
        self.table.create(self.db.engine, checkfirst=True)

    def close(self) -> None:
        """Release the database connections."""
        self.db.close()

    def __enter__(self) -> MusicLibrary:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- scanning ------------------------------------------------------------------------------
    def scan(
        self,
        directory: str | Path,
        *,
        on_file: Callable[[int, int, Path], None] | None = None,
    ) -> ScanReport:
        """Analyse the new and changed audio files under ``directory``.

        Parameters
        ----------
        directory : path-like
            Folder to scan (recursively).
        on_file : callable | None
            ``on_file(done, total, path)`` after each file (progress).

        Raises
        ------
        NotADirectoryError
            ``directory`` is not a folder.
        """
        from addictidx.store.database import utc_now

        d = Path(directory)
        if not d.is_dir():
            raise NotADirectoryError(f"{directory}: not a folder (music scan DIR).")
        files = list(iter_audio_files(d))
        t = self.table
        known = {r.path: r for r in self.db.rows(t.select())}
        rep = ScanReport()
        for k, p in enumerate(files):
            path = str(p.resolve())
            try:
                st = p.stat()
            except OSError as exc:
                rep.failed.append(f"{p}: cannot read ({exc.strerror or exc}).")
                continue
            row = known.get(path)
            base = {"size_bytes": st.st_size, "mtime_ns": st.st_mtime_ns, "scanned_utc": utc_now()}
            if (
                row is not None
                and row.size_bytes == st.st_size
                and row.mtime_ns == st.st_mtime_ns
                and row.analysis_version == ANALYSIS_VERSION
            ):
                rep.unchanged += 1
                if row.error:
                    rep.failed.append(f"{p}: {row.error} (unchanged since the last scan)")
            else:
                self._analyse_one(p, path, row, base, rep)
            if on_file is not None:
                on_file(k + 1, len(files), p)
        return rep

    def _analyse_one(self, p: Path, path: str, row, base: dict, rep: ScanReport) -> None:
        t = self.table
        try:
            sha = file_sha256(p)
        except OSError as exc:
            rep.failed.append(f"{p}: cannot read ({exc.strerror or exc}).")
            return
        same = self.db.rows(
            t.select().where(
                (t.c.sha256 == sha)
                & (t.c.analysis_version == ANALYSIS_VERSION)
                & t.c.error.is_(None)
            )
        )
        if same:
            src = same[0]._mapping
            values = {c: src[c] for c in _ANALYSIS_COLUMNS}
            values.update(sha256=sha, analysis_version=ANALYSIS_VERSION, error=None)
            rep.reused += 1
        else:
            try:
                values = _row_values(analyse_file(p, sha256=sha))
                rep.analysed += 1
            except AudioDecodeError as exc:
                msg = str(exc)
                rep.failed.append(msg)
                values = {"sha256": sha, "analysis_version": ANALYSIS_VERSION}
                values["error"] = msg.split(": ", 1)[1] if ": " in msg else msg
                for c in _ANALYSIS_COLUMNS:
                    values[c] = None
        values.update(base)
        with self.db.begin() as con:
            if row is None:
                con.execute(t.insert().values(path=path, **values))
            else:
                con.execute(t.update().where(t.c.id == row.id).values(**values))

    # -- reading -------------------------------------------------------------------------------
    def tracks(self, *, with_tempo: bool = False) -> list[Track]:
        """The playable tracks (decoded without error), by id."""
        t = self.table
        rows = self.db.rows(t.select().where(t.c.error.is_(None)).order_by(t.c.id))
        out = [self._track(r) for r in rows]
        return [tr for tr in out if math.isfinite(tr.tempo_bpm)] if with_tempo else out

    def failed(self) -> list[tuple[str, str]]:
        """``(path, error)`` of files that could not be decoded."""
        t = self.table
        rows = self.db.rows(t.select().where(t.c.error.is_not(None)).order_by(t.c.id))
        return [(r.path, r.error) for r in rows]

    def track(self, track_id: int) -> Track | None:
        """One playable track by id (None when unknown or undecodable)."""
        t = self.table
        rows = self.db.rows(t.select().where((t.c.id == int(track_id)) & t.c.error.is_(None)))
        return self._track(rows[0]) if rows else None

    @staticmethod
    def _track(r) -> Track:
        return Track(
            id=int(r.id),
            path=r.path,
            title=r.title,
            artist=r.artist,
            tag_bpm=r.tag_bpm,
            tempo_bpm=_nan(r.tempo_bpm),
            tempo_confidence=_nan(r.tempo_confidence),
            beat_strength=_nan(r.beat_strength),
            duration_s=_nan(r.duration_s),
            loudness=_nan(r.loudness),
            loudness_method=r.loudness_method or "",
            energy_rms_dbfs=_nan(r.energy_rms_dbfs),
            sha256=r.sha256,
            size_bytes=int(r.size_bytes),
            mtime_ns=int(r.mtime_ns),
        )

    def playable_file(self, track_id: int) -> Path | None:
        """The file of a track, only if it is still the file that was scanned.

        Returns ``None`` for an unknown id, a file that is gone, not a regular file, or
        changed since the scan (size or modification time differ).
        """
        tr = self.track(track_id)
        if tr is None:
            return None
        p = Path(tr.path)
        try:
            st = p.stat()
        except OSError:
            return None
        if not p.is_file() or st.st_size != tr.size_bytes or st.st_mtime_ns != tr.mtime_ns:
            return None
        return p
