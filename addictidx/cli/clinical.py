"""Clinical inputs every command that prescribes exercise checks the same way, before anything is
recorded (issue 17.5).

* Age is required (18-90 years; HRmax = 208 - 0.7 x age, Tanaka) - never a silent default -
  unless a measured HRmax is given where the command accepts one.
* Screening: one default across commands, **not screened** (light intensity only) unless staff
  confirm the screening with ``--screened`` (EVIDENCE.md §7(iv)).
* A replay speed is > 0.
"""

from __future__ import annotations

__all__ = ["AGE_HELP", "SCREENED_HELP", "require_age", "check_replay_speed", "screening_answers"]

AGE_HELP = (
    "Age in years (18-90), required: HRmax = 208 - 0.7 x age (Tanaka) sets the exercise "
    "targets and the closed loop's safety stops; it is never assumed."
)
SCREENED_HELP = (
    "Staff confirm the pre-participation medical screening. Default (every command): not "
    "screened = light intensity only (30-39 % HRR)."
)


def require_age(
    age: float | None, *, hrmax: float | None = None, accepts_hrmax: bool = False
) -> float | None:
    """``age`` checked (18-90 years), or ``None`` when a measured ``hrmax`` replaces it
    (commands with an ``--hrmax`` option say ``accepts_hrmax=True``).

    Raises
    ------
    ValueError
        One line: age missing (and no measured HRmax), or out of range.
    """
    from addictidx.prescribe import check_age

    if age is None:
        if hrmax is not None:
            return None
        raise ValueError(
            "--age is required: HRmax = 208 - 0.7 x age sets the exercise targets and safety "
            "stops, and is never assumed"
            + (" (or give --hrmax, a measured maximal heart rate)." if accepts_hrmax else ".")
        )
    return check_age(age)


def check_replay_speed(speed: float) -> float:
    """A replay speed (x real time) must be a finite number > 0."""
    import math

    if not (isinstance(speed, (int, float)) and math.isfinite(speed) and speed > 0):
        raise ValueError(f"--speed must be > 0 (x real time), but got {speed!r} instead.")
    return float(speed)


def screening_answers(screened: bool) -> dict:
    """The screening answers a command passes on (``None`` = never screened: light only)."""
    return {"medically_screened": True if screened else None}
