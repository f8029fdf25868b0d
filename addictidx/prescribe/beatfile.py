"""Read a beat file for the closed-loop controller: CSV with columns ``t_s,rr_s``, one row per beat.

``t_s`` is the time of the beat in seconds, ``rr_s`` the RR interval ending at it in seconds.
Missing beats mean silence (no rows). Other columns are ignored on purpose: in particular a strap
HR column is never read, because the controller works on RR-derived HR only. ``.gz`` files are
decompressed.
"""

from __future__ import annotations

import csv
import gzip
import io
import math
from pathlib import Path

import numpy as np

from addictidx._core.errors import DataFormatError

__all__ = ["read_beat_csv", "write_beat_csv"]


def read_beat_csv(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(t_s, rr_s)`` arrays from a beat CSV.

    Raises
    ------
    DataFormatError
        Naming the file and line, if the header lacks ``t_s`` or ``rr_s``, a value is not a
        number, an RR is not > 0, or times go backwards.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise DataFormatError(f"{path}: cannot read beat file ({err.strerror or err}).") from None
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as err:
            raise DataFormatError(f"{path}: corrupt gzip data ({err}).") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise DataFormatError(f"{path}: not UTF-8 text (byte offset {err.start}).") from None
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if header is None:
        raise DataFormatError(f"{path}: empty file (expected a header 't_s,rr_s').")
    cols = [h.strip().lower() for h in header]
    missing = [c for c in ("t_s", "rr_s") if c not in cols]
    if missing:
        raise DataFormatError(
            f"{path}, line 1: header {header!r} lacks column(s) {missing} (expected 't_s,rr_s')."
        )
    it, ir = cols.index("t_s"), cols.index("rr_s")
    ts: list[float] = []
    rrs: list[float] = []
    for line_no, row in enumerate(reader, start=2):
        if not row or all(not c.strip() for c in row):
            continue
        try:
            t = float(row[it])
            rr = float(row[ir])
        except (IndexError, ValueError):
            raise DataFormatError(
                f"{path}, line {line_no}: expected numbers in columns t_s and rr_s, got {row!r}."
            ) from None
        if not (math.isfinite(t) and math.isfinite(rr) and rr > 0):
            raise DataFormatError(
                f"{path}, line {line_no}: t_s must be finite and rr_s > 0, got {row!r}."
            )
        if ts and t < ts[-1]:
            raise DataFormatError(
                f"{path}, line {line_no}: t_s {t:g} is before the previous beat ({ts[-1]:g})."
            )
        ts.append(t)
        rrs.append(rr)
    if not ts:
        raise DataFormatError(f"{path}: no beats found.")
    return np.asarray(ts), np.asarray(rrs)


def write_beat_csv(path: str | Path, t_s, rr_s) -> None:
    """Write ``t_s,rr_s`` rows (6 decimals), the format :func:`read_beat_csv` reads."""
    t = np.asarray(t_s, dtype=np.float64)
    rr = np.asarray(rr_s, dtype=np.float64)
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write("t_s,rr_s\n")
        for a, b in zip(t, rr):
            f.write(f"{a:.6f},{b:.6f}\n")
