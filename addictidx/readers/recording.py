"""What every reader returns: a :class:`Recording` (signals + RR + gaps), frozen.

Signals are shaped ``(n_channels, n_times)`` with their sampling frequency and one unit per
channel; missing samples are ``NaN`` and every stretch the file did not deliver (a packet gap,
padding, skipped acquisition, an EDF+D discontinuity) is also listed as a :class:`Gap`, so a
gap is marked, never hidden.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "Gap",
    "Annotation",
    "Recording",
    "Steps",
    "fill_gaps",
    "gaps_from_missing",
    "scan_steps",
    "timestamp_gaps",
]

#: Steps per block in :func:`scan_steps`: 128 KB work arrays, reused, below glibc's mmap
#: threshold, instead of fresh full-length ``np.diff`` arrays (1 h at 256 Hz: 7 MB each).
_STEP_BLOCK = 1 << 14


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


@dataclass(frozen=True)
class Steps:
    """What :func:`scan_steps` found among the steps ``np.diff(times)`` of a time column.

    Attributes
    ----------
    first_back : int
        Index ``i`` of the first step ``times[i + 1] - times[i] < -back_s``; -1 when none.
    jump_index : ndarray of int
        Indices ``i`` of the steps longer than ``jump_s``, ascending.
    jump_s : ndarray
        Those steps (s), equal to ``np.diff(times)[jump_index]`` bit for bit.
    """

    first_back: int
    jump_index: np.ndarray
    jump_s: np.ndarray


def scan_steps(times: np.ndarray, jump_s: float, back_s: float = np.inf) -> Steps:
    """The backward steps and the jumps of a time column, without a full-length diff array.

    Equal to ``dt = np.diff(times)``, ``np.flatnonzero(dt < -back_s)[0]``,
    ``np.flatnonzero(dt > jump_s)`` and ``dt[dt > jump_s]`` (the same subtractions), computed
    in blocks of :data:`_STEP_BLOCK` steps: work memory stays a few hundred KB however long the
    recording (a 1-h muse-lsl file otherwise allocates and page-faults two 7-MB arrays).

    Parameters
    ----------
    times : ndarray, shape (n,)
        Time stamps (s).
    jump_s : float
        A step longer than this is a jump.
    back_s : float
        A step below ``-back_s`` is a backward step (only the first is reported).

    Returns
    -------
    steps : Steps
    """
    t = np.asarray(times, dtype=np.float64)
    n = t.size - 1
    first_back = -1
    idx: list[np.ndarray] = []
    val: list[np.ndarray] = []
    buf = np.empty(min(max(n, 0), _STEP_BLOCK))
    for a in range(0, max(n, 0), _STEP_BLOCK):
        b = min(a + _STEP_BLOCK, n)
        dt = np.subtract(t[a + 1 : b + 1], t[a:b], out=buf[: b - a])
        if first_back < 0 and back_s != np.inf:
            back = np.flatnonzero(dt < -back_s)
            if back.size:
                first_back = a + int(back[0])
        k = np.flatnonzero(dt > jump_s)
        if k.size:
            idx.append(k + a)
            val.append(dt[k])
    return Steps(
        first_back,
        np.concatenate(idx) if idx else np.zeros(0, dtype=np.intp),
        np.concatenate(val) if val else np.zeros(0),
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
    steps = scan_steps(times, gap_s)
    return tuple(
        Gap(
            float(times[i]) + 1.0 / sfreq,
            float(d) - 1.0 / sfreq,
            f"{reason}: no samples for {float(d):.3f} s",
        )
        for i, d in zip(steps.jump_index, steps.jump_s)
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
