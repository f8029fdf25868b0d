"""Run an assessment on live LSL streams instead of Bluetooth devices.

The session is the one production session (:class:`~addictidx.sessions.run.SessionRun`: raw
files, store, trend windows, scoring, prescription); only the source of the samples changes:
:class:`~addictidx.interop.lsl_in.LslSource` chunks are fed with
:meth:`LiveAssessment.feed_chunk`, and the gaps found from LSL time stamps are recorded as
``gap`` events like BLE gaps.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from addictidx._core.errors import AddictIdxError
from addictidx.acquire import load_profile
from addictidx.interop.lsl_in import LslSource

__all__ = ["LslDevice", "run_lsl_assessment"]


@dataclass(frozen=True)
class LslDevice:
    """A device whose samples arrive over LSL: a name for the session and its profile."""

    name: str
    profile: Any


def run_lsl_assessment(
    subject: str,
    *,
    store_dir: str | Path,
    eeg_stream: str | None,
    rr_stream: str | None,
    headband: str = "muse-2",
    strap: str = "generic-hrs",
    options: Any = None,
    poll_s: float = 0.05,
    timeout_s: float = 10.0,
    no_data_s: float = 60.0,
):
    """Score named LSL streams as one stored assessment (blocking).

    Parameters
    ----------
    subject : str
        Pseudonymous subject code.
    store_dir : path-like
        Store directory.
    eeg_stream, rr_stream : str | None
        LSL stream names (muse-lsl publishes ``Muse`` / type EEG; another addictidx
        ``addictidx <headband> eeg`` and ``addictidx <strap> rr``).
    headband, strap : str
        Profiles describing the sources (channel names, quality thresholds, reports).
    options : AssessmentOptions
        Protocol, age (required: :class:`~addictidx.sessions.assessment.AssessmentOptions`
        has no default age), screening, observers... (``devices``/``speed`` are ignored).
    poll_s : float
        How often the inlets are read.
    timeout_s : float
        How long to wait for each stream to appear.
    no_data_s : float
        End the session (as stopped, with a reason) when no sample at all arrived for this
        long; shorter silences pause the protocol as a strap dropping off does.

    Returns
    -------
    AssessmentResult
    """
    from addictidx.sessions.assessment import AssessmentOptions, AssessmentResult
    from addictidx.sessions.run import SessionRun

    opts = replace(AssessmentOptions.build(options), devices="lsl", speed=1.0)
    hb = LslDevice("lsl-headband", load_profile(headband))
    st = LslDevice("lsl-strap", load_profile(strap))
    src = LslSource(
        eeg_stream=eeg_stream,
        rr_stream=rr_stream,
        eeg_channels=tuple(hb.profile.stream("eeg").channels),
        headband=hb.name,
        strap=st.name,
        timeout=timeout_s,
    )
    run = SessionRun(subject, store_dir, opts, hb, st, simulated=False)
    live = run.live
    try:
        n_gaps = 0
        last_data = time.monotonic()
        while not live.finished:
            chunks = src.poll()
            now = src.now()
            for c in chunks:
                live.feed_chunk(c, now)
            if chunks:
                last_data = time.monotonic()
            for g in src.gaps[n_gaps:]:
                if live.t0 is not None:
                    live.emit(
                        "gap",
                        max(0.0, g.start_s - live.t0),
                        {
                            "device": g.device,
                            "stream": g.stream,
                            "reason": g.reason,
                            "duration_s": round(g.duration_s, 3),
                            "n_missing": g.n_missing,
                        },
                    )
            n_gaps = len(src.gaps)
            if live.t0 is not None:
                live.on_tick(now)
            if time.monotonic() - last_data > no_data_s:
                if live.t0 is None:
                    raise AddictIdxError(
                        f"The LSL stream(s) sent no sample for {no_data_s:g} s; nothing recorded."
                    )
                live.request_stop(f"no LSL data for {no_data_s:g} s")
                last_data = time.monotonic()
            time.sleep(poll_s)
        return AssessmentResult(**run.finish())
    finally:
        src.close()
        run.close()
