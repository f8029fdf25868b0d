"""Device profiles (``firmware_profiles/*.toml``): find, read, validate and cache them.

A profile says what a device is (BLE identity, protocol), how to drive it (control
characteristic, command framing, command sequences with delays) and what it streams (one
``[[streams]]`` table per sampling rate: characteristics -> channels, decoder key, rate, unit,
scale/offset, packet counter, quality thresholds). The schema is documented in
``firmware_profiles/SCHEMA.md``.

Loading validates everything; a bad file raises :class:`~addictidx._core.errors.ProfileError`
whose message names the file, the dotted key (``streams[0].sfreq``) and what is wrong.

The dataclasses live in :mod:`addictidx.devices.model` and the validation in
:mod:`addictidx.devices.schema`; :mod:`addictidx.devices` re-exports both with the loader.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from addictidx._core.errors import ProfileError
from addictidx._core.package_data import package_files
from addictidx.devices.model import (
    CLOCKS,
    FRAMINGS,
    PROTOCOLS,
    STREAM_KINDS,
    CommandSequence,
    ControlProfile,
    CounterSpec,
    DeviceProfile,
    StreamProfile,
    scaler,
)
from addictidx.devices.schema import parse_profile

try:  # Python >= 3.11
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

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
]

_PACKAGE = "addictidx.firmware_profiles"


def _load_text(text: str, label: str, stem: str) -> DeviceProfile:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ProfileError(f"{label}: invalid TOML: {e}") from None
    return parse_profile(data, label=label, expected_name=stem)


def profiles_root():
    """Directory of the shipped profiles.

    Installed, they are the package data ``addictidx.firmware_profiles`` (mapped from the
    repository's top-level ``firmware_profiles/``). Run from a source checkout without installing
    (``python -m addictidx`` in the repository), that package does not exist inside
    ``addictidx/``; the top-level folder next to it is used instead.
    """
    try:
        return package_files(_PACKAGE)
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
    root = profiles_root()
    names = sorted(e.name[:-5] for e in root.iterdir() if e.name.endswith(".toml"))
    if not include_simulated:
        names = [n for n in names if not load_profile(n).simulated]
    return names


@lru_cache(maxsize=64)
def _load_builtin(name: str) -> DeviceProfile:
    res = profiles_root() / f"{name}.toml"
    if not res.is_file():
        raise ProfileError(
            f"No built-in firmware profile named {name!r}; available: "
            f"{', '.join(list_profiles())} "
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


def stream_profile(profile: str | Path | DeviceProfile, stream: str) -> StreamProfile:
    """One stream of a profile: the public way to read a device fact.

    Parameters
    ----------
    profile : str | Path | DeviceProfile
        A built-in profile name (``"muse-2"``, ``"polar-h10"``), a path, or a loaded profile.
    stream : str
        Stream name (``"eeg"``, ``"ecg"``, ``"rr"``, ...).

    Returns
    -------
    stream : StreamProfile
        With ``channels``, ``sfreq`` (Hz, ``None`` if irregular), ``samples_per_packet``,
        ``unit``, ``scale``, ``offset``.

    Examples
    --------
    >>> stream_profile("muse-2", "eeg").channels
    ('TP9', 'AF7', 'AF8', 'TP10')
    >>> stream_profile("polar-h10", "ecg").sfreq
    130.0
    """
    p = profile if isinstance(profile, DeviceProfile) else load_profile(profile)
    return p.stream(stream)
