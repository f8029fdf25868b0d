"""Public decoding interface: one BLE notification in, scaled and named packets out.

``decode(profile_id, characteristic_uuid, payload) -> list[DecodedPacket]`` routes a payload by
the characteristic it arrived on, runs the pure decoder of :mod:`addictidx.acquire.decoders`
and applies the profile's channel names, scale and offset (``value = scale * (raw + offset)``),
so the TOML profile stays the single source of those facts. One notification gives one packet,
except Athena notifications (one packet per sensor block; TAG ``0x47`` gives an ``acc`` and a
``gyro`` packet) and empty lists for blocks that are framed but not decoded (Athena ``0x53``).

Characteristic arguments: a full 128-bit UUID (any case, with or without dashes) or, for
Bluetooth SIG characteristics, the 16-bit short form ``2a37`` / ``0x2A37`` (also the 32-bit form
``00002a37``), expanded with the SIG base UUID ``0000xxxx-0000-1000-8000-00805f9b34fb``.

Packet contents by characteristic (``DecodedPacket.to_dict()`` shape)::

    {"stream": str, "sequence": int | None, "timestamp_ns": int | None,
     "channels": {name: [float, ...]}, "units": {name: unit}, "fields": {...}}

* Muse classic EEG ``273e0003..0007``: stream ``eeg`` (``eeg_aux`` for ``273e0007``), one
  channel (``TP9`` ... ``TP10``, ``AUX``) x 12 samples in ``uV``; ``sequence`` = the 16-bit
  block counter.
* Muse PPG ``273e000f..0011``: stream ``ppg``, 6 samples, raw ADC ``counts``.
* Muse ACC / GYRO ``273e000a`` / ``0009``: streams ``acc`` (``g``) / ``gyro`` (``deg/s``),
  channels ``x``, ``y``, ``z`` x 3 samples.
* Muse telemetry ``273e000b``: stream ``telemetry``, channels ``battery_pct`` (``%``) and
  ``fuel_gauge_v`` (``V``); fields ``adc_raw``, ``temperature_raw`` (units undocumented).
* Muse control ``273e0001``: stream ``control``, no channels, field ``text`` (one fragment;
  reassemble JSON with :class:`~addictidx.acquire.decoders.MuseControlReassembler`).
* Athena ``273e0013`` / ``0014``: streams ``eeg`` (``uV``), ``optics`` (``counts``), ``acc``,
  ``gyro``, ``battery`` (``%``); ``sequence`` = the per-TAG 8-bit block index; fields ``tag``
  (``"0x12"``), ``block_index``, ``packet_sequence`` (uint16) and, for battery,
  ``battery_raw``.
* Heart Rate Measurement ``2a37``: stream ``hr``, channels ``hr`` (``bpm``) and ``rr`` (``s``,
  0-n values, exactly ``n/1024``); fields ``hr_bpm``, ``rr_s`` (list, seconds), ``rr_1024``,
  ``contact_supported``, ``contact_detected`` (``None`` when unsupported), ``energy_kj``
  (``None`` when absent), ``hr_uint16``.
* Battery Level ``2a19``: stream ``battery``, channel ``battery_pct`` (``%``).
* Polar PMD control point ``fb005c81``: stream ``control``; a response gives fields ``op``,
  ``op_name``, ``measurement_type``, ``measurement_name``, ``status`` (0 = success),
  ``status_name``, ``more``, ``settings`` (``{"SAMPLE_RATE": [130], ...}``), ``parameters_hex``;
  a feature read (``0F ...``) gives field ``features``.
* Polar PMD data ``fb005c82``: stream ``ecg`` (channel ``ECG``, ``uV``) or ``acc`` (``g``);
  ``timestamp_ns`` is the device's own value (ns since 2000-01-01T00:00:00Z, time of the frame's
  LAST sample), not Unix time (field ``timestamp_unix_ns`` adds the epoch offset).

Every malformed payload raises :class:`~addictidx._core.errors.DecodeError` naming the profile,
the stream, the characteristic and the byte offset (also as attributes ``profile``, ``stream``,
``characteristic``, ``byte_offset``); nothing else escapes :func:`decode`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from types import MappingProxyType
from typing import Any

import numpy as np

from addictidx._core.errors import DecodeError, ProfileError
from addictidx.acquire.decoders._errors import as_bytes, decode_error, error_offset
from addictidx.acquire.decoders.hrs import decode_battery_level, decode_heart_rate_measurement
from addictidx.acquire.decoders.muse_athena import (
    ATHENA_TAGS,
    decode_athena_block,
    split_athena_notification,
)
from addictidx.acquire.decoders.muse_classic import (
    NOTIFICATION_BYTES,
    decode_muse_control,
    decode_muse_telemetry,
    unpack_uint12,
    unpack_uint24,
)
from addictidx.acquire.decoders.polar_pmd import (
    PMD_EPOCH_UNIX_NS,
    PMD_MEASUREMENT_TYPES,
    decode_pmd_acc,
    decode_pmd_control_response,
    decode_pmd_ecg,
    decode_pmd_features,
    decode_pmd_frame,
)
from addictidx.acquire.profiles import DeviceProfile, StreamProfile, load_profile

__all__ = [
    "UNITS",
    "SIG_BASE_UUID",
    "DecodedPacket",
    "DecodeError",
    "DecodeProfileError",
    "decode",
    "encode_command",
    "normalize_characteristic",
    "decodable_characteristics",
]

#: Units a decoded channel may carry. ``counts`` = raw ADC counts (PPG, optics), which have no
#: physical unit in any source.
UNITS = ("uV", "V", "g", "deg/s", "s", "bpm", "%", "kJ", "counts")
#: Base UUID of 16-/32-bit Bluetooth SIG UUIDs (``0000xxxx`` + this suffix).
SIG_BASE_UUID = "-0000-1000-8000-00805f9b34fb"

_UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_HEX_RE = re.compile(r"^[0-9a-f]+$")
_PMD_OPS = {
    1: "GET_MEASUREMENT_SETTINGS",
    2: "REQUEST_MEASUREMENT_START",
    3: "STOP_MEASUREMENT",
    4: "GET_SDK_MODE_MEASUREMENT_SETTINGS",
    5: "GET_MEASUREMENT_STATUS",
    6: "GET_SDK_MODE_STATUS",
    7: "GET_OFFLINE_RECORDING_TRIGGER_STATUS",
    8: "SET_OFFLINE_RECORDING_TRIGGER_MODE",
    9: "SET_OFFLINE_RECORDING_TRIGGER_SETTINGS",
}
_EMPTY: Mapping = MappingProxyType({})


class DecodeProfileError(ProfileError, DecodeError):
    """The profile given to :func:`decode` is unknown or invalid (both a Profile- and a
    DecodeError, so ``except DecodeError`` around :func:`decode` catches everything)."""


# --------------------------------------------------------------------------------------------
# The packet
# --------------------------------------------------------------------------------------------


def _plain(obj: Any) -> Any:
    """Fields as plain JSON data (tuples -> lists, numpy scalars -> Python, bytes -> hex)."""
    if isinstance(obj, Mapping):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, (bytes, bytearray)):
        return bytes(obj).hex()
    return obj


@dataclass(frozen=True, slots=True)
class DecodedPacket:
    """One decoded (sub-)packet of one notification.

    Parameters
    ----------
    stream : str
        Stream name from the profile (``eeg``, ``ppg``, ``optics``, ``acc``, ``gyro``, ``hr``,
        ``ecg``, ``battery``, ``telemetry``, ``control``).
    sequence : int | None
        The packet counter as sent (Muse: 16-bit block counter; Athena: per-TAG 8-bit block
        index), ``None`` when the payload has none.
    timestamp_ns : int | None
        Device timestamp (Polar PMD: ns since 2000-01-01, last sample), ``None`` otherwise.
    channels : Mapping of str to ndarray
        Channel name -> read-only float64 samples, oldest first.
    units : Mapping of str to str
        Channel name -> unit (one of :data:`UNITS`).
    fields : Mapping of str to Any
        Other decoded values (JSON-ready).
    """

    stream: str
    sequence: int | None
    timestamp_ns: int | None
    channels: Mapping[str, np.ndarray]
    units: Mapping[str, str]
    fields: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)

    @property
    def n_samples(self) -> int:
        """Samples per channel (the longest channel; 0 without channels)."""
        return max((len(v) for v in self.channels.values()), default=0)

    def to_dict(self) -> dict:
        """The packet as plain JSON data (see the module docstring for the shape)."""
        return {
            "stream": self.stream,
            "sequence": self.sequence,
            "timestamp_ns": self.timestamp_ns,
            "channels": {k: v.tolist() for k, v in self.channels.items()},
            "units": dict(self.units),
            "fields": _plain(self.fields),
        }


def _packet(stream, sequence, timestamp_ns, channels, units, fields=None) -> DecodedPacket:
    return DecodedPacket(
        stream,
        sequence,
        timestamp_ns,
        MappingProxyType(channels),
        MappingProxyType(units),
        MappingProxyType(fields) if fields else _EMPTY,
    )


def _ro(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


def _scaler(scale: float, offset: float) -> Callable[[np.ndarray], np.ndarray]:
    """``v -> scale * (v + offset)`` as float64, in place on a float64 copy.

    A scale whose inverse is an integer (``0.001``) divides by that integer instead, so that
    e.g. ``-9 mG`` becomes exactly ``-0.009`` g (the correctly rounded double).
    """
    scale, offset = float(scale), float(offset)
    inv = 1.0 / scale
    divisor = round(inv) if abs(inv - round(inv)) < 1e-9 * abs(inv) and abs(inv) > 1 else None

    def apply(v: np.ndarray) -> np.ndarray:
        out = v.astype(np.float64)
        if offset:
            out += offset
        if divisor is not None:
            out /= divisor
        elif scale != 1.0:
            out *= scale
        return out

    return apply


# --------------------------------------------------------------------------------------------
# Characteristic and profile lookup
# --------------------------------------------------------------------------------------------


def normalize_characteristic(text: str) -> str:
    """Return the full lowercase 128-bit UUID for a characteristic argument.

    Parameters
    ----------
    text : str
        ``"00002a37-0000-1000-8000-00805f9b34fb"``, the same without dashes or in upper case, or
        a SIG short form: ``"2a37"``, ``"0x2A37"``, ``"00002a37"``.

    Returns
    -------
    uuid : str
        ``8-4-4-4-12`` lowercase form.

    Raises
    ------
    DecodeError
        If ``text`` is none of these forms.

    Examples
    --------
    >>> normalize_characteristic("0x2A37")
    '00002a37-0000-1000-8000-00805f9b34fb'
    """
    if not isinstance(text, str):
        raise DecodeError(
            f"characteristic must be a UUID string, got {type(text).__name__} {text!r}."
        )
    s = text.strip().lower()
    if _UUID_RE.match(s):
        return s
    h = s[2:] if s.startswith("0x") else s
    if _HEX_RE.match(h):
        if len(h) == 4:
            return f"0000{h}{SIG_BASE_UUID}"
        if len(h) == 8:
            return f"{h}{SIG_BASE_UUID}"
        if len(h) == 32:
            return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
    raise DecodeError(
        f"characteristic {text!r} is not a UUID: give the full 128-bit UUID "
        "(e.g. 273e0003-4c4d-454d-96be-f03bac821358) or a SIG short form (2a37, 0x2A37)."
    )


def _load(profile_id: str | DeviceProfile) -> DeviceProfile:
    if isinstance(profile_id, DeviceProfile):
        return profile_id
    try:
        return load_profile(profile_id)
    except ProfileError as e:
        raise DecodeProfileError(str(e)) from None


# --------------------------------------------------------------------------------------------
# Route handlers: payload -> list[DecodedPacket]; errors carry ``stream``
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Route:
    streams: tuple[str, ...]  # for error messages before the stream is known
    handler: Callable[[bytes], list[DecodedPacket]]


def _tag_stream(err: DecodeError, stream: str) -> DecodeError:
    if getattr(err, "stream", None) is None:
        err.stream = stream
    return err


def _check_len(name: str, payload: bytes, n: int = NOTIFICATION_BYTES) -> None:
    if len(payload) != n:
        raise decode_error(
            name,
            payload,
            f"at byte {min(len(payload), n)}: expected exactly {n} bytes, got {len(payload)}",
        )


def _muse_samples(s: StreamProfile, channel: str, width: int) -> Callable:
    name = f"decode_muse_{'eeg' if width == 12 else 'ppg'}"
    unpack = unpack_uint12 if width == 12 else unpack_uint24
    conv, unit, stream = _scaler(s.scale, s.offset), s.unit, s.name

    def handler(payload: bytes) -> list[DecodedPacket]:
        _check_len(name, payload)
        raw = conv(unpack(payload[2:]))
        seq = (payload[0] << 8) | payload[1]
        return [_packet(stream, seq, None, {channel: _ro(raw)}, {channel: unit})]

    return handler


def _muse_imu(s: StreamProfile) -> Callable:
    name = f"decode_muse_{'accelerometer' if s.kind == 'acc' else 'gyroscope'}"
    conv, unit, stream, chans = _scaler(s.scale, s.offset), s.unit, s.name, s.channels
    if len(chans) != 3:
        raise ProfileError(f"{s.name}: an IMU stream needs 3 channels (x, y, z), got {chans}")
    units = {c: unit for c in chans}

    def handler(payload: bytes) -> list[DecodedPacket]:
        _check_len(name, payload)
        vals = _ro(conv(np.frombuffer(payload, dtype=">i2", offset=2).reshape(3, 3).T))
        seq = (payload[0] << 8) | payload[1]
        return [_packet(stream, seq, None, dict(zip(chans, vals)), units)]

    return handler


_TELEMETRY_CHANNELS = ("battery_pct", "fuel_gauge_v")


def _muse_telemetry(s: StreamProfile) -> Callable:
    if tuple(s.channels) != _TELEMETRY_CHANNELS:
        raise ProfileError(
            f"{s.name}: telemetry channels must be {list(_TELEMETRY_CHANNELS)}, got {s.channels}"
        )
    units = {"battery_pct": "%", "fuel_gauge_v": "V"}

    def handler(payload: bytes) -> list[DecodedPacket]:
        t = decode_muse_telemetry(payload)
        chans = {
            "battery_pct": _ro(np.array([t["battery_pct"]])),
            # raw x 2.2 mV = raw x 22 / 10000 V (integer product: correctly rounded)
            "fuel_gauge_v": _ro(np.array([int.from_bytes(payload[4:6], "big") * 22 / 10000])),
        }
        fields = {"adc_raw": t["adc_mv"], "temperature_raw": t["temperature"]}
        return [_packet(s.name, t["sequence"], None, chans, units, fields)]

    return handler


def _muse_control(payload: bytes) -> list[DecodedPacket]:
    text = decode_muse_control(payload)
    return [_packet("control", None, None, {}, {}, {"text": text})]


def _hrs(hr: StreamProfile | None, rr: StreamProfile | None) -> Callable:
    hr_name = hr.channels[0] if hr else "hr"
    rr_name = rr.channels[0] if rr else "rr"
    rr_conv = _scaler(rr.scale if rr else 1 / 1024, rr.offset if rr else 0.0)
    stream = hr.name if hr else rr.name
    units = {hr_name: "bpm", rr_name: "s"}

    def handler(payload: bytes) -> list[DecodedPacket]:
        m = decode_heart_rate_measurement(payload)
        rr = _ro(rr_conv(np.array(m.rr_1024, dtype=np.float64)))
        rr_s = rr.tolist()
        chans = {hr_name: _ro(np.array([float(m.hr_bpm)])), rr_name: rr}
        fields = {
            "hr_bpm": m.hr_bpm,
            "rr_s": rr_s,
            "rr_1024": list(m.rr_1024),
            "contact_supported": m.contact_supported,
            "contact_detected": m.contact_detected,
            "energy_kj": m.energy_kj,
            "hr_uint16": m.hr_uint16,
        }
        return [_packet(stream, None, None, chans, units, fields)]

    return handler


def _battery(s: StreamProfile) -> Callable:
    ch = s.channels[0]

    def handler(payload: bytes) -> list[DecodedPacket]:
        v = decode_battery_level(payload)
        return [_packet(s.name, None, None, {ch: _ro(np.array([float(v)]))}, {ch: "%"})]

    return handler


def _pmd_control(payload: bytes) -> list[DecodedPacket]:
    if not payload:
        raise decode_error("decode_pmd_control_response", payload, "at byte 0: empty payload")
    if payload[0] == 0x0F:
        feats = decode_pmd_features(payload)
        return [_packet("control", None, None, {}, {}, {"features": sorted(feats)})]
    r = decode_pmd_control_response(payload)
    fields = {
        "op": r.op,
        "op_name": _PMD_OPS.get(r.op, f"UNKNOWN_{r.op}"),
        "measurement_type": r.measurement_type,
        "measurement_name": r.measurement_name,
        "status": r.status,
        "status_name": r.status_name,
        "more": r.more,
        "settings": {k: list(v) for k, v in r.settings.items()},
        "parameters_hex": r.parameters.hex(),
    }
    return [_packet("control", None, None, {}, {}, fields)]


def _pmd_data(streams: list[StreamProfile], label: str) -> Callable:
    by_type: dict[int, tuple[StreamProfile, frozenset[int] | None]] = {}
    for s in streams:
        mt = s.layout.get("measurement_type")
        if not isinstance(mt, int) or isinstance(mt, bool):
            raise ProfileError(
                f"{label}: streams '{s.name}'.layout.measurement_type: expected the PMD "
                f"measurement type code (0 = ECG, 2 = ACC), got {mt!r}"
            )
        ft = s.layout.get("frame_types")
        by_type[mt] = (s, frozenset(int(x) for x in ft) if ft is not None else None)
    known = ", ".join(f"{PMD_MEASUREMENT_TYPES.get(k, k)}={k}" for k in sorted(by_type))
    convs = {s.name: _scaler(s.scale, s.offset) for s in streams}

    def handler(payload: bytes) -> list[DecodedPacket]:
        fr = decode_pmd_frame(payload)
        entry = by_type.get(fr.measurement_type)
        if entry is None:
            name = PMD_MEASUREMENT_TYPES.get(fr.measurement_type, "unknown")
            raise decode_error(
                "decode_pmd_frame",
                payload,
                f"at byte 0: measurement type {fr.measurement_type} ({name}) is not a stream "
                f"of this profile ({known})",
            )
        s, allowed = entry
        try:
            if allowed is not None and payload[9] not in allowed:
                raise decode_error(
                    "decode_pmd_frame",
                    payload,
                    f"at byte 9: frame type 0x{payload[9]:02x} is not one this device sends "
                    f"({', '.join(f'0x{x:02x}' for x in sorted(allowed))})",
                )
            if s.kind == "ecg":
                ts, raw = decode_pmd_ecg(payload)
                rows = {s.channels[0]: raw}
            else:
                ts, raw = decode_pmd_acc(payload)
                rows = dict(zip(s.channels, raw))
        except DecodeError as e:
            raise _tag_stream(e, s.name) from None
        conv = convs[s.name]
        chans = {k: _ro(conv(v)) for k, v in rows.items()}
        fields = {
            "measurement_type": fr.measurement_type,
            "frame_type": fr.frame_type,
            "compressed": fr.compressed,
            "n_samples": int(raw.shape[-1]),
            "timestamp_unix_ns": fr.timestamp_ns + PMD_EPOCH_UNIX_NS,
        }
        return [_packet(s.name, None, fr.timestamp_ns, chans, {k: s.unit for k in chans}, fields)]

    return handler


@dataclass(frozen=True, slots=True)
class _AthenaTarget:
    stream: str
    unit: str
    names: tuple[str, ...]
    rows: list[int] | None  # None: all rows in order
    conv: Callable[[np.ndarray], np.ndarray]
    battery: bool
    units: Mapping[str, str]


def _athena_table(streams: list[StreamProfile], label: str) -> dict[int, list[_AthenaTarget]]:
    """TAG -> targets, built from the ``layout`` tables of the profile's Athena streams."""
    table: dict[int, list[_AthenaTarget]] = {}
    for s in streams:
        key = f"{label}: streams '{s.name}'.layout"
        tags = s.layout.get("tags")
        if not tags:
            raise ProfileError(f"{key}.tags: an athena.packet stream needs a non-empty TAG list")
        for tag in tags:
            spec = ATHENA_TAGS.get(tag) if isinstance(tag, int) else None
            if spec is None or spec.sensor == "drl_ref":
                raise ProfileError(
                    f"{key}.tags: {tag!r} is not a decodable Athena TAG "
                    f"({', '.join(f'0x{t:02x}' for t in ATHENA_TAGS if t != 0x53)})"
                )
            hx = f"0x{tag:02x}"
            tag_channels = s.layout.get("tag_channels")
            if tag_channels is not None:
                names = tuple(tag_channels.get(hx, ()))
                rows = tuple(range(len(names)))
                if len(names) != spec.n_channels:
                    raise ProfileError(
                        f"{key}.tag_channels.{hx}: TAG {hx} carries {spec.n_channels} channels, "
                        f"the profile names {len(names)}"
                    )
            elif s.layout.get("fields") is not None:
                order = tuple(s.layout.get("sample_fields", ()))
                fields = tuple(s.layout["fields"])
                if len(order) != spec.n_channels or not set(fields) <= set(order):
                    raise ProfileError(
                        f"{key}.fields: {list(fields)} must be among the {spec.n_channels} "
                        f"sample_fields of TAG {hx}, got sample_fields {list(order)}"
                    )
                if len(fields) != len(s.channels):
                    raise ProfileError(
                        f"{key}.fields: {len(fields)} fields for {len(s.channels)} channels"
                    )
                names, rows = tuple(s.channels), tuple(order.index(f) for f in fields)
            else:
                names, rows = tuple(s.channels), tuple(range(spec.n_channels))
                if len(names) != spec.n_channels:
                    raise ProfileError(
                        f"{key}: TAG {hx} carries {spec.n_channels} channels, "
                        f"stream '{s.name}' has {len(names)}"
                    )
            unknown = [n for n in names if n not in s.channels]
            if unknown:
                raise ProfileError(
                    f"{key}: channel(s) {unknown} of TAG {hx} are not in the stream's channels"
                )
            table.setdefault(tag, []).append(
                _AthenaTarget(
                    s.name,
                    s.unit,
                    names,
                    None if rows == tuple(range(spec.n_channels)) else list(rows),
                    _scaler(s.scale, s.offset),
                    spec.sensor == "battery",
                    MappingProxyType({n: s.unit for n in names}),
                )
            )
    return table


