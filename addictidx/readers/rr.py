"""RR-interval files: plain lists, the tool's own beat files, and other tools' exports.

Formats read by :func:`read_rr_file`:

* ``beat_time_s<TAB>rr_ms`` -- the beat-exact ``_rr.tsv`` that ``sessions export`` writes;
* ``t_s,rr_s`` -- the beat CSV of ``loop-sim`` (:func:`read_beat_csv`);
* one RR per line, with or without a header (PhysioNet RR text exports in seconds; Kubios,
  Elite HRV and most apps in milliseconds), ``#`` comments and stray non-numeric lines skipped;
* a table with one RR column named ``rr``, ``rr_s``, ``rr_ms``, ``RR``, ``rri`` ... (comma, tab,
  semicolon or whitespace separated).

Units: a column name ending in ``_ms``/``_s`` states the unit; otherwise the caller's ``unit``
(``"s"`` or ``"ms"``) is used, and without one the unit is detected: a median above 3 can only
be milliseconds (no human RR interval lasts 3 s), so the values are read as ms and the
returned :class:`~addictidx.readers.recording.Recording` carries a one-line note saying so.
The result is always in seconds.
"""

from __future__ import annotations

import logging
import math
import re

import numpy as np

from addictidx._core.errors import DataFormatError
from addictidx._core.validate import check_option
from addictidx.readers.recording import Recording
from addictidx.readers.textfile import read_text

__all__ = [
    "RR_COLUMN_NAMES",
    "RR_MS_THRESHOLD",
    "read_rr_text",
    "read_rr_file",
    "read_beat_csv",
    "rr_unit_from_values",
]

logger = logging.getLogger(__name__)

#: A median RR above this many units cannot be seconds: the values are milliseconds.
RR_MS_THRESHOLD = 3.0

_SPLIT = re.compile(r"[,\t; ]+")
_RR_COLUMNS = ("rr", "rri", "rr_interval", "rr_intervals", "ibi", "nn", "rr_s", "rr_ms")
#: Header names (lower case) of RR columns and beat-time columns this module recognises.
RR_COLUMN_NAMES = (*_RR_COLUMNS, "beat_time_s", "t_s")


