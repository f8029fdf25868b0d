"""Which recordings a batch holds: files, folders, a BIDS dataset -> an ordered list of tasks.

Rules (the order is the table's row order, the same on every run):

* a **file** argument is one recording, whatever its name (the readers recognise formats by
  content);
* a **folder** contributes its files whose names end in a recording extension
  (:data:`RECORDING_SUFFIXES`), sorted by name, sub-folders only with ``recursive``; hidden
  files and folders, and README/LICENSE-like documentation files, are skipped;
* a **BIDS dataset** (a folder with ``dataset_description.json``) is searched recursively for
  ``*_eeg.<ext>`` files (``derivatives/``, ``sourcedata/`` and ``code/`` are skipped);
* the tool's own export pair ``NAME_eeg.bdf`` + ``NAME_rr.tsv`` in one folder is one recording
  (the RR file is its RR, not a row of its own);
* ``rr_dir``: each recording ``NAME[_eeg].<ext>`` takes the file of ``rr_dir`` whose name
  without extensions is ``NAME_rr`` or ``NAME`` (one match at most; two are an error row).

Only names are looked at here; contents are read on the workers.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["RecordingTask", "find_recordings", "RECORDING_SUFFIXES", "recording_stem"]

#: File name endings taken from folders (compressed CSV/TSV included).
RECORDING_SUFFIXES = (
    ".csv",
    ".csv.gz",
    ".tsv",
    ".tsv.gz",
    ".txt",
    ".edf",
    ".bdf",
    ".xdf",
    ".xdfz",
)
_BIDS_SKIP = ("derivatives", "sourcedata", "code")
#: Documentation files a data folder often holds (never recordings).
_DOC_PREFIXES = ("readme", "license", "licence", "copying", "changes", "changelog", "notice")


@dataclass(frozen=True)
class RecordingTask:
    """One recording to rescore.

    Attributes
    ----------
    path : str
        The recording file.
    rr_path : str | None
        Its RR file, when separate.
    problem : str | None
        Why it cannot be scored before reading (e.g. two RR candidates); the row carries it.
    """

    path: str
    rr_path: str | None = None
    problem: str | None = None


def _has_suffix(name: str) -> bool:
    low = name.lower()
    return any(low.endswith(s) for s in RECORDING_SUFFIXES)


def _strip_suffix(name: str) -> str:
    low = name.lower()
    for s in sorted(RECORDING_SUFFIXES, key=len, reverse=True):
        if low.endswith(s):
            return name[: -len(s)]
    return name


def recording_stem(name: str) -> str:
    """The name without its recording extension(s) and without a trailing ``_eeg``."""
    name = _strip_suffix(name)
    return name[:-4] if name.endswith("_eeg") else name


def _folder_files(folder: Path, recursive: bool, bids: bool) -> list[Path]:
    out: list[Path] = []
    for root, dirs, files in os.walk(folder):
        rel = Path(root).relative_to(folder)
        dirs[:] = sorted(
            d
            for d in dirs
            if not d.startswith(".") and not (bids and rel == Path(".") and d in _BIDS_SKIP)
        )
        for f in sorted(files):
            if f.startswith(".") or not _has_suffix(f) or f.lower().startswith(_DOC_PREFIXES):
                continue
            if bids and not _strip_suffix(f).endswith("_eeg"):
                continue
            out.append(Path(root) / f)
        if not (recursive or bids):
            break
    return out


def _pair_exports(files: list[Path]) -> list[tuple[Path, Path | None]]:
    """Pair ``NAME_eeg.*`` with ``NAME_rr.tsv`` of the same folder; other files alone."""
    by_key = {(f.parent, f.name): f for f in files}
    taken: set[Path] = set()
    pairs = []
    for f in files:
        if f.name.endswith("_eeg.bdf") or f.name.endswith("_eeg.edf"):
            rr = by_key.get((f.parent, f.name[:-8] + "_rr.tsv"))
            if rr is not None:
                taken.add(rr)
                pairs.append((f, rr))
                continue
        pairs.append((f, None))
    return [(f, rr) for f, rr in pairs if f not in taken]


def _rr_index(rr_dir: Path) -> dict[str, list[Path]]:
    if not rr_dir.is_dir():
        raise FileNotFoundError(f"--rr-dir {str(rr_dir)!r} is not a folder.")
    index: dict[str, list[Path]] = {}
    for f in sorted(rr_dir.iterdir()):
        if f.is_file() and not f.name.startswith("."):
            stem = f.name.split(".", 1)[0]
            index.setdefault(stem, []).append(f)
    return index


def find_recordings(
    paths, *, recursive: bool = False, rr_dir: str | os.PathLike | None = None
) -> list[RecordingTask]:
    """The recordings of ``paths`` in table order (see the module's rules).

    Parameters
    ----------
    paths : sequence of path-like
        Files, folders and BIDS datasets, in the order given.
    recursive : bool
        Search sub-folders of folder arguments.
    rr_dir : path-like | None
        Folder of separate RR files, matched by name.

    Returns
    -------
    list of RecordingTask
        Duplicates (the same file reached twice) are kept once, at the first place.

    Raises
    ------
    FileNotFoundError
        A path does not exist, or ``rr_dir`` is not a folder.
    ValueError
        No recording found.
    """
    found: list[tuple[Path, Path | None]] = []
    for p in map(Path, paths):
        if p.is_file():
            found.append((p, None))
        elif p.is_dir():
            bids = (p / "dataset_description.json").is_file()
            found.extend(_pair_exports(_folder_files(p, recursive, bids)))
        else:
            raise FileNotFoundError(f"No such file or folder: {str(p)!r}.")
    rr_index = _rr_index(Path(rr_dir)) if rr_dir is not None else None
    seen: set[str] = set()
    tasks = []
    for f, rr in found:
        key = os.path.realpath(f)
        if key in seen:
            continue
        seen.add(key)
        problem = None
        if rr_index is not None and rr is None:
            stem = recording_stem(f.name)
            cands = rr_index.get(stem + "_rr", []) + rr_index.get(stem, [])
            if len(cands) > 1:
                names = ", ".join(c.name for c in cands)
                problem = f"two or more RR files in --rr-dir match {f.name!r}: {names}"
            elif cands:
                rr = cands[0]
        tasks.append(RecordingTask(str(f), None if rr is None else str(rr), problem))
    if not tasks:
        where = ", ".join(repr(str(p)) for p in paths)
        hint = "" if recursive else " (sub-folders need --recursive)"
        raise ValueError(f"No recordings found in {where}{hint}.")
    return tasks
