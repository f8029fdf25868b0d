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
  (``None`` when absent), ``hr_uint16``, ``hr_plausible`` (HR within 20-250 bpm) and
  ``rr_plausible`` (per RR: within 0.2-3 s); impossible values are decoded as sent and flagged.
* Battery Level ``2a19``: stream ``battery``, channel ``battery_pct`` (``%``).
* Polar PMD control point ``fb005c81``: stream ``control``; a response gives fields ``op``,
  ``op_name``, ``measurement_type``, ``measurement_name``, ``status`` (0 = success),
  ``status_name``, ``more``, ``settings`` (``{"SAMPLE_RATE": [130], ...}``), ``parameters_hex``;
  a feature read (``0F ...``) gives field ``features``.
* Polar PMD data ``fb005c82``: stream ``ecg`` (channel ``ECG``, ``uV``) or ``acc`` (``g``);
  ``timestamp_ns`` is the device's own value (ns since 2000-01-01T00:00:00Z, time of the frame's
  LAST sample), not Unix time (field ``timestamp_unix_ns`` adds the epoch offset). A frame with
  fewer samples than the stream's ``samples_per_packet`` (a cut frame: the timestamp is that of
  a sample it lacks) or with none is a :class:`~addictidx._core.errors.DecodeError`.

Every malformed payload raises :class:`~addictidx._core.errors.DecodeError` naming the profile,
the stream, the characteristic and the byte offset (also as attributes ``profile``, ``stream``,
``characteristic``, ``byte_offset``); nothing else escapes :func:`decode`.
"""

from __future__ import annotations

import re
from functools import lru_cache

from addictidx._core.errors import DecodeError, ProfileError
from addictidx.acquire.decode_handlers import PacketHandler, packet_handler
from addictidx.acquire.decoders.decode_errors import as_bytes, error_offset
from addictidx.acquire.packets import UNITS, DecodedPacket
from addictidx.acquire.routing import decoder_routes
from addictidx.devices import DeviceProfile, load_profile

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

#: Base UUID of 16-/32-bit Bluetooth SIG UUIDs (``0000xxxx`` + this suffix).
SIG_BASE_UUID = "-0000-1000-8000-00805f9b34fb"

_UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_HEX_RE = re.compile(r"^[0-9a-f]+$")


class DecodeProfileError(ProfileError, DecodeError):
    """The profile given to :func:`decode` is unknown or invalid (both a Profile- and a
    DecodeError, so ``except DecodeError`` around :func:`decode` catches everything)."""


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
# Handlers per characteristic, built once per profile from the routing table
# --------------------------------------------------------------------------------------------


def _handlers(p: DeviceProfile) -> dict[str, tuple[tuple[str, ...], PacketHandler]]:
    """Characteristic -> (stream names for messages, packet handler), from
    :func:`decoder_routes`."""
    label = p.source or p.name
    try:
        return {
            u: (r.packet_streams, packet_handler(r, label)) for u, r in decoder_routes(p).items()
        }
    except ProfileError as e:
        raise DecodeProfileError(str(e)) from None


@lru_cache(maxsize=32)
def _handlers_cached(profile_id: str) -> tuple[DeviceProfile, dict]:
    p = _load(profile_id)
    return p, _handlers(p)


def _resolve(profile_id: str | DeviceProfile) -> tuple[DeviceProfile, dict]:
    if isinstance(profile_id, DeviceProfile):
        return profile_id, _handlers(profile_id)
    if not isinstance(profile_id, str):
        raise DecodeProfileError(
            f"profile_id must be a profile name or a path to a .toml file, got "
            f"{type(profile_id).__name__}."
        )
    return _handlers_cached(profile_id)


def decodable_characteristics(profile_id: str | DeviceProfile) -> dict[str, tuple[str, ...]]:
    """Characteristic UUID -> stream names that :func:`decode` accepts for a profile."""
    _, routes = _resolve(profile_id)
    return {u: streams for u, (streams, _) in routes.items()}


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
            known = ", ".join(f"{u} ({'/'.join(r[0])})" for u, r in routes.items())
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
        return route[1](as_bytes("decode", payload))
    except DecodeError as e:
        stream = getattr(e, "stream", None) or "/".join(route[0])
        err = DecodeError(
            f"profile {profile.name!r}, stream {stream!r}, characteristic {uuid}: {e}"
        )
        off = error_offset(e)
    except Exception as e:  # pragma: no cover - a decoder bug; the contract is DecodeError only
        stream = "/".join(route[0])
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
