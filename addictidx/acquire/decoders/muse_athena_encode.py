"""Encoders for Muse S Athena notifications: the exact inverse of :mod:`.muse_athena`.

Used by the simulated Athena headband
(:class:`~addictidx.acquire.simulate_athena.SimulatedAthenaHeadband`) so that simulated bytes go
through the same decoder as a real headband's. Only what the decoder reads is meaningful; the bytes
it ignores (device clock ``[3..8]``, ``[11..13]`` and the 3 bytes after each sub-block's TAG/index)
are written as zeros.

Round trip: ``split_athena_notification(encode_athena_packet(seq, blocks))`` gives back the
blocks' ``(tag, index, payload)``, and ``decode_athena_block`` of an encoded EEG block gives back
the raw integers (14-bit grid) exactly.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from addictidx.acquire.decoders.muse_athena import ATHENA_TAGS

__all__ = ["encode_athena_bits", "encode_athena_eeg_block", "encode_athena_packet"]

_HEADER = 14
_SUB_HEADER = 5


def encode_athena_bits(raw, width: int, payload_bytes: int) -> bytes:
    """Pack unsigned ``width``-bit values LSB-first (field ``k`` at bit ``k * width``).

    Parameters
    ----------
    raw : array-like of int, shape (n,)
        Values in ``0 .. 2**width - 1``.
    width : int
        Bits per value.
    payload_bytes : int
        Output size (zero padded); must hold ``n * width`` bits.

    Returns
    -------
    payload : bytes
    """
    v = np.asarray(raw).ravel()
    if v.size and (not np.all(v == np.round(v)) or v.min() < 0 or v.max() >= 1 << width):
        raise ValueError(f"values must be integers in 0..{(1 << width) - 1}.")
    if v.size * width > payload_bytes * 8:
        raise ValueError(f"{v.size} x {width}-bit values do not fit {payload_bytes} bytes.")
    acc = 0
    for k, x in enumerate(v.astype(np.int64).tolist()):
        acc |= int(x) << (k * width)
    return acc.to_bytes(payload_bytes, "little")


def encode_athena_eeg_block(raw, tag: int = 0x11) -> bytes:
    """Encode one EEG block payload (inverse of ``decode_athena_block`` for TAG 0x11/0x12).

    Parameters
    ----------
    raw : array-like of int, shape (n_channels, n_samples)
        14-bit unsigned samples: (4, 4) for TAG ``0x11``, (8, 2) for ``0x12``.
    tag : int
        ``0x11`` or ``0x12``.

    Returns
    -------
    payload : bytes
        28 bytes.
    """
    spec = ATHENA_TAGS.get(tag)
    if spec is None or spec.sensor != "eeg":
        raise ValueError(f"tag must be an EEG TAG (0x11 or 0x12), got {tag!r}.")
    r = np.asarray(raw)
    if r.shape != (spec.n_channels, spec.n_samples):
        raise ValueError(
            f"TAG 0x{tag:02x} needs raw of shape {(spec.n_channels, spec.n_samples)}, "
            f"got {r.shape}."
        )
    # sample-major order: sample s, channel c at field s * n_channels + c
    return encode_athena_bits(r.T.ravel(), spec.bits, spec.payload_bytes)


def encode_athena_packet(packet_seq: int, blocks: Sequence[tuple[int, int, bytes]]) -> bytes:
    """Encode one Athena packet (one notification holding one packet).

    Parameters
    ----------
    packet_seq : int
        Packet counter, 0..65535 (uint16 LE at bytes 1..2).
    blocks : sequence of (tag, index, payload)
        The primary block first. ``index`` is the per-TAG 8-bit block index; ``payload`` must
        have the TAG's size (:data:`~.muse_athena.ATHENA_TAG_BYTES`).

    Returns
    -------
    packet : bytes
        ``[len][seq LE][6 x 0][tag][index][3 x 0][payload]`` then ``[tag][index][3 x 0][payload]``
        per further block; ``len`` <= 255.
    """
    if not blocks:
        raise ValueError("a packet needs at least one block.")
    if not 0 <= int(packet_seq) <= 0xFFFF:
        raise ValueError(f"packet_seq must be in 0..65535, got {packet_seq!r}.")
    parts: list[bytes] = []
    for i, (tag, index, payload) in enumerate(blocks):
        spec = ATHENA_TAGS.get(int(tag))
        if spec is None:
            raise ValueError(f"unknown TAG {tag!r}.")
        if len(payload) != spec.payload_bytes:
            raise ValueError(
                f"block {i}: TAG 0x{tag:02x} needs {spec.payload_bytes} payload bytes, "
                f"got {len(payload)}."
            )
        if not 0 <= int(index) <= 0xFF:
            raise ValueError(f"block {i}: index must be in 0..255, got {index!r}.")
        parts.append(bytes((int(tag), int(index), 0, 0, 0)) + bytes(payload))
    seq = int(packet_seq)
    # the primary block's [tag][index][3 bytes] are the packet's bytes 9..13
    length = _HEADER - _SUB_HEADER + sum(len(p) for p in parts)
    if length > 0xFF:
        raise ValueError(f"packet of {length} bytes does not fit the 8-bit length field.")
    head = bytes((length, seq & 0xFF, seq >> 8)) + b"\x00" * 6
    return head + b"".join(parts)
