"""Fast numeric parsing of CSV tables: pyarrow's C++ reader when installed, else numpy.

:func:`read_numeric_columns` returns the named columns of a CSV as float64 arrays, or ``None``
when the fast parsers refuse the file (a ragged row, a non-numeric cell, an empty cell): the
caller then reads it line by line, which names the first bad line and column. Both parsers
give exactly Python's ``float()`` of each cell (pyarrow parses with fast_float, correctly
rounded; numpy with ``strtod``).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence

import numpy as np

__all__ = ["read_numeric_columns"]


def _pyarrow_columns(raw: bytes, names: Sequence[str]) -> np.ndarray | None:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    try:
        table = pacsv.read_csv(
            pa.py_buffer(raw),
            read_options=pacsv.ReadOptions(block_size=1 << 22),
            parse_options=pacsv.ParseOptions(newlines_in_values=False),
            convert_options=pacsv.ConvertOptions(
                include_columns=list(names),
                column_types={n: pa.float64() for n in names},
                null_values=[],
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowKeyError, pa.ArrowNotImplementedError):
        return None
    out = np.empty((len(names), table.num_rows), dtype=np.float64)
    for i, name in enumerate(names):
        col = table.column(name)
        pos = 0
        for chunk in col.chunks:  # copy chunk by chunk: no concatenated temporary
            n = len(chunk)
            out[i, pos : pos + n] = chunk.to_numpy(zero_copy_only=False)
            pos += n
    del table
    return out


def _numpy_columns(raw: bytes, header: list[str], names: Sequence[str]) -> np.ndarray | None:
    import io

    cols = [header.index(n) for n in names]
    try:
        arr = np.loadtxt(
            io.BytesIO(raw), delimiter=",", skiprows=1, usecols=cols, ndmin=2, encoding="utf-8"
        )
    except ValueError:
        return None
    if arr.shape[1] != len(cols):  # pragma: no cover - loadtxt keeps the requested columns
        return None
    return np.ascontiguousarray(arr.T)


def read_numeric_columns(raw: bytes, header: list[str], names: Sequence[str]) -> np.ndarray | None:
    """Columns ``names`` of the CSV ``raw`` (header on line 1) as a (n_columns, n_rows) array.

    Parameters
    ----------
    raw : bytes
        The whole file (UTF-8, header included).
    header : list of str
        The parsed header line (column names, stripped).
    names : sequence of str
        Columns to return, in this order.

    Returns
    -------
    values : ndarray, shape (len(names), n_rows) | None
        float64 values, or None if some row is ragged or a cell of a wanted column is not a
        number (the caller's line-by-line reader then names the problem).
    """
    if importlib.util.find_spec("pyarrow") is None:
        return _numpy_columns(raw, header, names)
    return _pyarrow_columns(raw, names)
