"""Frozen data types that cross layer boundaries.

Conventions (shared by every layer):

* ``data`` arrays are ``float64`` shaped ``(n_channels, n_times)``; time is the last axis.
* ``times`` are seconds on **one monotonic session clock** (``time.perf_counter`` based, or the
  replay clock); never wall-clock ``time.time()``.
* Missing samples (dropped BLE packets, a strap that fell off) are kept as ``NaN`` in ``data``
  with their expected ``times``, so gaps are marked and never hidden or interpolated.
* Units are explicit: every stream says its unit, every feature name ends in its unit
  (``hrv_rmssd_ms``, ``hr_mean_bpm``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

__all__ = [
    "StreamSpec",
    "Chunk",
    "Window",
    "QualityReport",
    "FeatureFrame",
    "IndexResult",
    "Prescription",
    "Band",
    "State",
]

Band = Literal["low", "elevated", "high"]
State = Literal["green", "amber", "red"]


@dataclass(frozen=True, slots=True)
class StreamSpec:
    """What one stream of one device delivers (one stream per sampling rate).

    Parameters
    ----------
    device : str
        Profile name of the device, e.g. ``"muse-2"`` or ``"generic-hrs"``.
    name : str
        Stream name within the device, e.g. ``"eeg"``, ``"rr"``, ``"hr"``, ``"acc"``.
    kind : str
        Signal kind: ``eeg``, ``ppg``, ``acc``, ``gyro``, ``telemetry``, ``hr``, ``rr``, ``ecg``.
    channels : tuple of str
        Channel names in data-row order.
    sfreq : float | None
        Nominal sampling frequency in Hz; ``None`` for irregular streams (RR, HR).
    unit : str
        Unit of the values in ``data`` (``"uV"``, ``"g"``, ``"deg/s"``, ``"s"``, ``"bpm"``).
    samples_per_packet : int | None
        Samples per notification for packetised streams (Muse EEG: 12).
    """

    device: str
    name: str
    kind: str
    channels: tuple[str, ...]
    sfreq: float | None
    unit: str
    samples_per_packet: int | None = None

    @property
    def n_channels(self) -> int:
        """Number of channels (rows of ``data``)."""
        return len(self.channels)

    @property
    def key(self) -> str:
        """Stable identifier ``"<device>/<name>"``."""
        return f"{self.device}/{self.name}"


@dataclass(frozen=True, slots=True)
class Chunk:
    """A block of samples of one stream, as decoded from one or more notifications.

    Parameters
    ----------
    spec : StreamSpec
        The stream the samples belong to.
    data : ndarray, shape (n_channels, n_times)
        Values in ``spec.unit``; ``NaN`` marks samples that were expected but never arrived.
    times : ndarray, shape (n_times,)
        Sample times in seconds on the session clock. For RR chunks, the beat times (the end of
        each interval).
    seq : int | None
        Unwrapped packet counter of the first sample's packet, if the device has one.
    received_at : float
        Session-clock time the (last) notification arrived.
    n_missing : int
        How many samples in this chunk are gap fill (NaN), for quick accounting.
    """

    spec: StreamSpec
    data: np.ndarray
    times: np.ndarray
    seq: int | None = None
    received_at: float = float("nan")
    n_missing: int = 0

    def __post_init__(self) -> None:
        if self.data.ndim != 2 or self.data.shape[0] != self.spec.n_channels:
            raise ValueError(
                f"Chunk data must be shaped (n_channels={self.spec.n_channels}, n_times), "
                f"got {self.data.shape} for stream {self.spec.key!r}."
            )
        if self.times.shape != (self.data.shape[1],):
            raise ValueError(
                f"Chunk times must be shaped ({self.data.shape[1]},), got {self.times.shape} "
                f"for stream {self.spec.key!r}."
            )

    @property
    def n_times(self) -> int:
        """Number of samples."""
        return int(self.data.shape[1])


@dataclass(frozen=True, slots=True)
class Window:
    """A contiguous analysis window copied out of a ring buffer.

    Parameters
    ----------
    spec : StreamSpec
        Stream description.
    data : ndarray, shape (n_channels, n_times)
        Samples; ``NaN`` where the buffer holds a gap.
    times : ndarray, shape (n_times,)
        Session-clock times of the samples.
    sfreq : float | None
        Sampling frequency in Hz (``None`` for irregular streams).
    gap_fraction : float
        Fraction of samples in the window that are gap fill (0-1).
    """

    spec: StreamSpec
    data: np.ndarray
    times: np.ndarray
    sfreq: float | None
    gap_fraction: float = 0.0

    @property
    def t_start(self) -> float:
        """Time of the first sample (s), NaN when empty."""
        return float(self.times[0]) if self.times.size else float("nan")

    @property
    def t_end(self) -> float:
        """Time of the last sample (s), NaN when empty."""
        return float(self.times[-1]) if self.times.size else float("nan")


@dataclass(frozen=True, slots=True)
class QualityReport:
    """Signal quality of one window or one recording phase.

    Parameters
    ----------
    per_channel : Mapping[str, float]
        Quality score per channel in [0, 1] (1 = all checks passed on every epoch).
    flags : tuple of str
        Machine-readable problems, ``"<check>:<channel>"`` (e.g. ``"flatline:AF7"``,
        ``"rr_artifacts>5%"``).
    usable : bool
        Whether the data may be used for the index (EVIDENCE.md §7(i) gates).
    reasons : tuple of str
        Human-readable sentences explaining ``usable=False``.
    """

    per_channel: Mapping[str, float]
    flags: tuple[str, ...] = ()
    usable: bool = True
    reasons: tuple[str, ...] = ()

    def merge(self, other: QualityReport) -> QualityReport:
        """Combine two reports (e.g. EEG and RR): usable only if both are."""
        return QualityReport(
            per_channel={**self.per_channel, **other.per_channel},
            flags=self.flags + other.flags,
            usable=self.usable and other.usable,
            reasons=self.reasons + other.reasons,
        )


@dataclass(frozen=True, slots=True)
class FeatureFrame:
    """Named features per analysis window.

    Parameters
    ----------
    names : tuple of str
        Feature names with units, e.g. ``"hrv_rmssd_ms"``.
    values : ndarray, shape (n_windows, n_features)
        Feature values; ``NaN`` = not computable (too short, gap, failed gate).
    times : ndarray, shape (n_windows,)
        End time of each window on the session clock (s).
    quality : QualityReport | None
        Quality of the data the features came from.
    """

    names: tuple[str, ...]
    values: np.ndarray
    times: np.ndarray
    quality: QualityReport | None = None

    def __init__(
        self,
        names: tuple[str, ...],
        values: np.ndarray,
        times: np.ndarray,
        quality: QualityReport | None = None,
    ) -> None:
        # written out (the dataclass's own __init__ is the same with a __post_init__ check)
        # because the live EEG path builds one frame per window: the slots are set through
        # their descriptors, which frozen instances allow
        if values.ndim != 2 or values.shape[1] != len(names):
            raise ValueError(
                f"FeatureFrame values must be shaped (n_windows, {len(names)}), "
                f"got {values.shape}."
            )
        _set_names(self, names)
        _set_values(self, values)
        _set_times(self, times)
        _set_quality(self, quality)

    def row(self, i: int = -1) -> dict[str, float | None]:
        """Return window ``i`` as ``{name: value}`` with NaN mapped to ``None``."""
        out: dict[str, float | None] = {}
        for name, v in zip(self.names, self.values[i]):
            out[name] = None if not np.isfinite(v) else float(v)
        return out


_set_names, _set_values, _set_times, _set_quality = (
    FeatureFrame.__dict__[name].__set__ for name in ("names", "values", "times", "quality")
)


@dataclass(frozen=True, slots=True)
class IndexResult:
    """The addiction index (physiological deviation index) for one assessment.

    Decision support for rehabilitation staff only: not a diagnosis, not a measure of drug use,
    craving or "addiction level", never a disciplinary score (EVIDENCE.md §7(v)).

    Parameters
    ----------
    index : float | None
        100 * Phi(Z), unrounded, in [0, 100]; ``None`` when no index could be computed.
    band : {"low", "elevated", "high"} | None
        Z < 0.5, 0.5 <= Z < 1.5, Z >= 1.5.
    z : float | None
        Composite Z, the mean of the available clipped per-feature z-scores.
    z_features : Mapping[str, float | None]
        Clipped signed robust z-score per core feature (``None`` = unavailable).
    contributions : Mapping[str, float]
        Each available feature's share of Z (``z_k / n_available``); they sum to Z.
    confidence : float
        0-1, from baseline size and signal quality.
    baseline : str
        ``"personal"`` (>= 5 valid sessions of this person) or ``"population"`` (published norms).
    n_baseline_sessions : int
        Sessions in the personal baseline.
    model_id, model_version : str
        Identity of the ONNX model that computed the index.
    quality : QualityReport | None
        Quality of the input data.
    reason : str | None
        Why no index was produced, when ``index is None``.
    """

    index: float | None
    band: Band | None
    z: float | None
    z_features: Mapping[str, float | None]
    contributions: Mapping[str, float]
    confidence: float
    baseline: str
    n_baseline_sessions: int
    model_id: str
    model_version: str
    quality: QualityReport | None = None
    reason: str | None = None

    @property
    def display_index(self) -> int | None:
        """The index rounded for display (data keeps the unrounded value)."""
        return None if self.index is None else int(round(self.index))


@dataclass(frozen=True, slots=True)
class Prescription:
    """An exercise or music suggestion for staff and participant (not an order).

    Parameters
    ----------
    band : str | None
        Index band it was made for (``None`` when no index was available).
    state : {"green", "amber", "red"}
        Physiological state from the pre-session check.
    activity : str
        Suggested activity, e.g. ``"walking"``, ``"seated rest"``.
    intensity_pct_hrr : tuple of int | None
        Target intensity as whole percentages of heart-rate reserve (Karvonen), or ``None``.
    hr_target_bpm : tuple of int | None
        Target heart rate in bpm, or ``None`` (always ``None`` in RED).
    duration_min : tuple of int
        Suggested duration in minutes.
    music_bpm : tuple of int | None
        Music tempo range in beats per minute.
    rule_id : str
        Identifier of the rule-table row that produced it.
    rationale : str
        Plain-language reason, with citations.
    citations : tuple of str
        Sources of the rule.
    """

    band: str | None
    state: State
    activity: str
    intensity_pct_hrr: tuple[int, int] | None
    hr_target_bpm: tuple[int, int] | None
    duration_min: tuple[int, int]
    music_bpm: tuple[int, int] | None
    rule_id: str
    rationale: str
    citations: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict:
        """JSON-ready dict with the field names of the ``prescribe`` CLI contract."""

        def lst(x):
            return None if x is None else [int(x[0]), int(x[1])]

        return {
            "band": self.band,
            "state": self.state,
            "activity": self.activity,
            "intensity_pct_hrr": lst(self.intensity_pct_hrr),
            "hr_target_bpm": lst(self.hr_target_bpm),
            "duration_min": lst(self.duration_min),
            "music_bpm": lst(self.music_bpm),
            "rule_id": self.rule_id,
            "rationale": self.rationale,
        }