def _athena(streams: list[StreamProfile], label: str) -> Callable:
    table = _athena_table(streams, label)

    def handler(payload: bytes) -> list[DecodedPacket]:
        out: list[DecodedPacket] = []
        for b in split_athena_notification(payload):
            targets = table.get(b.tag)
            if targets is None:
                if ATHENA_TAGS[b.tag].sensor == "drl_ref":
                    continue  # framed, not decoded (decisions.tag_0x53)
                raise decode_error(
                    "decode",
                    payload,
                    f"at byte {b.offset}: TAG 0x{b.tag:02x} is not decoded by any stream of "
                    "this profile",
                )
            try:
                raw = decode_athena_block(b)
            except DecodeError as e:
                raise _tag_stream(e, targets[0].stream) from None
            base = {
                "tag": f"0x{b.tag:02x}",
                "block_index": b.index,
                "packet_sequence": b.packet_seq,
            }
            for t in targets:
                vals = _ro(t.conv(raw if t.rows is None else raw[t.rows]))
                fields = dict(base)
                if t.battery:
                    fields["battery_raw"] = int(raw[0, 0])
                chans = MappingProxyType(dict(zip(t.names, vals)))
                out.append(
                    DecodedPacket(
                        t.stream, b.index, None, chans, t.units, MappingProxyType(fields)
                    )
                )
        return out

    return handler


