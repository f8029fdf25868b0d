"""Safety stop rules enforced during and after a session (EVIDENCE.md §7(iv)).

The rules are fixed in code (not in the editable rule table) and all work on heart rate derived
from RR intervals; the strap's own HR field is never used. Every rule has an id that appears at
the start of the reason of each event it raises, and a test at its boundaries
(``tests/test_prescribe_loop.py``):

======  ===================================================================================
S1      HR > zone ceiling + 10 bpm for > 60 s: prompt to slow down; still so 2 min after the
        prompt (> 180 s in all): stop.
S2      HR >= 85 % of heart-rate reserve or >= 95 % of HRmax: stop.
S3      Chronotropic proxy (stop and refer): HR falls >= 10 bpm below its value at a workload
        increase within 3 min of it; or HR not above rest + 10 % after 3 min of work.
S4      New irregular-rhythm flag (>= 20 % of the last 60 beats deviate > 20 % from the median
        of the 8 beats before them): stop and refer. A flag, never a diagnosis.
S5      No valid beat from the strap for > 15 s: pause; resume once 3 valid beats are back.
S6      The person presses stop or reports a symptom: stop now.
S7      A temperature / heat warning, when one is available: stop.
R1      After a moderate or vigorous bout: 1-min HR recovery < 13 bpm is flagged to a clinician.
======  ===================================================================================

Stops are logged with their reason for audit and for safety only: they must never feed any
behavioural, compliance or disciplinary score (EVIDENCE.md §7(iv) "Audit", §7(v)).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

from addictidx._core.validate import check_positive

# Accepted RR range in seconds: the one heart-rate definition (addictidx.features.heart_rate),
# also the range of addictidx.features.rr_quality.
from addictidx.features.heart_rate import RR_MAX_S, RR_MIN_S
from addictidx.prescribe.screening import hrmax_tanaka

__all__ = [
    "SAFETY_RULES",
    "SafetyLimits",
    "RR_MIN_S",
    "RR_MAX_S",
    "irregular_beats",
    "safety_limits",
]


# Fixed thresholds (EVIDENCE.md §7(iv)).
CEILING_MARGIN_BPM = 10.0
CEILING_PROMPT_AFTER_S = 60.0
CEILING_STOP_AFTER_S = 180.0  # 60 s to the prompt + 2 more minutes
STOP_PCT_HRR = 85.0
STOP_PCT_HRMAX = 95.0
CHRONO_DROP_BPM = 10.0
CHRONO_WINDOW_S = 180.0
CHRONO_RISE_FRACTION = 0.10
CHRONO_WORK_S = 180.0
IRREGULAR_WINDOW_BEATS = 60
IRREGULAR_REF_BEATS = 8
IRREGULAR_REL_DEV = 0.20
IRREGULAR_MIN_SHARE = 0.20
SILENCE_PAUSE_S = 15.0
RESUME_BEATS = 3
RECOVERY_AFTER_S = 60.0
RECOVERY_MIN_DROP_BPM = 13.0
MODERATE_FROM_PCT_HRR = 40.0

#: Rule id -> the rule in words (the closing note of issue #6 lists these with their tests).
SAFETY_RULES: Mapping[str, str] = MappingProxyType(
    {
        "S1": "HR > zone ceiling + 10 bpm for > 60 s: prompt to slow down; > 180 s: stop",
        "S2": "HR >= 85% HRR or >= 95% HRmax: stop",
        "S3": "HR falling >= 10 bpm within 3 min of a workload increase, or HR not above rest + "
        "10% "
        "after 3 min of work: stop and refer (chronotropic proxy, not a diagnosis)",
        "S4": "new irregular-rhythm flag (>= 20% of the last 60 beats irregular): stop and refer "
        "(not a diagnosis)",
        "S5": "no valid beat for > 15 s: pause; resume after 3 valid beats",
        "S6": "stop button or reported symptom: stop immediately",
        "S7": "temperature or heat warning: stop",
        "R1": "1-min HR recovery < 13 bpm after a moderate or vigorous bout: flag to a clinician "
        "(Sydo 2018; not a diagnosis)",
    }
)


@dataclass(frozen=True, slots=True)
class SafetyLimits:
    """Heart-rate limits of one session, in bpm (unrounded).

    Parameters
    ----------
    resting_hr, hrmax : float
        Seated resting HR (from RR) and HRmax (measured, or 208 - 0.7 age).
    stop_hrr_bpm : float
        ``rest + 0.85 (HRmax - rest)`` (S2).
    stop_hrmax_bpm : float
        ``0.95 HRmax`` (S2).
    zone_bpm : tuple of float | None
        Target zone ``(lo, hi)``; ``None`` in a rest/music session (no S1, S3, zone guidance).
    zone_pct_hrr : tuple of float | None
        The zone in % HRR, when known (R1 applies from 40 % HRR, ACSM moderate).
    """

    resting_hr: float
    hrmax: float
    stop_hrr_bpm: float
    stop_hrmax_bpm: float
    zone_bpm: tuple[float, float] | None
    zone_pct_hrr: tuple[float, float] | None

    @property
    def stop_bpm(self) -> float:
        """The lower of the two S2 thresholds."""
        return min(self.stop_hrr_bpm, self.stop_hrmax_bpm)

    @property
    def ceiling_alarm_bpm(self) -> float | None:
        """Zone ceiling + 10 bpm (S1), or ``None`` without a zone."""
        return None if self.zone_bpm is None else self.zone_bpm[1] + CEILING_MARGIN_BPM

    @property
    def chrono_min_bpm(self) -> float:
        """Rest + 10 % (S3): HR must rise above this within 3 min of work."""
        return self.resting_hr * (1.0 + CHRONO_RISE_FRACTION)

    @property
    def bout_is_moderate_or_vigorous(self) -> bool:
        """True when the zone starts at >= 40 % HRR (R1 applies)."""
        return self.zone_pct_hrr is not None and self.zone_pct_hrr[0] >= MODERATE_FROM_PCT_HRR


def safety_limits(
    *,
    age: float,
    resting_hr: float,
    hrmax: float | None = None,
    zone_pct_hrr: tuple[float, float] | None = None,
    zone_bpm: tuple[float, float] | None = None,
) -> SafetyLimits:
    """Compute the session's HR limits.

    Parameters
    ----------
    age : float
        Years (HRmax = 208 - 0.7 age, Tanaka, unless ``hrmax`` is given).
    resting_hr : float
        Resting HR in bpm, from RR.
    hrmax : float | None
        Measured HRmax in bpm.
    zone_pct_hrr : (lo, hi) | None
        Target zone in % HRR; turned into bpm by Karvonen (whole bpm, as the prescription).
    zone_bpm : (lo, hi) | None
        Target zone in bpm (e.g. ``Prescription.hr_target_bpm``); used as given.

    Returns
    -------
    SafetyLimits
    """
    from addictidx.prescribe.screening import hr_target_bpm

    rest = check_positive("resting_hr", resting_hr)
    hmax = hrmax_tanaka(age) if hrmax is None else check_positive("hrmax", hrmax)
    if hmax <= rest:
        raise ValueError(f"'hrmax' ({hmax:g}) must be above 'resting_hr' ({rest:g}).")
    pct = None
    if zone_pct_hrr is not None:
        lo, hi = (float(v) for v in zone_pct_hrr)
        if not 0 <= lo <= hi <= 100:
            raise ValueError(
                f"'zone_pct_hrr' must be (lo, hi) with 0 <= lo <= hi <= 100, got {zone_pct_hrr!r}."
            )
        pct = (lo, hi)
        if zone_bpm is None:
            zone_bpm = hr_target_bpm((lo, hi), resting_hr=rest, hrmax=hmax)
    if zone_bpm is not None:
        zlo, zhi = (float(v) for v in zone_bpm)
        if not 0 < zlo <= zhi:
            raise ValueError(f"'zone_bpm' must be (lo, hi) with 0 < lo <= hi, got {zone_bpm!r}.")
        zone_bpm = (zlo, zhi)
        if pct is None:
            pct = tuple(100.0 * (z - rest) / (hmax - rest) for z in zone_bpm)
    return SafetyLimits(
        resting_hr=rest,
        hrmax=hmax,
        stop_hrr_bpm=rest + STOP_PCT_HRR / 100.0 * (hmax - rest),
        stop_hrmax_bpm=STOP_PCT_HRMAX / 100.0 * hmax,
        zone_bpm=zone_bpm,
        zone_pct_hrr=pct,
    )


def irregular_beats(
    rr_s, *, ref_beats: int = IRREGULAR_REF_BEATS, rel_dev: float = IRREGULAR_REL_DEV
):
    """Causal irregular-beat mask: RR deviates > ``rel_dev`` from the median of the previous beats.

    Beat ``i`` is irregular when ``|rr[i] - m| > rel_dev * m`` with ``m`` the median of the
    ``ref_beats`` valid intervals before it (fewer at the start; the first beat is never
    irregular). A premature beat and its compensatory pause are both flagged, so the share of
    irregular intervals is about twice the ectopic burden; atrial-fibrillation-like rhythms flag
    most intervals. This is the rule-2 criterion of
    :func:`addictidx.features.rr_quality.rr_quality` made causal (only past beats are known live).

    Parameters
    ----------
    rr_s : array, shape (n,)
        Valid RR intervals in seconds.

    Returns
    -------
    ndarray of bool, shape (n,)
    """
    rr = np.asarray(rr_s, dtype=np.float64)
    n = rr.size
    out = np.zeros(n, dtype=bool)
    if n < 2:
        return out
    k = int(ref_beats)
    padded = np.concatenate([np.full(k, np.nan), rr])
    win = np.lib.stride_tricks.sliding_window_view(padded[:-1], k)  # win[i] = the k beats before i
    valid = ~np.isnan(win).all(axis=1)
    med = np.full(n, np.nan)
    med[valid] = np.nanmedian(win[valid], axis=1)
    with np.errstate(invalid="ignore"):
        out[valid] = np.abs(rr[valid] - med[valid]) > rel_dev * med[valid]
    return out
