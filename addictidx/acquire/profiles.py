"""Device profiles as the acquisition layer uses them (re-exported from :mod:`addictidx.devices`).

The profile model, its validation and the loader live in :mod:`addictidx.devices` (below the
readers, so every room can take device facts from the profiles); this module keeps the
acquisition layer's import path ``addictidx.acquire.profiles``.
"""

from addictidx.devices import (
    CLOCKS,
    FRAMINGS,
    PROTOCOLS,
    STREAM_KINDS,
    CommandSequence,
    ControlProfile,
    CounterSpec,
    DeviceProfile,
    StreamProfile,
    list_profiles,
    load_profile,
    parse_profile,
    scaler,
    stream_profile,
)

__all__ = [
    "PROTOCOLS",
    "FRAMINGS",
    "STREAM_KINDS",
    "CLOCKS",
    "CounterSpec",
    "CommandSequence",
    "ControlProfile",
    "StreamProfile",
    "DeviceProfile",
    "load_profile",
    "list_profiles",
    "parse_profile",
    "scaler",
    "stream_profile",
]
