"""Bluetooth SIG Heart Rate Service (0x180D) and Battery Service (0x180F) payloads.

Layout of Heart Rate Measurement 0x2A37 (``PROTOCOLS.md`` §4.1)::

    [0] flags   bit0 HR format (0 uint8, 1 uint16 LE)
                bits1-2 sensor contact (0/1 not supported, 2 not detected, 3 detected)
                bit3 Energy Expended present (uint16 LE, kJ)
                bit4 RR intervals present (uint16 LE each, 1/1024 s, oldest first)
                bits5-7 reserved (ignored)
    [1] or [1..2]  heart rate, bpm
    [+2]           energy expended, if bit3
    [...]          RR intervals to the end of the notification, if bit4

Decisions where the SIG text leaves room:

* RR flag set but no RR bytes: accepted as zero intervals (the Polar SDK does the same) so the
  heart rate of such a notification is not lost.
* Bytes after the HR/energy fields while the RR flag is clear are ignored (non-conforming
  trailing bytes; the Polar SDK ignores them too).

Physiologically impossible values are decoded as sent (the byte layout is valid) but flagged:
:attr:`HeartRateMeasurement.hr_plausible` is False for a heart rate outside
:data:`HR_PLAUSIBLE_BPM` (20-250 bpm; straps send 0 before the first beat and without skin
contact, a corrupted uint16 field can read 65535), and
:attr:`HeartRateMeasurement.rr_plausible` flags each RR interval outside
:data:`RR_PLAUSIBLE_S` (0.2-3 s, the same range as 60/250 .. 60/20 bpm, rounded out). Consumers
decide what a flagged value becomes: :func:`~addictidx.acquire.decode` reports the flags, the
stream hub turns an implausible heart rate into a missing (NaN) sample.
"""

from __future__ import annotations

import functools
import struct
from dataclasses import dataclass

from addictidx.acquire.decoders.decode_errors import as_bytes, decode_error

__all__ = [
    "HR_PLAUSIBLE_BPM",
    "RR_PLAUSIBLE_S",
    "HeartRateMeasurement",
    "decode_heart_rate_measurement",
    "heart_rate_fields",
    "encode_heart_rate_measurement",
    "decode_battery_level",
    "encode_battery_level",
]

#: Heart rates (bpm) a human heart can have, inclusive; others are flagged, not trusted.
HR_PLAUSIBLE_BPM = (20, 250)
#: RR intervals (s) a human heart can have, inclusive; others are flagged, not trusted.
RR_PLAUSIBLE_S = (0.2, 3.0)

_F_UINT16 = 0x01
_F_CONTACT_SUPPORTED = 0x04
_F_CONTACT_DETECTED = 0x02
_F_ENERGY = 0x08
_F_RR = 0x10


@dataclass(frozen=True, slots=True)
class HeartRateMeasurement:
    """One decoded Heart Rate Measurement notification.

    Parameters
    ----------
    hr_bpm : int
        Heart rate in beats per minute as sent by the strap.
    contact_supported : bool
        Whether the strap reports skin contact.
    contact_detected : bool | None
        Skin contact, or ``None`` when not supported.
    energy_kj : int | None
        Cumulative energy expended in kJ, if present.
    rr_1024 : tuple of int
        RR intervals in units of 1/1024 s, oldest first (0-n per notification).
    hr_uint16 : bool
        Whether the heart rate was sent as uint16 (flag bit 0).
    """

    hr_bpm: int
    contact_supported: bool
    contact_detected: bool | None
    energy_kj: int | None
    rr_1024: tuple[int, ...]
    hr_uint16: bool = False

    @property
    def hr_plausible(self) -> bool:
        """Whether :attr:`hr_bpm` is within :data:`HR_PLAUSIBLE_BPM` (0 = no value is False)."""
        return HR_PLAUSIBLE_BPM[0] <= self.hr_bpm <= HR_PLAUSIBLE_BPM[1]

    @property
    def rr_plausible(self) -> tuple[bool, ...]:
        """Per RR interval: whether it is within :data:`RR_PLAUSIBLE_S` (compared exactly)."""
        lo, hi = RR_PLAUSIBLE_S
        return tuple(lo * 1024 <= n <= hi * 1024 for n in self.rr_1024)

    @property
    def rr_s(self) -> tuple[float, ...]:
        """RR intervals in seconds, exact (``n / 1024`` is exact in binary floating point)."""
        return tuple(n / 1024 for n in self.rr_1024)

    @property
    def rr_ms(self) -> tuple[float, ...]:
        """RR intervals in milliseconds, exact floats (``n * 1000 / 1024``), not rounded."""
        return tuple(n * 1000 / 1024 for n in self.rr_1024)


def decode_heart_rate_measurement(payload: bytes) -> HeartRateMeasurement:
    """Decode a Heart Rate Measurement (0x2A37) notification; every flag combination.

    Parameters
    ----------
    payload : bytes
        The notification value.

    Returns
    -------
    measurement : HeartRateMeasurement

    Raises
    ------
    DecodeError
        If the payload is shorter than its flags demand, or the RR field has an odd length
        (the message names the byte offset).

    Examples
    --------
    >>> m = decode_heart_rate_measurement(bytes.fromhex("163c1104"))
    >>> m.hr_bpm, m.contact_detected, m.rr_1024
    (60, True, (1041,))
    """
    return HeartRateMeasurement(*heart_rate_fields(payload))


