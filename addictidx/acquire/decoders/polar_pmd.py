"""Polar Measurement Data (PMD) service: control point and data frames (``PROTOCOLS.md`` §3).

* Control point ``fb005c81``: feature read ``0F <bitmask...>``; requests
  ``[op][type]{[setting][count][value LE x count]}*``; responses
  ``F0 [op][type][status][more][settings TLV...]``.
* Data ``fb005c82``: ``[type & 0x3F][uint64 LE ns since 2000-01-01, last sample][frame type]
  [payload]``; frame type bit 7 = compressed (delta) frame.

Only pure functions: bytes in, numbers out.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

from addictidx._core.errors import DecodeError
from addictidx.acquire.decoders.decode_errors import as_bytes, decode_error

__all__ = [
    "PMD_MEASUREMENT_TYPES",
    "PMD_STATUS",
    "PMD_SETTING_TYPES",
    "PMD_EPOCH_UNIX_NS",
    "PmdControlResponse",
    "PmdFrame",
    "decode_pmd_features",
    "decode_pmd_settings",
    "decode_pmd_control_response",
    "encode_pmd_request",
    "decode_pmd_frame",
    "decode_pmd_ecg",
    "decode_pmd_acc",
    "decode_pmd_delta_samples",
]

#: Measurement type codes (data frames carry them in the low 6 bits of byte 0).
PMD_MEASUREMENT_TYPES: Mapping[int, str] = MappingProxyType(
    {
        0: "ECG",
        1: "PPG",
        2: "ACC",
        3: "PPI",
        5: "GYRO",
        6: "MAG",
        7: "SKIN_TEMP",
        9: "SDK_MODE",
        10: "LOCATION",
        11: "PRESSURE",
        12: "TEMPERATURE",
        13: "OFFLINE_RECORDING",
        14: "OFFLINE_HR",
        15: "OFFLINE_TEMP",
    }
)
_TYPE_CODES = {v: k for k, v in PMD_MEASUREMENT_TYPES.items()}

#: Control-point response status codes.
PMD_STATUS: Mapping[int, str] = MappingProxyType(
    {
        0: "SUCCESS",
        1: "ERROR_INVALID_OP_CODE",
        2: "ERROR_INVALID_MEASUREMENT_TYPE",
        3: "ERROR_NOT_SUPPORTED",
        4: "ERROR_INVALID_LENGTH",
        5: "ERROR_INVALID_PARAMETER",
        6: "ERROR_ALREADY_IN_STATE",
        7: "ERROR_INVALID_RESOLUTION",
        8: "ERROR_INVALID_SAMPLE_RATE",
        9: "ERROR_INVALID_RANGE",
        10: "ERROR_INVALID_MTU",
        11: "ERROR_INVALID_NUMBER_OF_CHANNELS",
        12: "ERROR_INVALID_STATE",
        13: "ERROR_DEVICE_IN_CHARGER",
        14: "ERROR_DISK_FULL",
        # derived / offline measurements (polar-ble-sdk PmdControlPointResponseCode)
        15: "ERROR_INVALID_SOURCE_MEASUREMENT_TYPE",
        16: "ERROR_INVALID_SOURCE_MEASUREMENT_RATE",
        17: "ERROR_INVALID_DERIVED_MEASUREMENT_SETTINGS_GROUP",
        18: "ERROR_INVALID_DERIVED_MEASUREMENT_METHOD",
    }
)

#: Setting type code -> (name, value size in bytes). FACTOR is an IEEE-754 float32.
PMD_SETTING_TYPES: Mapping[int, tuple[str, int]] = MappingProxyType(
    {
        0: ("SAMPLE_RATE", 2),
        1: ("RESOLUTION", 2),
        2: ("RANGE", 2),
        3: ("RANGE_MILLIUNIT", 4),
        4: ("CHANNELS", 1),
        5: ("FACTOR", 4),
        6: ("SECURITY", 16),
    }
)
_SETTING_CODES = {name: (code, size) for code, (name, size) in PMD_SETTING_TYPES.items()}

#: Nanoseconds between the Unix epoch and the PMD epoch 2000-01-01T00:00:00Z.
PMD_EPOCH_UNIX_NS = 946_684_800_000_000_000

_FEATURE_BITS = ("ECG", "PPG", "ACC", "PPI", "RFU", "GYRO", "MAG", "SKIN_TEMP")
_FEATURE_BITS_2 = (
    None,
    "SDK_MODE",
    "LOCATION",
    "PRESSURE",
    "TEMPERATURE",
    "OFFLINE_RECORDING",
    "OFFLINE_HR",
    None,
)
#: Ops whose successful response is a settings list (GET_MEASUREMENT_SETTINGS, SDK mode).
_SETTINGS_OPS = (1, 4)
_OPS = {
    1: "GET_MEASUREMENT_SETTINGS",
    2: "REQUEST_MEASUREMENT_START",
    3: "STOP_MEASUREMENT",
    4: "GET_SDK_MODE_MEASUREMENT_SETTINGS",
    5: "GET_MEASUREMENT_STATUS",
}


def decode_pmd_features(payload: bytes) -> frozenset[str]:
    """Decode the feature read of the PMD control point (``0F <b1> <b2> ...``).

    Returns
    -------
    features : frozenset of str
        Supported measurement names, e.g. ``{"ECG", "ACC"}`` for a Polar H10.
    """
    name = "decode_pmd_features"
    payload = as_bytes(name, payload)
    if len(payload) < 2:
        raise decode_error(
            name,
            payload,
            f"at byte {len(payload)}: needs at least 2 bytes (0x0F marker + feature bitmask)",
        )
    if payload[0] != 0x0F:
        raise decode_error(
            name, payload, f"at byte 0: expected feature marker 0x0f, got 0x{payload[0]:02x}"
        )
    out = {f for i, f in enumerate(_FEATURE_BITS) if payload[1] >> i & 1 and f != "RFU"}
    if len(payload) > 2:
        out |= {f for i, f in enumerate(_FEATURE_BITS_2) if f and payload[2] >> i & 1}
    return frozenset(out)


def decode_pmd_settings(
    params: bytes,
    *,
    base_offset: int = 0,
    payload: bytes | None = None,
    decoder: str = "decode_pmd_settings",
) -> dict[str, tuple]:
    """Decode a settings TLV list ``{[setting][count][value LE x count]}*``.

    Parameters
    ----------
    params : bytes
        The TLV bytes.
    base_offset : int
        Offset of ``params`` within the full payload, for error messages.

    Returns
    -------
    settings : dict of str to tuple
        Setting name -> tuple of values (ints; floats for ``FACTOR``; bytes for ``SECURITY``).
    """
    params = as_bytes(decoder, params)
    full = params if payload is None else payload
    out: dict[str, tuple] = {}
    i = 0
    while i < len(params):
        code = params[i]
        if code not in PMD_SETTING_TYPES:
            err = decode_error(
                decoder, full, f"at byte {base_offset + i}: unknown setting type {code}"
            )
            err.truncated = False
            raise err
        if i + 1 >= len(params):
            err = decode_error(
                decoder, full, f"at byte {base_offset + i + 1}: missing value count"
            )
            err.truncated = True
            raise err
        sname, size = PMD_SETTING_TYPES[code]
        count = params[i + 1]
        start = i + 2
        end = start + count * size
        if end > len(params):
            err = decode_error(
                decoder,
                full,
                f"at byte {base_offset + start}: setting {sname} needs {count} x {size} bytes, "
                f"only {len(params) - start} left",
            )
            err.truncated = True
            raise err
        vals = []
        for k in range(count):
            raw = params[start + k * size : start + (k + 1) * size]
            if sname == "FACTOR":
                vals.append(float(np.frombuffer(raw, dtype="<f4")[0]))
            elif sname == "SECURITY":
                vals.append(bytes(raw))
            else:
                vals.append(int.from_bytes(raw, "little"))
        out[sname] = tuple(vals)
        i = end
    return out


@dataclass(frozen=True, slots=True)
class PmdControlResponse:
    """A PMD control-point response (``F0 op type status more params``).

    Parameters
    ----------
    op : int
        Echoed op code (1 = get settings, 2 = start, 3 = stop, ...).
    measurement_type : int
        Measurement type code (0 = ECG, 2 = ACC, ...).
    status : int
        Status code (0 = success; see :data:`PMD_STATUS`).
    more : bool
        More response frames follow.
    parameters : bytes
        Raw parameter bytes after the ``more`` byte.
    settings : Mapping of str to tuple
        Decoded settings TLV (empty when the parameters are not a settings list, e.g. errors).
    """

    op: int
    measurement_type: int
    status: int
    more: bool
    parameters: bytes = b""
    settings: Mapping[str, tuple] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True on ``SUCCESS``."""
        return self.status == 0

    @property
    def status_name(self) -> str:
        """Name of the status code (``"UNKNOWN_<n>"`` for undocumented codes)."""
        return PMD_STATUS.get(self.status, f"UNKNOWN_{self.status}")

    @property
    def measurement_name(self) -> str:
        """Name of the measurement type."""
        return PMD_MEASUREMENT_TYPES.get(self.measurement_type, f"UNKNOWN_{self.measurement_type}")


