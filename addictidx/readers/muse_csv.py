"""Muse EEG CSVs: muse-lsl (``timestamps,TP9,AF7,AF8,TP10,...``) and Mind Monitor (``RAW_TP9``).

Columns are found by **name**, so files that order them differently read the same. The numbers
are parsed in one vectorized pass (:func:`~addictidx.readers.tables.read_numeric_columns`); only
a file the fast parser refuses is read line by line, to name its first bad line and column.
"""

from __future__ import annotations

import datetime as _dt
import math
import os
from collections.abc import Sequence

import numpy as np

from addictidx._core.errors import DataFormatError
from addictidx.devices import stream_profile
from addictidx.readers.limits import DEFAULT_LIMITS, ReaderLimits, check_samples
from addictidx.readers.recording import Annotation, Recording, scan_steps, timestamp_gaps
from addictidx.readers.tables import read_numeric_columns, read_typed_columns
from addictidx.readers.textfile import count_lines, display_name, plain_file_head, read_bytes

__all__ = ["MUSE_EEG_CHANNELS", "read_muse_csv", "read_mind_monitor_csv"]

#: The four EEG electrodes of every Muse, in the order muse-lsl writes them (from the profile).
MUSE_EEG_CHANNELS: tuple[str, ...] = stream_profile("muse-2", "eeg").channels


def _header(raw: bytes, name: str, what: str) -> list[str]:
    first = raw.split(b"\n", 1)[0]
    try:
        line = first.decode("utf-8-sig").strip()
    except UnicodeDecodeError as err:
        raise DataFormatError(f"{name}: not UTF-8 text (byte offset {err.start}).") from None
    if not line:
        raise DataFormatError(f"{name}: empty file, expected a {what} header on line 1.")
    return [h.strip() for h in line.split(",")]


