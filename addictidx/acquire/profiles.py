"""Declarative device profiles (``firmware_profiles/*.toml``) loaded into frozen dataclasses.

A profile says what a device is (BLE identity, protocol), how to drive it (control
characteristic, command framing, command sequences with delays) and what it streams (one
``[[streams]]`` table per sampling rate: characteristics -> channels, decoder key, rate, unit,
scale/offset, packet counter, quality thresholds). The schema is documented in
``firmware_profiles/SCHEMA.md``.

Loading validates everything; a bad file raises :class:`~addictidx._core.errors.ProfileError`
whose message names the file, the dotted key (``streams[0].sfreq``) and what is wrong.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any

from addictidx._core.errors import ProfileError
from addictidx._core.types import StreamSpec
from addictidx.acquire.decoders import DECODERS
from addictidx.acquire.decoders.muse_classic import encode_muse_command

try:  # Python >= 3.11
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

__all__ = [
    "PROTOCOLS",
    "FRAMINGS",
    "STREAM_KINDS",
    "CounterSpec",
    "CommandSequence",
    "ControlProfile",
    "StreamProfile",
    "DeviceProfile",
    "load_profile",
    "list_profiles",
    "parse_profile",
]

PROTOCOLS = ("muse-classic", "muse-athena", "hrs", "polar-pmd+hrs")
#: Control framings: how a command string becomes the bytes written.
FRAMINGS = ("muse-ascii", "hex")
STREAM_KINDS = ("eeg", "ppg", "optics", "acc", "gyro", "telemetry", "hr", "rr", "ecg", "battery")
CLOCKS = ("host", "device")
_PACKAGE = "addictidx.firmware_profiles"
_UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_IDENT_RE = re.compile(r"^[a-z][a-z0-9_]*$")
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]*$")


# --------------------------------------------------------------------------------------------
# Data classes
# --------------------------------------------------------------------------------------------


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
        return bytes.fromhex(command)

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
        Key in :data:`addictidx.acquire.decoders.DECODERS`.
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

    @property
    def decode(self) -> Callable:
        """The decoder callable registered under :attr:`decoder`."""
        return DECODERS[self.decoder]

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


# --------------------------------------------------------------------------------------------
# Loading and validation
# --------------------------------------------------------------------------------------------


def _freeze(obj: Any) -> Any:
    if isinstance(obj, dict):
        return MappingProxyType({k: _freeze(v) for k, v in obj.items()})
    if isinstance(obj, list):
        return tuple(_freeze(v) for v in obj)
    return obj


def _tname(v: Any) -> str:
    return {
        dict: "table",
        list: "array",
        str: "string",
        bool: "boolean",
        int: "integer",
        float: "float",
    }.get(type(v), type(v).__name__)


class _Checker:
    """Validation helpers that know the file label for error messages."""

    def __init__(self, label: str) -> None:
        self.label = label

    def fail(self, key: str, problem: str) -> ProfileError:
        return ProfileError(f"{self.label}: {key}: {problem}")

    def table(self, parent: dict, key: str, path: str, *, required: bool = True) -> dict | None:
        full = f"{path}.{key}" if path else key
        if key not in parent:
            if required:
                raise self.fail(full, "missing required table")
            return None
        v = parent[key]
        if not isinstance(v, dict):
            raise self.fail(full, f"expected a table, got {_tname(v)}")
        return v

    def no_unknown(self, tbl: dict, allowed: set[str], path: str) -> None:
        for k in tbl:
            if k not in allowed:
                raise self.fail(
                    f"{path}.{k}" if path else k,
                    f"unknown key; allowed keys here: {', '.join(sorted(allowed))}",
                )

    def get(
        self,
        tbl: dict,
        key: str,
        path: str,
        types: tuple,
        *,
        required: bool = True,
        default: Any = None,
        what: str | None = None,
    ) -> Any:
        full = f"{path}.{key}"
        if key not in tbl:
            if required:
                raise self.fail(full, "missing required key")
            return default
        v = tbl[key]
        ok = isinstance(v, types) and not (isinstance(v, bool) and bool not in types)
        if not ok:
            want = what or " or ".join(
                _tname(t()) if t is not type(None) else "none" for t in types
            )
            raise self.fail(full, f"expected {want}, got {_tname(v)} {v!r}")
        return v

    def text(
        self, tbl: dict, key: str, path: str, *, required: bool = True, default: str = ""
    ) -> str:
        v = self.get(tbl, key, path, (str,), required=required, default=default)
        if required and not v.strip():
            raise self.fail(f"{path}.{key}", "must not be empty")
        return v

    def number(
        self,
        tbl: dict,
        key: str,
        path: str,
        *,
        required: bool = True,
        default: float | None = None,
        positive: bool = False,
    ) -> float | None:
        v = self.get(
            tbl, key, path, (int, float), required=required, default=default, what="a number"
        )
        if v is None:
            return None
        v = float(v)
        if not math.isfinite(v) or (positive and v <= 0):
            raise self.fail(
                f"{path}.{key}", f"expected a finite number{' > 0' if positive else ''}, got {v!r}"
            )
        return v

    def uuid(self, v: Any, key: str) -> str:
        if not isinstance(v, str) or not _UUID_RE.match(v.lower()):
            raise self.fail(
                key,
                f"bad UUID {v!r}; expected the 128-bit 8-4-4-4-12 hex form, "
                "e.g. '00002a37-0000-1000-8000-00805f9b34fb'",
            )
        return v.lower()

    def str_list(
        self,
        tbl: dict,
        key: str,
        path: str,
        *,
        required: bool = True,
        unique: bool = True,
        nonempty: bool = False,
    ) -> tuple[str, ...]:
        v = self.get(
            tbl, key, path, (list,), required=required, default=[], what="an array of strings"
        )
        full = f"{path}.{key}"
        seen: set[str] = set()
        for i, item in enumerate(v):
            if not isinstance(item, str) or not item:
                raise self.fail(
                    f"{full}[{i}]", f"expected a non-empty string, got {_tname(item)} {item!r}"
                )
            if unique and item in seen:
                raise self.fail(f"{full}[{i}]", f"duplicate value {item!r}")
            seen.add(item)
        if nonempty and not v:
            raise self.fail(full, "must list at least one value")
        return tuple(v)


_DEVICE_KEYS = {
    "name",
    "label",
    "vendor",
    "protocol",
    "name_prefixes",
    "service_uuids",
    "min_mtu",
    "simulated",
    "discriminator_characteristic",
    "note",
}
_CONTROL_KEYS = {"characteristic", "framing", "sequences", "keep_alive_interval_s", "note"}
_SEQ_KEYS = {"commands", "delays_ms"}
_STREAM_KEYS = {
    "name",
    "kind",
    "sfreq",
    "unit",
    "decoder",
    "channels",
    "characteristic",
    "characteristics",
    "samples_per_packet",
    "scale",
    "offset",
    "counter",
    "clock",
    "required",
    "poll_interval_s",
    "quality",
    "layout",
    "note",
}
_COUNTER_KEYS = {"bits", "endian", "byte_offset"}
_TOP_KEYS = {"device", "control", "streams", "decisions"}


def _parse_control(c: _Checker, tbl: dict) -> ControlProfile:
    p = "control"
    c.no_unknown(tbl, _CONTROL_KEYS, p)
    char = c.uuid(c.get(tbl, "characteristic", p, (str,)), f"{p}.characteristic")
    framing = c.get(tbl, "framing", p, (str,))
    if framing not in FRAMINGS:
        raise c.fail(
            f"{p}.framing", f"unknown framing {framing!r}; allowed: {', '.join(FRAMINGS)}"
        )
    seqs_tbl = c.table(tbl, "sequences", p)
    seqs: dict[str, CommandSequence] = {}
    for sname, st in seqs_tbl.items():
        sp = f"{p}.sequences.{sname}"
        if not _IDENT_RE.match(sname):
            raise c.fail(sp, "sequence names must be lowercase identifiers (e.g. 'keep_alive')")
        if not isinstance(st, dict):
            raise c.fail(sp, f"expected a table with 'commands' and 'delays_ms', got {_tname(st)}")
        c.no_unknown(st, _SEQ_KEYS, sp)
        cmds = c.str_list(st, "commands", sp, unique=False, nonempty=True)
        for i, cmd in enumerate(cmds):
            try:
                ControlProfile(char, framing, {}).encode_command(cmd)
            except ValueError as e:
                raise c.fail(
                    f"{sp}.commands[{i}]", f"cannot encode {cmd!r} with framing {framing!r}: {e}"
                ) from None
        d = st.get("delays_ms", 0)
        if isinstance(d, bool) or not isinstance(d, (int, list)):
            raise c.fail(
                f"{sp}.delays_ms", f"expected an integer or an array of integers, got {_tname(d)}"
            )
        delays = [d] * len(cmds) if isinstance(d, int) else d
        if len(delays) != len(cmds):
            raise c.fail(f"{sp}.delays_ms", f"has {len(delays)} values for {len(cmds)} commands")
        for i, x in enumerate(delays):
            if isinstance(x, bool) or not isinstance(x, int) or x < 0:
                raise c.fail(f"{sp}.delays_ms[{i}]", f"expected an integer >= 0 (ms), got {x!r}")
        seqs[sname] = CommandSequence(cmds, tuple(delays))
    for required in ("start", "stop"):
        if required not in seqs:
            raise c.fail(f"{p}.sequences.{required}", "missing required sequence")
    ka = c.number(tbl, "keep_alive_interval_s", p, required=False, positive=True)
    if ka is not None and "keep_alive" not in seqs:
        raise c.fail(
            f"{p}.keep_alive_interval_s", "is set but there is no [control.sequences.keep_alive]"
        )
    return ControlProfile(char, framing, MappingProxyType(seqs), ka)


def _parse_quality(c: _Checker, q: Any, path: str, channels: tuple[str, ...]):
    if not isinstance(q, dict):
        raise c.fail(path, f"expected a table, got {_tname(q)}")
    defaults: dict[str, float] = {}
    per: dict[str, Mapping[str, float]] = {}
    for k, v in q.items():
        if k == "channels":
            if not isinstance(v, dict):
                raise c.fail(
                    f"{path}.channels", f"expected a table of channel tables, got {_tname(v)}"
                )
            for ch, tv in v.items():
                cp = f"{path}.channels.{ch}"
                if ch not in channels:
                    raise c.fail(
                        cp, f"unknown channel {ch!r}; the stream's channels are {list(channels)}"
                    )
                if not isinstance(tv, dict):
                    raise c.fail(cp, f"expected a table of thresholds, got {_tname(tv)}")
                per[ch] = MappingProxyType({kk: c.number(tv, kk, cp) for kk in tv})
        else:
            defaults[k] = c.number(q, k, path)
    return MappingProxyType(defaults), MappingProxyType(per)


def _parse_stream(c: _Checker, s: Any, i: int) -> StreamProfile:
    p = f"streams[{i}]"
    if not isinstance(s, dict):
        raise c.fail(p, f"expected a table, got {_tname(s)}")
    c.no_unknown(s, _STREAM_KEYS, p)
    name = c.text(s, "name", p)
    if not _IDENT_RE.match(name):
        raise c.fail(f"{p}.name", f"stream names must be lowercase identifiers, got {name!r}")
    kind = c.get(s, "kind", p, (str,))
    if kind not in STREAM_KINDS:
        raise c.fail(f"{p}.kind", f"unknown kind {kind!r}; allowed: {', '.join(STREAM_KINDS)}")
    sf = c.get(s, "sfreq", p, (int, float, str), what='a number > 0 or "irregular"')
    if isinstance(sf, str):
        if sf != "irregular":
            raise c.fail(f"{p}.sfreq", f'expected a number > 0 or "irregular", got {sf!r}')
        sfreq = None
    else:
        sfreq = c.number(s, "sfreq", p, positive=True)
    unit = c.text(s, "unit", p)
    decoder = c.get(s, "decoder", p, (str,))
    if decoder not in DECODERS:
        raise c.fail(
            f"{p}.decoder",
            f"unknown decoder key {decoder!r}; known keys: {', '.join(sorted(DECODERS))}",
        )
    channels = c.str_list(s, "channels", p, nonempty=True)
    has_one, has_map = "characteristic" in s, "characteristics" in s
    if has_one == has_map:
        raise c.fail(
            f"{p}.characteristic",
            "give exactly one of 'characteristic' (string or array, "
            "carrying all channels) or 'characteristics' (table channel -> UUID)",
        )
    routes: dict[str, tuple[str, ...]] = {}
    if has_one:
        v = s["characteristic"]
        uu = [v] if isinstance(v, str) else v
        if not isinstance(uu, list) or not uu:
            raise c.fail(
                f"{p}.characteristic",
                f"expected a UUID string or a non-empty array, got {_tname(v)}",
            )
        for j, u in enumerate(uu):
            key = f"{p}.characteristic" if isinstance(v, str) else f"{p}.characteristic[{j}]"
            uid = c.uuid(u, key)
            if uid in routes:
                raise c.fail(key, f"duplicate characteristic {uid}")
            routes[uid] = channels
    else:
        m = c.table(s, "characteristics", p)
        for ch, u in m.items():
            key = f"{p}.characteristics.{ch}"
            if ch not in channels:
                raise c.fail(key, f"channel {ch!r} is not in {p}.channels {list(channels)}")
            uid = c.uuid(u, key)
            if uid in routes:
                raise c.fail(
                    key, f"duplicate characteristic {uid} (already mapped to {routes[uid][0]!r})"
                )
            routes[uid] = (ch,)
        missing = [ch for ch in channels if ch not in m]
        if missing:
            raise c.fail(f"{p}.characteristics", f"no characteristic for channel(s) {missing}")
        routes = {u: routes[u] for u in sorted(routes, key=lambda u: channels.index(routes[u][0]))}
    spp = c.get(s, "samples_per_packet", p, (int,), required=False, what="an integer > 0")
    if spp is not None and spp <= 0:
        raise c.fail(f"{p}.samples_per_packet", f"expected an integer > 0, got {spp}")
    scale = c.number(s, "scale", p, required=False, default=1.0)
    if scale == 0:
        raise c.fail(f"{p}.scale", "must not be 0")
    offset = c.number(s, "offset", p, required=False, default=0.0)
    counter = None
    cv = s.get("counter", "none")
    if isinstance(cv, dict):
        cp = f"{p}.counter"
        c.no_unknown(cv, _COUNTER_KEYS, cp)
        bits = c.get(cv, "bits", cp, (int,), what="an integer")
        if not 1 <= bits <= 64:
            raise c.fail(f"{cp}.bits", f"expected 1..64, got {bits}")
        endian = c.get(cv, "endian", cp, (str,))
        if endian not in ("big", "little"):
            raise c.fail(f"{cp}.endian", f'expected "big" or "little", got {endian!r}')
        bo = c.get(
            cv, "byte_offset", cp, (int,), required=False, default=0, what="an integer >= 0"
        )
        if bo < 0:
            raise c.fail(f"{cp}.byte_offset", f"expected an integer >= 0, got {bo}")
        counter = CounterSpec(bits, endian, bo)
    elif cv != "none":
        raise c.fail(f"{p}.counter", f'expected a table {{bits, endian}} or "none", got {cv!r}')
    clock = c.get(s, "clock", p, (str,), required=False, default="host")
    if clock not in CLOCKS:
        raise c.fail(f"{p}.clock", f"expected one of {', '.join(CLOCKS)}, got {clock!r}")
    required = c.get(s, "required", p, (bool,), required=False, default=True)
    poll = c.number(s, "poll_interval_s", p, required=False, positive=True)
    q_def, q_ch = MappingProxyType({}), MappingProxyType({})
    if "quality" in s:
        q_def, q_ch = _parse_quality(c, s["quality"], f"{p}.quality", channels)
    layout = s.get("layout", {})
    if not isinstance(layout, dict):
        raise c.fail(f"{p}.layout", f"expected a table, got {_tname(layout)}")
    note = c.get(s, "note", p, (str,), required=False, default="")
    return StreamProfile(
        name=name,
        kind=kind,
        sfreq=sfreq,
        unit=unit,
        decoder=decoder,
        channels=channels,
        routes=MappingProxyType(routes),
        samples_per_packet=spp,
        scale=scale,
        offset=offset,
        counter=counter,
        clock=clock,
        required=required,
        poll_interval_s=poll,
        quality=q_def,
        quality_channels=q_ch,
        layout=_freeze(layout),
        note=note,
    )


def parse_profile(
    data: Mapping[str, Any], *, label: str, expected_name: str | None = None
) -> DeviceProfile:
    """Validate a parsed TOML document and build a :class:`DeviceProfile`.

    Parameters
    ----------
    data : Mapping
        The document as returned by ``tomllib.loads``.
    label : str
        File name used in error messages.
    expected_name : str | None
        If given, ``[device].name`` must equal it (the file stem).

    Returns
    -------
    profile : DeviceProfile
    """
    c = _Checker(label)
    data = dict(data)
    c.no_unknown(data, _TOP_KEYS, "")
    dev = c.table(data, "device", "")
    p = "device"
    c.no_unknown(dev, _DEVICE_KEYS, p)
    name = c.text(dev, "name", p)
    if not _NAME_RE.match(name):
        raise c.fail(f"{p}.name", f"must be lowercase letters, digits and '-', got {name!r}")
    if expected_name is not None and name != expected_name:
        raise c.fail(f"{p}.name", f"{name!r} does not match the file name {expected_name!r}.toml")
    label_ = c.text(dev, "label", p)
    vendor = c.text(dev, "vendor", p)
    protocol = c.get(dev, "protocol", p, (str,))
    if protocol not in PROTOCOLS:
        raise c.fail(
            f"{p}.protocol", f"unknown protocol {protocol!r}; allowed: {', '.join(PROTOCOLS)}"
        )
    prefixes = c.str_list(dev, "name_prefixes", p)
    services = tuple(
        c.uuid(u, f"{p}.service_uuids[{i}]")
        for i, u in enumerate(c.str_list(dev, "service_uuids", p))
    )
    if not prefixes and not services:
        raise c.fail(
            f"{p}.name_prefixes",
            "give at least one name prefix or service UUID to find the device",
        )
    min_mtu = c.get(dev, "min_mtu", p, (int,), required=False, default=23, what="an integer >= 23")
    if not 23 <= min_mtu <= 517:
        raise c.fail(
            f"{p}.min_mtu", f"expected an integer in 23..517 (BLE ATT MTU), got {min_mtu}"
        )
    simulated = c.get(dev, "simulated", p, (bool,), required=False, default=False)
    disc = dev.get("discriminator_characteristic")
    if disc is not None:
        disc = c.uuid(disc, f"{p}.discriminator_characteristic")
    c.get(dev, "note", p, (str,), required=False)

    control = None
    ctl = c.table(data, "control", "", required=False)
    if ctl is not None:
        control = _parse_control(c, ctl)

    if "streams" not in data:
        raise c.fail("streams", "missing required array of tables [[streams]]")
    raw_streams = data["streams"]
    if not isinstance(raw_streams, list) or not raw_streams:
        raise c.fail("streams", "expected at least one [[streams]] table")
    streams = tuple(_parse_stream(c, s, i) for i, s in enumerate(raw_streams))
    seen: dict[str, int] = {}
    for i, s in enumerate(streams):
        if s.name in seen:
            raise c.fail(
                f"streams[{i}].name",
                f"duplicate stream name {s.name!r} (also streams[{seen[s.name]}])",
            )
        seen[s.name] = i

    decisions = data.get("decisions", {})
    if not isinstance(decisions, dict):
        raise c.fail("decisions", f"expected a table, got {_tname(decisions)}")
    for k, v in decisions.items():
        if not isinstance(v, dict) or "choice" not in v:
            raise c.fail(f"decisions.{k}", "expected a table with at least a 'choice' key")

    return DeviceProfile(
        name=name,
        label=label_,
        vendor=vendor,
        protocol=protocol,
        name_prefixes=prefixes,
        service_uuids=services,
        min_mtu=min_mtu,
        simulated=simulated,
        discriminator_characteristic=disc,
        control=control,
        streams=streams,
        decisions=_freeze(decisions),
        source=label,
    )


def _load_text(text: str, label: str, stem: str) -> DeviceProfile:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ProfileError(f"{label}: invalid TOML: {e}") from None
    return parse_profile(data, label=label, expected_name=stem)


def _profiles_root():
    """Directory of the shipped profiles.

    Installed, they are the package data ``addictidx.firmware_profiles`` (mapped from the
    repository's top-level ``firmware_profiles/``). Run from a source checkout without installing
    (``python -m addictidx`` in the repository), that package does not exist inside
    ``addictidx/``; the top-level folder next to it is used instead.
    """
    try:
        return resources.files(_PACKAGE)
    except ModuleNotFoundError:
        source = Path(__file__).resolve().parents[2] / "firmware_profiles"
        if source.is_dir():
            return source
        raise ProfileError(
            "The firmware profiles are missing: neither the package data "
            f"{_PACKAGE!r} nor {source} exists (reinstall addictidx)."
        ) from None


def list_profiles(*, include_simulated: bool = True) -> list[str]:
    """Names of the profiles shipped in ``addictidx.firmware_profiles``, sorted.

    Parameters
    ----------
    include_simulated : bool
        Include the simulated devices (``sim-*``).
    """
    root = _profiles_root()
    names = sorted(e.name[:-5] for e in root.iterdir() if e.name.endswith(".toml"))
    if not include_simulated:
        names = [n for n in names if not load_profile(n).simulated]
    return names


@lru_cache(maxsize=64)
def _load_builtin(name: str) -> DeviceProfile:
    res = _profiles_root() / f"{name}.toml"
    if not res.is_file():
        raise ProfileError(
            f"No built-in firmware profile named {name!r}; available: {', '.join(list_profiles())} "
            "(or pass a path to a .toml file)."
        )
    return _load_text(res.read_text(encoding="utf-8"), f"{name}.toml", name)


def load_profile(name_or_path: str | Path) -> DeviceProfile:
    """Load and validate a device profile.

    Parameters
    ----------
    name_or_path : str | Path
        A built-in profile name (see :func:`list_profiles`, e.g. ``"muse-2"``) or a path to a
        ``.toml`` file (``[device].name`` must equal the file stem).

    Returns
    -------
    profile : DeviceProfile

    Raises
    ------
    ProfileError
        Unknown name, unreadable file, invalid TOML, or a schema violation; the message names the
        file, the dotted key and the problem.
    """
    if isinstance(name_or_path, Path) or (
        isinstance(name_or_path, str)
        and (name_or_path.endswith(".toml") or "/" in name_or_path or "\\" in name_or_path)
    ):
        path = Path(name_or_path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as e:
            raise ProfileError(f"{path}: cannot read profile: {e.strerror or e}") from None
        return _load_text(text, str(path), path.stem)
    if not isinstance(name_or_path, str):
        raise ProfileError(
            f"load_profile expects a profile name or a path, got {type(name_or_path).__name__}."
        )
    return _load_builtin(name_or_path)
