"""What a device profile holds: frozen dataclasses for a device, its control and its streams.

The values come from ``firmware_profiles/*.toml`` (validated by
:mod:`addictidx.devices.schema`, loaded by :mod:`addictidx.devices.loader`); this
module only defines their shape and the small conversions every consumer shares, such as
:func:`scaler` (``value = scale * (raw + offset)``, the profile's unit conversion).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

from addictidx._core.types import StreamSpec
from addictidx.devices.framing import encode_hex_command, encode_muse_command

__all__ = [
    "PROTOCOLS",
    "FRAMINGS",
    "STREAM_KINDS",
    "CLOCKS",
    "DECODER_KEYS",
    "CounterSpec",
    "CommandSequence",
    "ControlProfile",
    "StreamProfile",
    "DeviceProfile",
    "scaler",
    "scalar_scaler",
]

PROTOCOLS = ("muse-classic", "muse-athena", "hrs", "polar-pmd+hrs")
#: Control framings: how a command string becomes the bytes written.
FRAMINGS = ("muse-ascii", "hex")
STREAM_KINDS = ("eeg", "ppg", "optics", "acc", "gyro", "telemetry", "hr", "rr", "ecg", "battery")
CLOCKS = ("host", "device")
#: Decoder keys a stream may name: the keys of :data:`addictidx.acquire.decoders.DECODERS`
#: (a test keeps the two equal; listed here so that profiles load without the decoders).
DECODER_KEYS = (
    "muse.eeg",
    "muse.ppg",
    "muse.acc",
    "muse.gyro",
    "muse.telemetry",
    "muse.control",
    "athena.packet",
    "hrs.measurement",
    "battery.level",
    "pmd.ecg",
    "pmd.acc",
)


def scaler(scale: float, offset: float = 0.0) -> Callable[[np.ndarray], np.ndarray]:
    """Return ``v -> scale * (v + offset)`` as float64 (on a float64 copy of ``v``).

    A scale whose inverse is an integer (``0.001``, ``1/1024``) divides by that integer instead,
    so that e.g. ``-9 mG`` becomes exactly ``-0.009`` g (the correctly rounded double).

    Parameters
    ----------
    scale, offset : float
        A stream's :attr:`StreamProfile.scale` and :attr:`StreamProfile.offset`.

    Returns
    -------
    convert : callable
        ``convert(raw) -> ndarray of float64``.
    """
    scale, offset, divisor = _conversion(scale, offset)

    def apply(v: np.ndarray) -> np.ndarray:
        out = np.asarray(v).astype(np.float64)
        if offset:
            out += offset
        if divisor is not None:
            out /= divisor
        elif scale != 1.0:
            out *= scale
        return out

    return apply


def _conversion(scale: float, offset: float) -> tuple[float, float, int | None]:
    """``(scale, offset, divisor)`` of :func:`scaler` (divisor: the integer inverse of the
    scale, or None)."""
    scale, offset = float(scale), float(offset)
    inv = 1.0 / scale
    divisor = round(inv) if abs(inv - round(inv)) < 1e-9 * abs(inv) and abs(inv) > 1 else None
    return scale, offset, divisor


def scalar_scaler(scale: float, offset: float = 0.0) -> Callable[[float], float]:
    """:func:`scaler` of one value as a Python float: the same floating-point operations
    (``float(raw)``, ``+ offset``, then ``/ divisor`` or ``* scale``), so the same result as
    ``scaler(scale, offset)(raw)``, without numpy's per-call cost."""
    scale, offset, divisor = _conversion(scale, offset)

    def apply_one(v) -> float:
        out = float(v)
        if offset:
            out += offset
        if divisor is not None:
            out /= divisor
        elif scale != 1.0:
            out *= scale
        return out

    return apply_one


@dataclass(frozen=True, slots=True)
class CounterSpec:
    """Packet counter of a stream (for loss detection).

    Parameters
    ----------
    bits : int
        Counter width; it wraps at ``2**bits``.
    endian : {"big", "little"}
        Byte order of the counter field.
    byte_offset : int
        Offset of the counter in the notification (legacy Muse: 0).
    """

    bits: int
    endian: str
    byte_offset: int = 0

    @property
    def modulus(self) -> int:
        """``2**bits``."""
        return 1 << self.bits