def _build_routes(p: DeviceProfile) -> dict[str, _Route]:
    label = p.source or p.name
    routes: dict[str, _Route] = {}
    if p.control is not None:
        if p.control.framing == "muse-ascii":
            routes[p.control.characteristic] = _Route(("control",), _muse_control)
        else:
            routes[p.control.characteristic] = _Route(("control",), _pmd_control)
    grouped: dict[tuple[str, str], list[StreamProfile]] = {}
    for s in p.streams:
        for uuid, chans in s.routes.items():
            d = s.decoder
            if d in ("muse.eeg", "muse.ppg"):
                h = _muse_samples(s, chans[0], 12 if d == "muse.eeg" else 24)
                routes[uuid] = _Route((s.name,), h)
            elif d in ("muse.acc", "muse.gyro"):
                routes[uuid] = _Route((s.name,), _muse_imu(s))
            elif d == "muse.telemetry":
                routes[uuid] = _Route((s.name,), _muse_telemetry(s))
            elif d == "muse.control":
                routes[uuid] = _Route((s.name,), _muse_control)
            elif d == "battery.level":
                routes[uuid] = _Route((s.name,), _battery(s))
            else:  # hrs.measurement, pmd.*, athena.packet: several streams share a UUID
                family = d.split(".")[0]
                grouped.setdefault((uuid, family), []).append(s)
    for (uuid, family), ss in grouped.items():
        names = tuple(s.name for s in ss)
        if family == "hrs":
            hr = next((s for s in ss if s.kind == "hr"), None)
            rr = next((s for s in ss if s.kind == "rr"), None)
            routes[uuid] = _Route(names[:1], _hrs(hr, rr))
        elif family == "pmd":
            routes[uuid] = _Route(names, _pmd_data(ss, label))
        elif family == "athena":
            routes[uuid] = _Route(names, _athena(ss, label))
        else:  # pragma: no cover - profiles only accept keys of DECODERS
            raise ProfileError(f"{label}: no decode route for decoder family {family!r}")
    return routes


