"""The end-to-end assessment: notifications -> decoders -> buffers -> features -> ONNX index ->
prescription -> SQLite store.

Every step is the real one: the simulated devices emit byte-exact BLE notifications built from
real recordings, which go through the same decoders and assemblers a real headband and strap
feed. Only the transport differs (``ReplayTransport`` instead of bleak).

Data flow inside :class:`LiveAssessment`:

* ``on_notification`` (the BLE callback) decodes and assembles, writes chunks to the ring buffers
  and appends them to the session's raw files (:mod:`addictidx.sessions.raw`), then advances the
  protocol clock (:class:`~addictidx.sessions.protocol.PhaseClock`: device check gate, pause on
  signal loss). It never runs numpy-heavy work except the 4-s device check once a second while
  the check phase runs.
* ``tick`` runs every ``TREND_HOP_S`` of session time: windowed features for the trend table,
  committed to the store at once.
* at the end, :func:`score_and_store` scores the scored phases once: index features -> index
  (ONNX) -> prescription. :func:`recover_session` does the same from the raw files after a crash.
"""

from __future__ import annotations

import asyncio
import collections
import math
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from addictidx import __version__
from addictidx._core.errors import StoreError
from addictidx._core.types import Chunk, IndexResult, Prescription, QualityReport
from addictidx.acquire import (
    EventBuffer,
    HrsAssembler,
    MuseEegAssembler,
    ReplayTransport,
    RingBuffer,
    SimulatedHeadband,
    SimulatedStrap,
    iter_notifications,
)
from addictidx.sessions.protocol import STANDARD_PROTOCOL, PhaseClock, PhaseSpan, Protocol
from addictidx.sessions.raw import RawWriter, raw_dir_name, read_raw
from addictidx.sessions.store import SessionStore, check_subject_code

__all__ = [
    "AssessmentResult",
    "LiveAssessment",
    "run_assessment",
    "recover_session",
    "score_and_store",
    "select_scored",
    "simulated_devices",
]

ProgressCallback = Callable[[str, float, float], None]

# Trend windows stored during the session (not used for the index itself).
TREND_HOP_S = 10.0
TREND_EEG_S = 30.0
TREND_RR_S = 60.0
#: A stream silent for longer than this pauses the session (s).
LOSS_S = 3.0
#: Longest total pause the simulated devices are prepared for (they loop the recording).
MAX_PAUSE_S = 120.0
#: Device check: a 4-s window every second; each channel must pass >= half of its epochs.
CHECK_WINDOW_S = 4.0
CHECK_EVERY_S = 1.0
CHECK_MIN_PASS = 0.5


@dataclass(frozen=True)
class AssessmentResult:
    """What one assessment produced (also stored in the session store).

    Attributes
    ----------
    subject : str
        Pseudonymous subject code.
    session_id : int
        Session id in the store.
    store_path : Path
        SQLite file of the store.
    protocol : str
        Protocol name.
    session_time_s, wall_time_s : float
        Session-clock duration and wall-clock time it took.
    simulated : bool
        True when the devices were simulated.
    devices : Mapping[str, str]
        Role -> device profile name.
    features : Mapping[str, float | None]
        The core features scored (None = unavailable).
    quality : QualityReport
        Quality of the scored data.
    accounting : Mapping[str, int]
        Samples and beats received and missing.
    n_feature_windows : int
        Trend windows stored.
    index : IndexResult
        The addiction index.
    prescription : Prescription | None
        The suggestion, when one could be made.
    phases : tuple of (name, t_start_s, t_end_s)
        Where each phase ran on the session clock.
    events : tuple of (kind, t_s)
        Pauses, marks and other events of the session.
    """

    subject: str
    session_id: int
    store_path: Path
    protocol: str
    session_time_s: float
    wall_time_s: float
    simulated: bool
    devices: Mapping[str, str]
    features: Mapping[str, float | None]
    quality: QualityReport
    accounting: Mapping[str, int]
    n_feature_windows: int
    index: IndexResult
    prescription: Prescription | None
    phases: tuple = ()
    events: tuple = ()


@dataclass
class _Accounting:
    eeg_samples: int = 0
    eeg_missing: int = 0
    rr_beats: int = 0
    notifications: int = 0
    hr_no_contact: int = 0
    extra: dict = field(default_factory=dict)