@dataclass(frozen=True, slots=True)
class CommandSequence:
    """Control commands sent in order, waiting ``delays_ms[i]`` after command ``i``.

    Parameters
    ----------
    commands : tuple of str
        Commands as written in the profile (ASCII for ``muse-ascii``, hex for ``hex``).
    delays_ms : tuple of int
        Wait after each command, in milliseconds (same length as ``commands``).
    """

    commands: tuple[str, ...]
    delays_ms: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class ControlProfile:
    """How to command the device.

    Parameters
    ----------
    characteristic : str
        UUID written to (and, for Muse/PMD, notifying the replies).
    framing : {"muse-ascii", "hex"}
        ``muse-ascii``: ``len+1 | ascii | 0x0A``; ``hex``: the command is the payload in hex.
    sequences : Mapping of str to CommandSequence
        Named sequences; ``start`` and ``stop`` always exist, ``init`` and ``keep_alive`` often.
    keep_alive_interval_s : float | None
        Period of the ``keep_alive`` sequence, if any.
    """

    characteristic: str
    framing: str
    sequences: Mapping[str, CommandSequence]
    keep_alive_interval_s: float | None = None

    def encode_command(self, command: str) -> bytes:
        """Return the bytes written for one command under this profile's framing."""
        if self.framing == "muse-ascii":
            return encode_muse_command(command)
        return encode_hex_command(command)

    def encoded(self, sequence: str) -> tuple[tuple[bytes, float], ...]:
        """Return ``((payload, delay_after_s), ...)`` for the named sequence (``()`` if absent).

        Parameters
        ----------
        sequence : str
            Sequence name, e.g. ``"init"``, ``"start"``, ``"stop"``, ``"keep_alive"``.
        """
        seq = self.sequences.get(sequence)
        if seq is None:
            return ()
        return tuple(
            (self.encode_command(c), d / 1000.0)
            for c, d in zip(seq.commands, seq.delays_ms, strict=True)
        )


@dataclass(frozen=True, slots=True)
class StreamProfile:
    """One stream (one sampling rate) of a device.

    Parameters
    ----------
    name : str
        Stream name, unique within the device (``eeg``, ``ppg``, ``hr``, ``rr``, ...).
    kind : str
        Signal kind (one of :data:`STREAM_KINDS`).
    sfreq : float | None
        Nominal sampling rate in Hz; ``None`` for irregular streams.
    unit : str
        Unit of the decoded values.
    decoder : str
        Key in :data:`addictidx.acquire.decoders.DECODERS` (one of :data:`DECODER_KEYS`).
    channels : tuple of str
        Channel names in data-row order.
    routes : Mapping of str to tuple of str
        Characteristic UUID -> the channels its notifications carry (for Muse EEG one
        characteristic per channel; for HRS/PMD one characteristic carries all channels).
    samples_per_packet : int | None
        Samples per notification per channel.
    scale, offset : float
        Conversion the decoder applies: ``value = scale * (raw + offset)``.
    counter : CounterSpec | None
        Packet counter, or ``None`` when the stream has none.
    clock : {"host", "device"}
        Whether sample times come from host arrival times or a device timestamp.
    required : bool
        Whether a session needs this stream (``False``: optional / preset-dependent).
    poll_interval_s : float | None
        Read the characteristic this often instead of relying on notifications.
    quality : Mapping of str to float
        Default quality thresholds for every channel (e.g. ``ptp_max_uv``).
    quality_channels : Mapping of str to Mapping of str to float
        Per-channel overrides (e.g. looser ``ptp_max_uv`` on blink-prone AF7/AF8).
    layout : Mapping
        Decoder-specific parameters (free-form, frozen), e.g. Athena TAGs.
    note : str
        Free text.
    """

    name: str
    kind: str
    sfreq: float | None
    unit: str
    decoder: str
    channels: tuple[str, ...]
    routes: Mapping[str, tuple[str, ...]]
    samples_per_packet: int | None = None
    scale: float = 1.0
    offset: float = 0.0
    counter: CounterSpec | None = None
    clock: str = "host"
    required: bool = True
    poll_interval_s: float | None = None
    quality: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    quality_channels: Mapping[str, Mapping[str, float]] = field(
        default_factory=lambda: MappingProxyType({})
    )
    layout: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    note: str = ""

    @property
    def irregular(self) -> bool:
        """True when the stream has no nominal rate (HR, RR, battery)."""
        return self.sfreq is None

    @property
    def characteristics(self) -> tuple[str, ...]:
        """Characteristic UUIDs to subscribe to, in profile order."""
        return tuple(self.routes)

    def quality_for(self, channel: str) -> dict[str, float]:
        """Quality thresholds for ``channel``: defaults merged with its overrides."""
        if channel not in self.channels:
            raise KeyError(
                f"Stream {self.name!r} has no channel {channel!r}; channels: {self.channels}."
            )
        return {**self.quality, **self.quality_channels.get(channel, {})}

    def spec(self, device_name: str) -> StreamSpec:
        """Return the core :class:`~addictidx._core.types.StreamSpec` of this stream."""
        return StreamSpec(
            device=device_name,
            name=self.name,
            kind=self.kind,
            channels=self.channels,
            sfreq=self.sfreq,
            unit=self.unit,
            samples_per_packet=self.samples_per_packet,
        )


