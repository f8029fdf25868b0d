"""Sample clocks shared by the EEG assemblers (classic Muse and Muse S Athena).

:class:`ArrivalFit` fits ``arrival time = a + b * sample index`` by exponentially weighted least
squares (the ``clock="lstsq"`` timing of
:class:`~addictidx.acquire.assemble.MuseEegAssembler` and
:class:`~addictidx.acquire.athena_assemble.AthenaEegAssembler`); :func:`init_eeg_timing`
validates and sets the timing settings both assemblers take.
"""

from __future__ import annotations

from addictidx._core.types import StreamSpec
from addictidx._core.validate import check_option, check_positive

__all__ = ["ArrivalFit", "init_eeg_timing"]


class ArrivalFit:
    """Exponentially weighted least-squares line ``arrival = a + b * sample_index``.

    ``b`` is kept within ``max_rel_drift`` of the nominal ``1 / sfreq``, otherwise (and while the
    data span less than ``min_span`` samples) the nominal slope is used with the weighted mean
    intercept. Coordinates are relative to the first point to keep the sums well conditioned.

    Parameters
    ----------
    sfreq : float
        Nominal sampling rate (Hz); the nominal slope is ``1 / sfreq``.
    memory_points : float
        Time constant of the exponential forgetting, in points (weight ``1 - 1/memory_points``
        per new point).
    min_span : int
        The fitted slope is used only once the points span this many samples.
    max_rel_drift : float
        Largest relative departure of the fitted slope from the nominal one (e.g. 0.01).
    """

    def __init__(self, sfreq: float, memory_points: float, min_span: int, max_rel_drift: float):
        self.slope0 = 1.0 / sfreq
        self.lam = 1.0 - 1.0 / memory_points
        self.min_span = min_span
        self.max_rel_drift = max_rel_drift
        self.x0: float | None = None
        self.y0 = 0.0
        self.sw = self.sx = self.sy = self.sxx = self.sxy = 0.0
        self.x_min = self.x_max = 0.0

    def add(self, x: float, y: float) -> None:
        """Add the point (sample index ``x``, arrival time ``y``)."""
        if self.x0 is None:
            self.x0, self.y0 = x, y
        x -= self.x0
        y -= self.y0
        lam = self.lam
        self.sw = lam * self.sw + 1.0
        self.sx = lam * self.sx + x
        self.sy = lam * self.sy + y
        self.sxx = lam * self.sxx + x * x
        self.sxy = lam * self.sxy + x * y
        self.x_min = min(self.x_min, x)
        self.x_max = max(self.x_max, x)

    def coefficients(self) -> tuple[float, float]:
        """Return ``(a, b)`` in absolute coordinates."""
        assert self.x0 is not None
        b = self.slope0
        if self.x_max - self.x_min >= self.min_span:
            den = self.sw * self.sxx - self.sx * self.sx
            if den > 0:
                b_fit = (self.sw * self.sxy - self.sx * self.sy) / den
                if abs(b_fit / self.slope0 - 1.0) <= self.max_rel_drift:
                    b = b_fit
        a_rel = (self.sy - b * self.sx) / self.sw
        return self.y0 + a_rel - b * self.x0, b


def init_eeg_timing(
    asm, spec: StreamSpec, clock: str, max_lag_blocks: int, fit_memory_s: float
) -> None:
    """Validate and set the timing settings every EEG assembler shares (classic, Athena).

    Sets ``asm.spec``, ``asm.sfreq``, ``asm.clock`` (``"anchor"`` or ``"lstsq"``),
    ``asm.max_lag_blocks`` (>= 1) and ``asm.fit_memory_s`` (> 0); raises ValueError otherwise.
    """
    if spec.sfreq is None:
        raise ValueError(f"EEG stream {spec.key!r} needs a sampling frequency.")
    asm.spec = spec
    asm.sfreq = float(spec.sfreq)
    asm.clock = check_option("clock", clock, ("anchor", "lstsq"))
    if int(max_lag_blocks) < 1:
        raise ValueError(f"max_lag_blocks must be >= 1, got {max_lag_blocks!r}.")
    asm.max_lag_blocks = int(max_lag_blocks)
    asm.fit_memory_s = check_positive("fit_memory_s", fit_memory_s)
