"""One wording for decode errors: decoder name, payload length, what is wrong and where."""

from __future__ import annotations

from addictidx._core.errors import DecodeError

__all__ = ["decode_error", "as_bytes"]


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
        What is wrong, ideally with the byte offset (``"at byte 3: ..."``).

    Returns
    -------
    err : DecodeError
        The error, to be raised by the caller.
    """
    n = len(payload)
    preview = bytes(payload[:24]).hex()
    more = "..." if n > 24 else ""
    return DecodeError(f"{decoder}: cannot decode {n}-byte payload {preview}{more}: {problem}")


def as_bytes(decoder: str, payload: object) -> bytes:
    """Return ``payload`` as ``bytes`` or raise :class:`DecodeError` for non-bytes input."""
    if isinstance(payload, bytes):
        return payload
    if isinstance(payload, (bytearray, memoryview)):
        return bytes(payload)
    raise DecodeError(
        f"{decoder}: payload must be bytes, bytearray or memoryview, got {type(payload).__name__}."
    )