@lru_cache(maxsize=32)
def _routes_cached(profile_id: str) -> tuple[DeviceProfile, dict[str, _Route]]:
    p = _load(profile_id)
    return p, _routes_for(p)


def _routes_for(p: DeviceProfile) -> dict[str, _Route]:
    try:
        return _build_routes(p)
    except ProfileError as e:
        raise DecodeProfileError(str(e)) from None


def _resolve(profile_id: str | DeviceProfile) -> tuple[DeviceProfile, dict[str, _Route]]:
    if isinstance(profile_id, DeviceProfile):
        return profile_id, _routes_for(profile_id)
    if not isinstance(profile_id, str):
        raise DecodeProfileError(
            f"profile_id must be a profile name or a path to a .toml file, got "
            f"{type(profile_id).__name__}."
        )
    return _routes_cached(profile_id)


def decodable_characteristics(profile_id: str | DeviceProfile) -> dict[str, tuple[str, ...]]:
    """Characteristic UUID -> stream names that :func:`decode` accepts for a profile."""
    _, routes = _resolve(profile_id)
    return {u: r.streams for u, r in routes.items()}


# --------------------------------------------------------------------------------------------
# Public functions
# --------------------------------------------------------------------------------------------


def decode(
    profile_id: str | DeviceProfile, characteristic_uuid: str, payload: bytes
) -> list[DecodedPacket]:
    """Decode one BLE notification (or read value) of a device.

    Parameters
    ----------
    profile_id : str | DeviceProfile
        A profile name (``"muse-2"``, ``"muse-s-athena"``, ``"polar-h10"``, ``"generic-hrs"``,
        ...), a path to a profile ``.toml``, or a loaded profile.
    characteristic_uuid : str
        The characteristic the payload came from: a full UUID or, for SIG characteristics, a
        short form (``"2a37"``, ``"0x2A37"``).
    payload : bytes
        The notification bytes (``bytearray`` / ``memoryview`` accepted).

    Returns
    -------
    packets : list of DecodedPacket
        Usually one; one per sensor block for Muse S Athena; possibly none (an Athena
        notification of undecoded ``0x53`` blocks only).

    Raises
    ------
    DecodeError
        For every malformed payload (wrong length, bad framing, unknown TAG, ...), an unknown
        characteristic, or an unknown/invalid profile (:class:`DecodeProfileError`). The message
        names the profile, stream, characteristic and byte offset.

    Examples
    --------
    >>> [p.to_dict()["fields"]["hr_bpm"] for p in decode("generic-hrs", "2a37", bytes([6, 60]))]
    [60]
    """
    profile, routes = _resolve(profile_id)
    route = routes.get(characteristic_uuid) if isinstance(characteristic_uuid, str) else None
    if route is None:
        try:
            uuid = normalize_characteristic(characteristic_uuid)
        except DecodeError as e:
            raise DecodeError(f"profile {profile.name!r}: {e}") from None
        route = routes.get(uuid)
        if route is None:
            known = ", ".join(f"{u} ({'/'.join(r.streams)})" for u, r in routes.items())
            err = DecodeError(
                f"profile {profile.name!r} has no stream on characteristic {uuid}; "
                f"decodable characteristics: {known}."
            )
            err.profile, err.stream, err.characteristic, err.byte_offset = (
                profile.name,
                None,
                uuid,
                None,
            )
            raise err
    else:
        uuid = characteristic_uuid
    try:
        return route.handler(as_bytes("decode", payload))
    except DecodeError as e:
        stream = getattr(e, "stream", None) or "/".join(route.streams)
        err = DecodeError(
            f"profile {profile.name!r}, stream {stream!r}, characteristic {uuid}: {e}"
        )
        off = error_offset(e)
    except Exception as e:  # pragma: no cover - a decoder bug; the contract is DecodeError only
        stream = "/".join(route.streams)
        err = DecodeError(
            f"profile {profile.name!r}, stream {stream!r}, characteristic {uuid}: "
            f"byte offset unknown: unexpected {type(e).__name__}: {e}"
        )
        off = None
    err.profile, err.stream, err.characteristic, err.byte_offset = profile.name, stream, uuid, off
    raise err


