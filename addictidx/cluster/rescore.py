"""Rescore recordings: one recording -> one table row, on whichever worker holds the file.

:func:`rescore_recording` is today's single-file ``rescore`` (read, features, index against the
population norms); :func:`rescore_row` wraps it as a pure, never-raising task that also hashes
the file and records the versions that produced the row; :func:`rescore_batch` runs the tasks
through a :class:`~addictidx._core.tasks.TaskMap` (serial or Dask) and keeps the input order.

Privacy: the file is opened by the task, i.e. on the worker (its path must be valid there); the
row holds the path as given (pseudonymous names only) and numbers, never signal samples; the
task logs nothing (warnings are caught into the row), writes no file, and its Dask key is
opaque. The index model reaches the worker as bytes (an ``InferenceSession`` cannot be pickled)
and each worker process builds one session per model, cached
(:func:`~addictidx.models.using_index_model`, ``intra_op_num_threads=1``).
"""

from __future__ import annotations

import functools
import json
import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from addictidx._core.tasks import TaskMap, serial_map
from addictidx._core.types import IndexResult, QualityReport

if TYPE_CHECKING:  # annotations only: a one-file rescore does not import discovery
    from addictidx.cluster.discover import RecordingTask

__all__ = [
    "Rescored",
    "RescoreBatch",
    "Versions",
    "current_versions",
    "file_sha256",
    "rescore_recording",
    "rescore_row",
    "rescore_rows",
    "chunk_size_for",
    "MAX_CHUNK",
    "rescore_batch",
    "VERSION_COLUMNS",
]

#: Columns that identify what produced a row (``--resume`` reuses a row only when all match).
VERSION_COLUMNS = (
    "code_version",
    "profiles_sha256",
    "norms_sha256",
    "model_id",
    "model_version",
    "model_sha256",
)


@dataclass(frozen=True)
class Versions:
    """The code, device profiles, norms and model a row was computed with."""

    code_version: str
    profiles_sha256: str
    norms_sha256: str
    model_id: str
    model_version: str
    model_sha256: str

    def as_dict(self) -> dict[str, str]:
        """Column name -> value."""
        return {k: getattr(self, k) for k in VERSION_COLUMNS}


