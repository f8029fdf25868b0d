"""The Polar H10 CSV export ``time_ns,ecg_mV,hr_bpm,rr_ms`` (one row per ECG sample).

``hr_bpm`` and ``rr_ms`` are filled only on the rows where the strap reported them. Parsed in
one vectorized pass (pyarrow when installed: ``time_ns`` as exact int64); a file the fast
parser refuses is read line by line to name the bad line.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

import numpy as np

from addictidx._core.errors import DataFormatError
from addictidx.readers.recording import Recording
from addictidx.readers.textfile import read_bytes

__all__ = ["PolarH10Csv", "read_polar_h10_csv", "polar_h10_recording"]

_COLUMNS = ["time_ns", "ecg_mV", "hr_bpm", "rr_ms"]


@dataclass(frozen=True)
class PolarH10Csv:
    """The columns of a Polar H10 CSV.

    Attributes
    ----------
    time_ns : ndarray of int64
        Unix time of each row in ns.
    ecg_mv : ndarray of float64
        ECG in mV.
    hr_bpm, rr_ms : ndarray of float64
        Heart rate and RR interval, NaN on rows without one.
    source : str
        File name.
    """

    time_ns: np.ndarray
    ecg_mv: np.ndarray
    hr_bpm: np.ndarray
    rr_ms: np.ndarray
    source: str


def _fast(raw: bytes):
    if importlib.util.find_spec("pyarrow") is None:
        return None
    import pyarrow as pa
    import pyarrow.csv as pacsv

    types = {
        "time_ns": pa.int64(),
        "ecg_mV": pa.float64(),
        "hr_bpm": pa.float64(),
        "rr_ms": pa.float64(),
    }
    try:
        t = pacsv.read_csv(
            pa.py_buffer(raw),
            convert_options=pacsv.ConvertOptions(
                column_types=types, null_values=[""], strings_can_be_null=False
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowKeyError, pa.ArrowNotImplementedError):
        return None
    if (
        t.column_names != _COLUMNS
        or t.column("time_ns").null_count
        or t.column("ecg_mV").null_count
    ):
        return None
    cols = [t.column(c).to_numpy(zero_copy_only=False) for c in _COLUMNS]
    return (
        cols[0].astype(np.int64),
        *(np.asarray(c, dtype=np.float64) for c in cols[1:]),
    )


def read_polar_h10_csv(path) -> PolarH10Csv:
    """Read the Polar H10 export ``time_ns,ecg_mV,hr_bpm,rr_ms`` (gzip content allowed).

    Returns
    -------
    columns : PolarH10Csv

    Raises
    ------
    DataFormatError
        A wrong header, a row without 4 fields or a non-numeric field (naming file and line).
    """
    raw, name = read_bytes(path)
    head = raw.split(b"\n", 1)[0].decode("utf-8", "replace").strip().lstrip("\ufeff")
    header = [h.strip() for h in head.split(",")] if head else []
    if header[:4] != _COLUMNS:
        raise DataFormatError(
            f"{name}, line 1: expected header {','.join(_COLUMNS)}, got {header}."
        )
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    fast = _fast(raw) if len(header) == 4 else None
    if fast is not None:
        return PolarH10Csv(*fast, source=base)
    try:
        lines = raw.decode("utf-8-sig").splitlines()
    except UnicodeDecodeError as err:
        raise DataFormatError(f"{name}: not UTF-8 text (byte offset {err.start}).") from None
    t = np.empty(len(lines) - 1, dtype=np.int64)
    vals = np.full((len(lines) - 1, 3), np.nan)
    n = 0
    for i, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        f = line.split(",")
        if len(f) != 4:
            raise DataFormatError(f"{name}, line {i}: expected 4 fields, got {len(f)}.")
        try:
            t[n] = int(f[0])
            for j in range(3):
                if f[j + 1].strip():
                    vals[n, j] = float(f[j + 1])
        except (ValueError, OverflowError):
            raise DataFormatError(f"{name}, line {i}: non-numeric field in {line!r}.") from None
        n += 1
    return PolarH10Csv(t[:n], vals[:n, 0], vals[:n, 1], vals[:n, 2], source=base)


def polar_h10_recording(path) -> Recording:
    """A Polar H10 CSV as a :class:`Recording`: ECG (mV) at its rate and every RR interval.

    The rate is the mean over the file of ``time_ns`` (130 Hz on an H10); RR values are the
    file's ``rr_ms`` in file order, in seconds, with the time of their row as beat time.
    """
    c = read_polar_h10_csv(path)
    if c.time_ns.size < 2:
        raise DataFormatError(f"{c.source}: needs at least 2 rows.")
    t = (c.time_ns - c.time_ns[0]) / 1e9
    if not t[-1] > 0 or (np.diff(c.time_ns) < 0).any():
        raise DataFormatError(f"{c.source}: time_ns does not increase.")
    sfreq = (t.size - 1) / t[-1]
    has_rr = np.isfinite(c.rr_ms)
    return Recording(
        data=c.ecg_mv[None, :],
        sfreq=float(sfreq),
        ch_names=("ECG",),
        units=("mV",),
        rr_s=c.rr_ms[has_rr] / 1000.0 if has_rr.any() else None,
        source=f"{c.source} (Polar H10 CSV)",
        times=t,
        rr_times_s=t[has_rr] if has_rr.any() else None,
    )
