"""Read any supported recording, recognised by its content (not its name).

:func:`read_recording` looks at the first bytes: ``0       `` (EDF/EDF+) or ``\\xffBIOSEMI``
(BDF/BDF+), ``XDF:``, gzip, then the CSV/TSV header (muse-lsl ``timestamps,TP9,...``, Mind
Monitor ``TimeStamp,...,RAW_TP9``, Polar H10 ``time_ns,ecg_mV,hr_bpm,rr_ms``, the tool's own
``beat_time_s<TAB>rr_ms``, the beat CSV ``t_s,rr_s``, or a list of RR values). A BDF renamed
``.edf`` is read as the BDF it is. Whatever goes wrong ends as one
:class:`~addictidx._core.errors.DataFormatError` naming the file.
"""

from __future__ import annotations

import os
import zlib
from pathlib import Path

from addictidx._core.errors import DataFormatError
from addictidx.readers.limits import ReaderLimits, limits_from_profiles
from addictidx.readers.recording import Recording

__all__ = ["read_recording", "sniff_format"]

_FORMATS = (
    "muse-lsl CSV, Mind Monitor CSV, Polar H10 CSV, XDF, EDF/EDF+/BDF, an exported _rr.tsv, "
    "a beat CSV (t_s,rr_s) or a list of RR intervals"
)


def sniff_format(path) -> str:
    """Name the format of ``path`` from its first bytes.

    Returns
    -------
    kind : {"edf", "xdf", "muse_csv", "mind_monitor_csv", "polar_h10_csv", "rr"}

    Raises
    ------
    DataFormatError
        The file cannot be read or is none of the formats.
    """
    name = os.fspath(path)
    try:
        with open(path, "rb") as f:
            head = f.read(65536)
    except OSError as err:
        raise DataFormatError(f"Cannot open {name!r}: {err.strerror or err}.") from None
    if head[:8] in (b"0       ", b"\xffBIOSEMI"):
        return "edf"
    if head[:4] == b"XDF:":
        return "xdf"
    # not the magic its name promises: the format reader names what is wrong
    suffix = name.lower().rsplit(".", 1)[-1]
    if suffix in ("edf", "bdf", "rec"):
        return "edf"
    if suffix == "xdf":
        return "xdf"
    if head[:2] == b"\x1f\x8b":
        try:
            head = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(head, 65536)
        except zlib.error as err:
            raise DataFormatError(f"{name}: corrupt gzip data ({err}).") from None
    first = head.split(b"\n", 1)[0].decode("utf-8", "replace").lstrip("\ufeff").strip()
    cols = [c.strip() for c in first.replace("\t", ",").replace(";", ",").split(",")]
    if "timestamps" in cols and "TP9" in cols:
        return "muse_csv"
    if "RAW_TP9" in cols or (cols and cols[0] == "TimeStamp"):
        return "mind_monitor_csv"
    if cols[:2] == ["time_ns", "ecg_mV"]:
        return "polar_h10_csv"
    if not head.strip():
        raise DataFormatError(f"{name}: empty file; expected {_FORMATS}.")
    if b"\x00" in head:
        raise DataFormatError(f"{name}: unknown recording type (binary); expected {_FORMATS}.")
    if _looks_like_rr(head):
        return "rr"
    raise DataFormatError(f"{name}: unknown recording type; expected {_FORMATS}.")


def _looks_like_rr(head: bytes) -> bool:
    """A header naming an RR or beat column, or a first data line that is numbers."""
    from addictidx.readers.rr import RR_COLUMN_NAMES

    text = head.decode("utf-8", "replace").lstrip("\ufeff")
    for line in text.splitlines():
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        cells = [c.strip().lower() for c in s.replace("\t", ",").replace(";", ",").split(",")]
        if any(c in RR_COLUMN_NAMES for c in cells):
            return True
        try:
            [float(c) for c in " ".join(cells).split()]
        except ValueError:
            return False
        return True
    return False


def read_recording(
    path, *, limits: ReaderLimits | None = None, rr_unit: str | None = None
) -> Recording:
    """Read a recording of any supported format (recognised by content).

    Parameters
    ----------
    path : str | path-like
        The file.
    limits : ReaderLimits | None
        Header sanity bounds (rates, record durations, output size), checked before any
        large allocation. Default: :func:`~addictidx.readers.limits.limits_from_profiles`
        (signal rates within 1/8 to 8x the rates of the shipped device profiles).
    rr_unit : {"s", "ms"} | None
        Unit of RR values in an RR file that does not name it (``None``: detected, with a
        note in ``Recording.notes``).

    Returns
    -------
    recording : Recording

    Raises
    ------
    DataFormatError
        One line naming the file and what is wrong.
    """
    p = Path(path)
    if limits is None:
        limits = limits_from_profiles()
    try:
        return _read(p, limits, rr_unit)
    except DataFormatError:
        raise
    except MemoryError:
        raise DataFormatError(
            f"{p}: too large or malformed (out of memory while reading)."
        ) from None
    except Exception as exc:  # noqa: BLE001 - a reader's unexpected failure on a malformed file
        msg = str(exc).strip().splitlines()
        raise DataFormatError(
            f"{p}: malformed or unreadable ({type(exc).__name__}: {msg[0] if msg else ''})."
        ) from None


def _read(p: Path, limits: ReaderLimits, rr_unit: str | None) -> Recording:
    if not p.exists():
        raise DataFormatError(f"{p}: no such file.")
    if p.is_dir():
        raise DataFormatError(f"{p}: is a directory; expected {_FORMATS}.")
    kind = sniff_format(p)
    if kind == "edf":
        from addictidx.readers.edf import read_edf

        return read_edf(p, limits=limits)
    if kind == "xdf":
        from addictidx.readers.xdf import read_xdf

        return read_xdf(p, limits=limits)
    if kind == "muse_csv":
        from addictidx.readers.muse_csv import read_muse_csv

        return read_muse_csv(p, limits=limits)
    if kind == "mind_monitor_csv":
        from addictidx.readers.muse_csv import read_mind_monitor_csv

        return read_mind_monitor_csv(p, limits=limits)
    if kind == "polar_h10_csv":
        from addictidx.readers.polar_h10 import polar_h10_recording

        return polar_h10_recording(p)
    from addictidx.readers.rr import read_rr_file

    return read_rr_file(p, unit=rr_unit)
