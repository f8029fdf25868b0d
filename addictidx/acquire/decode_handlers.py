"""Packet handlers of :func:`~addictidx.acquire.decode`: payload in, scaled named packets out.

:func:`packet_handler` turns one :class:`~addictidx.acquire.routing.DecoderRoute` into a function
``payload -> list[DecodedPacket]``: it runs the pure decoder of
:mod:`addictidx.acquire.decoders` and applies the profile's channel names, scale and offset
(``value = scale * (raw + offset)``). Malformed payloads raise
:class:`~addictidx._core.errors.DecodeError` (with ``stream`` set when it is known);
a profile whose tables do not fit the decoder raises
:class:`~addictidx._core.errors.ProfileError` when the handler is built.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

from addictidx._core.errors import DecodeError, ProfileError
from addictidx.acquire.decoders.decode_errors import decode_error
from addictidx.acquire.decoders.hrs import (
    RR_PLAUSIBLE_S,
    decode_battery_level,
    decode_heart_rate_measurement,
)
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
from addictidx.acquire.packets import DecodedPacket, make_packet, read_only
from addictidx.acquire.routing import DecoderRoute
from addictidx.devices import load_profile
from addictidx.devices.model import StreamProfile, scaler

__all__ = ["PacketHandler", "packet_handler"]

#: ``payload -> packets``; raises DecodeError on a malformed payload.
PacketHandler = Callable[[bytes], list[DecodedPacket]]

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
    conv, unit, stream = scaler(s.scale, s.offset), s.unit, s.name

    def handler(payload: bytes) -> list[DecodedPacket]:
        _check_len(name, payload)
        raw = conv(unpack(payload[2:]))
        seq = (payload[0] << 8) | payload[1]
        return [make_packet(stream, seq, None, {channel: read_only(raw)}, {channel: unit})]

    return handler


def _muse_imu(s: StreamProfile) -> Callable:
    name = f"decode_muse_{'accelerometer' if s.kind == 'acc' else 'gyroscope'}"
    conv, unit, stream, chans = scaler(s.scale, s.offset), s.unit, s.name, s.channels
    if len(chans) != 3:
        raise ProfileError(f"{s.name}: an IMU stream needs 3 channels (x, y, z), got {chans}")
    units = {c: unit for c in chans}

    def handler(payload: bytes) -> list[DecodedPacket]:
        _check_len(name, payload)
        vals = read_only(conv(np.frombuffer(payload, dtype=">i2", offset=2).reshape(3, 3).T))
        seq = (payload[0] << 8) | payload[1]
        return [make_packet(stream, seq, None, dict(zip(chans, vals)), units)]

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
            "battery_pct": read_only(np.array([t["battery_pct"]])),
            # raw x 2.2 mV = raw x 22 / 10000 V (integer product: correctly rounded)
            "fuel_gauge_v": read_only(
                np.array([int.from_bytes(payload[4:6], "big") * 22 / 10000])
            ),
        }
        fields = {"adc_raw": t["adc_mv"], "temperature_raw": t["temperature"]}
        return [make_packet(s.name, t["sequence"], None, chans, units, fields)]

    return handler


def _muse_control(payload: bytes) -> list[DecodedPacket]:
    text = decode_muse_control(payload)
    return [make_packet("control", None, None, {}, {}, {"text": text})]


def _hrs(hr: StreamProfile | None, rr: StreamProfile | None) -> Callable:
    # a profile with only one of the two streams: the other one's facts (scale, unit) are the
    # standard Heart Rate Service's, as written in the generic-hrs profile
    std = load_profile("generic-hrs")
    hr_s = hr if hr is not None else std.stream("hr")
    rr_s_ = rr if rr is not None else std.stream("rr")
    hr_name = hr.channels[0] if hr else "hr"
    rr_name = rr.channels[0] if rr else "rr"
    rr_conv = scaler(rr_s_.scale, rr_s_.offset)
    lo, hi = RR_PLAUSIBLE_S
    stream = hr.name if hr else rr.name
    units = {hr_name: hr_s.unit, rr_name: rr_s_.unit}

    def handler(payload: bytes) -> list[DecodedPacket]:
        m = decode_heart_rate_measurement(payload)
        rr = read_only(rr_conv(np.array(m.rr_1024, dtype=np.float64)))
        rr_s = rr.tolist()
        chans = {hr_name: read_only(np.array([float(m.hr_bpm)])), rr_name: rr}
        fields = {
            "hr_bpm": m.hr_bpm,
            "rr_s": rr_s,
            "rr_1024": list(m.rr_1024),
            "contact_supported": m.contact_supported,
            "contact_detected": m.contact_detected,
            "energy_kj": m.energy_kj,
            "hr_uint16": m.hr_uint16,
            # physiologically impossible values are flagged, never passed off as valid
            "hr_plausible": m.hr_plausible,
            "rr_plausible": [lo <= v <= hi for v in rr_s],
        }
        return [make_packet(stream, None, None, chans, units, fields)]

    return handler


def _battery(s: StreamProfile) -> Callable:
    ch = s.channels[0]

    def handler(payload: bytes) -> list[DecodedPacket]:
        v = decode_battery_level(payload)
        return [
            make_packet(s.name, None, None, {ch: read_only(np.array([float(v)]))}, {ch: s.unit})
        ]

    return handler


def _pmd_control(payload: bytes) -> list[DecodedPacket]:
    if not payload:
        raise decode_error("decode_pmd_control_response", payload, "at byte 0: empty payload")
    if payload[0] == 0x0F:
        feats = decode_pmd_features(payload)
        return [make_packet("control", None, None, {}, {}, {"features": sorted(feats)})]
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
    return [make_packet("control", None, None, {}, {}, fields)]


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
    convs = {s.name: scaler(s.scale, s.offset) for s in streams}

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
                ts, raw = decode_pmd_ecg(payload, n_samples=s.samples_per_packet)
                rows = {s.channels[0]: raw}
            else:
                ts, raw = decode_pmd_acc(payload)
                rows = dict(zip(s.channels, raw))
                if s.samples_per_packet and raw.shape[-1] < s.samples_per_packet:
                    raise decode_error(
                        "decode_pmd_acc",
                        payload,
                        f"at byte {len(payload)}: the frame holds {raw.shape[-1]} samples, a "
                        f"whole frame {s.samples_per_packet} (cut frame)",
                    )
        except DecodeError as e:
            raise _tag_stream(e, s.name) from None
        conv = convs[s.name]
        chans = {k: read_only(conv(v)) for k, v in rows.items()}
        fields = {
            "measurement_type": fr.measurement_type,
            "frame_type": fr.frame_type,
            "compressed": fr.compressed,
            "n_samples": int(raw.shape[-1]),
            "timestamp_unix_ns": fr.timestamp_ns + PMD_EPOCH_UNIX_NS,
        }
        return [
            make_packet(s.name, None, fr.timestamp_ns, chans, {k: s.unit for k in chans}, fields)
        ]

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
                    scaler(s.scale, s.offset),
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
                vals = read_only(t.conv(raw if t.rows is None else raw[t.rows]))
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


def packet_handler(route: DecoderRoute, label: str) -> PacketHandler:
    """Build the packet handler of one route.

    Parameters
    ----------
    route : DecoderRoute
        From :func:`~addictidx.acquire.routing.decoder_routes`.
    label : str
        Profile file name for error messages.

    Returns
    -------
    handler : callable
        ``handler(payload: bytes) -> list[DecodedPacket]``.

    Raises
    ------
    ProfileError
        If the profile's streams do not fit the decoder (e.g. an IMU stream without 3 channels).
    """
    f, ss = route.family, list(route.streams)
    if f in ("muse.eeg", "muse.ppg"):
        return _muse_samples(ss[0], route.channels[0], 12 if f == "muse.eeg" else 24)
    if f in ("muse.acc", "muse.gyro"):
        return _muse_imu(ss[0])
    if f == "muse.telemetry":
        return _muse_telemetry(ss[0])
    if f == "muse.control":
        return _muse_control
    if f == "pmd.control":
        return _pmd_control
    if f == "battery.level":
        return _battery(ss[0])
    if f == "hrs.measurement":
        return _hrs(route.stream_of_kind("hr"), route.stream_of_kind("rr"))
    if f == "pmd":
        return _pmd_data(ss, label)
    if f == "athena.packet":
        return _athena(ss, label)
    raise ProfileError(f"{label}: no decode route for decoder family {f!r}")
