"""Fast numeric parsing of CSV tables: pyarrow's C++ reader when installed, else numpy.

:func:`read_numeric_columns` returns the named columns of a CSV as one float64 array, or
``None`` when the fast parser refuses the file (a ragged row, a non-numeric cell, an empty
cell): the caller then reads it line by line, which names the first bad line and column. Both
parsers give exactly Python's ``float()`` of each cell (pyarrow parses with fast_float,
correctly rounded; numpy with ``strtod``).

The text is handed to pyarrow in pieces of whole lines of about 4 MB (a plain file is read
piece by piece, never held whole), and each piece's columns are copied into the output at
once: peak memory is about the output plus one piece, not the parsed columns twice.
"""

from __future__ import annotations

import importlib.util
import io
import os
from collections.abc import Sequence

import numpy as np

__all__ = ["read_numeric_columns", "read_typed_columns"]

_BLOCK = 1 << 20  # 1 MB text blocks: same CPU as 4 MB, 14 MB less memory on 1 h of EEG
#: Whole-line pieces handed to Arrow one at a time by :func:`read_numeric_columns` (one Arrow
#: block each; 4 MB: fewer calls than 1 MB for the same memory bound).
_PIECE = 1 << 22


def _chunks(source, limit: int):
    """The data rows of a CSV (header line dropped) in whole-line pieces of about ``_PIECE``.

    Yields ``bytes`` or ``memoryview`` pieces ending at a newline (the last may not); raises
    ``ValueError`` when a line is longer than ``limit`` bytes.
    """
    if isinstance(source, (bytes, bytearray)):
        view = memoryview(source)
        nl = source.find(b"\n", 0, limit)
        if nl < 0:
            if len(source) > limit:
                raise ValueError("line too long")
            return  # a header and nothing else
        a = nl + 1
        while a < len(source):
            b = min(a + _PIECE, len(source))
            if b < len(source):
                cut = source.rfind(b"\n", a, b) + 1 or source.find(b"\n", b, a + limit) + 1
                if cut == 0:
                    raise ValueError("line too long")
                b = cut
            yield view[a:b]
            a = b
        return
    with open(source, "rb") as f:
        head = f.readline(limit)
        if head and not head.endswith(b"\n") and f.read(1):
            raise ValueError("line too long")
        # one buffer, refilled in place: the pieces are views of it, valid until the next one
        buf = bytearray(2 * _PIECE)
        view = memoryview(buf)
        kept = 0  # bytes of an unfinished line carried to the front
        while True:
            if kept + _PIECE > len(buf):  # a line longer than the buffer: a larger one
                if kept > limit:
                    raise ValueError("line too long")
                view.release()
                buf = buf + bytearray(len(buf))
                view = memoryview(buf)
            got = f.readinto(view[kept : kept + _PIECE])
            end = kept + got
            if not got:
                if kept:
                    yield view[:kept]
                return
            cut = buf.rfind(b"\n", 0, end) + 1
            if cut:
                yield view[:cut]
                buf[: end - cut] = buf[cut:end]
            kept = end - cut


