"""Validation of a parsed profile document: TOML tables in, a :class:`DeviceProfile` out.

:func:`parse_profile` checks every key of ``firmware_profiles/*.toml`` against the schema
documented in ``firmware_profiles/SCHEMA.md``. A bad document raises
:class:`~addictidx._core.errors.ProfileError` whose message names the file, the dotted key
(``streams[0].sfreq``) and what is wrong.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from addictidx._core.errors import ProfileError
from addictidx.devices.model import (
    CLOCKS,
    DECODER_KEYS,
    FRAMINGS,
    PROTOCOLS,
    STREAM_KINDS,
    CommandSequence,
    ControlProfile,
    CounterSpec,
    DeviceProfile,
    StreamProfile,
)

__all__ = ["parse_profile"]

_UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_IDENT_RE = re.compile(r"^[a-z][a-z0-9_]*$")
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]*$")


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
    if decoder not in DECODER_KEYS:
        raise c.fail(
            f"{p}.decoder",
            f"unknown decoder key {decoder!r}; known keys: {', '.join(sorted(DECODER_KEYS))}",
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