def _median(v: np.ndarray) -> float:
    """``np.median`` of a 1-D array, bit for bit (NaN if it holds one), by one sort.

    NumPy's median imports ``numpy.ma`` on its first call (~0.01 CPU-s of a ``rescore``).
    """
    n = v.size
    srt = np.sort(v)  # NaNs sort last
    if n == 0 or np.isnan(srt[-1]):
        return float("nan")
    return float(srt[n // 2] if n % 2 else (srt[n // 2 - 1] + srt[n // 2]) / 2.0)


def rr_unit_from_values(values: np.ndarray) -> str:
    """``"ms"`` if the median of ``values`` is above :data:`RR_MS_THRESHOLD`, else ``"s"``."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    return "ms" if v.size and _median(v) > RR_MS_THRESHOLD else "s"


def _resolve_unit(values: np.ndarray, unit: str | None, name: str) -> tuple[str, tuple[str, ...]]:
    if unit is not None:
        return unit, ()
    found = rr_unit_from_values(values)
    if found == "s":
        return found, ()
    med = _median(np.asarray(values, dtype=np.float64).ravel())
    return found, (f"{name}: RR unit not given; median {med:.4g} > 3, read as milliseconds.",)


def read_rr_text(path_or_file, *, unit: str = "s", return_skipped: bool = False):
    """Read RR intervals, one per line, in the given unit.

    Blank lines, ``#`` comment lines and other non-numeric lines (e.g. the stray ``@`` lines of
    some PhysioNet RR exports, or a header) are skipped and counted; their number is logged at
    INFO level.

    Parameters
    ----------
    path_or_file : str | path-like | file object
        The text file (gzip content is decompressed) or an open file.
    unit : {"s", "ms"}
        Unit of the values in the file (PhysioNet nsr2db/chf2db exports: seconds; the
        rr-interval-healthy-subjects files: milliseconds). The result is always in seconds.
        :func:`read_rr_file` detects the unit when it is not known.
    return_skipped : bool
        Also return the number of skipped lines.

    Returns
    -------
    rr_s : ndarray, shape (n_beats,)
        RR intervals in seconds, in file order.
    n_skipped : int
        Number of skipped lines (only with ``return_skipped=True``).

    Raises
    ------
    DataFormatError
        If a numeric value is not finite or not > 0 (naming file and line), or no value is found.
    """
    check_option("unit", unit, ("s", "ms"))
    text, name = read_text(path_or_file)
    values, lines, skipped = _numbers_per_line(text)
    _check_positive(values, lines, name, unit, text)
    if not values.size:
        raise DataFormatError(f"{name}: no RR values found ({skipped} lines skipped).")
    if skipped:
        # No file name here: names of recordings can carry subject codes (logs never do).
        logger.info("RR text file: skipped %d comment or non-numeric line(s).", skipped)
    rr = values / 1000.0 if unit == "ms" else values
    return (rr, skipped) if return_skipped else rr


def _numbers_per_line(text: str) -> tuple[np.ndarray, np.ndarray, int]:
    """Values of the lines that are one number, their 1-based line numbers, skipped count."""
    # the common case first, vectorized: every line one plain number
    lines = text.splitlines()
    try:
        arr = np.array(lines, dtype=np.float64)
    except ValueError:
        arr = None
    if arr is not None:
        return arr, np.arange(1, arr.size + 1), 0
    vals: list[float] = []
    nums: list[int] = []
    skipped = 0
    for i, line in enumerate(lines, start=1):
        s = line.strip()
        if not s or s.startswith("#"):
            skipped += 1
            continue
        try:
            v = float(s)
        except ValueError:
            skipped += 1
            continue
        vals.append(v)
        nums.append(i)
    return np.asarray(vals, dtype=np.float64), np.asarray(nums, dtype=np.int64), skipped


def _check_positive(
    values: np.ndarray, lines: np.ndarray, name: str, unit: str, text: str
) -> None:
    bad = ~(np.isfinite(values) & (values > 0))
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        cell = text.splitlines()[int(lines[k]) - 1].strip()
        raise DataFormatError(
            f"{name}, line {int(lines[k])}: RR interval {cell!r} is not a finite value > 0 {unit}."
        )


def read_beat_csv(path) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(t_s, rr_s)`` from a beat CSV with columns ``t_s,rr_s`` (one row per beat).

    ``t_s`` is the time of the beat in seconds, ``rr_s`` the RR interval ending at it in
    seconds. Missing beats mean silence (no rows). Other columns are ignored on purpose: in
    particular a strap HR column is never read, because the closed-loop controller works on
    RR-derived HR only. gzip content is decompressed.

    Raises
    ------
    DataFormatError
        Naming the file and line, if the header lacks ``t_s`` or ``rr_s``, a value is not a
        number, an RR is not > 0, or times go backwards.
    """
    text, name = read_text(path)
    lines = text.splitlines()
    if not lines:
        raise DataFormatError(f"{name}: empty file (expected a header 't_s,rr_s').")
    cols = [h.strip().lower() for h in lines[0].split(",")]
    missing = [c for c in ("t_s", "rr_s") if c not in cols]
    if missing:
        raise DataFormatError(
            f"{name}, line 1: header {lines[0]!r} lacks column(s) {missing} (expected 't_s,rr_s')."
        )
    t, rr = _two_columns(lines, name, ",", cols.index("t_s"), cols.index("rr_s"), "t_s", "rr_s")
    return t, rr


def _two_columns(lines, name, sep, it, ir, tname, rname) -> tuple[np.ndarray, np.ndarray]:
    ts: list[float] = []
    rrs: list[float] = []
    for line_no, line in enumerate(lines[1:], start=2):
        row = line.split(sep) if sep else line.split()
        if not row or all(not c.strip() for c in row):
            continue
        try:
            t = float(row[it])
            rr = float(row[ir])
        except (IndexError, ValueError):
            raise DataFormatError(
                f"{name}, line {line_no}: expected numbers in columns {tname} and {rname}, "
                f"got {row!r}."
            ) from None
        if not (math.isfinite(t) and math.isfinite(rr) and rr > 0):
            raise DataFormatError(
                f"{name}, line {line_no}: {tname} must be finite and {rname} > 0, got {row!r}."
            )
        if ts and t < ts[-1]:
            raise DataFormatError(
                f"{name}, line {line_no}: {tname} {t:g} is before the previous beat ({ts[-1]:g})."
            )
        ts.append(t)
        rrs.append(rr)
    if not ts:
        raise DataFormatError(f"{name}: no beats found.")
    return np.asarray(ts), np.asarray(rrs)


def _base(name: str) -> str:
    return name.replace("\\", "/").rsplit("/", 1)[-1]


def read_rr_file(path_or_file, *, unit: str | None = None) -> Recording:
    """Read RR intervals (and beat times when the file has them) from any RR format above.

    Parameters
    ----------
    path_or_file : str | path-like | file object
        The file (gzip content is decompressed).
    unit : {"s", "ms"} | None
        Unit of the RR values when the file does not name it; ``None`` detects it (median > 3
        means milliseconds) and records a one-line note in ``Recording.notes``.

    Returns
    -------
    recording : Recording
        ``data`` None, ``rr_s`` in seconds, ``rr_times_s`` when the file has beat times.

    Raises
    ------
    DataFormatError
        One line naming the file and the problem (no values, a value <= 0, times going back,
        a unit named by the file that contradicts ``unit``).
    """
    if unit is not None:
        check_option("unit", unit, ("s", "ms"))
    text, name = read_text(path_or_file)
    lines = text.splitlines()
    first = next((ln for ln in lines if ln.strip() and not ln.lstrip().startswith("#")), "")
    sep = "\t" if "\t" in first else ("," if "," in first else (";" if ";" in first else None))
    head = [h.strip().lower() for h in (first.split(sep) if sep else first.split())]
    is_header = bool(head) and not all(_is_number(h) for h in head)
    times = None
    notes: tuple[str, ...] = ()
    if is_header and len(head) > 1:
        i0 = lines.index(first)
        tcol = next((c for c in ("beat_time_s", "t_s", "time_s") if c in head), None)
        rcol = next((c for c in _RR_COLUMNS if c in head), None)
        if rcol is None:
            raise DataFormatError(
                f"{name}, line {i0 + 1}: no RR column in header {first!r} (expected one of "
                f"{', '.join(_RR_COLUMNS)}; the tool's own exports have beat_time_s, rr_ms)."
            )
        ir = head.index(rcol)
        if tcol is not None:
            times, values = _two_columns(lines[i0:], name, sep, head.index(tcol), ir, tcol, rcol)
        else:
            values = _one_column(lines[i0 + 1 :], name, sep, ir, rcol, i0 + 2)
        named = "ms" if rcol.endswith("_ms") else ("s" if rcol.endswith("_s") else None)
        if named is not None and unit is not None and unit != named:
            raise DataFormatError(
                f"{name}: column {rcol!r} is in {named}, but the RR unit given is {unit}."
            )
        use, notes = (named, ()) if named is not None else _resolve_unit(values, unit, _base(name))
    else:
        values, nums, skipped = _numbers_per_line(text)
        if not values.size:
            raise DataFormatError(f"{name}: no RR values found ({skipped} lines skipped).")
        use, notes = _resolve_unit(values, unit, _base(name))
        _check_positive(values, nums, name, use, text)
        if skipped:
            logger.info("RR text file: skipped %d comment or non-numeric line(s).", skipped)
    rr = values / 1000.0 if use == "ms" else values
    return Recording(
        data=None,
        sfreq=None,
        ch_names=(),
        units=(),
        rr_s=rr,
        source=f"{_base(name)} (RR, {use})",
        rr_times_s=times,
        notes=notes,
    )


def _one_column(lines, name, sep, ir, rname, first_line_no) -> np.ndarray:
    vals: list[float] = []
    for line_no, line in enumerate(lines, start=first_line_no):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        row = line.split(sep) if sep else line.split()
        try:
            v = float(row[ir])
        except (IndexError, ValueError):
            raise DataFormatError(
                f"{name}, line {line_no}: expected a number in column {rname}, got {line!r}."
            ) from None
        if not (math.isfinite(v) and v > 0):
            raise DataFormatError(f"{name}, line {line_no}: {rname} must be > 0, got {line!r}.")
        vals.append(v)
    if not vals:
        raise DataFormatError(f"{name}: no RR values found.")
    return np.asarray(vals, dtype=np.float64)


def _is_number(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return False
    return True
