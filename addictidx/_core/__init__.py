"""Bottom layer: frozen data types, validation helpers, errors. Imports numpy only."""

from addictidx._core.errors import (
    AddictIdxError,
    DataFormatError,
    DecodeError,
    DeviceError,
    ModelMismatchError,
    ProfileError,
    SignalQualityError,
    StoreError,
)
from addictidx._core.intended_use import DISCLAIMER_SHORT, INTENDED_USE, NOT_FOR
from addictidx._core.types import (
    Chunk,
    FeatureFrame,
    IndexResult,
    Prescription,
    QualityReport,
    StreamSpec,
    Window,
)

__all__ = [
    "AddictIdxError",
    "DataFormatError",
    "DecodeError",
    "DeviceError",
    "ModelMismatchError",
    "ProfileError",
    "SignalQualityError",
    "StoreError",
    "Chunk",
    "FeatureFrame",
    "IndexResult",
    "Prescription",
    "QualityReport",
    "StreamSpec",
    "Window",
    "INTENDED_USE",
    "NOT_FOR",
    "DISCLAIMER_SHORT",
]