@functools.lru_cache(maxsize=8)
def _package_digest(package: str, suffix: str) -> str:
    from addictidx._core.package_data import package_files

    if package == "addictidx.firmware_profiles":
        from addictidx.devices import profiles_root

        root = profiles_root()  # also from a source checkout, where that package is not mapped
    else:
        root = package_files(package)
    import hashlib

    h = hashlib.sha256()
    for entry in sorted(root.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(suffix):
            h.update(entry.name.encode() + b"\0" + entry.read_bytes() + b"\0")
    return h.hexdigest()


def current_versions(model_raw: bytes) -> Versions:
    """The versions of this installation, with the index model ``model_raw``."""
    import hashlib

    import addictidx
    from addictidx.models import MODEL_ID, MODEL_VERSION

    return Versions(
        code_version=addictidx.__version__,
        profiles_sha256=_package_digest("addictidx.firmware_profiles", ".toml"),
        norms_sha256=_package_digest("addictidx.models", "_norms.toml"),
        model_id=MODEL_ID,
        model_version=MODEL_VERSION,
        model_sha256=hashlib.sha256(model_raw).hexdigest(),
    )


def file_sha256(path: str) -> str:
    """Hex SHA-256 of a file's bytes (read in 1 MiB blocks)."""
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@dataclass(frozen=True)
class RescoreBatch:
    """Rows of a batch, in input order, and how many were reused from an earlier table."""

    rows: tuple[dict[str, Any], ...]
    n_reused: int


@dataclass(frozen=True)
class Rescored:
    """One recording rescored against the population norms.

    Attributes
    ----------
    source : str
        File name and format (the reader's description).
    features : Mapping[str, float | None]
        The four index features (``None`` = unavailable).
    result : IndexResult
        The index, or ``index=None`` with its reason.
    quality : QualityReport
        Signal quality the index depended on.
    n_channels, sfreq_hz, duration_s, n_beats
        What the file held (EEG channels and rate, EEG length, RR intervals).
    gaps : tuple of Gap
        Stretches the file did not deliver (read as missing samples).
    notes : tuple of str
        One-line notes on how the files were read (a detected RR unit, no RR, gaps).
    """

    source: str
    features: Mapping[str, float | None]
    result: IndexResult
    quality: QualityReport
    n_channels: int
    sfreq_hz: float | None
    duration_s: float | None
    n_beats: int
    gaps: tuple = ()
    notes: tuple[str, ...] = ()


def rescore_recording(
    path: str, rr_path: str | None = None, *, rr_unit: str | None = None
) -> Rescored:
    """Read a recording (and its separate RR file) and score the index (population norms).

    The readers check headers against the device profiles' limits before allocating
    (:func:`~addictidx.readers.limits_from_profiles`); stamped samples are put on their grid
    with gaps as missing samples (:func:`~addictidx.readers.recording.fill_gaps`); scoring is
    the one scoring path, :func:`~addictidx.sessions.scoring.score_session`, against the
    population (no person: no personal baseline, no EMG gate).

    Parameters
    ----------
    path : str
        The recording (any format the readers take, recognised by content).
    rr_path : str | None
        A separate file of RR intervals.
    rr_unit : {"s", "ms"} | None
        Unit of RR values in files that do not name it (None: detected, with a note).

    Raises
    ------
    DataFormatError, ValueError
        Unreadable file, or a file with neither EEG nor RR intervals (one line).
    """
    from addictidx.readers import limits_from_profiles, read_recording
    from addictidx.readers.recording import fill_gaps
    from addictidx.sessions.scoring import SessionData, SubjectHistory, score_session

    if rr_path is None:
        from addictidx.sessions.session_xdf import session_data_from_xdf

        session = session_data_from_xdf(path)  # an addictidx session: its marked phases, as live
        if session is not None:
            return _rescored_session(path, session)
    limits = limits_from_profiles()
    rec = fill_gaps(read_recording(path, limits=limits, rr_unit=rr_unit))
    notes = list(rec.notes)
    rr = rec.rr_s
    if rr_path is not None:
        rr_rec = read_recording(rr_path, limits=limits, rr_unit=rr_unit)
        if rr_rec.rr_s is None:
            raise ValueError(f"{rr_path}: holds no RR intervals.")
        rr = rr_rec.rr_s
        notes += list(rr_rec.notes)
    eeg = rec.data if rec.ch_names and rec.units and rec.units[0] == "uV" else None
    if eeg is None and rr is None:
        raise ValueError(f"{path}: holds neither EEG nor RR intervals.")
    data = SessionData(
        eeg,
        rec.sfreq if eeg is not None else None,
        tuple(rec.ch_names) if eeg is not None else (),
        rr,
    )
    score = score_session(data, SubjectHistory.population())  # the one scoring path
    if rr is None:
        notes.append(
            "The recording holds no RR intervals: give them with --rr FILE (the tool's "
            "_rr.tsv, an EDF+ RR export, a beat CSV t_s,rr_s or a list of RR values; --rr-unit "
            "s|ms), or --rr-dir DIR for many."
        )
    if rec.gaps:
        gap_s = sum(g.duration_s for g in rec.gaps)
        notes.append(
            f"{len(rec.gaps)} gap(s), {gap_s:.1f} s in all, read as missing samples (not signal)."
        )
    return Rescored(
        source=rec.source,
        features=score.features_json(),
        result=score.index,
        quality=score.quality,
        n_channels=int(eeg.shape[0]) if eeg is not None else 0,
        sfreq_hz=float(rec.sfreq) if eeg is not None else None,
        duration_s=float(eeg.shape[1] / rec.sfreq) if eeg is not None else None,
        n_beats=0 if rr is None else int(len(rr)),
        gaps=tuple(rec.gaps),
        notes=tuple(notes),
    )


def _rescored_session(path: str, session) -> Rescored:
    """An XDF recording of an addictidx session, scored on the phases its markers delimit."""
    from addictidx.sessions.scoring import SubjectHistory, score_session

    score = score_session(session, SubjectHistory.population())
    eeg, rr = session.eeg, session.rr_s
    base = str(path).replace("\\", "/").rsplit("/", 1)[-1]
    return Rescored(
        source=f"{base} (XDF, addictidx session)",
        features=score.features_json(),
        result=score.index,
        quality=score.quality,
        n_channels=0 if eeg is None else int(eeg.shape[0]),
        sfreq_hz=None if eeg is None else float(session.sfreq),
        duration_s=None if eeg is None else float(eeg.shape[1] / session.sfreq),
        n_beats=0 if rr is None else int(len(rr)),
        notes=(
            f"{base}: an addictidx session recording, scored on its marked phases (eyes-closed "
            "EEG, RR of the scored phases) as the live session was.",
        ),
    )


def _num(v) -> float | None:
    return None if v is None or not math.isfinite(float(v)) else float(v)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _format_of(source: str) -> str:
    """The format part of a reader's ``"NAME (FORMAT)"`` description (the name is a column
    of its own, and a reused row may be under another name)."""
    if source.endswith(")") and " (" in source:
        return source[source.rindex(" (") + 2 : -1]
    return source


def _scored_columns(r: Rescored) -> dict[str, Any]:
    from addictidx.models import FEATURE_NAMES

    res, q = r.result, r.quality
    row: dict[str, Any] = {
        "format": _format_of(r.source),
        "n_channels": r.n_channels,
        "sfreq_hz": r.sfreq_hz,
        "duration_s": r.duration_s,
        "n_beats": r.n_beats,
        "n_gaps": len(r.gaps),
        "gap_s": float(sum(g.duration_s for g in r.gaps)),
        "notes": " | ".join(r.notes) or None,
    }
    row.update({k: _num(r.features.get(k)) for k in FEATURE_NAMES})
    row.update(
        {
            "index": _num(res.index),
            "z": _num(res.z),
            "band": res.band,
            "confidence": _num(res.confidence),
            "baseline": res.baseline,
            "reason": res.reason,
        }
    )
    row.update({f"z_{k}": _num(res.z_features.get(k)) for k in FEATURE_NAMES})
    row.update(
        {
            "quality_usable": bool(q.usable),
            "quality_flags": ";".join(q.flags) or None,
            "quality_reasons": " | ".join(q.reasons) or None,
            "quality_per_channel": json.dumps(
                {k: _num(v) for k, v in sorted(q.per_channel.items())}, sort_keys=True
            ),
        }
    )
    return row


def rescore_row(
    path: str,
    rr_path: str | None,
    problem: str | None,
    *,
    model: bytes,
    rr_unit: str | None = None,
    known: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """Rescore one recording as a table row: a pure task that never raises.

    Parameters
    ----------
    path, rr_path : str
        The recording and its separate RR file (read here, i.e. on the worker).
    problem : str | None
        A problem found before reading (the row's error).
    model : bytes
        The index model to score with (the client's bytes).
    rr_unit : {"s", "ms"} | None
        Unit of RR values in files that do not name it (None: detected).
    known : frozenset of str
        ``"sha256:rr_sha256"`` keys already scored with these versions (``--resume``): such a
        recording is hashed, not scored (``status == "known"``).

    Returns
    -------
    dict
        ``source_path``, ``rr_path``, ``sha256``, ``rr_sha256``, ``status`` (``scored``,
        ``no_index``, ``error`` or ``known``), ``error`` and, when scored, the table's other
        columns (:data:`addictidx.cluster.table.COLUMNS`), with the versions used.
    """
    from threadpoolctl import threadpool_limits

    from addictidx.models import using_index_model

    row: dict[str, Any] = {"source_path": path, "rr_path": rr_path, "sha256": None}
    row["rr_sha256"] = None
    caught: list[str] = []
    try:
        row["sha256"] = file_sha256(path)
        if rr_path is not None:
            row["rr_sha256"] = file_sha256(rr_path)
        if problem is not None:
            raise ValueError(problem)
        if f"{row['sha256']}:{row['rr_sha256']}" in known:
            row["status"] = "known"
            return row
        # one thread: BLAS/FFT results do not depend on how many cores a worker has
        with (
            using_index_model(model),
            threadpool_limits(limits=1),
            warnings.catch_warnings(record=True) as seen,
        ):
            warnings.simplefilter("always")
            rescored = rescore_recording(path, rr_path, rr_unit=rr_unit)
            caught = sorted({f"{w.category.__name__}: {w.message}" for w in seen})
        row.update(_scored_columns(rescored))
        row["status"] = "scored" if rescored.result.index is not None else "no_index"
        row["error"] = None
    except Exception as exc:  # noqa: BLE001 - a bad file is one row with its error
        row["status"], row["error"] = "error", _one_line(exc)
    row["warnings"] = " | ".join(caught) if caught else None
    row.update(current_versions(model).as_dict())
    return row


def rescore_rows(
    items: Sequence[Mapping[str, Any]],
    *,
    model: bytes,
    rr_unit: str | None = None,
    known: frozenset[str] = frozenset(),
) -> list[dict[str, Any]]:
    """:func:`rescore_row` for a few recordings in one task (fewer, larger Dask tasks)."""
    return [rescore_row(**it, model=model, rr_unit=rr_unit, known=known) for it in items]


#: Most recordings per Dask task (each task then holds a few seconds of work).
MAX_CHUNK = 16


def chunk_size_for(n_tasks: int, n_workers: int | None) -> int:
    """Recordings per task: 1 serially; on a cluster about 4 tasks per worker, at most
    :data:`MAX_CHUNK` (the scheduler's per-task cost is paid per chunk, and a lost worker
    loses only its chunks)."""
    if not n_workers:
        return 1
    return max(1, min(MAX_CHUNK, n_tasks // (4 * int(n_workers))))


def rescore_batch(
    tasks: Sequence[RecordingTask],
    *,
    model: bytes,
    task_map: TaskMap | None = None,
    rr_unit: str | None = None,
    previous: Sequence[Mapping[str, Any]] = (),
    on_done: Callable[[int], None] | None = None,
    chunk_size: int | None = None,
) -> RescoreBatch:
    """Rescore many recordings; one row each, in the order of ``tasks``.

    Parameters
    ----------
    tasks : sequence of RecordingTask
        From :func:`~addictidx.cluster.discover.find_recordings`.
    model : bytes
        The index model (sent once to each worker).
    task_map : TaskMap | None
        Where the tasks run (default serial).
    rr_unit : {"s", "ms"} | None
        Unit of RR values in files that do not name it (None: detected per file).
    previous : sequence of dict
        Rows of an earlier table (``--resume``): a recording whose SHA-256 (and its RR file's)
        is there with the current versions and without error is not scored again; its earlier
        row is reused under the current path.
    on_done : callable(int) | None
        Progress: number of finished recordings.
    chunk_size : int | None
        Recordings per task; default :func:`chunk_size_for` the task map's workers (the rows
        do not depend on it).

    Returns
    -------
    RescoreBatch
        ``rows``: one per task (:data:`addictidx.cluster.table.COLUMNS`); ``n_reused``.
    """
    versions = current_versions(model).as_dict()
    reusable = {}
    for r in previous:
        if r.get("status") in ("scored", "no_index") and all(
            r.get(k) == v for k, v in versions.items()
        ):
            reusable[f"{r.get('sha256')}:{r.get('rr_sha256')}"] = r
    shared = {"model": model, "rr_unit": rr_unit, "known": frozenset(reusable)}
    work = [{"path": t.path, "rr_path": t.rr_path, "problem": t.problem} for t in tasks]
    k = chunk_size or chunk_size_for(len(work), getattr(task_map, "n_workers", None))
    chunks = [{"items": work[i : i + k]} for i in range(0, len(work), k)]

    def done(n_chunks: int) -> None:
        if on_done is not None:
            on_done(min(len(work), n_chunks * k))

    rows = [
        row
        for part in (task_map or serial_map)(rescore_rows, chunks, shared, done)
        for row in part
    ]
    out, n_reused = [], 0
    for row in rows:
        if row.get("status") == "known":
            old = dict(reusable[f"{row['sha256']}:{row['rr_sha256']}"])
            old["source_path"], old["rr_path"] = row["source_path"], row["rr_path"]
            row, n_reused = old, n_reused + 1
        out.append(row)
    return RescoreBatch(tuple(out), n_reused)