#: ``sink(kind, t_s, detail)`` receives events; ``kind`` "window" carries a trend window.
EventSink = Callable[[str, float, dict], None]


class LiveAssessment:
    """Wire a headband and a strap into buffers, raw files and the protocol clock.

    Parameters
    ----------
    headband : SimulatedHeadband
        Source of EEG notifications (classic Muse protocol); anything with ``name``,
        ``stream_spec``, ``channel_by_uuid`` and ``profile`` works.
    strap : SimulatedStrap
        Source of Heart Rate Measurement notifications (``name``, ``rr_spec``, ``hr_spec``).
    protocol : Protocol
        Phases and their durations.
    raw : RawWriter | None
        Where decoded chunks are appended as they arrive.
    sink : callable | None
        ``sink(kind, t_s, detail)`` for every event (phase start/end, signal lost/resumed, staff
        marks) and every trend window (``kind="window"``), as it happens.
    loss_s : float
        A stream silent for longer pauses the session.
    """

    def __init__(
        self,
        headband: SimulatedHeadband,
        strap: SimulatedStrap,
        protocol: Protocol,
        *,
        raw: RawWriter | None = None,
        sink: EventSink | None = None,
        loss_s: float = LOSS_S,
    ):
        self.headband = headband
        self.strap = strap
        self.protocol = protocol
        self.eeg_spec = headband.stream_spec
        self.eeg_asm = MuseEegAssembler(self.eeg_spec, headband.channel_by_uuid)
        self.hrs_asm = HrsAssembler(strap.rr_spec, strap.hr_spec)
        cap = protocol.duration_s + MAX_PAUSE_S + 30.0
        self.eeg_buf = RingBuffer(self.eeg_spec, capacity_s=cap)
        # RR: capacity for 220 bpm over the whole protocol.
        self.rr_buf = EventBuffer(strap.rr_spec, capacity=int(cap * 220 / 60) + 16)
        self.acc = _Accounting()
        self.t0: float | None = None
        self.trend_rows: list[tuple[str, float, dict, bool, tuple[str, ...]]] = []
        self._next_tick = TREND_HOP_S
        self._eeg_thresholds = headband.profile.stream("eeg").quality or None
        self.raw = raw
        self.sink = sink
        self.clock = PhaseClock(protocol, loss_s=loss_s)
        self.last_eeg_t = 0.0
        self.last_beat_t = 0.0
        self.hr_bpm: float | None = None
        self.channel_quality: dict[str, float] = {}
        self._next_check = 0.0
        self._check_ok = False
        self.events: list[tuple[str, float, dict]] = []
        self._pending_marks: collections.deque[str] = collections.deque()

    # -- the BLE callback: decode + assemble + buffer + append to disk ---------------------------
    def on_notification(
        self, device: str, characteristic: str, payload: bytes, received_at: float
    ) -> None:
        """Handle one BLE notification (the same signature bleak handlers get)."""
        if self.t0 is None:
            self.t0 = received_at
            if self.raw is not None:
                self.raw.t0 = received_at
        self.acc.notifications += 1
        t = received_at - self.t0
        if device == self.headband.name:
            for c in self.eeg_asm.feed(characteristic, payload, received_at):
                self._write_eeg(c)
            self.last_eeg_t = t
        elif device == self.strap.name:
            for c in self.hrs_asm.feed(payload, received_at):
                if c.spec.name == "rr":
                    self.rr_buf.write(c)
                    if self.raw is not None:
                        self.raw.append_rr(c)
                    self.acc.rr_beats += c.n_times
                    if c.n_times and self.hrs_asm.contact_detected is not False:
                        self.last_beat_t = t
                        self.hr_bpm = 60.0 / float(c.data[0, -1])
        self.acc.hr_no_contact = self.hrs_asm.n_no_contact
        self._advance(t)

    def _write_eeg(self, c: Chunk) -> None:
        self.eeg_buf.write(c)
        if self.raw is not None:
            self.raw.append_eeg(c)
        self.acc.eeg_samples += c.n_times
        self.acc.eeg_missing += c.n_missing

    def _emit(self, kind: str, t: float, detail: dict) -> None:
        self.events.append((kind, t, detail))
        if self.sink is not None:
            self.sink(kind, t, detail)

    def _advance(self, t: float) -> None:
        signal_ok = (t - self.last_eeg_t <= self.clock.loss_s) and (
            t - self.last_beat_t <= self.clock.loss_s
        )
        phase = self.clock.phase
        if phase is not None and phase.kind == "check" and t >= self._next_check:
            self._next_check = t + CHECK_EVERY_S
            self._check_ok = self.device_check(t)
        for kind, te, detail in self.clock.update(t, signal_ok=signal_ok, check_ok=self._check_ok):
            self._emit(kind, float(te), detail)
        while self._pending_marks:
            self.mark(self._pending_marks.popleft())
        self.maybe_tick(self.t0 + t)

    def device_check(self, t: float) -> bool:
        """Per-channel EEG quality over the last 4 s and strap contact; updates the live view."""
        from addictidx.features import eeg_epoch_checks

        eeg = self.eeg_buf.latest(CHECK_WINDOW_S)
        ok_eeg = False
        if eeg.data.shape[1] >= int(CHECK_WINDOW_S * self.eeg_spec.sfreq) - 12:
            checks = eeg_epoch_checks(
                eeg.data, self.eeg_spec.sfreq, self.eeg_spec.channels,
                thresholds=self._eeg_thresholds,
            )
            self.channel_quality = dict(zip(checks.ch_names, map(float, checks.pass_fraction)))
            ok_eeg = all(v >= CHECK_MIN_PASS for v in self.channel_quality.values())
        ok_strap = (t - self.last_beat_t <= self.clock.loss_s) and self.acc.rr_beats > 0
        return ok_eeg and ok_strap

    def request_mark(self, kind: str = "staff_mark") -> None:
        """Queue a staff mark from another thread (applied at the next notification)."""
        self._pending_marks.append(str(kind))

    def mark(self, kind: str = "staff_mark", detail: Mapping | None = None) -> None:
        """Staff mark an event now (``kind`` a machine name such as ``"movement"``; no free text)."""
        t = 0.0 if self.clock.last_t is None else self.clock.last_t
        self._emit("mark", t, {"label": str(kind), **dict(detail or {})})

    def session_time(self, received_at: float) -> float:
        """Seconds since the first notification."""
        return 0.0 if self.t0 is None else received_at - self.t0

    def phase_at(self, t: float) -> str:
        """Name of the protocol phase running at session time ``t``."""
        for span in self.clock.spans:
            if span.t_start_s <= t and (span.t_end_s is None or t < span.t_end_s):
                return span.name
        if self.clock.spans:
            return self.clock.spans[-1].name
        return self.protocol.phases[0].name

    # -- periodic trend windows -----------------------------------------------------------
    def maybe_tick(self, received_at: float) -> None:
        """Run :meth:`tick` when the session clock passed the next hop."""
        t = self.session_time(received_at)
        while t >= self._next_tick:
            self.tick(self._next_tick)
            self._next_tick += TREND_HOP_S

    def tick(self, t: float) -> None:
        """Compute trend features over the latest windows and hand them to the sink."""
        from addictidx.features import compute_index_features

        eeg = self.eeg_buf.latest(TREND_EEG_S)
        rr = self.rr_buf.latest(TREND_RR_S)
        feats, q = compute_index_features(
            eeg.data if eeg.data.shape[1] else None,
            self.eeg_spec.sfreq,
            self.eeg_spec.channels,
            rr.data[0] if rr.data.shape[1] else None,
            eeg_thresholds=self._eeg_thresholds,
        )
        if self.clock.phase is None or self.clock.phase.kind != "check":
            self.channel_quality = {k: float(v) for k, v in q.per_channel.items() if k != "rr"}
        row = (self.phase_at(t - 1e-9), t, feats, q.usable, q.flags)
        self.trend_rows.append(row)
        if self.sink is not None:
            self.sink("window", t, {"phase": row[0], "values": feats, "usable": q.usable,
                                    "flags": list(q.flags)})

    # -- the data to score ----------------------------------------------------------------------
    def recorded(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``(eeg_times, eeg, rr_times, rr_s)`` on the session clock, everything buffered."""
        t0 = self.t0 or 0.0
        eeg = self.eeg_buf.latest(self.eeg_buf.capacity_s)
        rr = self.rr_buf.latest(self.eeg_buf.capacity_s + 60.0)
        return eeg.times - t0, eeg.data, rr.times - t0, rr.data[0]

    def scored_data(self) -> tuple[np.ndarray | None, np.ndarray | None]:
        """EEG of the eyes-closed phase and RR of all scored phases (EVIDENCE.md §7(i))."""
        et, e, rt, r = self.recorded()
        return select_scored(self.clock.spans, et, e, rt, r)


def select_scored(spans, eeg_times, eeg, rr_times, rr_s):
    """EEG of the eyes-closed phase(s) and RR of all scored phases, minus paused intervals.

    Parameters
    ----------
    spans : list of PhaseSpan
        Where each phase ran on the session clock.
    eeg_times, eeg, rr_times, rr_s : ndarray
        Recorded data on the same clock.

    Returns
    -------
    eeg_data : ndarray, shape (n_channels, n) | None
    rr : ndarray, shape (n_beats,) | None
    """
    scored = [s for s in spans if s.scored and s.t_end_s is not None]
    closed = [s for s in scored if "closed" in s.name] or scored

    def mask(times, chosen, left_closed):
        m = np.zeros(times.shape, dtype=bool)
        for s in chosen:
            if left_closed:
                m |= (times >= s.t_start_s) & (times < s.t_end_s)
            else:
                m |= (times > s.t_start_s) & (times <= s.t_end_s)
            for a, b in s.pauses:
                m &= ~((times >= a) & (times < b))
        return m

    me = mask(eeg_times, closed, True)
    mr = mask(rr_times, scored, False)
    return (eeg[:, me] if me.any() else None), (rr_s[mr] if mr.any() else None)


def simulated_devices(
    duration_s: float, seed: int = 0, offset_s: float = 0.0
) -> tuple[SimulatedHeadband, SimulatedStrap]:
    """The simulated headband and strap playing the bundled real recordings.

    ``offset_s`` starts both recordings that far in (they loop), so that repeated simulated
    visits of one person replay different stretches of real data.
    """
    from addictidx.acquire import bundled_muse_eeg, bundled_rr

    if not offset_s:
        return (
            SimulatedHeadband(duration_s=duration_s, seed=seed),
            SimulatedStrap(duration_s=duration_s, seed=seed),
        )
    data, _t, ch, sfreq = bundled_muse_eeg()
    data = np.roll(data, -int(round(offset_s * sfreq)) % data.shape[1], axis=1)
    rr = bundled_rr()
    k = int(np.searchsorted(np.cumsum(rr), (offset_s * 3.0) % rr.sum()))
    rr = np.roll(rr, -k)
    return (
        SimulatedHeadband(data, sfreq, ch_names=ch, duration_s=duration_s, seed=seed),
        SimulatedStrap(rr, duration_s=duration_s, seed=seed),
    )


def score_and_store(
    store: SessionStore,
    sid: int,
    subject: str,
    *,
    spans,
    eeg_times: np.ndarray,
    eeg: np.ndarray,
    ch_names,
    sfreq: float,
    rr_times: np.ndarray,
    rr_s: np.ndarray,
    eeg_thresholds=None,
    age: int = 30,
    screening: Mapping | None = None,
):
    """Score the scored phases of a recording and store features, index and prescription.

    Returns
    -------
    features : dict
        The core features (None = unavailable).
    quality : QualityReport
    result : IndexResult
    prescription : Prescription | None
    """
    from addictidx.features import compute_index_features
    from addictidx.models import baseline_from_sessions, score_index
    from addictidx.prescribe import prescribe

    eeg_data, rr_data = select_scored(spans, eeg_times, eeg, rr_times, rr_s)
    feats, quality = compute_index_features(
        eeg_data, sfreq, list(ch_names), rr_data, eeg_thresholds=eeg_thresholds
    )
    clean = {k: (None if not math.isfinite(v) else float(v)) for k, v in feats.items()}
    store.set_session_features(sid, clean, usable=quality.usable, quality=quality)
    baseline = baseline_from_sessions(store.prior_session_features(subject, before_session=sid))
    result = score_index(clean, baseline, quality=quality)
    store.set_index_result(sid, result)
    rx = None
    hr = clean.get("hr_mean_bpm")
    if hr is not None:
        rx = prescribe(result, age=age, resting_hr=hr, screening=screening)
        store.set_prescription(sid, rx)
    return clean, quality, result, rx


class _StoreSink:
    """Write events, phases and trend windows to the store as they happen."""

    def __init__(self, store: SessionStore, sid: int) -> None:
        self.store, self.sid = store, sid
        self.n_windows = 0

    def __call__(self, kind: str, t: float, detail: dict) -> None:
        if kind == "window":
            self.n_windows += self.store.add_feature_windows(
                self.sid, detail["phase"],
                [(t, detail["values"], detail["usable"], detail["flags"])],
            )
        elif kind == "phase_start":  # committed now so that a crash keeps the timeline
            self.store.add_event(self.sid, t, "phase", detail)
        elif kind != "phase_end":  # phase spans are written whole at the end
            self.store.add_event(self.sid, t, kind, detail)


def run_assessment(
    subject: str,
    *,
    store_dir: str | Path,
    protocol: Protocol = STANDARD_PROTOCOL,
    speed: float = 0.0,
    age: int = 30,
    screening: Mapping | None = None,
    headband: SimulatedHeadband | None = None,
    strap: SimulatedStrap | None = None,
    seed: int = 0,
    on_progress: ProgressCallback | None = None,
    on_start: Callable[[LiveAssessment, int], None] | None = None,
    db_url: str | None = None,
    replay_offset_s: float = 0.0,
) -> AssessmentResult:
    """Run one assessment on simulated devices and store it.

    Decoded data are appended to ``<store>/raw/session-<id>/`` as they arrive, trend windows and
    events are committed to the store as they happen, so a crash leaves a ``running`` session
    that :func:`recover_session` completes.

    Parameters
    ----------
    subject : str
        Pseudonymous subject code (see :func:`~addictidx.sessions.store.check_subject_code`).
    store_dir : path-like
        Store directory (the SQLite file and raw recordings are created there).
    protocol : Protocol
        Phases (default: 20 s device check, 3 min eyes closed, 2 min eyes open).
    speed : float
        Replay speed x real time; 0 = as fast as possible.
    age : int
        Age in years (HRmax by Tanaka for the prescription).
    screening : mapping | None
        Pre-session screening answers (see :class:`addictidx.prescribe.Screening`). The
        simulated demo passes ``{"medically_screened": True}``; ``None`` = never screened, which
        caps intensity at light.
    headband, strap : simulated devices | None
        Default: the bundled real recordings, looped as long as the session needs.
    seed : int
        Seed of the simulated devices' random choices.
    on_progress : callable | None
        ``on_progress(phase, session_s, total_s)`` after each trend window.
    on_start : callable | None
        ``on_start(live, session_id)`` once the session exists (the live view hooks in here).
    db_url : str | None
        Database URL instead of the store's SQLite file (see :class:`SessionStore`).
    replay_offset_s : float
        Start the default simulated devices' recordings this far in (see
        :func:`simulated_devices`).

    Returns
    -------
    AssessmentResult
    """
    check_subject_code(subject)
    wall0 = time.perf_counter()
    total = protocol.duration_s
    if headband is None or strap is None:
        hb, st = simulated_devices(total + MAX_PAUSE_S, seed, replay_offset_s)
        headband = headband or hb
        strap = strap or st
    devices = {"headband": headband.profile.name, "strap": strap.profile.name}

    with SessionStore(store_dir, url=db_url) as store:
        sid = store.start_session(
            subject, devices=devices, simulated=True, software=f"addictidx {__version__}"
        )
        raw_rel = raw_dir_name(sid)
        spec = headband.stream_spec
        meta = {
            "session_id": sid,
            "eeg_channels": list(spec.channels),
            "eeg_sfreq": spec.sfreq,
            "eeg_unit": spec.unit,
            "rr_unit": "s",
            "devices": devices,
            "protocol": protocol.to_dict(),
            "eeg_thresholds": dict(headband.profile.stream("eeg").quality or {}) or None,
            "simulated": True,
        }
        store.set_recording(sid, raw_rel, protocol=protocol.name, meta=meta)
        sink = _StoreSink(store, sid)
        writer = RawWriter(store.directory / raw_rel, meta)
        live = LiveAssessment(headband, strap, protocol, raw=writer, sink=sink)
        if on_start is not None:
            on_start(live, sid)
        status = "aborted"
        try:
            def on_note(device, characteristic, payload, received_at):
                # After the end, take only the rest of the notifications of the same instant
                # (the other electrodes of the last block).
                if live.clock.done and live.session_time(received_at) > live.clock.last_t:
                    if transport is not None:
                        transport.stop()
                    return False
                before = len(live.trend_rows)
                live.on_notification(device, characteristic, payload, received_at)
                if on_progress is not None and len(live.trend_rows) != before:
                    t = live.trend_rows[-1][1]
                    on_progress(live.phase_at(t), min(t, total), total)

            until = headband.duration_s + 5.0
            if speed and speed > 0:
                transport = ReplayTransport([headband, strap], speed=speed, callback=on_note)
                asyncio.run(transport.run(until_s=until))
            else:
                transport = None
                for name, note in iter_notifications([headband, strap], until_s=until):
                    if on_note(name, note.characteristic, note.payload, note.t) is False:
                        break
            for c in live.eeg_asm.flush():
                live._write_eeg(c)
            t_last = live.clock.last_t or 0.0
            if not live.clock.done:
                for kind, te, detail in live.clock.close(t_last):
                    live._emit(kind, te, detail)
                live._emit("protocol_incomplete", t_last, {"phase": live.phase_at(t_last)})
            elif live.t0 is not None:  # the trend window that ends the session
                live.maybe_tick(live.t0 + t_last)
            writer.close()
            if on_progress is not None:
                on_progress("scoring", total, total)

            for span in live.clock.spans:  # pauses are in the events (signal_lost/resumed)
                store.add_phase(sid, span.name, span.t_start_s, span.t_end_s)
            if live.acc.eeg_missing:
                store.add_event(
                    sid, t_last, "eeg_gap_samples", {"n_missing": live.acc.eeg_missing}
                )
            et, e, rt, r = live.recorded()
            clean, quality, result, rx = score_and_store(
                store, sid, subject, spans=live.clock.spans, eeg_times=et, eeg=e,
                ch_names=spec.channels, sfreq=spec.sfreq, rr_times=rt, rr_s=r,
                eeg_thresholds=live._eeg_thresholds, age=age, screening=screening,
            )
            status = "complete"
        finally:
            writer.close()
            store.end_session(sid, status=status)
        store_path = store.path

    return AssessmentResult(
        subject=subject,
        session_id=sid,
        store_path=store_path,
        protocol=protocol.name,
        session_time_s=float(live.clock.spans[-1].t_end_s) if live.clock.spans else 0.0,
        wall_time_s=time.perf_counter() - wall0,
        simulated=True,
        devices=devices,
        features=clean,
        quality=quality,
        accounting={
            "eeg_samples": live.acc.eeg_samples,
            "eeg_missing": live.acc.eeg_missing,
            "rr_beats": live.acc.rr_beats,
            "notifications": live.acc.notifications,
            "eeg_late_packets": live.eeg_asm.n_late,
        },
        n_feature_windows=sink.n_windows,
        index=result,
        prescription=rx,
        phases=tuple((s.name, s.t_start_s, s.t_end_s) for s in live.clock.spans),
        events=tuple((k, t) for k, t, _ in live.events if k not in ("phase_start", "phase_end")),
    )


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def recover_session(
    store: SessionStore, session_id: int, *, age: int = 30, screening: Mapping | None = None,
    force: bool = False,
) -> dict:
    """Complete a session interrupted by a crash from its raw files.

    The phases that ended are kept; the running one is closed at the last sample on disk; the
    trend windows after the last stored one are computed from the raw data; the scored phases
    are scored as a live session would be; the session is marked complete with a ``recovered``
    event stating how much data survived.

    Parameters
    ----------
    store : SessionStore
    session_id : int
    age : int
        For the prescription.
    screening : mapping | None
        Pre-session screening answers.
    force : bool
        Recover even when the recording process still seems to run.

    Returns
    -------
    summary : dict
        ``{"session_id", "data_end_s", "eeg_s", "n_beats", "phases", "index", "band"}``.

    Raises
    ------
    StoreError
        The session is not running, has no raw recording, or its writer is still alive.
    """
    from addictidx.features import compute_index_features

    detail = store.session_detail(session_id)
    if detail["status"] != "running":
        raise StoreError(f"Session {session_id} is {detail['status']}, not interrupted.")
    rec = store.recording(session_id)
    if rec is None:
        raise StoreError(f"Session {session_id} has no raw recording to recover from.")
    raw = read_raw(rec["raw_dir"])
    pid = raw.meta.get("pid")
    if not force and pid is not None and _pid_alive(int(pid)):
        raise StoreError(
            f"Session {session_id} is still being recorded by process {pid}; "
            "stop it first or pass --force."
        )
    protocol = Protocol.from_dict(rec["meta"]["protocol"])
    t_end = max(
        float(raw.eeg_times[-1]) if raw.eeg_times.size else 0.0,
        float(raw.rr_times[-1]) if raw.rr_times.size else 0.0,
    )
    # Rebuild where the phases ran from the events committed live.
    spans = _spans_from_events(protocol, detail["events"], t_end)
    store_phases = {p["name"] for p in detail["phases"]}
    for s in spans:
        if s.name not in store_phases:
            store.add_phase(session_id, s.name, s.t_start_s, s.t_end_s)

    # Trend windows the crash did not let the live session write.
    last = max((w["t_end_s"] for w in store.feature_windows(session_id)), default=0.0)
    thresholds = rec["meta"].get("eeg_thresholds")
    t = last + TREND_HOP_S
    rows: dict[str, list] = {}
    while t <= t_end + 1e-9:
        me = (raw.eeg_times > t - TREND_EEG_S) & (raw.eeg_times <= t)
        mr = (raw.rr_times > t - TREND_RR_S) & (raw.rr_times <= t)
        feats, q = compute_index_features(
            raw.eeg[:, me] if me.any() else None, raw.sfreq, list(raw.ch_names),
            raw.rr_s[mr] if mr.any() else None, eeg_thresholds=thresholds,
        )
        ph = next((s.name for s in spans if s.t_start_s <= t - 1e-9 < (s.t_end_s or 1e18)),
                  spans[-1].name if spans else "unknown")
        rows.setdefault(ph, []).append((t, feats, q.usable, q.flags))
        t += TREND_HOP_S
    for ph, r in rows.items():
        store.add_feature_windows(session_id, ph, r)

    subject = detail["subject"]
    clean, quality, result, rx = score_and_store(
        store, session_id, subject, spans=spans, eeg_times=raw.eeg_times, eeg=raw.eeg,
        ch_names=raw.ch_names, sfreq=raw.sfreq, rr_times=raw.rr_times, rr_s=raw.rr_s,
        eeg_thresholds=thresholds, age=age, screening=screening,
    )
    n_eeg = int(np.isfinite(raw.eeg).all(axis=0).sum()) if raw.eeg.size else 0
    info = {
        "data_end_s": round(t_end, 3),
        "eeg_s": round(n_eeg / raw.sfreq, 3),
        "n_beats": int(raw.rr_s.size),
        "partial_bytes_dropped": raw.n_partial_bytes,
        "protocol_complete": bool(spans and spans[-1].name == protocol.phases[-1].name
                                  and spans[-1].t_end_s is not None
                                  and t_end >= spans[-1].t_end_s),
    }
    store.add_event(session_id, t_end, "recovered", info)
    store.end_session(session_id, status="complete")
    return {
        "session_id": session_id,
        **info,
        "phases": [(s.name, s.t_start_s, s.t_end_s) for s in spans],
        "index": result.index,
        "band": result.band,
    }


def _spans_from_events(protocol: Protocol, events: list[dict], t_end: float) -> list[PhaseSpan]:
    """Phase spans from the live ``phase_*`` / ``signal_*`` events (or the protocol timing)."""
    by_name = {p.name: p for p in protocol.phases}
    spans: list[PhaseSpan] = []
    pause_start = None
    for ev in events:
        kind, t, d = ev["kind"], float(ev["t_s"]), ev["detail"]
        if kind == "signal_lost":
            pause_start = t
        elif kind == "signal_resumed" and pause_start is not None and spans:
            spans[-1].pauses.append((pause_start, t))
            pause_start = None
        elif kind == "phase" and d.get("phase") in by_name:
            p = by_name[d["phase"]]
            if spans and spans[-1].t_end_s is None:
                spans[-1].t_end_s = t
            spans.append(PhaseSpan(p.name, p.kind, p.scored, t))
    if not spans:  # no phase events: the protocol's own timing, cut at the data's end
        for p, a, b in protocol.spans():
            if a >= t_end:
                break
            spans.append(PhaseSpan(p.name, p.kind, p.scored, a, min(b, t_end)))
        return spans
    if pause_start is not None:
        spans[-1].pauses.append((pause_start, t_end))
    if spans[-1].t_end_s is None:
        spans[-1].t_end_s = t_end
    return spans
