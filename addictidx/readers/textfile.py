"""Open the text and binary files readers take: paths or open files, ``.gz`` decompressed.

Sizes are bounded before anything is allocated: a file (or its decompressed content) larger
than ``max_bytes`` is refused with one line, so no header or gzip bomb can exhaust memory.
"""

from __future__ import annotations

import io
import os
import zlib

from addictidx._core.errors import DataFormatError

__all__ = [
    "MAX_TEXT_BYTES",
    "count_lines",
    "display_name",
    "plain_file_head",
    "read_bytes",
    "read_text",
    "read_text_lines",
]

#: Largest file (after decompression) a text reader accepts: 24 h of 4-channel muse-lsl CSV
#: is ~1.2 GB; 2 GiB leaves room and still fails fast on a decompression bomb.
MAX_TEXT_BYTES = 2 << 30


def display_name(path_or_file) -> str:
    """The name a message shows for a path or an open file."""
    if isinstance(path_or_file, (str, os.PathLike)):
        return os.fspath(path_or_file)
    return str(getattr(path_or_file, "name", "<file object>"))


def _gunzip(raw: bytes, name: str, max_bytes: int) -> bytes:
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = d.decompress(raw, max_bytes + 1)
        if len(out) > max_bytes or d.unconsumed_tail:
            raise DataFormatError(
                f"{name}: decompresses to more than {max_bytes / 2**30:.0f} GiB; refused."
            )
        # concatenated gzip members (gzip -c a b > c.gz) continue after the first one
        rest = d.unused_data
        while rest:
            d = zlib.decompressobj(16 + zlib.MAX_WBITS)
            more = d.decompress(rest, max_bytes + 1 - len(out))
            out += more
            if len(out) > max_bytes or d.unconsumed_tail:
                raise DataFormatError(
                    f"{name}: decompresses to more than {max_bytes / 2**30:.0f} GiB; refused."
                )
            rest = d.unused_data
        if not d.eof:
            raise DataFormatError(f"{name}: truncated gzip data.")
    except zlib.error as err:
        raise DataFormatError(f"{name}: corrupt gzip data ({err}).") from None
    return out


def count_lines(source) -> int:
    """Lines in ``source`` (bytes, or the path of a plain file): newlines + 1, read in blocks.

    An upper bound of the rows a CSV can hold, known before any parser allocates them.
    """
    if isinstance(source, (bytes, bytearray)):
        return source.count(b"\n") + 1
    n = 1
    with open(source, "rb") as f:
        while block := f.read(1 << 22):
            n += block.count(b"\n")
    return n


def plain_file_head(path_or_file, n: int = 65536) -> bytes | None:
    """The first ``n`` bytes of an uncompressed file given by path, else None.

    Readers use it to hand a plain file to a streaming parser by path instead of reading it
    whole; gzip content, open file objects and unreadable paths return None (the caller then
    uses :func:`read_bytes`, which reports any error).
    """
    if not isinstance(path_or_file, (str, os.PathLike)):
        return None
    try:
        with open(path_or_file, "rb") as f:
            head = f.read(n)
            if os.fstat(f.fileno()).st_size > MAX_TEXT_BYTES:
                return None
    except OSError:
        return None
    return None if head[:2] == b"\x1f\x8b" else head


def read_bytes(path_or_file, *, max_bytes: int = MAX_TEXT_BYTES) -> tuple[bytes, str]:
    """Return ``(content, display_name)``; gzip content (by magic number) is decompressed.

    Parameters
    ----------
    path_or_file : str | path-like | file object
        A path, or an open text or binary file.
    max_bytes : int
        Largest content accepted (before and after decompression).

    Raises
    ------
    DataFormatError
        The file cannot be opened or read, is corrupt gzip, or is larger than ``max_bytes``.
    """
    name = display_name(path_or_file)
    if isinstance(path_or_file, (str, os.PathLike)):
        try:
            with open(path_or_file, "rb") as f:
                if os.fstat(f.fileno()).st_size > max_bytes:
                    raise DataFormatError(
                        f"{name}: larger than {max_bytes / 2**30:.0f} GiB; refused."
                    )
                raw = f.read()
        except OSError as err:
            raise DataFormatError(f"Cannot open {name!r}: {err.strerror or err}.") from None
    else:
        try:
            raw = path_or_file.read(max_bytes + 1)
        except (OSError, EOFError, UnicodeDecodeError) as err:
            raise DataFormatError(f"Cannot read {name!r}: {err}.") from None
        if isinstance(raw, str):
            raw = raw.encode("utf-8")
        if len(raw) > max_bytes:
            raise DataFormatError(f"{name}: larger than {max_bytes / 2**30:.0f} GiB; refused.")
    if raw[:2] == b"\x1f\x8b":
        raw = _gunzip(raw, name, max_bytes)
    return raw, name


def read_text(path_or_file, *, max_bytes: int = MAX_TEXT_BYTES) -> tuple[str, str]:
    """Return ``(text, display_name)`` of a UTF-8 text file (a leading BOM is dropped).

    Raises
    ------
    DataFormatError
        As :func:`read_bytes`, or the content is not UTF-8 (naming the byte offset).
    """
    if isinstance(path_or_file, io.TextIOBase):
        name = display_name(path_or_file)
        try:
            text = path_or_file.read(max_bytes + 1)
        except (OSError, UnicodeDecodeError) as err:
            raise DataFormatError(f"Cannot read {name!r}: {err}.") from None
        if len(text) > max_bytes:
            raise DataFormatError(f"{name}: larger than {max_bytes / 2**30:.0f} GiB; refused.")
        return text, name
    raw, name = read_bytes(path_or_file, max_bytes=max_bytes)
    try:
        return raw.decode("utf-8-sig"), name
    except UnicodeDecodeError as err:
        raise DataFormatError(f"{name}: not UTF-8 text (byte offset {err.start}).") from None


def read_text_lines(path_or_file, *, max_bytes: int = MAX_TEXT_BYTES) -> tuple[list[str], str]:
    """Return ``(lines, display_name)`` of a text file (see :func:`read_text`)."""
    text, name = read_text(path_or_file, max_bytes=max_bytes)
    return text.splitlines(), name
