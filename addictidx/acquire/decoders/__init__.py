"""Pure BLE payload decoders (bytes in, numbers out; no I/O, no asyncio).

Profiles name decoders by key; :data:`DECODERS` maps each key to a callable taking one
notification payload (``bytes``) and raising :class:`~addictidx._core.errors.DecodeError` on a
malformed one:

* ``muse.eeg`` -> :func:`decode_muse_eeg`: ``(seq, ndarray (12,) µV)``
* ``muse.ppg`` -> :func:`decode_muse_ppg`: ``(seq, ndarray (6,) raw counts)``
* ``muse.acc`` -> :func:`decode_muse_accelerometer`: ``(seq, ndarray (3 axes, 3 samples) g)``
* ``muse.gyro`` -> :func:`decode_muse_gyroscope`: ``(seq, ndarray (3, 3) deg/s)``
* ``muse.telemetry`` -> :func:`decode_muse_telemetry`: ``dict`` (sequence, battery_pct, ...)
* ``muse.control`` -> :func:`decode_muse_control`: ``str`` fragment (see
  :class:`MuseControlReassembler`)
* ``athena.packet`` -> :func:`split_athena_notification`: ``list[AthenaBlock]`` (framing; raw
  samples per block with :func:`decode_athena_block`)
* ``hrs.measurement`` -> :func:`decode_heart_rate_measurement`: :class:`HeartRateMeasurement`
* ``battery.level`` -> :func:`decode_battery_level`: ``int`` percent
* ``pmd.ecg`` -> :func:`decode_pmd_ecg`: ``(timestamp_ns, ndarray (n,) µV)``
* ``pmd.acc`` -> :func:`decode_pmd_acc`: ``(timestamp_ns, ndarray (3, n))`` raw counts (H10: mG)

Scaled, named, JSON-ready packets for any profile and characteristic come from
:func:`addictidx.acquire.decode` (``addictidx/acquire/decode_api.py``), which routes by
characteristic UUID and applies the profile's scale, offset and channel names.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType

from addictidx.acquire.decoders.hrs import (
    HeartRateMeasurement,
    decode_battery_level,
    decode_heart_rate_measurement,
    encode_battery_level,
    encode_heart_rate_measurement,
)
from addictidx.acquire.decoders.muse_athena import (
    ATHENA_TAGS,
    AthenaBlock,
    AthenaGap,
    AthenaLossDetector,
    AthenaTag,
    decode_athena_block,
    split_athena_notification,
    unpack_lsb_bits,
)
from addictidx.acquire.decoders.muse_classic import (
    ACC_SCALE_G,
    EEG_OFFSET,
    EEG_SCALE_UV,
    GYRO_SCALE_DPS,
    MuseControlReassembler,
    decode_muse_accelerometer,
    decode_muse_control,
    decode_muse_eeg,
    decode_muse_eeg_batch,
    decode_muse_gyroscope,
    decode_muse_imu,
    decode_muse_ppg,
    decode_muse_telemetry,
    encode_muse_command,
    encode_muse_eeg,
    pack_uint12,
    unpack_uint12,
    unpack_uint24,
    unwrap_sequence,
)
from addictidx.acquire.decoders.polar_pmd import (
    PmdControlResponse,
    PmdFrame,
    decode_pmd_acc,
    decode_pmd_control_response,
    decode_pmd_delta_samples,
    decode_pmd_ecg,
    decode_pmd_features,
    decode_pmd_frame,
    decode_pmd_settings,
    encode_pmd_request,
)

#: Decoder key (as written in profiles) -> callable(payload: bytes).
DECODERS: Mapping[str, Callable] = MappingProxyType(
    {
        "muse.eeg": decode_muse_eeg,
        "muse.ppg": decode_muse_ppg,
        "muse.acc": decode_muse_accelerometer,
        "muse.gyro": decode_muse_gyroscope,
        "muse.telemetry": decode_muse_telemetry,
        "muse.control": decode_muse_control,
        "athena.packet": split_athena_notification,
        "hrs.measurement": decode_heart_rate_measurement,
        "battery.level": decode_battery_level,
        "pmd.ecg": decode_pmd_ecg,
        "pmd.acc": decode_pmd_acc,
    }
)


def get_decoder(key: str) -> Callable:
    """Return the decoder registered under ``key`` (``KeyError`` naming the known keys)."""
    try:
        return DECODERS[key]
    except KeyError:
        raise KeyError(
            f"Unknown decoder key {key!r}; known keys: {', '.join(sorted(DECODERS))}."
        ) from None


__all__ = [
    "DECODERS",
    "get_decoder",
    "ACC_SCALE_G",
    "EEG_OFFSET",
    "EEG_SCALE_UV",
    "GYRO_SCALE_DPS",
    "ATHENA_TAGS",
    "AthenaBlock",
    "AthenaGap",
    "AthenaLossDetector",
    "AthenaTag",
    "decode_athena_block",
    "HeartRateMeasurement",
    "MuseControlReassembler",
    "PmdControlResponse",
    "PmdFrame",
    "decode_battery_level",
    "decode_heart_rate_measurement",
    "decode_muse_accelerometer",
    "decode_muse_control",
    "decode_muse_eeg",
    "decode_muse_eeg_batch",
    "decode_muse_gyroscope",
    "decode_muse_imu",
    "decode_muse_ppg",
    "decode_muse_telemetry",
    "decode_pmd_acc",
    "decode_pmd_control_response",
    "decode_pmd_delta_samples",
    "decode_pmd_ecg",
    "decode_pmd_features",
    "decode_pmd_frame",
    "decode_pmd_settings",
    "encode_battery_level",
    "encode_heart_rate_measurement",
    "encode_muse_command",
    "encode_muse_eeg",
    "encode_pmd_request",
    "pack_uint12",
    "split_athena_notification",
    "unpack_lsb_bits",
    "unpack_uint12",
    "unpack_uint24",
    "unwrap_sequence",
]
