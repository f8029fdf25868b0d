"""Readers for the recordings the simulated devices replay.

* :func:`read_muse_csv` reads a muse-lsl CSV (``timestamps,TP9,AF7,AF8,TP10,Right AUX,Marker0``,
  µV, 256 Hz) into ``(data, times, ch_names, sfreq)``. Columns are found by **name**, so files that
  order them differently (or have ``Marker`` instead of ``Marker0``) read the same.
* :func:`read_rr_text` reads RR intervals in seconds, one per line (PhysioNet RR text exports),
  skipping comment and stray non-numeric lines.
* :func:`bundled_muse_eeg` and :func:`bundled_rr` read the small real excerpts shipped in
  ``addictidx/data`` (see its README for sources and licences).

Bad input raises one :class:`~addictidx._core.errors.DataFormatError` naming the file, the line
and (for CSV) the column.
"""

from __future__ import annotations

import functools
import gzip
import io
import logging
import os
from collections.abc import Sequence
from importlib import resources
from typing import IO

import numpy as np

from addictidx._core.errors import DataFormatError
from addictidx._core.validate import check_option

__all__ = [
    "MUSE_EEG_CHANNELS",
    "BUNDLED_MUSE_EEG",
    "BUNDLED_RR",
    "read_muse_csv",
    "read_rr_text",
    "bundled_muse_eeg",
    "bundled_rr",
]

logger = logging.getLogger(__name__)

#: The four EEG electrodes of every Muse, in the order muse-lsl writes them.
MUSE_EEG_CHANNELS: tuple[str, ...] = ("TP9", "AF7", "AF8", "TP10")
#: File name of the bundled Muse excerpt in ``addictidx.data``.
BUNDLED_MUSE_EEG = "muse_eeg_notebooks_n170_subject2.csv.gz"
#: File name of the bundled RR excerpt in ``addictidx.data``.
BUNDLED_RR = "nsr2db_nsr004_rr_15min.txt.gz"


def _open_text(path_or_file) -> tuple[IO[str], str, bool]:
    """Return ``(text_stream, display_name, must_close)``; ``.gz`` files are decompressed."""
    if isinstance(path_or_file, (str, os.PathLike)):
        name = os.fspath(path_or_file)
        try:
            raw = open(name, "rb")
        except OSError as err:
            raise DataFormatError(f"Cannot open {name!r}: {err.strerror or err}.") from None
        if name.endswith(".gz"):
            return io.TextIOWrapper(gzip.GzipFile(fileobj=raw), encoding="utf-8"), name, True
        return io.TextIOWrapper(raw, encoding="utf-8"), name, True
    f = path_or_file
    name = str(getattr(f, "name", "<file object>"))
    if isinstance(f, io.TextIOBase):
        return f, name, False
    # binary file object (possibly gzip-compressed: peek at the magic number when possible)
    if hasattr(f, "peek"):
        if f.peek(2)[:2] == b"\x1f\x8b":
            f = gzip.GzipFile(fileobj=f)
    elif name.endswith(".gz"):
        f = gzip.GzipFile(fileobj=f)
    return io.TextIOWrapper(f, encoding="utf-8"), name, False


def _read_lines(path_or_file) -> tuple[list[str], str]:
    stream, name, must_close = _open_text(path_or_file)
    try:
        text = stream.read()
    except (OSError, EOFError, UnicodeDecodeError) as err:
        raise DataFormatError(f"Cannot read {name!r}: {err}.") from None
    finally:
        if must_close:
            stream.close()
    return text.splitlines(), name