def decode_pmd_control_response(payload: bytes) -> PmdControlResponse:
    """Decode a control-point indication (``F0 [op][type][status][more][params...]``).

    Settings are decoded for successful GET_MEASUREMENT_SETTINGS (op 1), START (op 2) and SDK-mode
    settings (op 4) responses; START responses may carry a ``FACTOR`` to multiply samples by.
    Parameters that are not a settings list (an unknown setting type) are kept raw in
    ``parameters`` with empty ``settings``. A payload shorter than 4 bytes or not starting with
    ``0xF0`` raises :class:`DecodeError`, and so does a successful GET (op 1 or 4) response
    shorter than its layout: no settings at all, or a setting cut before its values end (a cut
    response must not read as ``SUCCESS`` with fewer settings).
    """
    name = "decode_pmd_control_response"
    payload = as_bytes(name, payload)
    if len(payload) < 4:
        raise decode_error(
            name, payload, f"at byte {len(payload)}: needs at least 4 bytes (F0, op, type, status)"
        )
    if payload[0] != 0xF0:
        raise decode_error(
            name, payload, f"at byte 0: expected response code 0xf0, got 0x{payload[0]:02x}"
        )
    op, mtype, status = payload[1], payload[2], payload[3]
    more = bool(payload[4]) if len(payload) > 4 else False
    params = bytes(payload[5:])
    settings: dict[str, tuple] = {}
    lists_settings = status == 0 and op in _SETTINGS_OPS
    if lists_settings and not params:
        raise decode_error(
            name,
            payload,
            f"at byte {len(payload)}: a successful {_OPS[op]} response lists the settings; "
            "this one ends before them (cut response)",
        )
    if status == 0 and op in (1, 2, 4) and params:
        try:
            settings = decode_pmd_settings(params, base_offset=5, payload=payload, decoder=name)
        except DecodeError as e:
            if lists_settings and getattr(e, "truncated", False):
                # a settings list cut inside a setting: shorter than its own layout
                raise
            # Not a settings list (e.g. the SDK test response ``f0 01 02 00 00 ff ff ff``, or
            # the single ``00`` of a start response): keep the raw ``parameters`` and report
            # no settings rather than failing.
            settings = {}
    return PmdControlResponse(
        op=op,
        measurement_type=mtype,
        status=status,
        more=more,
        parameters=params,
        settings=MappingProxyType(settings),
    )


