"""Muse S Athena (gen 3) multiplexed notifications (``PROTOCOLS.md`` §2.3-2.5).

A notification from ``273e0013`` / ``273e0014`` holds one or more packets::

    [0]      uint8      packet length including this header (>= 14)
    [1..2]   uint16 LE  packet counter, +1 per notification (see "sequence" below)
    [3..8]   6 bytes    undecoded (a device clock per OpenMuse; unreliable, not used)
    [9]      uint8      TAG of the primary block
    [10]     uint8      per-TAG 8-bit block index of the primary block
    [11..13] 3 bytes    undecoded (newer firmware has non-zero [13]; never validated)
    [14..]   primary block payload, then ``[TAG][index][3 bytes][payload]`` blocks

Block payloads (:data:`ATHENA_TAGS`): EEG ``0x11`` (4 ch x 4 samples) and ``0x12`` (8 ch x 2),
14-bit unsigned; optics ``0x34`` (4 x 3), ``0x35`` (8 x 2), ``0x36`` (16 x 1), 20-bit unsigned;
both packed as one LSB-first bit stream where sample ``s``, channel ``c`` starts at bit
``(s * n_channels + c) * width`` -- i.e. the payload read as one little-endian integer;
ACC+GYRO ``0x47``: 3 samples x (ax, ay, az, gx, gy, gz) int16 LE; battery ``0x98``/``0x88``:
uint16 LE at bytes 0..1; ``0x53`` (DRL/REF per BrainFlow) is framed but not decoded.

This module returns **raw integers**; scales, centring, channel names and the other disputed
choices of §2.5 are data in ``firmware_profiles/muse-s-athena.toml`` and are applied by
:func:`addictidx.acquire.decode`.

Sequence field: the OpenMuse captures of 837-3278 notifications show byte 1 wrapping
``0xFF -> 0x00`` while byte 2 steps by one, i.e. ``uint16 LE at [1..2]`` as BrainFlow and
muse-lsl read it (short captures only ever showed byte 2 = 0).

Loss detection: :class:`AthenaLossDetector` follows the per-TAG 8-bit block indices (and the
16-bit packet counter) and reports missing blocks. An 8-bit index wraps after 256 blocks
(2 s of ``0x12`` EEG), so a longer outage is only measurable from host time or the packet
counter.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

from addictidx.acquire.decoders.decode_errors import as_bytes, decode_error

__all__ = [
    "ATHENA_TAG_BYTES",
    "ATHENA_TAGS",
    "AthenaTag",
    "AthenaBlock",
    "AthenaGap",
    "AthenaLossDetector",
    "split_athena_notification",
    "decode_athena_block",
    "unpack_lsb_bits",
]


@dataclass(frozen=True, slots=True)
class AthenaTag:
    """Layout of the blocks of one Athena TAG.

    Parameters
    ----------
    sensor : str
        ``"eeg"``, ``"optics"``, ``"accgyro"``, ``"battery"`` or ``"drl_ref"`` (not decoded).
    n_channels, n_samples : int
        Shape of the decoded block (0 for blocks that are not decoded).
    bits : int
        Bits per value (14 EEG, 20 optics, 16 int16/uint16).
    payload_bytes : int
        Block payload size.
    """

    sensor: str
    n_channels: int
    n_samples: int
    bits: int
    payload_bytes: int


#: TAG -> block layout (PROTOCOLS §2.3; OpenMuse, BrainFlow and muse-lsl agree on all of it).
ATHENA_TAGS: Mapping[int, AthenaTag] = MappingProxyType(
    {
        0x11: AthenaTag("eeg", 4, 4, 14, 28),
        0x12: AthenaTag("eeg", 8, 2, 14, 28),
        0x34: AthenaTag("optics", 4, 3, 20, 30),
        0x35: AthenaTag("optics", 8, 2, 20, 40),
        0x36: AthenaTag("optics", 16, 1, 20, 40),
        0x47: AthenaTag("accgyro", 6, 3, 16, 36),
        0x53: AthenaTag("drl_ref", 0, 0, 0, 24),
        0x98: AthenaTag("battery", 1, 1, 16, 20),
        0x88: AthenaTag("battery", 1, 1, 16, 20),
    }
)

#: Payload bytes per TAG (0x88 is variable: 20 when it fits, else the rest of the packet).
ATHENA_TAG_BYTES: Mapping[int, int] = MappingProxyType(
    {tag: t.payload_bytes for tag, t in ATHENA_TAGS.items()}
)
_HEADER = 14
_SUB_HEADER = 5


@dataclass(frozen=True, slots=True)
class AthenaBlock:
    """One tagged block of an Athena packet.

    Parameters
    ----------
    packet_seq : int
        Packet counter, uint16 LE at bytes 1..2 of the packet (+1 per notification).
    tag : int
        Sensor TAG (0x11/0x12 EEG, 0x34-0x36 optics, 0x47 ACC+GYRO, 0x98/0x88 battery, ...).
    index : int
        Per-TAG 8-bit block index (wraps at 256; use for loss detection).
    data : bytes
        The block payload.
    offset : int
        Byte offset of ``data`` in the notification (for error messages).
    """

    packet_seq: int
    tag: int
    index: int
    data: bytes
    offset: int = 0


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
    """Split an Athena data notification into its tagged blocks (framing only).

    Parameters
    ----------
    payload : bytes
        One notification (one or more packets back to back).

    Returns
    -------
    blocks : list of AthenaBlock
        In order of appearance.

    Raises
    ------
    DecodeError
        Empty notification, a packet length byte < 14 or past the end, an unknown TAG, a block
        longer than what is left, or 1-4 stray bytes after the last block (the message names
        the byte offset).
    """
    name = "split_athena_notification"
    payload = as_bytes(name, payload)
    out: list[AthenaBlock] = []
    p = 0
    if not payload:
        raise decode_error(name, payload, "at byte 0: empty notification")
    while p < len(payload):
        plen = payload[p]
        if plen < _HEADER or p + plen > len(payload):
            raise decode_error(
                name,
                payload,
                f"at byte {p}: packet length {plen} must be >= {_HEADER} and <= "
                f"{len(payload) - p}",
            )
        end = p + plen
        seq = payload[p + 1] | (payload[p + 2] << 8)
        tag, index = payload[p + 9], payload[p + 10]
        q = p + _HEADER
        n = _tag_len(name, payload, tag, p + 9, end - q)
        out.append(AthenaBlock(seq, tag, index, bytes(payload[q : q + n]), q))
        q += n
        while end - q >= _SUB_HEADER:
            tag, index = payload[q], payload[q + 1]
            n = _tag_len(name, payload, tag, q, end - q - _SUB_HEADER)
            out.append(AthenaBlock(seq, tag, index, bytes(payload[q + 5 : q + 5 + n]), q + 5))
            q += _SUB_HEADER + n
        if q != end:
            raise decode_error(
                name,
                payload,
                f"at byte {q}: {end - q} stray byte(s) after the last block of the packet "
                f"(a block header needs {_SUB_HEADER})",
            )
        p = end
    return out


def decode_athena_block(block: AthenaBlock) -> np.ndarray | None:
    """Raw integer samples of one block.

    Parameters
    ----------
    block : AthenaBlock
        A block from :func:`split_athena_notification`.

    Returns
    -------
    raw : ndarray of int64, shape (n_channels, n_samples), or None
        EEG: 14-bit unsigned (0..16383); optics: 20-bit unsigned; ACC+GYRO: int16 rows
        ``ax, ay, az, gx, gy, gz``; battery: the uint16 LE at bytes 0..1, shape (1, 1).
        ``None`` for TAGs that are framed but not decoded (``0x53``).

    Raises
    ------
    DecodeError
        Unknown TAG or a payload shorter than the TAG's layout.
    """
    name = "decode_athena_block"
    spec = ATHENA_TAGS.get(block.tag)
    data = block.data
    if spec is None:
        raise decode_error(name, data, f"at byte {block.offset}: unknown TAG 0x{block.tag:02x}")
    if spec.sensor == "drl_ref":
        return None
    if spec.sensor == "battery":
        if len(data) < 2:
            raise decode_error(
                name, data, f"at byte {block.offset + len(data)}: battery block needs 2 bytes"
            )
        return np.array([[data[0] | (data[1] << 8)]], dtype=np.int64)
    need = spec.payload_bytes
    if len(data) < need:
        raise decode_error(
            name,
            data,
            f"at byte {block.offset + len(data)}: TAG 0x{block.tag:02x} needs {need} bytes",
        )
    n = spec.n_channels * spec.n_samples
    if spec.sensor == "accgyro":
        raw = np.frombuffer(data, dtype="<i2", count=n).astype(np.int64)
    else:
        # LSB-first bit stream == the payload read as one little-endian integer.
        w = spec.bits
        mask = (1 << w) - 1
        v = int.from_bytes(data[:need], "little")
        raw = np.array([(v >> s) & mask for s in range(0, n * w, w)], dtype=np.int64)
    return raw.reshape(spec.n_samples, spec.n_channels).T


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
            "unpack_lsb_bits",
            data,
            f"at byte {len(data)}: {count} x {width}-bit fields need {count * width} bits",
        )
    bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8), bitorder="little")[: count * width]
    return bits.reshape(count, width).astype(np.int64) @ (
        np.int64(1) << np.arange(width, dtype=np.int64)
    )


# --------------------------------------------------------------------------------------------
# Loss detection
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AthenaGap:
    """Blocks (or notifications) missing before one that arrived.

    Parameters
    ----------
    tag : int | None
        The TAG whose block index jumped, or ``None`` for the 16-bit packet counter.
    previous : int
        Last counter value seen before the gap.
    current : int
        Counter value that revealed the gap.
    missing : int
        Number of blocks (packets for ``tag=None``) lost in between, modulo the counter
        range (256 blocks, 65536 packets).
    """

    tag: int | None
    previous: int
    current: int
    missing: int


class AthenaLossDetector:
    """Find lost Athena blocks from the per-TAG block indices and the packet counter.

    Feed the blocks of every notification in arrival order. A forward step of ``d`` counts
    ``d - 1`` missing; a repeat (``d = 0``) is a duplicate; a step of more than half the
    counter range is a late (reordered) block and is ignored rather than counted as a wrap.

    Attributes
    ----------
    missing_blocks : dict of int to int
        Total missing blocks per TAG.
    missing_packets : int
        Total missing notifications (packet counter).
    duplicates : int
        Blocks seen twice.
    """

    def __init__(self) -> None:
        self.missing_blocks: dict[int, int] = {}
        self.missing_packets = 0
        self.duplicates = 0
        self._last_tag: dict[int, int] = {}
        self._last_packet: int | None = None

    @staticmethod
    def _step(last: int, new: int, modulus: int) -> int:
        return (new - last) % modulus

    def feed(self, blocks: Iterable[AthenaBlock]) -> list[AthenaGap]:
        """Account for the blocks of one notification; return the gaps they reveal."""
        gaps: list[AthenaGap] = []
        seen_packets: set[int] = set()
        for b in blocks:
            if b.packet_seq not in seen_packets:
                seen_packets.add(b.packet_seq)
                last = self._last_packet
                if last is not None:
                    d = self._step(last, b.packet_seq, 1 << 16)
                    if 1 < d <= 1 << 15:
                        gaps.append(AthenaGap(None, last, b.packet_seq, d - 1))
                        self.missing_packets += d - 1
                    if 0 < d <= 1 << 15:
                        self._last_packet = b.packet_seq
                else:
                    self._last_packet = b.packet_seq
            last = self._last_tag.get(b.tag)
            if last is None:
                self._last_tag[b.tag] = b.index
                continue
            d = self._step(last, b.index, 256)
            if d == 0:
                self.duplicates += 1
            elif d <= 128:
                if d > 1:
                    gaps.append(AthenaGap(b.tag, last, b.index, d - 1))
                    self.missing_blocks[b.tag] = self.missing_blocks.get(b.tag, 0) + d - 1
                self._last_tag[b.tag] = b.index
        return gaps

    def reset(self) -> None:
        """Forget the last counters (after a reconnect), keep the totals."""
        self._last_tag.clear()
        self._last_packet = None
