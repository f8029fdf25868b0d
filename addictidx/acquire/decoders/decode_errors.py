"""One wording for decode errors: decoder name, payload length, what is wrong and where."""

from __future__ import annotations

import re

from addictidx._core.errors import DecodeError

__all__ = ["decode_error", "as_bytes", "error_offset"]

_AT_BYTE = re.compile(r"at byte (\d+)")


def error_offset(err: BaseException) -> int | None:
    """Byte offset named by a decode error (``err.byte_offset`` or ``"at byte N"``), if any."""
    off = getattr(err, "byte_offset", None)
    if off is not None:
        return int(off)
    m = _AT_BYTE.search(str(err))
    return int(m.group(1)) if m else None


def decode_error(
    decoder: str, payload: bytes | bytearray | memoryview, problem: str
) -> DecodeError:
    """Build a :class:`DecodeError` naming the decoder, the payload length and the problem.

    Parameters
    ----------
    decoder : str
        Public name of the decoding function (e.g. ``"decode_muse_eeg"``).
    payload : bytes-like
        The payload that failed to decode.
    problem : str
        What is wrong, starting with the byte offset (``"at byte 3: ..."``).

    Returns
    -------
    err : DecodeError
        The error, to be raised by the caller; its ``byte_offset`` attribute holds the offset
        named in ``problem`` (``None`` if there is none).
    """
    n = len(payload)
    preview = bytes(payload[:24]).hex()
    more = "..." if n > 24 else ""
    err = DecodeError(f"{decoder}: cannot decode {n}-byte payload {preview}{more}: {problem}")
    m = _AT_BYTE.search(problem)
    err.byte_offset = int(m.group(1)) if m else None
    return err


def as_bytes(decoder: str, payload: object) -> bytes:
    """Return ``payload`` as ``bytes`` or raise :class:`DecodeError` for non-bytes input."""
    if isinstance(payload, bytes):
        return payload
    if isinstance(payload, (bytearray, memoryview)):
        return bytes(payload)
    err = DecodeError(
        f"{decoder}: at byte 0: payload must be bytes, bytearray or memoryview, "
        f"got {type(payload).__name__}."
    )
    err.byte_offset = 0
    raise err
