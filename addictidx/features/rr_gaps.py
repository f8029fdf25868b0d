"""Gaps in an RR series and the rule for the features that need a continuous series.

Spectral HRV interpolates the RR series onto a regular grid, and sample entropy and DFA treat
the intervals as one uninterrupted sequence. Across a gap (a strap that lost contact, beats
rejected as artefacts) the spline invents a waveform: on real recordings with gaps of up to
18 s, the Kubios total power came out 2 to 460 times SDNN², which is impossible for a
stationary series. The rule (``docs/hrv_gaps.md``):

* **Missing time** between two consecutive valid intervals = the time between their beats
  minus the later interval (beat times from ``rr_time_s``, or, without it, each ``NaN``
  interval counted as the median interval). Missing intervals before the first or after the
  last valid one only shorten the series and are not counted.
* A **gap** is missing time longer than :data:`MAX_GAP_S` (2 s, about two beats at rest: a
  single missed or rejected beat is bridged, as Kubios does after artefact correction).
* The series is **split** at every gap. A stretch is **valid** when its own missing time is at
  most :data:`MAX_MISSING_FRACTION` (5 %) of its span.
* When the whole series is valid, nothing changes. Otherwise the frequency-domain features,
  sample entropy and DFA are computed on the **longest valid stretch** and reported only if
  that stretch reaches each feature's minimum window (``HRV_MIN_WINDOW_S``); else they are
  ``NaN``, and ``compute_hrv(..., return_quality=True)`` says why. A spline never crosses a
  gap.

Time-domain statistics, Poincaré SD1/SD2 and the histogram indices need no continuity
(successive differences are only taken between adjacent valid intervals) and use every valid
interval.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["MAX_GAP_S", "MAX_MISSING_FRACTION", "RRGaps", "find_rr_gaps"]

#: Missing time (s) above which the series is split.
MAX_GAP_S = 2.0
#: Largest share of a stretch's span that may be missing (bridged by interpolation).
MAX_MISSING_FRACTION = 0.05


@dataclass(frozen=True)
class RRGaps:
    """Where an RR series is interrupted (:func:`find_rr_gaps`).

    Parameters
    ----------
    span_s : float
        Time from the start of the first valid interval to the end of the last one.
    missing_s : float
        Missing time inside that span.
    gaps : tuple of (float, float)
        ``(time_s, missing_s)`` of every gap longer than :data:`MAX_GAP_S`; ``time_s`` is the
        beat time that ends the gap.
    stretches : tuple of (int, int)
        ``(start, stop)`` positions in the input array of the stretches between gaps (each
        starts and ends with a valid interval).
    longest : tuple of (int, int) | None
        The longest valid stretch (``None`` when none is valid).
    longest_s : float
        Its span in seconds (0 when none).
    """

    span_s: float
    missing_s: float
    gaps: tuple[tuple[float, float], ...]
    stretches: tuple[tuple[int, int], ...]
    longest: tuple[int, int] | None
    longest_s: float

    @property
    def missing_fraction(self) -> float:
        """``missing_s / span_s`` (0 for an empty series)."""
        return self.missing_s / self.span_s if self.span_s > 0 else 0.0

    @property
    def split(self) -> bool:
        """True when the rule applies: a gap, or more than 5 % of the span missing."""
        return bool(self.gaps) or self.missing_fraction > MAX_MISSING_FRACTION

    def reason(self) -> str:
        """One sentence for a quality report (empty when the series is not split)."""
        if not self.split:
            return ""
        if self.gaps:
            t, g = max(self.gaps, key=lambda x: x[1])
            what = (
                f"{len(self.gaps)} gap(s) longer than {MAX_GAP_S:g} s (the longest "
                f"{g:.1f} s, ending at {t:.1f} s)"
            )
        else:
            what = (
                f"{100 * self.missing_fraction:.1f} % of the RR time missing (limit "
                f"{100 * MAX_MISSING_FRACTION:g} %)"
            )
        if self.longest is None:
            return f"RR series has {what}; no stretch is continuous enough for spectra."
        return (
            f"RR series has {what}; frequency-domain HRV, SampEn and DFA use the longest "
            f"continuous stretch ({self.longest_s:.0f} s of {self.span_s:.0f} s)."
        )


def beat_times_s(rr: np.ndarray, rr_time_s=None) -> np.ndarray:
    """Time (s) of the beat ending each interval: ``rr_time_s`` as given, or the cumulative sum
    with every ``NaN`` interval counted as the median interval (NeuroKit2's ``RRI_Time``)."""
    if rr_time_s is not None:
        return np.asarray(rr_time_s, dtype=np.float64)
    nan = np.isnan(rr)
    filled = np.where(nan, np.nanmedian(rr), rr) if nan.any() else rr
    return np.cumsum(filled)


def find_rr_gaps(rr_s, rr_time_s=None) -> RRGaps:
    """Find the gaps of an RR series and its longest continuous stretch.

    Parameters
    ----------
    rr_s : array, shape (n_rr,)
        RR intervals in seconds, ``NaN`` = missing.
    rr_time_s : array, shape (n_rr,) | None
        Time (s) of the beat ending each interval (validated by the caller); ``None`` = the
        cumulative sum with each ``NaN`` counted as the median interval.

    Returns
    -------
    gaps : RRGaps
    """
    rr = np.asarray(rr_s, dtype=np.float64)
    finite = np.isfinite(rr)
    if rr_time_s is None and finite.all():  # fast path: back-to-back intervals, no gap
        span = float(np.sum(rr))
        whole = ((0, rr.size),) if rr.size else ()
        return RRGaps(span, 0.0, (), whole, whole[0] if whole else None, span)
    idx = np.flatnonzero(finite)
    if idx.size == 0:
        return RRGaps(0.0, 0.0, (), (), None, 0.0)
    t = beat_times_s(rr, rr_time_s)[idx]
    v = rr[idx]
    # missing time before each valid interval (after the first): time between the two beats
    # minus the interval itself; adjacent intervals give ~0 (clipped: timing jitter)
    miss = np.concatenate([[0.0], np.clip(np.diff(t) - v[1:], 0.0, None)])
    cut = np.flatnonzero(miss > MAX_GAP_S)
    bounds = np.concatenate([[0], cut, [idx.size]])
    stretches, best, best_s = [], None, 0.0
    for a, b in zip(bounds[:-1], bounds[1:]):
        span = float(t[b - 1] - t[a] + v[a])
        missing = float(np.sum(miss[a + 1 : b]))
        stretches.append((int(idx[a]), int(idx[b - 1]) + 1))
        if missing <= MAX_MISSING_FRACTION * span and span > best_s:
            best, best_s = stretches[-1], span
    span_s = float(t[-1] - t[0] + v[0])
    return RRGaps(
        span_s=span_s,
        missing_s=float(np.sum(miss)),
        gaps=tuple((float(t[c]), float(miss[c])) for c in cut),
        stretches=tuple(stretches),
        longest=best,
        longest_s=best_s if best is not None else 0.0,
    )


def stretch_times(rr: np.ndarray, rr_time_s, stretch: tuple[int, int]) -> np.ndarray:
    """Beat times of ``rr[start:stop]`` on the whole series' clock (for a recursive call)."""
    a, b = stretch
    t = beat_times_s(rr, rr_time_s)[a:b].copy()
    t[np.isnan(rr[a:b])] = math.nan
    return t


def apply_gap_rule(
    out: dict, rr: np.ndarray, rr_time_s, *, frequency: bool, nonlinear: bool, enforce: bool
) -> tuple[tuple[str, ...], str]:
    """Replace the gap-sensitive features of ``out`` by their values on the longest stretch.

    Called by :func:`~addictidx.features.compute_hrv` (``convention="kubios"``) after it
    computed every feature on the whole series.

    Returns
    -------
    flags : tuple of str
        ``()`` when the series is continuous; else ``"rr_gap"`` and ``"gap:<feature>"`` for
        each feature the rule turned to ``NaN``.
    reason : str
        :meth:`RRGaps.reason` (empty when continuous).
    """
    gaps = find_rr_gaps(rr, rr_time_s)
    if not gaps.split:
        return (), ""
    from .hrv import compute_hrv  # lazy: hrv imports this module
    from .hrv_frequency import GAP_SENSITIVE_NAMES, HRV_FREQUENCY_NAMES

    sub: dict = {}
    if gaps.longest is not None:
        a, b = gaps.longest
        sub = compute_hrv(
            rr[a:b],
            convention="kubios",
            frequency=frequency,
            nonlinear=nonlinear,
            geometric=False,
            enforce_min_window=enforce,
            rr_time_s=stretch_times(rr, rr_time_s, gaps.longest),
        )
    blanked = []
    for k in GAP_SENSITIVE_NAMES:
        if not (frequency if k in HRV_FREQUENCY_NAMES else nonlinear):
            continue
        was, out[k] = out[k], sub.get(k, math.nan)
        if math.isnan(out[k]) and not math.isnan(was):
            blanked.append(k)
    return ("rr_gap", *(f"gap:{k}" for k in blanked)), gaps.reason()
