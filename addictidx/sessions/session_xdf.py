"""Re-score an XDF recording of an addictidx session exactly as the live session scored it.

A session published with ``--lsl`` and recorded by LabRecorder (or any LSL recorder) holds the
EEG, the RR intervals and a ``Markers`` stream with the protocol's events (``phase_start``,
``phase_end``, ``signal_lost``, ``signal_resumed``). :func:`session_data_from_xdf` rebuilds the
phases and their pauses from those markers and selects the same samples the live session scored
(:func:`~addictidx.sessions.scoring.select_scored`: eyes-closed EEG, RR of every scored phase),
with the quality thresholds of the headband's profile named in the stream metadata.

Time stamps are read as recorded (no clock synchronisation, no dejittering): every stream of
one session shares one LSL time base, so phase boundaries fall on the same samples as live.
Files without addictidx markers are not sessions: the function returns ``None`` and the general
XDF reader (:func:`~addictidx.readers.read_xdf`) scores the whole file.
"""

from __future__ import annotations

import json
import os

import numpy as np

from addictidx._core.errors import DataFormatError

__all__ = ["session_data_from_xdf"]

_PROTOCOL_EVENTS = ("phase_start", "phase_end", "signal_lost", "signal_resumed")


def _desc(info: dict, key: str) -> str | None:
    try:
        return str(info["desc"][0][key][0])
    except (KeyError, IndexError, TypeError):
        return None


def _markers(stream) -> list[tuple[float, dict]]:
    out = []
    for ts, row in zip(stream["time_stamps"], stream["time_series"], strict=False):
        try:
            ev = json.loads(row[0])
        except (ValueError, TypeError, IndexError):
            continue
        if isinstance(ev, dict) and ev.get("event") in _PROTOCOL_EVENTS:
            out.append((float(ts), ev))
    return out


def _spans(markers, protocols):
    """Phase spans (with pauses) from the protocol events, on the recording's clock."""
    from addictidx.sessions.protocol import PhaseSpan

    by_name = {p.name: p for proto in protocols for p in proto.phases}
    spans, paused_at = [], None
    for t, ev in sorted(markers, key=lambda m: m[0]):
        name = ev.get("phase")
        kind = ev["event"]
        if kind == "phase_start" and name in by_name:
            p = by_name[name]
            spans.append(PhaseSpan(name, p.kind, p.scored, t))
        elif kind == "phase_end" and spans and spans[-1].name == name:
            spans[-1].t_end_s = t
        elif kind == "signal_lost":
            paused_at = t
        elif kind == "signal_resumed" and paused_at is not None and spans:
            spans[-1].pauses.append((paused_at, t))
            paused_at = None
    return spans


def session_data_from_xdf(path: str | os.PathLike):
    """The scored data of an addictidx session recorded as XDF, or ``None`` if it is not one.

    Parameters
    ----------
    path : path-like
        The XDF file (headers are checked by :func:`~addictidx.readers.read_xdf_stream_headers`
        before anything is decoded).

    Returns
    -------
    SessionData | None
        ``None`` for a file that is not XDF or holds no addictidx session markers.
    """
    name = os.fspath(path)
    try:
        with open(name, "rb") as f:
            if f.read(4) != b"XDF:":
                return None  # before any import: other formats pay nothing for this check
    except OSError:
        return None
    from addictidx.devices import load_profile
    from addictidx.readers import limits_from_profiles
    from addictidx.readers.xdf import read_xdf_stream_headers
    from addictidx.sessions.protocol import GUIDED_PROTOCOL, STANDARD_PROTOCOL
    from addictidx.sessions.scoring import SessionData

    headers = read_xdf_stream_headers(path, limits=limits_from_profiles())
    if not any(h.type == "Markers" and h.name.endswith(" markers") for h in headers):
        return None
    import pyxdf

    streams, _ = pyxdf.load_xdf(name, synchronize_clocks=False, dejitter_timestamps=False)
    eeg = rr = marks = None
    for s in streams:
        info = s["info"]
        typ = (info.get("type") or [""])[0]
        if typ == "Markers" and _desc(info, "software") == "addictidx":
            marks = _markers(s)
        elif typ == "EEG" and _desc(info, "software") == "addictidx" and eeg is None:
            eeg = s
        elif typ == "RR" and _desc(info, "software") == "addictidx" and rr is None:
            rr = s
    if not marks:
        return None
    if eeg is None and rr is None:
        raise DataFormatError(f"{name}: addictidx markers but no EEG or RR stream.")
    spans = _spans(marks, (STANDARD_PROTOCOL, GUIDED_PROTOCOL))
    if not spans:
        return None
    empty = np.zeros(0)
    if eeg is not None:
        info = eeg["info"]
        chans = info["desc"][0]["channels"][0]["channel"]
        ch_names = tuple(c["label"][0] for c in chans)
        x = np.asarray(eeg["time_series"], dtype=np.float64).T
        et = np.asarray(eeg["time_stamps"], dtype=np.float64)
        sfreq = float(info["nominal_srate"][0])
        profile = _desc(info, "profile")
        thresholds = None
        if profile:
            thresholds = dict(load_profile(profile).stream("eeg").quality or {}) or None
    else:
        ch_names, x, et, sfreq, thresholds = (), np.zeros((0, 0)), empty, 256.0, None
    if rr is not None:
        rv = np.asarray(rr["time_series"], dtype=np.float64).ravel() / 1000.0  # published in ms
        rt = np.asarray(rr["time_stamps"], dtype=np.float64)
    else:
        rv, rt = empty, empty
    return SessionData.from_recording(
        spans, et, x, rt, rv, sfreq=sfreq, ch_names=ch_names, eeg_thresholds=thresholds
    )