def encode_pmd_request(
    op: int | str, measurement: int | str, settings: Mapping[str, int | float] | None = None
) -> bytes:
    """Encode a PMD control-point request.

    Parameters
    ----------
    op : int | str
        1/"GET_MEASUREMENT_SETTINGS", 2/"REQUEST_MEASUREMENT_START", 3/"STOP_MEASUREMENT", ...
    measurement : int | str
        Measurement type code or name (``"ECG"``, ``"ACC"``).
    settings : mapping of str to int, optional
        E.g. ``{"SAMPLE_RATE": 130, "RESOLUTION": 14}``; each becomes ``[code][1][value LE]``,
        in the given order.

    Returns
    -------
    payload : bytes

    Examples
    --------
    >>> encode_pmd_request("REQUEST_MEASUREMENT_START", "ECG",
    ...                    {"SAMPLE_RATE": 130, "RESOLUTION": 14}).hex()
    '02000001820001010e00'
    """
    ops = {v: k for k, v in _OPS.items()}
    op_code = ops[op] if isinstance(op, str) and op in ops else op
    if not isinstance(op_code, int) or not 0 <= op_code <= 0xFF:
        raise ValueError(f"Unknown PMD op {op!r}; use one of {sorted(ops)} or an int code.")
    mcode = (
        _TYPE_CODES.get(measurement, measurement) if isinstance(measurement, str) else measurement
    )
    if not isinstance(mcode, int) or not 0 <= mcode <= 0xFF:
        raise ValueError(
            f"Unknown PMD measurement {measurement!r}; use one of {sorted(_TYPE_CODES)}."
        )
    out = bytearray([op_code, mcode])
    for sname, value in (settings or {}).items():
        if sname not in _SETTING_CODES or sname == "SECURITY":
            raise ValueError(
                f"Unknown PMD setting {sname!r}; use one of {sorted(_SETTING_CODES)}."
            )
        code, size = _SETTING_CODES[sname]
        out += bytes([code, 1])
        if sname == "FACTOR":
            out += np.asarray([value], dtype="<f4").tobytes()
        else:
            out += int(value).to_bytes(size, "little")
    return bytes(out)


