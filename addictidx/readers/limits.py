"""Header sanity limits every reader checks before it allocates anything.

A file's header declares a sampling rate, a record duration and sample counts; a malformed or
hostile header (a BDF whose record lasts 1e-6 s declares 2.56e8 Hz; an XDF declaring 1e6 Hz)
must fail fast with one line instead of driving a multi-GB allocation or a long computation.

The plausible sampling rates come from the device profiles: the devices this tool records
stream their signals at 52-256 Hz (``firmware_profiles/*.toml``); files from research
amplifiers (BioSemi, EDF exports of clinical systems) commonly run up to 2,048 Hz and
occasionally 16,384 Hz. :data:`DEFAULT_LIMITS` accepts 1 Hz to 16,384 Hz; the CLI uses
:func:`limits_from_profiles`: 1/8 of the slowest to 8x the fastest profile rate (6.5-2,048 Hz
with the shipped profiles).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace

from addictidx._core.errors import DataFormatError

__all__ = [
    "ReaderLimits",
    "DEFAULT_LIMITS",
    "limits_for_rates",
    "limits_from_profiles",
    "profile_stream_rates",
    "check_rate",
    "check_samples",
]


@dataclass(frozen=True)
class ReaderLimits:
    """Bounds a file header must respect before a reader allocates.

    Attributes
    ----------
    min_sfreq_hz, max_sfreq_hz : float
        Plausible sampling rates of a signal.
    min_record_s, max_record_s : float
        Plausible EDF/BDF data-record duration (the standard recommends <= 1 s; 0 is allowed
        only for files without signals).
    max_duration_s : float
        Longest recording accepted (time span including EDF+D discontinuities and gaps).
    max_output_bytes : int
        Largest float64 output (all channels) a reader will allocate.
    """

    min_sfreq_hz: float = 1.0
    max_sfreq_hz: float = 16384.0
    min_record_s: float = 1e-3
    max_record_s: float = 3600.0
    max_duration_s: float = 7 * 24 * 3600.0
    max_output_bytes: int = 2 << 30

    def with_rates(self, lo: float, hi: float) -> ReaderLimits:
        """A copy with another plausible sampling-rate range."""
        return replace(self, min_sfreq_hz=float(lo), max_sfreq_hz=float(hi))


DEFAULT_LIMITS = ReaderLimits()


def limits_for_rates(rates_hz, *, factor: float = 8.0) -> ReaderLimits:
    """Limits whose sampling-rate range spans the given device rates.

    Parameters
    ----------
    rates_hz : iterable of float
        Nominal rates of the devices' signal streams (from the device profiles).
    factor : float
        The range is ``[min / factor, max * factor]`` (a research amplifier at 2,048 Hz stays
        within 8x the Muse's 256 Hz).
    """
    r = [float(x) for x in rates_hz if float(x) > 0]
    if not r:
        return DEFAULT_LIMITS
    return DEFAULT_LIMITS.with_rates(min(r) / factor, max(r) * factor)


@functools.lru_cache(maxsize=1)
def profile_stream_rates() -> tuple[float, ...]:
    """Nominal rates (Hz) of every regularly sampled stream in the shipped device profiles.

    From :mod:`addictidx.devices` (``firmware_profiles/*.toml``); irregular streams (RR, HR)
    have no rate and are skipped.
    """
    from addictidx.devices import list_profiles, load_profile

    rates = {
        float(s.sfreq)
        for name in list_profiles()
        for s in load_profile(name).streams
        if isinstance(s.sfreq, (int, float)) and not isinstance(s.sfreq, bool) and s.sfreq > 0
    }
    return tuple(sorted(rates))


def limits_from_profiles(*, factor: float = 8.0) -> ReaderLimits:
    """:func:`limits_for_rates` of :func:`profile_stream_rates` (the CLI's reader limits)."""
    return limits_for_rates(profile_stream_rates(), factor=factor)


def check_rate(
    name: str, sfreq: float, limits: ReaderLimits, what: str = "sampling rate"
) -> float:
    """Raise a one-line :class:`DataFormatError` unless ``sfreq`` is a plausible rate.

    Parameters
    ----------
    name : str
        File name for the message.
    sfreq : float
        The rate the header declares, in Hz.
    limits : ReaderLimits
        Bounds to apply.
    what : str
        What the rate is, for the message (e.g. ``"sampling rate of channel 'TP9'"``).
    """
    ok = isinstance(sfreq, (int, float)) and limits.min_sfreq_hz <= sfreq <= limits.max_sfreq_hz
    if not ok:
        raise DataFormatError(
            f"{name}: {what} {sfreq:.6g} Hz is outside the plausible range "
            f"{limits.min_sfreq_hz:g}-{limits.max_sfreq_hz:g} Hz (malformed header?)."
        )
    return float(sfreq)


def check_samples(name: str, n_channels: int, n_times: int, limits: ReaderLimits) -> None:
    """Raise a one-line :class:`DataFormatError` if the output would exceed the memory bound."""
    need = 8 * int(n_channels) * int(n_times)
    if need > limits.max_output_bytes:
        raise DataFormatError(
            f"{name}: {n_channels} channels x {n_times} samples would need "
            f"{need / 2**20:,.1f} MB (limit {limits.max_output_bytes / 2**20:,.1f} MB)."
        )
