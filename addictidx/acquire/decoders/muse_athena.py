"""Muse S Athena (gen 3) notification framing (``PROTOCOLS.md`` §2.3) — framing only.

Splits a notification from ``273e0013`` / ``273e0014`` into tagged blocks and extracts LSB-first
bit fields. Sample scaling and channel mapping of Athena are disputed (§2.4-2.5) and are *not*
decoded here; the choices are recorded as data in ``firmware_profiles/muse-s-athena.toml``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

from addictidx.acquire.decoders._errors import as_bytes, decode_error

__all__ = ["ATHENA_TAG_BYTES", "AthenaBlock", "split_athena_notification", "unpack_lsb_bits"]

#: Payload bytes per TAG (0x88 is variable: 20 when it fits, else the rest of the packet).
ATHENA_TAG_BYTES: Mapping[int, int] = MappingProxyType(
    {
        0x11: 28,
        0x12: 28,
        0x34: 30,
        0x35: 40,
        0x36: 40,
        0x47: 36,
        0x53: 24,
        0x98: 20,
        0x88: 20,
    }
)
_HEADER = 14
_SUB_HEADER = 5


@dataclass(frozen=True, slots=True)
class AthenaBlock:
    """One tagged block of an Athena packet.

    Parameters
    ----------
    packet_seq : int
        Byte 1 of the packet (per-notification counter).
    tag : int
        Sensor TAG (0x11/0x12 EEG, 0x34-0x36 optics, 0x47 ACC+GYRO, 0x98/0x88 battery, ...).
    index : int
        Per-TAG 8-bit block index (wraps at 256; use for loss detection).
    data : bytes
        The block payload.
    """

    packet_seq: int
    tag: int
    index: int
    data: bytes


def _tag_len(name: str, payload: bytes, tag: int, at: int, remaining: int) -> int:
    if tag not in ATHENA_TAG_BYTES:
        raise decode_error(
            name, payload, f"at byte {at}: unknown TAG 0x{tag:02x} (block length unknown)"
        )
    n = ATHENA_TAG_BYTES[tag]
    if tag == 0x88 and n > remaining:
        return remaining
    if n > remaining:
        raise decode_error(
            name, payload, f"at byte {at}: TAG 0x{tag:02x} needs {n} bytes, only {remaining} left"
        )
    return n


def split_athena_notification(payload: bytes) -> list[AthenaBlock]:
    """Split an Athena data notification into its tagged blocks.

    Parameters
    ----------
    payload : bytes
        One notification (one or more packets back to back).

    Returns
    -------
    blocks : list of AthenaBlock
        In order of appearance.
    """
    name = "split_athena_notification"
    payload = as_bytes(name, payload)
    out: list[AthenaBlock] = []
    p = 0
    if not payload:
        raise decode_error(name, payload, "empty notification")
    while p < len(payload):
        plen = payload[p]
        if plen < _HEADER or p + plen > len(payload):
            raise decode_error(
                name,
                payload,
                f"at byte {p}: packet length {plen} must be >= {_HEADER} and <= {len(payload) - p}",
            )
        end = p + plen
        seq = payload[p + 1]
        tag, index = payload[p + 9], payload[p + 10]
        q = p + _HEADER
        n = _tag_len(name, payload, tag, p + 9, end - q)
        out.append(AthenaBlock(seq, tag, index, bytes(payload[q : q + n])))
        q += n
        while end - q >= _SUB_HEADER:
            tag, index = payload[q], payload[q + 1]
            n = _tag_len(name, payload, tag, q, end - q - _SUB_HEADER)
            out.append(AthenaBlock(seq, tag, index, bytes(payload[q + 5 : q + 5 + n])))
            q += _SUB_HEADER + n
        p = end
    return out


def unpack_lsb_bits(data: bytes, width: int, count: int | None = None) -> np.ndarray:
    """Extract unsigned ``width``-bit fields from an LSB-first bit stream.

    Field ``k`` starts at bit ``k * width``; bit ``i`` is bit ``i % 8`` (LSB = 0) of byte
    ``i // 8``.

    Returns
    -------
    values : ndarray of int64, shape (count,)
    """
    data = as_bytes("unpack_lsb_bits", data)
    total = len(data) * 8 // width
    count = total if count is None else int(count)
    if count > total:
        raise decode_error(
            "unpack_lsb_bits", data, f"{count} x {width}-bit fields need {count * width} bits"
        )
    bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8), bitorder="little")[: count * width]
    return bits.reshape(count, width).astype(np.int64) @ (
        np.int64(1) << np.arange(width, dtype=np.int64)
    )