@dataclass(frozen=True, slots=True)
class PmdFrame:
    """Header fields of a PMD data frame plus its payload bytes.

    Parameters
    ----------
    measurement_type : int
        Low 6 bits of byte 0 (0 = ECG, 2 = ACC, ...).
    timestamp_ns : int
        Device time of the LAST sample, ns since 2000-01-01T00:00:00Z.
    frame_type : int
        Frame type number (bits 0..6 of byte 9).
    compressed : bool
        Bit 7 of byte 9 (delta-compressed frame).
    data : bytes
        Bytes from offset 10.
    """

    measurement_type: int
    timestamp_ns: int
    frame_type: int
    compressed: bool
    data: bytes

    @property
    def timestamp_unix_ns(self) -> int:
        """The timestamp as ns since the Unix epoch."""
        return self.timestamp_ns + PMD_EPOCH_UNIX_NS


def decode_pmd_frame(payload: bytes) -> PmdFrame:
    """Split a PMD data notification into header fields and payload bytes."""
    name = "decode_pmd_frame"
    payload = as_bytes(name, payload)
    if len(payload) < 10:
        raise decode_error(
            name,
            payload,
            f"at byte {len(payload)}: needs at least 10 bytes (type, uint64 timestamp, frame "
            "type)",
        )
    return PmdFrame(
        measurement_type=payload[0] & 0x3F,
        timestamp_ns=int.from_bytes(payload[1:9], "little"),
        frame_type=payload[9] & 0x7F,
        compressed=bool(payload[9] & 0x80),
        data=bytes(payload[10:]),
    )


def _int_le(data: bytes, width: int) -> np.ndarray:
    """Signed little-endian integers of ``width`` bytes (1, 2 or 3)."""
    if width == 1:
        return np.frombuffer(data, dtype="i1").astype(np.int64)
    if width == 2:
        return np.frombuffer(data, dtype="<i2").astype(np.int64)
    n = len(data) // 3
    if n * 3 != len(data):
        raise ValueError(f"{len(data)} bytes is not a multiple of 3")
    # each sample read as a little-endian int32 over its 3 bytes and the next one (one zero
    # byte appended), the 4th byte shifted out and the sign of bit 23 shifted back in
    v = np.ndarray((n,), dtype="<i4", buffer=bytes(data) + b"\0", strides=(3,))
    return ((v << 8) >> 8).astype(np.int64)


def decode_pmd_ecg(payload: bytes, *, n_samples: int | None = None) -> tuple[int, np.ndarray]:
    """Decode a Polar H10 ECG frame (measurement 0, frame type 0: N x int24 LE µV).

    Parameters
    ----------
    payload : bytes
        The notification.
    n_samples : int | None
        Samples a whole frame holds (the profile's ``samples_per_packet``: 73 for an H10 at
        MTU 232). A frame with fewer is a cut frame: its timestamp belongs to a last sample it
        does not contain, so it is rejected rather than decoded with wrong sample times.

    Returns
    -------
    timestamp_ns : int
        Device time of the last sample, ns since 2000-01-01.
    uv : ndarray of float64, shape (n_samples,)
        ECG in µV, oldest first.

    Raises
    ------
    DecodeError
        For another measurement type, another (or compressed) frame type, a payload whose
        sample bytes are not a multiple of 3, a frame without samples (the 10-byte header alone)
        or, with ``n_samples``, a frame holding fewer samples than a whole frame.
    """
    name = "decode_pmd_ecg"
    payload = as_bytes(name, payload)
    fr = decode_pmd_frame(payload)
    if fr.measurement_type != 0:
        raise decode_error(
            name, payload, f"at byte 0: measurement type {fr.measurement_type} is not ECG (0)"
        )
    if fr.compressed or fr.frame_type != 0:
        raise decode_error(
            name,
            payload,
            f"at byte 9: frame type 0x{payload[9]:02x} is not raw ECG type 0x00 (H10)",
        )
    if len(fr.data) % 3:
        raise decode_error(
            name, payload, f"at byte 10: {len(fr.data)} sample bytes is not a multiple of 3"
        )
    n = len(fr.data) // 3
    if n == 0:
        raise decode_error(
            name, payload, "at byte 10: the frame holds no sample (a header without data)"
        )
    if n_samples is not None and n < n_samples:
        raise decode_error(
            name,
            payload,
            f"at byte {len(payload)}: the frame holds {n} samples, a whole frame {n_samples} "
            f"(cut frame: its timestamp is that of a sample it does not contain)",
        )
    return fr.timestamp_ns, _int_le(fr.data, 3).astype(np.float64)