def read_muse_csv(
    path_or_file,
    *,
    channels: Sequence[str] = MUSE_EEG_CHANNELS,
    sfreq: float | None = 256.0,
    sfreq_tolerance: float = 0.02,
    max_backstep_s: float = 0.1,
) -> tuple[np.ndarray, np.ndarray, list[str], float]:
    """Read a muse-lsl EEG CSV.

    Parameters
    ----------
    path_or_file : str | path-like | file object
        The CSV (``.gz`` is decompressed), or an open text or binary file.
    channels : sequence of str
        Columns to return, in this order, located by header **name** (default the four EEG
        electrodes ``TP9, AF7, AF8, TP10``; add ``"Right AUX"`` for the AUX electrode).
    sfreq : float | None
        Expected sampling frequency in Hz. The mean rate of the ``timestamps`` column,
        ``(n_times - 1) / (last - first)``, must match it within ``sfreq_tolerance`` (relative),
        and this nominal value is returned (muse-lsl writes timestamps rounded to 1 ms, so the
        nominal rate is more exact than any estimate). ``None`` returns the estimate instead.
    sfreq_tolerance : float
        Relative tolerance of the rate check.
    max_backstep_s : float
        Largest backward step of ``timestamps`` accepted. Older muse-lsl versions stamped
        samples from packet arrival and their files step back by up to ~40 ms at times (several
        eeg-notebooks sessions); such steps are kept as they are. A larger step back (e.g. two
        files concatenated) is an error.

    Returns
    -------
    data : ndarray, shape (n_channels, n_times)
        EEG in µV (float64).
    times : ndarray, shape (n_times,)
        The file's ``timestamps`` minus the first one, in seconds, unchanged otherwise (they
        keep the file's packet gaps, 1 ms rounding and small backward steps).
    ch_names : list of str
        Names of the rows of ``data``.
    sfreq : float
        Sampling frequency in Hz.

    Raises
    ------
    DataFormatError
        Missing columns, a row with the wrong number of fields (e.g. a truncated last line), a
        non-numeric value (naming file, line and column), timestamps that jump back, fewer
        than two rows, or a rate that does not match ``sfreq``.
    """
    lines, name = _read_lines(path_or_file)
    if not lines or not lines[0].strip():
        raise DataFormatError(f"{name}: empty file, expected a muse-lsl CSV header on line 1.")
    header = [h.strip() for h in lines[0].split(",")]
    want = ["timestamps", *channels]
    missing = [c for c in want if c not in header]
    if missing:
        raise DataFormatError(
            f"{name}, line 1: missing column(s) {missing}; the header has {header}. "
            "Expected a muse-lsl CSV (timestamps,TP9,AF7,AF8,TP10,Right AUX,Marker0)."
        )
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
    if len(body) < 2:
        raise DataFormatError(f"{name}: needs at least 2 data rows, got {len(body)}.")
    try:
        arr = np.array(body, dtype=np.float64)
    except ValueError:
        arr = None
    if arr is None:  # locate the first bad cell for the message
        for row, i in zip(body, line_numbers):
            for j, cell in enumerate(row):
                try:
                    float(cell)
                except ValueError:
                    raise DataFormatError(
                        f"{name}, line {i}, column {want[j]!r}: {cell.strip()!r} is not a number."
                    ) from None
        raise DataFormatError(f"{name}: could not parse the numeric columns.")  # pragma: no cover

    stamps = arr[:, 0]
    if not np.all(np.isfinite(stamps)):
        k = int(np.flatnonzero(~np.isfinite(stamps))[0])
        raise DataFormatError(f"{name}, line {line_numbers[k]}, column 'timestamps': not finite.")
    dt = np.diff(stamps)
    if np.any(dt < -max_backstep_s):
        k = int(np.flatnonzero(dt < -max_backstep_s)[0]) + 1
        raise DataFormatError(
            f"{name}, line {line_numbers[k]}, column 'timestamps': time goes back by more than "
            f"{max_backstep_s} s ({float(stamps[k - 1])!r} -> {float(stamps[k])!r})."
        )
    span = float(stamps[-1] - stamps[0])
    if not span > 0:
        raise DataFormatError(f"{name}: timestamps do not advance (all equal to {stamps[0]!r}).")
    # mean rate over the whole file: robust to the 1 ms rounding of muse-lsl timestamps (the
    # median interval of 1/256 s rounded to ms is 4 ms = 250 Hz); a few dropped packets bias
    # it by far less than the tolerance.
    est = (stamps.size - 1) / span
    if sfreq is not None:
        if abs(est - sfreq) > sfreq_tolerance * sfreq:
            raise DataFormatError(
                f"{name}: sampling rate from the timestamps is {est:.2f} Hz, expected {sfreq} Hz."
            )
        out_sfreq = float(sfreq)
    else:
        out_sfreq = est
    data = np.ascontiguousarray(arr[:, 1:].T)
    return data, stamps - stamps[0], list(channels), out_sfreq