@dataclass(frozen=True, slots=True)
class DeviceProfile:
    """A device model: identity, control and streams.

    Parameters
    ----------
    name : str
        Profile name (the file stem), e.g. ``"muse-2"``.
    label : str
        Human-readable model name.
    vendor : str
        Manufacturer.
    protocol : str
        One of :data:`PROTOCOLS`.
    name_prefixes : tuple of str
        Advertised-name prefixes that identify the model.
    service_uuids : tuple of str
        Primary services the device exposes.
    min_mtu : int
        Minimum ATT MTU the device needs (Polar PMD: 232).
    simulated : bool
        True for the simulated devices used in tests and demos.
    discriminator_characteristic : str | None
        A characteristic whose presence identifies this model (Athena: ``273e0013``).
    control : ControlProfile | None
        Command interface (``None`` for a plain HRS strap).
    streams : tuple of StreamProfile
        Streams, in profile order.
    decisions : Mapping
        Disputed protocol choices recorded as data (free-form, frozen).
    source : str
        Where the profile was loaded from.
    """

    name: str
    label: str
    vendor: str
    protocol: str
    name_prefixes: tuple[str, ...]
    service_uuids: tuple[str, ...]
    min_mtu: int
    simulated: bool
    discriminator_characteristic: str | None
    control: ControlProfile | None
    streams: tuple[StreamProfile, ...]
    decisions: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    source: str = ""

    @property
    def stream_names(self) -> tuple[str, ...]:
        """Names of the streams, in profile order."""
        return tuple(s.name for s in self.streams)

    def stream(self, name: str) -> StreamProfile:
        """Return the stream called ``name`` (``KeyError`` listing the streams otherwise)."""
        for s in self.streams:
            if s.name == name:
                return s
        raise KeyError(
            f"Profile {self.name!r} has no stream {name!r}; streams: {self.stream_names}."
        )

    def stream_spec(self, name: str) -> StreamSpec:
        """Return the :class:`~addictidx._core.types.StreamSpec` of stream ``name``."""
        return self.stream(name).spec(self.name)

    def stream_specs(self) -> tuple[StreamSpec, ...]:
        """StreamSpecs of every stream, in profile order."""
        return tuple(s.spec(self.name) for s in self.streams)

    def characteristic_map(self) -> dict[str, tuple[tuple[str, tuple[str, ...]], ...]]:
        """Map characteristic UUID -> ``((stream_name, channels), ...)`` for notification routing.

        One characteristic may feed several streams (0x2A37 feeds ``hr`` and ``rr``).
        """
        out: dict[str, list[tuple[str, tuple[str, ...]]]] = {}
        for s in self.streams:
            for uuid, chans in s.routes.items():
                out.setdefault(uuid, []).append((s.name, chans))
        return {k: tuple(v) for k, v in out.items()}

    def matches_name(self, advertised_name: str | None) -> bool:
        """Whether an advertised BLE name starts with one of :attr:`name_prefixes`."""
        return bool(advertised_name) and any(
            advertised_name.startswith(p) for p in self.name_prefixes
        )
