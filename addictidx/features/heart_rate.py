"""Heart rate from RR intervals: one definition for the display, the closed loop and the index.

Heart rate is always derived from RR intervals, never from the strap's HR field (straps send 0
without contact and smooth it their own way). Two figures exist, both from the same valid
beats (see ``docs/heart_rate.md``):

* **current heart rate** (display, closed loop): ``60 / median`` of the last
  :data:`HR_MEDIAN_BEATS` (5) valid intervals, available from the :data:`HR_MIN_BEATS`-th (3rd)
  valid one; a valid interval is finite and within :data:`RR_MIN_S`-:data:`RR_MAX_S`
  (0.3-2.0 s, 30-200 bpm). The median of five makes one or two ectopic or spurious intervals
  unable to move it; a step change in RR shows at the 3rd beat after the step.
  :class:`HeartRateTracker` is its incremental form, :func:`current_heart_rate_bpm` the same on
  an array.
* **mean heart rate** of a window (the index feature ``hr_mean_bpm``, the resting HR of the
  prescription): ``60 / mean`` of the accepted intervals of the window, the rate of the mean
  interval (Kubios; hrv-analysis' mean(60/RR) is larger by Jensen's inequality). The accepted
  intervals are the valid ones that also pass the local-median screen of
  :func:`~addictidx.features.rr_quality`; the index's population norms were built with this
  definition, so it is kept.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable

import numpy as np

__all__ = [
    "RR_MIN_S",
    "RR_MAX_S",
    "HR_MEDIAN_BEATS",
    "HR_MIN_BEATS",
    "valid_rr_mask",
    "current_heart_rate_bpm",
    "mean_heart_rate_bpm",
    "HeartRateTracker",
]

#: Shortest valid RR interval (s): 200 bpm.
RR_MIN_S = 0.3
#: Longest valid RR interval (s): 30 bpm.
RR_MAX_S = 2.0
#: Valid intervals in the median of the current heart rate.
HR_MEDIAN_BEATS = 5
#: Valid intervals needed before a current heart rate is given.
HR_MIN_BEATS = 3


def valid_rr_mask(rr_s) -> np.ndarray:
    """True for RR intervals that are beats: finite and within 0.3-2.0 s.

    Parameters
    ----------
    rr_s : array
        RR intervals in seconds.

    Returns
    -------
    ndarray of bool
    """
    rr = np.asarray(rr_s, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        return np.isfinite(rr) & (rr >= RR_MIN_S) & (rr <= RR_MAX_S)


def current_heart_rate_bpm(rr_s) -> float | None:
    """The current heart rate after the RR intervals ``rr_s`` (oldest first).

    ``60 / median`` of the last 5 valid intervals; ``None`` with fewer than 3 valid ones.
    Equal to :class:`HeartRateTracker` fed the same intervals.
    """
    rr = np.asarray(rr_s, dtype=np.float64).ravel()
    ok = rr[valid_rr_mask(rr)][-HR_MEDIAN_BEATS:]
    if ok.size < HR_MIN_BEATS:
        return None
    return 60.0 / float(np.median(ok))


def mean_heart_rate_bpm(rr_s, accepted=None) -> float:
    """The mean heart rate of a window: ``60 / mean`` of its accepted intervals (bpm).

    Parameters
    ----------
    rr_s : array
        RR intervals in seconds.
    accepted : array of bool | None
        Intervals accepted by an artefact screen (e.g. the mask of
        :func:`~addictidx.features.rr_quality`); intervals outside 0.3-2.0 s are never used.

    Returns
    -------
    float
        ``NaN`` when no interval is left.
    """
    rr = np.asarray(rr_s, dtype=np.float64)
    ok = valid_rr_mask(rr)
    if accepted is not None:
        ok &= np.asarray(accepted, dtype=bool)
    if not ok.any():
        return math.nan
    return 60.0 / float(np.mean(rr[ok]))


class HeartRateTracker:
    """The current heart rate, updated beat by beat (display and closed loop).

    Attributes
    ----------
    hr_bpm : float | None
        ``60 / median`` of the last 5 valid intervals, None before the 3rd.
    """

    __slots__ = ("_rr", "hr_bpm")

    def __init__(self) -> None:
        self._rr: deque[float] = deque(maxlen=HR_MEDIAN_BEATS)
        self.hr_bpm: float | None = None

    @staticmethod
    def is_valid(rr_s: float) -> bool:
        """True when one interval is a beat (finite, 0.3-2.0 s)."""
        return math.isfinite(rr_s) and RR_MIN_S <= rr_s <= RR_MAX_S

    def push(self, rr_s: float) -> bool:
        """Add one interval (s); return whether it was a valid beat."""
        if not (math.isfinite(rr_s) and RR_MIN_S <= rr_s <= RR_MAX_S):
            return False
        self._rr.append(float(rr_s))
        self.hr_bpm = 60.0 / float(np.median(self._rr)) if len(self._rr) >= HR_MIN_BEATS else None
        return True

    def extend(self, rr_s: Iterable[float]) -> float | None:
        """Add intervals in order; return the current heart rate."""
        for v in rr_s:
            self.push(float(v))
        return self.hr_bpm

    def clear(self) -> None:
        """Forget every beat (signal lost)."""
        self._rr.clear()
        self.hr_bpm = None