def read_rr_text(path_or_file, *, unit: str = "s", return_skipped: bool = False):
    """Read RR intervals in seconds, one per line.

    Blank lines, ``#`` comment lines and other non-numeric lines (e.g. the stray ``@`` lines of
    some PhysioNet RR exports) are skipped and counted; their number is logged at INFO level.

    Parameters
    ----------
    path_or_file : str | path-like | file object
        The text file (``.gz`` is decompressed) or an open file.
    unit : {"s", "ms"}
        Unit of the values in the file (PhysioNet nsr2db/chf2db exports: seconds; the
        rr-interval-healthy-subjects files: milliseconds). The result is always in seconds.
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
    lines, name = _read_lines(path_or_file)
    values: list[float] = []
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
        if not (np.isfinite(v) and v > 0):
            raise DataFormatError(
                f"{name}, line {i}: RR interval {s!r} is not a finite value > 0 {unit}."
            )
        values.append(v)
    if not values:
        raise DataFormatError(f"{name}: no RR values found ({skipped} lines skipped).")
    if skipped:
        # No file name here: names of recordings can carry subject codes (issue 9: logs never do).
        logger.info("RR text file: skipped %d comment or non-numeric line(s).", skipped)
    rr = np.asarray(values, dtype=np.float64)
    if unit == "ms":
        rr /= 1000.0
    return (rr, skipped) if return_skipped else rr


@functools.lru_cache(maxsize=1)
def _bundled_muse_cached():
    with resources.files("addictidx.data").joinpath(BUNDLED_MUSE_EEG).open("rb") as f:
        data, times, ch, sfreq = read_muse_csv(gzip.GzipFile(fileobj=f, filename=BUNDLED_MUSE_EEG))
    data.setflags(write=False)
    times.setflags(write=False)
    return data, times, tuple(ch), sfreq


def bundled_muse_eeg() -> tuple[np.ndarray, np.ndarray, list[str], float]:
    """Return the bundled 120 s of real Muse EEG (eeg-notebooks N170, subject 2; BSD-3).

    Returns
    -------
    data : ndarray, shape (4, 30732)
        TP9, AF7, AF8, TP10 in µV (a fresh copy on every call).
    times : ndarray, shape (30732,)
        Seconds from the first sample (the file's timestamps, 1 ms resolution).
    ch_names : list of str
        ``["TP9", "AF7", "AF8", "TP10"]``.
    sfreq : float
        256.0 Hz.
    """
    data, times, ch, sfreq = _bundled_muse_cached()
    return data.copy(), times.copy(), list(ch), sfreq


@functools.lru_cache(maxsize=1)
def _bundled_rr_cached() -> np.ndarray:
    with resources.files("addictidx.data").joinpath(BUNDLED_RR).open("rb") as f:
        rr = read_rr_text(gzip.GzipFile(fileobj=f, filename=BUNDLED_RR))
    rr.setflags(write=False)
    return rr


def bundled_rr() -> np.ndarray:
    """Return the bundled 15 min of real RR intervals (PhysioNet nsr2db nsr004; ODC-By 1.0).

    Returns
    -------
    rr_s : ndarray, shape (1019,)
        RR intervals in seconds (on the 1/128 s grid of the source; a fresh copy).
    """
    return _bundled_rr_cached().copy()