def heart_rate_fields(
    payload: bytes,
) -> tuple[int, bool, bool | None, int | None, tuple[int, ...], bool]:
    """:func:`decode_heart_rate_measurement`'s fields as a plain tuple, in the order of
    :class:`HeartRateMeasurement` (``hr_bpm, contact_supported, contact_detected, energy_kj,
    rr_1024, hr_uint16``), without building the dataclass (the stream hub decodes every
    notification this way). Raises the same :class:`DecodeError`.
    """
    name = "decode_heart_rate_measurement"
    if type(payload) is not bytes:
        payload = as_bytes(name, payload)
    n = len(payload)
    if n == 0:
        raise decode_error(name, payload, "at byte 0: missing flags byte")
    flags = payload[0]
    uint16 = bool(flags & _F_UINT16)
    off = 1
    if uint16:
        if n < off + 2:
            raise decode_error(
                name, payload, f"at byte {off}: flags demand a uint16 heart rate (2 bytes)"
            )
        hr = payload[off] | (payload[off + 1] << 8)
        off += 2
    else:
        if n < off + 1:
            raise decode_error(
                name, payload, f"at byte {off}: flags demand a uint8 heart rate (1 byte)"
            )
        hr = payload[off]
        off += 1
    supported = bool(flags & _F_CONTACT_SUPPORTED)
    detected = bool(flags & _F_CONTACT_DETECTED) if supported else None
    energy = None
    if flags & _F_ENERGY:
        if n < off + 2:
            raise decode_error(
                name,
                payload,
                f"at byte {off}: flags demand a uint16 energy-expended field (2 bytes)",
            )
        energy = payload[off] | (payload[off + 1] << 8)
        off += 2
    rr: tuple[int, ...] = ()
    if flags & _F_RR:
        m = n - off
        if m % 2:
            raise decode_error(
                name,
                payload,
                f"at byte {off}: RR field has odd length {m} (uint16 values expected)",
            )
        rr = _unpack_rr(m // 2)(payload, off)  # uint16 LE each
    return hr, supported, detected, energy, rr, uint16


@functools.lru_cache(maxsize=64)
def _unpack_rr(n: int):
    """Unpacker of ``n`` little-endian uint16 (``struct.Struct.unpack_from``)."""
    return struct.Struct(f"<{n}H").unpack_from


def encode_heart_rate_measurement(
    hr_bpm: int,
    rr_1024=(),
    *,
    contact: bool | None = True,
    energy_kj: int | None = None,
    uint16: bool = False,
) -> bytes:
    """Encode a Heart Rate Measurement notification (inverse of the decoder; simulated strap).

    Parameters
    ----------
    hr_bpm : int
        Heart rate, 0..255 (or 0..65535 with ``uint16=True``).
    rr_1024 : sequence of int
        RR intervals in 1/1024 s, each 0..65535; the RR flag is set when non-empty.
    contact : bool | None
        ``True`` contact detected, ``False`` supported but not detected, ``None`` not supported.
    energy_kj : int | None
        Energy expended (0..65535 kJ) or ``None`` to omit the field.
    uint16 : bool
        Send the heart rate as uint16.

    Returns
    -------
    payload : bytes
    """
    hr = int(hr_bpm)
    hi = 0xFFFF if uint16 else 0xFF
    if not 0 <= hr <= hi:
        raise ValueError(f"hr_bpm must be in 0..{hi} (uint16={uint16}), got {hr_bpm!r}.")
    flags = _F_UINT16 if uint16 else 0
    if contact is not None:
        flags |= _F_CONTACT_SUPPORTED | (_F_CONTACT_DETECTED if contact else 0)
    out = bytearray([0])
    out += hr.to_bytes(2 if uint16 else 1, "little")
    if energy_kj is not None:
        e = int(energy_kj)
        if not 0 <= e <= 0xFFFF:
            raise ValueError(f"energy_kj must be in 0..65535, got {energy_kj!r}.")
        flags |= _F_ENERGY
        out += e.to_bytes(2, "little")
    rr = [int(v) for v in rr_1024]
    if rr:
        flags |= _F_RR
        for v in rr:
            if not 0 <= v <= 0xFFFF:
                raise ValueError(f"rr_1024 values must be in 0..65535, got {v!r}.")
            out += v.to_bytes(2, "little")
    out[0] = flags
    return bytes(out)


def decode_battery_level(payload: bytes) -> int:
    """Decode Battery Level 0x2A19: one byte, 0-100 %.

    Raises
    ------
    DecodeError
        If the payload is not exactly one byte or the value exceeds 100.
    """
    name = "decode_battery_level"
    payload = as_bytes(name, payload)
    if len(payload) != 1:
        raise decode_error(
            name,
            payload,
            f"at byte {min(len(payload), 1)}: expected exactly 1 byte, got {len(payload)}",
        )
    if payload[0] > 100:
        raise decode_error(name, payload, f"at byte 0: battery level {payload[0]} % is above 100")
    return payload[0]


def encode_battery_level(pct: int) -> bytes:
    """Encode a battery level 0-100 % (simulated devices)."""
    v = int(pct)
    if not 0 <= v <= 100:
        raise ValueError(f"battery level must be in 0..100, got {pct!r}.")
    return bytes([v])
