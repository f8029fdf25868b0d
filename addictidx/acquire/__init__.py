"""Acquisition layer: BLE notifications in, gap-marked chunks out.

Pure decoders (``decoders/``), the public ``decode()`` (``decode_api``, ``decode_handlers``,
``packets``), one routing table (``routing``), assemblers (``assemble``, ``athena_assemble``,
``eeg_clock``), the stream hub (``hub``, ``stream_handlers``, ``buffers``, ``events``), transports
(``ble``, ``replay``, ``background``), faults and simulated devices (``faults``, ``simulate``,
``simulate_athena``, ``notification``, ``h10_replay``). Device facts come from the profiles of
:mod:`addictidx.devices` (re-exported by ``acquire.profiles``).

Keep this a flat list of imports of light modules (numpy only; no scipy).
"""

# simulated devices, assembly, buffers, replay (numpy only)
from addictidx.acquire.assemble import HrsAssembler, MuseEegAssembler

# transport, fault injection, stream layer (bleak is imported lazily inside BleakTransport)
from addictidx.acquire.background import BackgroundStream, run_in_background
from addictidx.acquire.ble import Backoff, BleakTransport, BleTarget
from addictidx.acquire.buffers import EventBuffer, RingBuffer
from addictidx.acquire.decoders import (
    DECODERS,
    HeartRateMeasurement,
    MuseControlReassembler,
    PmdControlResponse,
    decode_battery_level,
    decode_heart_rate_measurement,
    decode_muse_accelerometer,
    decode_muse_control,
    decode_muse_eeg,
    decode_muse_gyroscope,
    decode_muse_imu,
    decode_muse_ppg,
    decode_muse_telemetry,
    decode_pmd_acc,
    decode_pmd_control_response,
    decode_pmd_ecg,
    decode_pmd_features,
    encode_heart_rate_measurement,
    encode_muse_command,
    encode_muse_eeg,
    encode_pmd_request,
    unpack_uint12,
    unwrap_sequence,
)
from addictidx.acquire.events import GapRecord, LinkEvent
from addictidx.acquire.faults import FaultedNotification, FaultInjector
from addictidx.acquire.h10_replay import PolarH10Recording, read_athena_log
from addictidx.acquire.hub import StreamHub
from addictidx.acquire.replay import MonotonicClock, ReplayTransport, iter_notifications
from addictidx.acquire.simulate import Notification, SimulatedHeadband, SimulatedStrap
from addictidx.devices import (
    CommandSequence,
    ControlProfile,
    CounterSpec,
    DeviceProfile,
    StreamProfile,
    list_profiles,
    load_profile,
)

__all__ = [
    # profiles
    "CommandSequence",
    "ControlProfile",
    "CounterSpec",
    "DeviceProfile",
    "StreamProfile",
    "list_profiles",
    "load_profile",
    # decoders
    "DECODERS",
    "HeartRateMeasurement",
    "MuseControlReassembler",
    "PmdControlResponse",
    "decode_battery_level",
    "decode_heart_rate_measurement",
    "decode_muse_accelerometer",
    "decode_muse_control",
    "decode_muse_eeg",
    "decode_muse_gyroscope",
    "decode_muse_imu",
    "decode_muse_ppg",
    "decode_muse_telemetry",
    "decode_pmd_acc",
    "decode_pmd_control_response",
    "decode_pmd_ecg",
    "decode_pmd_features",
    "encode_heart_rate_measurement",
    "encode_muse_command",
    "encode_muse_eeg",
    "encode_pmd_request",
    "unpack_uint12",
    "unwrap_sequence",
    # simulate / assemble / buffers / replay
    "Notification",
    "SimulatedHeadband",
    "SimulatedStrap",
    "MuseEegAssembler",
    "HrsAssembler",
    "RingBuffer",
    "EventBuffer",
    "ReplayTransport",
    "MonotonicClock",
    "iter_notifications",
    # transport / faults / stream layer
    "Backoff",
    "BleTarget",
    "BleakTransport",
    "BackgroundStream",
    "run_in_background",
    "GapRecord",
    "LinkEvent",
    "FaultInjector",
    "FaultedNotification",
    "PolarH10Recording",
    "read_athena_log",
    "StreamHub",
]

# public decoding interface (decode_api.py)
from addictidx.acquire.decode_api import (  # noqa: E402
    DecodedPacket,
    DecodeError,
    decode,
    encode_command,
)

__all__ += ["decode", "DecodedPacket", "DecodeError", "encode_command"]

# Muse S Athena in sessions: EEG assembly, session view of the profile, simulated headband
from addictidx.acquire.athena_assemble import (  # noqa: E402
    AthenaEegAssembler,
    athena_session_profile,
    is_athena_profile,
)
from addictidx.acquire.simulate_athena import SimulatedAthenaHeadband  # noqa: E402

__all__ += [
    "AthenaEegAssembler",
    "athena_session_profile",
    "is_athena_profile",
    "SimulatedAthenaHeadband",
]
