"""Device profiles: what each supported device is, sends and needs, from ``firmware_profiles/``.

The one place device facts come from (channel names, sampling rates, scales, characteristics,
command sequences). Every room that needs such a fact reads it here:
``load_profile("muse-2").stream("eeg").channels``, ``.sfreq``, ``.scale``. This room sits just
above ``_core`` and needs only the standard library and numpy, so readers and features can use
it as well as the acquisition layer (:mod:`addictidx.acquire.profiles` re-exports it).
"""

from addictidx.devices.framing import encode_hex_command, encode_muse_command
from addictidx.devices.loader import list_profiles, load_profile, profiles_root, stream_profile
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
    scalar_scaler,
    scaler,
)
from addictidx.devices.schema import parse_profile

__all__ = [
    "CLOCKS",
    "DECODER_KEYS",
    "FRAMINGS",
    "PROTOCOLS",
    "STREAM_KINDS",
    "CommandSequence",
    "ControlProfile",
    "CounterSpec",
    "DeviceProfile",
    "StreamProfile",
    "encode_hex_command",
    "encode_muse_command",
    "list_profiles",
    "load_profile",
    "profiles_root",
    "parse_profile",
    "scaler",
    "scalar_scaler",
    "stream_profile",
]
