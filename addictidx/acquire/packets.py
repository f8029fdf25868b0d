"""The decoded packet: one notification's samples, scaled and named by the device profile.

:class:`DecodedPacket` is what :func:`~addictidx.acquire.decode` returns (and what the route
handlers of :mod:`addictidx.acquire.decode_handlers` build): stream name, packet counter, device
timestamp, channel name -> read-only float64 samples, units and other decoded fields.
:meth:`DecodedPacket.to_dict` gives the plain JSON shape documented in
:mod:`addictidx.acquire.decode_api`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

__all__ = ["UNITS", "DecodedPacket", "make_packet", "read_only"]

#: Units a decoded channel may carry. ``counts`` = raw ADC counts (PPG, optics), which have no
#: physical unit in any source.
UNITS = ("uV", "V", "g", "deg/s", "s", "bpm", "%", "kJ", "counts")
_EMPTY: Mapping = MappingProxyType({})


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


def make_packet(
    stream: str,
    sequence: int | None,
    timestamp_ns: int | None,
    channels: dict,
    units: dict,
    fields: dict | None = None,
) -> DecodedPacket:
    """Build a :class:`DecodedPacket`, freezing the mappings (no fields: an empty mapping)."""
    return DecodedPacket(
        stream,
        sequence,
        timestamp_ns,
        MappingProxyType(channels),
        MappingProxyType(units),
        MappingProxyType(fields) if fields else _EMPTY,
    )


def read_only(a: np.ndarray) -> np.ndarray:
    """Mark ``a`` read-only and return it (packets never share writable arrays)."""
    a.setflags(write=False)
    return a