def decode_pmd_delta_samples(
    data: bytes,
    n_channels: int,
    ref_bytes: int,
    *,
    decoder: str = "decode_pmd_delta_samples",
    payload: bytes | None = None,
    base_offset: int = 0,
) -> np.ndarray:
    """Decode a delta-compressed PMD block.

    Layout: a reference sample (``n_channels`` signed LE values of ``ref_bytes`` bytes), then
    repeated ``[bit width][count]`` + ``ceil(width * count * n_channels / 8)`` bytes of deltas
    packed LSB-first, two's complement; ``sample[k] = sample[k-1] + delta[k]``.

    Returns
    -------
    raw : ndarray of int64, shape (n_channels, n_samples)
    """
    full = data if payload is None else payload
    ref_len = n_channels * ref_bytes
    if len(data) < ref_len:
        raise decode_error(
            decoder, full, f"at byte {base_offset}: reference sample needs {ref_len} bytes"
        )
    ref = _int_le(data[:ref_len], ref_bytes)
    blocks = [ref[None, :]]
    i = ref_len
    while i < len(data):
        if i + 2 > len(data):
            raise decode_error(
                decoder, full, f"at byte {base_offset + i}: truncated delta block header"
            )
        width, count = data[i], data[i + 1]
        if not 1 <= width <= 32:
            raise decode_error(
                decoder, full, f"at byte {base_offset + i}: delta bit width {width} not in 1..32"
            )
        nbytes = math.ceil(width * count * n_channels / 8)
        start = i + 2
        if start + nbytes > len(data):
            raise decode_error(
                decoder,
                full,
                f"at byte {base_offset + start}: delta block needs {nbytes} bytes, "
                f"only {len(data) - start} left",
            )
        nvals = count * n_channels
        bits = np.unpackbits(
            np.frombuffer(data[start : start + nbytes], dtype=np.uint8), bitorder="little"
        )[: nvals * width].reshape(nvals, width)
        vals = bits.astype(np.int64) @ (np.int64(1) << np.arange(width, dtype=np.int64))
        vals -= (vals >> (width - 1) & 1) << width
        blocks.append(vals.reshape(count, n_channels))
        i = start + nbytes
    return np.cumsum(np.concatenate(blocks, axis=0), axis=0).T


def decode_pmd_acc(payload: bytes, *, factor: float | None = None) -> tuple[int, np.ndarray]:
    """Decode a PMD accelerometer frame (measurement 2).

    Frame types: raw 0 (int8), 1 (int16 LE; the H10's, in mG), 2 (int24 LE); compressed
    0x80/0x81 (16-bit reference + deltas).

    Parameters
    ----------
    payload : bytes
        The notification.
    factor : float | None
        FACTOR from the start response; when given, values are ``factor * raw``.

    Returns
    -------
    timestamp_ns : int
        Device time of the last sample, ns since 2000-01-01.
    values : ndarray of float64, shape (3, n_samples)
        x, y, z rows; raw counts (mG for H10 frame type 1) times ``factor`` if given.
    """
    name = "decode_pmd_acc"
    payload = as_bytes(name, payload)
    fr = decode_pmd_frame(payload)
    if fr.measurement_type != 2:
        raise decode_error(
            name, payload, f"at byte 0: measurement type {fr.measurement_type} is not ACC (2)"
        )
    if fr.compressed:
        if fr.frame_type not in (0, 1):
            raise decode_error(
                name, payload, f"at byte 9: unsupported compressed ACC frame type {fr.frame_type}"
            )
        raw = decode_pmd_delta_samples(
            fr.data, 3, 2, decoder=name, payload=payload, base_offset=10
        )
    else:
        width = {0: 1, 1: 2, 2: 3}.get(fr.frame_type)
        if width is None:
            raise decode_error(
                name, payload, f"at byte 9: unsupported raw ACC frame type {fr.frame_type}"
            )
        if len(fr.data) % (3 * width):
            raise decode_error(
                name, payload, f"at byte 10: {len(fr.data)} bytes is not a multiple of 3 x {width}"
            )
        raw = _int_le(fr.data, width).reshape(-1, 3).T
    vals = raw.astype(np.float64)
    if factor is not None:
        vals = vals * float(factor)
    return fr.timestamp_ns, vals
