"""What every reader returns: a :class:`Recording` (signals + RR + gaps), frozen.

Signals are shaped ``(n_channels, n_times)`` with their sampling frequency and one unit per
channel; missing samples are ``NaN`` and every stretch the file did not deliver (a packet gap,
padding, skipped acquisition, an EDF+D discontinuity) is also listed as a :class:`Gap`, so a
gap is marked, never hidden.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["Gap", "Annotation", "Recording", "fill_gaps", "gaps_from_missing", "timestamp_gaps"]


@dataclass(frozen=True)
class Gap:
    """A stretch of time with no valid signal.

    Attributes
    ----------
    onset_s : float
        Start, in seconds from the first sample of the recording.
    duration_s : float
        Length in seconds.
    reason : str
        Why (e.g. ``"BAD_ACQ_SKIP annotation"``, ``"EDF+D discontinuity"``,
        ``"timestamps jump 0.52 s"``).
    """

    onset_s: float
    duration_s: float
    reason: str


@dataclass(frozen=True)
class Annotation:
    """A time-stamped note from the file (an EDF+ annotation, a Mind Monitor marker).

    Attributes
    ----------
    onset_s : float
        Seconds from the first sample.
    duration_s : float
        Duration in seconds (0 for an instant).
    text : str
        The annotation text as the file has it.
    """

    onset_s: float
    duration_s: float
    text: str


@dataclass(frozen=True)
class Recording:
    """A recording read from a file.

    Attributes
    ----------
    data : ndarray, shape (n_channels, n_times) | None
        Signals (float64); ``NaN`` = missing sample. ``None`` when the file holds only RR.
    sfreq : float | None
        Sampling frequency of ``data`` in Hz.
    ch_names : tuple of str
        Names of the rows of ``data``.
    units : tuple of str
        Unit of each row of ``data`` (``"uV"`` for EEG, which every reader converts to).
    rr_s : ndarray, shape (n_beats,) | None
        RR intervals in seconds, in file order.
    source : str
        File name and format, for messages and reports (never the full path).
    times : ndarray, shape (n_times,) | None
        Sample times in seconds from the first sample when the file stamps every sample
        (muse-lsl and Mind Monitor CSV); ``None`` when samples are on the regular grid
        ``arange(n_times) / sfreq``.
    rr_times_s : ndarray, shape (n_beats,) | None
        Time of each beat (end of its interval) in seconds, when the file has it.
    gaps : tuple of Gap
        Every stretch without valid signal.
    annotations : tuple of Annotation
        The file's other annotations (phases, events, markers).
    notes : tuple of str
        One-line notes on how the file was read (e.g. an RR unit that was detected).
    """

    data: np.ndarray | None
    sfreq: float | None
    ch_names: tuple[str, ...]
    units: tuple[str, ...]
    rr_s: np.ndarray | None
    source: str
    times: np.ndarray | None = None
    rr_times_s: np.ndarray | None = None
    gaps: tuple[Gap, ...] = field(default_factory=tuple)
    annotations: tuple[Annotation, ...] = field(default_factory=tuple)
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def n_times(self) -> int:
        """Number of samples per channel (0 without signals)."""
        return 0 if self.data is None else int(self.data.shape[1])


def gaps_from_missing(missing: np.ndarray, sfreq: float, reason: str) -> tuple[Gap, ...]:
    """Turn a per-sample mask of missing samples into :class:`Gap` records.

    Parameters
    ----------
    missing : ndarray of bool, shape (n_times,)
        True where the sample is missing.
    sfreq : float
        Sampling frequency in Hz.
    reason : str
        Reason given to every gap.

    Returns
    -------
    gaps : tuple of Gap
        One gap per run of missing samples, in time order.
    """
    m = np.asarray(missing, dtype=bool)
    if not m.any():
        return ()
    edges = np.diff(np.concatenate(([0], m.view(np.int8), [0])))
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1)
    return tuple(
        Gap(float(s / sfreq), float((e - s) / sfreq), reason) for s, e in zip(starts, ends)
    )


def timestamp_gaps(times: np.ndarray, sfreq: float, gap_s: float, reason: str) -> tuple[Gap, ...]:
    """Gaps where consecutive sample times step forward by more than ``gap_s``.

    Parameters
    ----------
    times : ndarray, shape (n_times,)
        Sample times in seconds from the first sample.
    sfreq : float
        Sampling frequency in Hz (a gap starts one sample period after the last sample).
    gap_s : float
        Smallest step reported as a gap.
    reason : str
        Prefix of each gap's reason (the step length is appended).

    Returns
    -------
    gaps : tuple of Gap
    """
    dt = np.diff(times)
    k = np.flatnonzero(dt > gap_s)
    return tuple(
        Gap(
            float(times[i]) + 1.0 / sfreq,
            float(dt[i]) - 1.0 / sfreq,
            f"{reason}: no samples for {float(dt[i]):.3f} s",
        )
        for i in k
    )


def fill_gaps(rec: Recording) -> Recording:
    """Put a recording with stamped samples on its regular sample grid, NaN where nothing came.

    Readers of stamped formats (muse-lsl, Mind Monitor, XDF) keep the delivered samples
    contiguous in ``data`` and report time-stamp jumps as gaps; analyses that cut the signal
    into fixed windows need the missing time as missing samples, so that no window joins the
    two sides of a gap. Gaps that are already NaN in ``data`` (EDF readers) are left as they
    are.

    Parameters
    ----------
    rec : Recording
        A recording with ``data``, ``sfreq`` and ``times``.

    Returns
    -------
    recording : Recording
        The same recording when nothing is to fill; else a copy whose ``data`` has
        ``round(duration * sfreq)`` NaN samples inserted at each gap, ``times`` None (the
        regular grid) and the gaps moved to their positions on that grid.
    """
    if rec.data is None or rec.times is None or not rec.gaps or not rec.sfreq:
        return rec
    import dataclasses

    sf = float(rec.sfreq)
    # the first sample after each gap: times may step back a little (old muse-lsl stamping),
    # so search their running maximum, which is sorted; a gap ends at that sample's time
    envelope = np.maximum.accumulate(rec.times)
    at = np.searchsorted(envelope, [g.onset_s + g.duration_s - 0.5 / sf for g in rec.gaps])
    n_missing = np.array([max(0, int(round(g.duration_s * sf))) for g in rec.gaps])
    if not n_missing.any():
        return rec
    n = rec.data.shape[1]
    new_index = (
        np.arange(n)
        + np.concatenate(([0], np.cumsum(n_missing)))[
            np.searchsorted(at, np.arange(n), side="right")
        ]
    )
    out = np.full((rec.data.shape[0], n + int(n_missing.sum())), np.nan)
    out[:, new_index] = rec.data
    shift = np.concatenate(([0], np.cumsum(n_missing)[:-1]))
    gaps = tuple(
        Gap(float((a + s) / sf), float(m / sf), g.reason)
        for a, s, m, g in zip(at, shift, n_missing, rec.gaps)
    )
    return dataclasses.replace(rec, data=out, times=None, gaps=gaps)