def _pyarrow_columns(source, header: Sequence[str], names: Sequence[str]) -> np.ndarray | None:
    """Arrow's parser on ~4 MB pieces of whole lines, each copied into the output at once.

    Parsing piece by piece keeps Arrow's memory at one piece (reused) instead of a second copy
    of every column; the output is sized from the first piece's rows per byte and the file
    size (grown if a later piece is denser), then its rows are moved together.
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv

    if isinstance(source, (bytes, bytearray)):
        size, sample = len(source), bytes(source[:65536])
    else:
        size = os.path.getsize(source)
        with open(source, "rb") as f:
            sample = f.read(65536)
    if sample.count(b"\r") > sample.count(b"\r\n"):  # lines ended by a lone CR
        return _pyarrow_whole(source, names)
    parse_options = pacsv.ParseOptions(newlines_in_values=False)
    convert_options = pacsv.ConvertOptions(
        include_columns=list(names),
        column_types={n: pa.float64() for n in names},
        null_values=[],
        strings_can_be_null=False,
        quoted_strings_can_be_null=False,
    )
    out = np.empty((len(names), 0))
    k = 0
    try:
        for piece in _chunks(source, 2 * _PIECE):
            table = pacsv.read_csv(
                pa.py_buffer(piece),
                read_options=pacsv.ReadOptions(
                    column_names=list(header),
                    block_size=len(piece) + 1,  # one piece, one Arrow block
                    use_threads=False,  # one thread: less CPU in all than the pool here
                ),
                parse_options=parse_options,
                convert_options=convert_options,
            )
            m = table.num_rows
            if k + m > out.shape[1]:
                per_byte = m / max(len(piece), 1)
                cap = max(k + m, int(per_byte * size * 1.02) + 1024, 2 * out.shape[1])
                grown = np.empty((len(names), cap))
                grown[:, :k] = out[:, :k]
                out = grown
            for i in range(len(names)):
                col = table.column(i)
                if col.null_count:
                    return None
                j = k
                for c in col.chunks:
                    buf = c.buffers()[1]
                    out[i, j : j + len(c)] = np.frombuffer(
                        buf, dtype=np.float64, count=len(c), offset=8 * c.offset
                    )
                    j += len(c)
            k += m
            del table
    except (pa.ArrowInvalid, pa.ArrowKeyError, pa.ArrowNotImplementedError, OSError, ValueError):
        return None
    return _packed(out, k)


def _pyarrow_whole(source, names: Sequence[str]) -> np.ndarray | None:
    """Arrow's parser on the whole file at once (lines ended by a lone CR)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    src = pa.py_buffer(source) if isinstance(source, (bytes, bytearray)) else os.fspath(source)
    try:
        table = pacsv.read_csv(
            src,
            # one thread: less CPU in all than the thread pool on these narrow files
            read_options=pacsv.ReadOptions(block_size=_BLOCK, use_threads=False),
            parse_options=pacsv.ParseOptions(newlines_in_values=False),
            convert_options=pacsv.ConvertOptions(
                include_columns=list(names),
                column_types={n: pa.float64() for n in names},
                null_values=[],
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowKeyError, pa.ArrowNotImplementedError, OSError):
        return None
    out = np.empty((len(names), table.num_rows), dtype=np.float64)
    for i, name in enumerate(names):
        col = table.column(name)
        if col.null_count:
            return None
        # zero-copy views of Arrow's buffers, concatenated straight into the output row
        parts = [
            np.frombuffer(c.buffers()[1], dtype=np.float64, count=len(c), offset=8 * c.offset)
            for c in col.chunks
        ]
        if parts:
            np.concatenate(parts, out=out[i])
    del table
    return out


def _packed(out: np.ndarray, k: int) -> np.ndarray:
    """The first ``k`` columns of ``out`` as a C-contiguous array in ``out``'s own memory.

    Row ``i`` moves from offset ``i * cap`` to ``i * k`` of the flat buffer, in pieces no longer
    than the distance moved, so no piece overlaps its source (no temporary copy).
    """
    n_rows, cap = out.shape
    if k == cap:
        return out
    flat = out.reshape(-1)
    for i in range(1, n_rows):
        step = i * (cap - k)  # how far row i moves left
        if step < 4096:  # barely moved: NumPy copies the overlapping row through a buffer
            flat[i * k : (i + 1) * k] = flat[i * cap : i * cap + k]
            continue
        for a in range(0, k, step):
            b = min(a + step, k)
            flat[i * k + a : i * k + b] = flat[i * cap + a : i * cap + b]
    return flat[: n_rows * k].reshape(n_rows, k)


def _numpy_columns(raw: bytes, header: list[str], names: Sequence[str]) -> np.ndarray | None:
    cols = [header.index(n) for n in names]
    try:
        arr = np.loadtxt(
            io.BytesIO(raw), delimiter=",", skiprows=1, usecols=cols, ndmin=2, encoding="utf-8"
        )
    except ValueError:
        return None
    return np.ascontiguousarray(arr.T)


def read_numeric_columns(source, header: list[str], names: Sequence[str]) -> np.ndarray | None:
    """Columns ``names`` of a CSV (header on line 1) as a (n_columns, n_rows) float64 array.

    Parameters
    ----------
    source : bytes | str | path-like
        The whole file content (UTF-8, header included), or the path of a plain (not
        compressed) file.
    header : list of str
        The parsed header line (column names, stripped).
    names : sequence of str
        Columns to return, in this order.

    Returns
    -------
    values : ndarray, shape (len(names), n_rows) | None
        The values, or None if some row is ragged or a cell of a wanted column is not a
        number (the caller's line-by-line reader then names the problem).
    """
    if importlib.util.find_spec("pyarrow") is None:
        if not isinstance(source, (bytes, bytearray)):
            with open(source, "rb") as f:
                source = f.read()
        return _numpy_columns(source, header, names)
    return _pyarrow_columns(source, header, names)


def read_typed_columns(source, types: dict[str, str]) -> dict[str, np.ndarray] | None:
    """Typed columns of a CSV with empty cells allowed, or None (no pyarrow, or refused).

    Parameters
    ----------
    source : bytes | str | path-like
        File content or the path of a plain file.
    types : dict
        Column name -> ``"float"`` (float64, empty = NaN), ``"time_ms"`` (``yyyy-mm-dd
        hh:mm:ss.fff`` -> int64 ms, no empty cell allowed) or ``"text"`` (object array,
        empty = None).

    Returns
    -------
    columns : dict of ndarray | None
    """
    if importlib.util.find_spec("pyarrow") is None:
        return None
    import pyarrow as pa
    import pyarrow.csv as pacsv

    arrow = {"float": pa.float64(), "time_ms": pa.timestamp("ms"), "text": pa.string()}
    src = pa.py_buffer(source) if isinstance(source, (bytes, bytearray)) else os.fspath(source)
    try:
        table = pacsv.read_csv(
            src,
            read_options=pacsv.ReadOptions(block_size=_BLOCK, use_threads=False),
            convert_options=pacsv.ConvertOptions(
                include_columns=list(types),
                column_types={k: arrow[v] for k, v in types.items()},
                null_values=[""],
                strings_can_be_null=True,
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowKeyError, pa.ArrowNotImplementedError, OSError):
        return None
    out: dict[str, np.ndarray] = {}
    for name, kind in types.items():
        col = table.column(name)
        if kind == "time_ms":
            if col.null_count:
                return None
            out[name] = col.cast(pa.int64()).to_numpy()
        elif kind == "float":
            out[name] = col.to_numpy().astype(np.float64, copy=False)
        else:
            import pyarrow.compute as pc

            out[name] = col.to_numpy(zero_copy_only=False)
            valid = pc.and_(pc.is_valid(col), pc.not_equal(pc.utf8_trim_whitespace(col), ""))
            out[name + ":present"] = valid.to_numpy(zero_copy_only=False).astype(bool)
    return out