def encode_command(profile_id: str | DeviceProfile, text: str) -> bytes:
    """Encode one control command with the profile's framing.

    Parameters
    ----------
    profile_id : str | DeviceProfile
        A profile with a ``[control]`` table (Muse: ``muse-ascii`` framing; Polar H10: ``hex``).
    text : str
        The command: Muse ASCII (``"v1"``, ``"p21"``, ``"dc001"``); for ``hex`` framing the
        payload in hex (``"0300"``).

    Returns
    -------
    payload : bytes
        The bytes to write to the control characteristic (Muse: ``len+1 | ascii | 0x0A``).

    Raises
    ------
    ProfileError
        Unknown profile or a profile without a control characteristic.
    ValueError
        A command that cannot be encoded (empty, non-ASCII, newline, > 253 characters, bad hex).

    Examples
    --------
    >>> encode_command("muse-2", "v1").hex()
    '0376310a'
    """
    p = _load(profile_id)
    if p.control is None:
        raise ProfileError(
            f"profile {p.name!r} has no [control] table: it takes no commands "
            "(a standard Heart Rate Service strap only notifies)."
        )
    if not isinstance(text, str):
        raise ValueError(f"encode_command: command must be a str, got {type(text).__name__}.")
    try:
        return p.control.encode_command(text)
    except ValueError as e:
        raise ValueError(
            f"profile {p.name!r} ({p.control.framing} framing): cannot encode command "
            f"{text!r}: {e}"
        ) from None
