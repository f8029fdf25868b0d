"""The rescore table: fixed columns and types, written as Parquet (pyarrow) or CSV.

The format follows the output's extension: ``.parquet``/``.pq`` -> Parquet, ``.csv`` -> CSV
(floats written with ``repr``, so they read back bit for bit). Files are written to a hidden
temporary name beside the target, flushed, fsynced and renamed (a crash leaves the old table or
the new one, never half of one), mode 0600 (the table holds pseudonymous paths and values).
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["COLUMNS", "table_format", "write_table", "read_table"]


def _columns() -> tuple[tuple[str, str], ...]:
    from addictidx.models import FEATURE_NAMES

    head = (
        ("source_path", "string"),
        ("rr_path", "string"),
        ("sha256", "string"),
        ("rr_sha256", "string"),
        ("status", "string"),
        ("error", "string"),
        ("format", "string"),
        ("n_channels", "int64"),
        ("sfreq_hz", "float64"),
        ("duration_s", "float64"),
        ("n_beats", "int64"),
        ("n_gaps", "int64"),
        ("gap_s", "float64"),
        ("notes", "string"),
    )
    feats = tuple((k, "float64") for k in FEATURE_NAMES)
    index = (
        ("index", "float64"),
        ("z", "float64"),
        ("band", "string"),
        ("confidence", "float64"),
        ("baseline", "string"),
        ("reason", "string"),
    )
    zs = tuple((f"z_{k}", "float64") for k in FEATURE_NAMES)
    tail = (
        ("quality_usable", "bool"),
        ("quality_flags", "string"),
        ("quality_reasons", "string"),
        ("quality_per_channel", "string"),
        ("warnings", "string"),
        ("code_version", "string"),
        ("profiles_sha256", "string"),
        ("norms_sha256", "string"),
        ("model_id", "string"),
        ("model_version", "string"),
        ("model_sha256", "string"),
    )
    return head + feats + index + zs + tail


#: (name, type) of every column, in order; types are ``string``, ``int64``, ``float64``, ``bool``.
COLUMNS: tuple[tuple[str, str], ...] = _columns()


def table_format(path: str | os.PathLike) -> str:
    """``"parquet"`` or ``"csv"`` from the extension (one clear error otherwise)."""
    name = str(path).lower()
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    if name.endswith(".csv"):
        return "csv"
    raise ValueError(
        f"--out must end in .parquet, .pq or .csv (the format follows the extension), "
        f"but got {str(path)!r} instead."
    )


def _atomic_write(path: Path, data: bytes) -> None:
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _csv_cell(v: Any, kind: str) -> str:
    if v is None:
        return ""
    if kind == "float64":
        return repr(float(v))
    if kind == "bool":
        return "true" if v else "false"
    return str(v)


def _arrow_table(rows: Sequence[Mapping[str, Any]]):
    import pyarrow as pa

    types = {
        "string": pa.string(),
        "int64": pa.int64(),
        "float64": pa.float64(),
        "bool": pa.bool_(),
    }
    arrays = [pa.array([r.get(n) for r in rows], type=types[t]) for n, t in COLUMNS]
    return pa.Table.from_arrays(arrays, names=[n for n, _ in COLUMNS])


def write_table(rows: Sequence[Mapping[str, Any]], path: str | os.PathLike) -> Path:
    """Write ``rows`` (dicts keyed by :data:`COLUMNS`) to ``path`` atomically, mode 0600."""
    path = Path(path)
    fmt = table_format(path)
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow([n for n, _ in COLUMNS])
        for r in rows:
            w.writerow([_csv_cell(r.get(n), t) for n, t in COLUMNS])
        data = buf.getvalue().encode("utf-8")
    else:
        try:
            import pyarrow.parquet as pq
        except ImportError:
            raise ValueError(
                "Parquet output needs pyarrow: pip install 'addictidx[cluster]', or use --out "
                "TABLE.csv."
            ) from None
        sink = io.BytesIO()
        pq.write_table(_arrow_table(rows), sink, compression="zstd")
        data = sink.getvalue()
    _atomic_write(path, data)
    return path


def _parse(v: str, kind: str) -> Any:
    if v == "":
        return None
    if kind == "float64":
        return float(v)
    if kind == "int64":
        return int(v)
    if kind == "bool":
        return v == "true"
    return v


def read_table(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Rows of a table written by :func:`write_table` (for ``--resume``)."""
    path = Path(path)
    fmt = table_format(path)
    if fmt == "csv":
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            kinds = dict(COLUMNS)
            return [{k: _parse(v, kinds.get(k, "string")) for k, v in r.items()} for r in reader]
    import pyarrow.parquet as pq

    return pq.read_table(path).to_pylist()