def _check_rows(name: str, source, n_fields: int, n_out: int, limits: ReaderLimits) -> None:
    """Refuse a CSV whose rows could not fit the output bound, before anything is parsed.

    A row holds at least ``2 * n_fields`` bytes (one character and a separator per cell), so
    the file size bounds the rows for free; only when that bound is too large are the lines
    counted exactly (in blocks).
    """
    size = len(source) if isinstance(source, (bytes, bytearray)) else os.path.getsize(source)
    if 8 * n_out * (size // (2 * max(n_fields, 1)) + 1) <= limits.max_output_bytes:
        return
    check_samples(name, n_out, count_lines(source) - 1, limits)


def _line_of_row(raw: bytes | None, path_or_file, k: int) -> int:
    """1-based line number of data row ``k`` (blank lines are not rows); for messages only."""
    if raw is None:
        raw, _ = read_bytes(path_or_file)
    seen = -1
    for i, line in enumerate(raw.split(b"\n")[1:], start=2):
        if line.strip():
            seen += 1
            if seen == k:
                return i
    return k + 2  # pragma: no cover - k is always a row index


def _lines_to_array(raw: bytes, name: str, header: list[str], want: list[str]) -> np.ndarray:
    """The line-by-line reader: slow, but names the first bad line and column."""
    try:
        lines = raw.decode("utf-8-sig").splitlines()
    except UnicodeDecodeError as err:
        raise DataFormatError(f"{name}: not UTF-8 text (byte offset {err.start}).") from None
    cols = [header.index(c) for c in want]
    n_fields = len(header)
    body: list[list[str]] = []
    line_numbers: list[int] = []
    for i, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        fields = line.split(",")
        if len(fields) != n_fields:
            raise DataFormatError(
                f"{name}, line {i}: expected {n_fields} comma-separated fields "
                f"({','.join(header)}), got {len(fields)} (truncated or malformed row)."
            )
        body.append([fields[c] for c in cols])
        line_numbers.append(i)
    for row, i in zip(body, line_numbers):
        for j, cell in enumerate(row):
            try:
                float(cell)
            except ValueError:
                raise DataFormatError(
                    f"{name}, line {i}, column {want[j]!r}: {cell.strip()!r} is not a number."
                ) from None
    if not body:
        return np.empty((len(want), 0))
    return np.array(body, dtype=np.float64).T


def read_muse_csv(
    path_or_file,
    *,
    channels: Sequence[str] = MUSE_EEG_CHANNELS,
    sfreq: float | None = 256.0,
    sfreq_tolerance: float = 0.02,
    max_backstep_s: float = 0.1,
    gap_s: float = 0.1,
    limits: ReaderLimits = DEFAULT_LIMITS,
) -> Recording:
    """Read a muse-lsl EEG CSV.

    Parameters
    ----------
    path_or_file : str | path-like | file object
        The CSV (gzip content is decompressed), or an open text or binary file.
    channels : sequence of str
        Columns to return, in this order, located by header **name** (default the four EEG
        electrodes ``TP9, AF7, AF8, TP10``; add ``"Right AUX"`` for the AUX electrode).
    sfreq : float | None
        Expected sampling frequency in Hz. The mean rate of the ``timestamps`` column (samples per
        second over the steps not longer than ``gap_s``) must match it within ``sfreq_tolerance``
        (relative), and this nominal value is returned (muse-lsl writes timestamps rounded to 1 ms,
        so the nominal rate is more exact than any estimate). ``None`` returns the estimate instead
        (which must be within ``limits``).
    sfreq_tolerance : float
        Relative tolerance of the rate check.
    max_backstep_s : float
        Largest backward step of ``timestamps`` accepted. Older muse-lsl versions stamped
        samples from packet arrival and their files step back by up to ~40 ms at times (several
        eeg-notebooks sessions); such steps are kept as they are. A larger step back (e.g. two
        files concatenated) is an error.
    gap_s : float
        A forward step of ``timestamps`` longer than this is reported as a :class:`Gap` (lost
        packets). The samples stay contiguous in ``data``; ``times`` keeps the jump.
    limits : ReaderLimits
        Bounds on the rate and the output size.

    Returns
    -------
    recording : Recording
        ``data`` (n_channels, n_times) in µV, ``times`` (the file's ``timestamps`` minus the
        first one, unchanged otherwise: they keep packet gaps, 1 ms rounding and small
        backward steps), ``gaps`` for the jumps, ``sfreq``.

    Raises
    ------
    DataFormatError
        Missing columns, a row with the wrong number of fields (e.g. a truncated last line), a
        non-numeric value (naming file, line and column), timestamps that jump back, fewer
        than two rows, or a rate that does not match ``sfreq``.
    """
    head = plain_file_head(path_or_file)
    if head is not None:  # a plain file: parsed by path in blocks, never held whole
        raw, name = None, display_name(path_or_file)
        header = _header(head, name, "muse-lsl CSV")
    else:
        raw, name = read_bytes(path_or_file)
        header = _header(raw, name, "muse-lsl CSV")
    want = ["timestamps", *channels]
    missing = [c for c in want if c not in header]
    if missing:
        raise DataFormatError(
            f"{name}, line 1: missing column(s) {missing}; the header has {header}. "
            "Expected a muse-lsl CSV (timestamps,TP9,AF7,AF8,TP10,Right AUX,Marker0)."
        )
    source = path_or_file if raw is None else raw
    # bound the output before the parser allocates it: at most one row per line
    _check_rows(name, source, len(header), len(want), limits)
    arr = read_numeric_columns(source, header, want)
    if arr is None:
        if raw is None:
            raw, name = read_bytes(path_or_file)
        arr = _lines_to_array(raw, name, header, want)
    if arr.shape[1] < 2:
        raise DataFormatError(f"{name}: needs at least 2 data rows, got {arr.shape[1]}.")
    stamps = arr[0]
    if not np.isfinite(stamps).all():
        k = int(np.flatnonzero(~np.isfinite(stamps))[0])
        line = _line_of_row(raw, path_or_file, k)
        raise DataFormatError(f"{name}, line {line}, column 'timestamps': not finite.")
    steps = scan_steps(stamps, gap_s, max_backstep_s)  # np.diff's steps, blockwise
    if steps.first_back >= 0:
        k = steps.first_back + 1
        raise DataFormatError(
            f"{name}, line {_line_of_row(raw, path_or_file, k)}, column 'timestamps': time goes "
            "back by more than "
            f"{max_backstep_s} s ({float(stamps[k - 1])!r} -> {float(stamps[k])!r})."
        )
    span = float(stamps[-1] - stamps[0])
    if not span > 0:
        raise DataFormatError(f"{name}: timestamps do not advance (all equal to {stamps[0]!r}).")
    # mean rate over the whole file, gaps (steps > gap_s) left out: robust to the 1 ms
    # rounding of muse-lsl timestamps (the median interval of 1/256 s rounded to ms is 4 ms =
    # 250 Hz); a few dropped packets shorter than gap_s bias it by far less than the tolerance.
    n_steady = stamps.size - 1 - steps.jump_index.size
    steady_s = span - float(steps.jump_s.sum())
    est = n_steady / steady_s if n_steady and steady_s > 0 else 0.0
    if sfreq is not None:
        if abs(est - sfreq) > sfreq_tolerance * sfreq:
            raise DataFormatError(
                f"{name}: sampling rate from the timestamps is {est:.2f} Hz, expected {sfreq} Hz."
            )
        out_sfreq = float(sfreq)
    else:
        from addictidx.readers.limits import check_rate

        out_sfreq = check_rate(name, est, limits, "sampling rate from the timestamps")
    del raw
    times = np.subtract(stamps, stamps[0], out=stamps)  # in place: no second 1-h copy
    data = arr[1:]
    return Recording(
        data=data,
        sfreq=out_sfreq,
        ch_names=tuple(channels),
        units=("uV",) * len(channels),
        rr_s=None,
        source=f"{_base(name)} (muse-lsl CSV)",
        times=times,
        gaps=timestamp_gaps(times, out_sfreq, gap_s, "timestamps jump"),
    )


def _base(name: str) -> str:
    return name.replace("\\", "/").rsplit("/", 1)[-1]


def read_mind_monitor_csv(
    path_or_file, *, gap_s: float = 0.1, limits: ReaderLimits = DEFAULT_LIMITS
) -> Recording:
    """Read the raw EEG of a Mind Monitor CSV export (columns found by name).

    ``TimeStamp`` (local time ``yyyy-MM-dd HH:mm:ss.SSS``) and ``RAW_TP9, RAW_AF7, RAW_AF8,
    RAW_TP10`` (µV) are used; marker rows (an ``Elements`` value and blank data columns) become
    annotations; blank EEG cells are NaN. The sampling rate is estimated from the time stamps
    (Mind Monitor writes 256 Hz raw when "recording interval" is "constant"; an estimate within
    5 % of 256 Hz is returned as 256).

    Parameters
    ----------
    path_or_file : str | path-like | file object
        The CSV (gzip content is decompressed).
    gap_s : float
        A forward step of the time stamps longer than this is reported as a :class:`Gap`.
    limits : ReaderLimits
        Bounds on the rate and the output size.

    Returns
    -------
    recording : Recording
    """
    raw, name = read_bytes(path_or_file)
    header = _header(raw, name, "Mind Monitor CSV")
    want = ["TimeStamp"] + [f"RAW_{c}" for c in MUSE_EEG_CHANNELS]
    check_samples(name, len(want), count_lines(raw) - 1, limits)
    if all(c in header for c in want):
        types = {"TimeStamp": "time_ms", **{c: "float" for c in want[1:]}}
        if "Elements" in header:
            types["Elements"] = "text"
        cols = read_typed_columns(raw, types)
        if cols is not None:
            del raw
            return _mind_monitor_from_columns(cols, want, name, gap_s, limits)
    return _mind_monitor_lines(raw, name, gap_s, limits)


def _mind_monitor_from_columns(cols, want, name, gap_s, limits) -> Recording:
    """The vectorized Mind Monitor path: marker rows -> annotations, blank EEG cells -> NaN."""
    st_ms = cols["TimeStamp"]
    eeg = np.vstack([cols[c] for c in want[1:]])
    blank = np.isnan(eeg).all(axis=0)
    el = cols.get("Elements")
    marker = blank & cols["Elements:present"] if el is not None else np.zeros_like(blank)
    keep = ~marker  # as the line reader: other rows with blank EEG cells are NaN samples
    st = st_ms[keep] / 1000.0
    data = np.ascontiguousarray(eeg[:, keep])
    if data.shape[1] < 2:
        raise DataFormatError(f"{name}: needs at least 2 EEG rows, got {data.shape[1]}.")
    marks = [(st_ms[i] / 1000.0, str(el[i]).strip()) for i in np.flatnonzero(marker)]
    return _mind_monitor_recording(name, st, data, marks, gap_s, limits)


def _mind_monitor_lines(raw: bytes, name: str, gap_s: float, limits) -> Recording:
    """The line-by-line Mind Monitor reader (names a bad line and column)."""
    import csv
    import io

    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise DataFormatError(f"{name}: not UTF-8 text (byte offset {err.start}).") from None
    del raw
    try:
        rows = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as exc:
        raise DataFormatError(f"{name}: cannot read as CSV ({exc}).") from None
    if not rows:
        raise DataFormatError(f"{name}: empty file, expected a Mind Monitor CSV header.")
    header = [h.strip() for h in rows[0]]
    want = ["TimeStamp"] + [f"RAW_{c}" for c in MUSE_EEG_CHANNELS]
    missing = [c for c in want if c not in header]
    if missing:
        raise DataFormatError(f"{name}, line 1: missing Mind Monitor column(s) {missing}.")
    cols = [header.index(c) for c in want]
    el = header.index("Elements") if "Elements" in header else None
    stamps: list[float] = []
    values: list[list[float]] = []
    marks: list[tuple[float, str]] = []
    for i, row in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in row):
            continue
        if len(row) < len(header):
            row = row + [""] * (len(header) - len(row))
        try:
            ts = _dt.datetime.strptime(row[cols[0]].strip(), "%Y-%m-%d %H:%M:%S.%f").timestamp()
        except ValueError:
            raise DataFormatError(
                f"{name}, line {i}, column 'TimeStamp': {row[cols[0]]!r} is not "
                "'yyyy-MM-dd HH:mm:ss.SSS'."
            ) from None
        cells = [row[c].strip() for c in cols[1:]]
        if el is not None and row[el].strip() and not any(cells):
            marks.append((ts, row[el].strip()))
            continue
        try:
            values.append([float(c) if c else math.nan for c in cells])
        except ValueError:
            bad = next(c for c in cells if c and not _is_float(c))
            j = cells.index(bad)
            raise DataFormatError(
                f"{name}, line {i}, column {want[j + 1]!r}: {bad!r} is not a number."
            ) from None
        stamps.append(ts)
    if len(values) < 2:
        raise DataFormatError(f"{name}: needs at least 2 EEG rows, got {len(values)}.")
    data = np.asarray(values, dtype=np.float64).T
    return _mind_monitor_recording(name, np.asarray(stamps), data, marks, gap_s, limits)


def _mind_monitor_recording(name, st, data, marks, gap_s, limits) -> Recording:
    span = st[-1] - st[0]
    if not span > 0:
        raise DataFormatError(f"{name}: time stamps do not advance.")
    dt = np.diff(st)
    steady = dt[dt <= gap_s]  # gaps left out; repeated stamps (per-packet stamping) kept
    total = float(steady.sum())
    sfreq = steady.size / total if total > 0 else (st.size - 1) / span
    if abs(sfreq - 256.0) < 0.05 * 256.0:
        sfreq = 256.0
    else:
        from addictidx.readers.limits import check_rate

        check_rate(name, sfreq, limits, "sampling rate from the time stamps")
    times = st - st[0]
    return Recording(
        data=data,
        sfreq=float(sfreq),
        ch_names=MUSE_EEG_CHANNELS,
        units=("uV",) * 4,
        rr_s=None,
        source=f"{_base(name)} (Mind Monitor CSV)",
        times=times,
        gaps=timestamp_gaps(times, float(sfreq), gap_s, "time stamps jump"),
        annotations=tuple(Annotation(float(t - st[0]), 0.0, text) for t, text in marks),
    )


def _is_float(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return False
    return True
