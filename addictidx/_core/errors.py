"""Exception hierarchy shared by every layer.

Every error the package raises on purpose derives from :class:`AddictIdxError`, so a caller (the
CLI, a dashboard) can catch one type and print one clear line instead of a traceback.
"""

from __future__ import annotations

__all__ = [
    "AddictIdxError",
    "ProfileError",
    "DecodeError",
    "DataFormatError",
    "SignalQualityError",
    "ModelMismatchError",
    "StoreError",
    "DeviceError",
    "ClusterError",
    "ConsentError",
    "NoStoreError",
]


class AddictIdxError(Exception):
    """Base class of all errors raised by addictidx on purpose."""


class ProfileError(AddictIdxError, ValueError):
    """A firmware profile file is missing, malformed or inconsistent (names file and key)."""


class DecodeError(AddictIdxError, ValueError):
    """A BLE payload does not match the layout its decoder expects (names decoder and byte)."""


class DataFormatError(AddictIdxError, ValueError):
    """A recording or input file is truncated, malformed or has the wrong sampling rate."""


class SignalQualityError(AddictIdxError):
    """Signals are present but not good enough for the requested computation."""


class ModelMismatchError(AddictIdxError, ValueError):
    """Features handed to a model do not match the names or order the model was built for."""


class StoreError(AddictIdxError):
    """The session store cannot be opened, migrated or written."""


class NoStoreError(StoreError):
    """There is no store where one was asked for without creating it (no folder, no database
    file, or an empty database)."""


class DeviceError(AddictIdxError):
    """No usable Bluetooth adapter, or a device a session needs was not found."""


class ClusterError(AddictIdxError):
    """A distributed run failed as a whole (scheduler unreachable, tasks lost with their
    workers)."""


class ConsentError(AddictIdxError, ValueError):
    """The subject's consent for what was asked is not in force (none on record, expired or
    withdrawn); nothing was recorded."""
