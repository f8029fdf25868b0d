"""The end-to-end assessment: notifications -> decoders -> buffers -> features -> ONNX index ->
prescription -> closed loop -> store.

Every step is the real one: the simulated devices emit byte-exact BLE notifications built from
real recordings, which go through the same stream hub, decoders and assemblers a real headband
and strap feed. Only the transport differs: :class:`~addictidx.acquire.ReplayTransport` (or the
plain generator :func:`~addictidx.acquire.iter_notifications` when running as fast as possible)
for simulated devices, :class:`~addictidx.acquire.BleakTransport` for real ones.

* :class:`~addictidx.sessions.live.LiveAssessment` handles notifications and link events (stream
  hub, raw files appended as data arrive, protocol clock with device check and pauses, trend
  windows, closed loop during a guided intervention).
* A session-clock ticker (every ``TICK_S``) lets the protocol notice silence of both devices.
* :func:`score_and_store` scores the scored phases once: index features -> index (ONNX) ->
  prescription; at the end, or, when phases follow the scored ones (guided intervention), as
  soon as the last scored phase ends. :func:`recover_session` does the same from the raw files
  after a crash.

:func:`run_assessment` (blocking) and :func:`run_assessment_async` (a coroutine, for the
dashboard, which shares its event loop with bleak) are the only two entry points; the CLI's
``assess`` and ``demo`` and the dashboard all use them.
"""

from __future__ import annotations

import asyncio
import math
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from addictidx import __version__
from addictidx._core.errors import StoreError
from addictidx._core.types import IndexResult, Prescription, QualityReport
from addictidx.acquire import ReplayTransport, iter_notifications
from addictidx.acquire.events import LinkEvent
from addictidx.sessions.devices import BleDevice, ble_devices, simulated_devices
from addictidx.sessions.live import (
    LOSS_S,
    MAX_PAUSE_S,
    TICK_S,
    TREND_EEG_S,
    TREND_HOP_S,
    TREND_RR_S,
    LiveAssessment,
    LoopSettings,
    select_scored,
)
from addictidx.sessions.protocol import STANDARD_PROTOCOL, PhaseSpan, Protocol
from addictidx.store.codes import check_subject_code
from addictidx.store.raw import RawWriter, raw_dir_name, read_raw
from addictidx.store.session_store import SessionStore

__all__ = [
    "AssessmentResult",
    "LiveAssessment",
    "run_assessment",
    "run_assessment_async",
    "recover_session",
    "score_and_store",
    "select_scored",
    "simulated_devices",
    "emg_gate",
    "EMG_GATE_MIN_SESSIONS",
    "EMG_GATE_PERCENTILE",
    "LOSS_S",
    "MAX_PAUSE_S",
    "TREND_HOP_S",
]

ProgressCallback = Callable[[str, float, float], None]

#: Prior valid sessions with an EMG indicator needed before the personal EMG gate applies.
EMG_GATE_MIN_SESSIONS = 5
#: The personal percentile the session EMG indicator must not exceed (EVIDENCE §7(i)).
EMG_GATE_PERCENTILE = 90.0
#: Flag when the gate refused the session / when too few prior sessions exist.
EMG_GATE_FAIL_FLAG = "emg>p90"
EMG_GATE_INACTIVE_FLAG = "emg_gate_inactive"


def emg_gate(emg, prior: list[float], quality: QualityReport) -> tuple[QualityReport, dict]:
    """Apply the personal EMG gate of EVIDENCE §7(i) to one session.

    "EMG indicator (51-69 Hz or >30 Hz power; Gasser 2005) not above the person's own 90th
    percentile": the indicator is :func:`~addictidx.features.session_emg_indicator` (30-100 Hz
    power share, mains +-2 Hz removed, median over passing 2-s epochs, mean of AF7, AF8, TP9,
    TP10); the percentile is ``np.percentile(prior, 90)`` (linear interpolation) over the
    indicators of the person's prior complete, usable sessions. With at least
    :data:`EMG_GATE_MIN_SESSIONS` of them, a session whose indicator is strictly above it is
    not usable (flag ``"emg>p90"`` and a reason naming the value and the percentile); with
    fewer, nothing is gated and the flag ``"emg_gate_inactive"`` says so. A session without an
    indicator (no EEG, or a channel with no passing epoch, which fails the 60 % gate) is
    neither gated nor flagged.

    Parameters
    ----------
    emg : EMGIndicator
        Today's indicator (:func:`~addictidx.features.index_features_with_emg`).
    prior : list of float
        The indicators of the prior valid sessions
        (:meth:`~addictidx.store.session_store.SessionStore.prior_emg_indicators`).
    quality : QualityReport
        The session's quality report so far.

    Returns
    -------
    quality : QualityReport
        ``quality`` with the gate's flag and, when it failed, its reason (``usable=False``).
    gate : dict
        JSON-ready record: ``indicator``, ``per_channel``, ``band_hz``, ``n_prior``,
        ``percentile``, ``p90`` (None while inactive), ``active``, ``passed`` (None when not
        evaluated).
    """
    d = emg.to_dict()
    value = d["value"]
    vals = [float(v) for v in prior if v is not None and math.isfinite(v)]
    active = len(vals) >= EMG_GATE_MIN_SESSIONS
    p90 = float(np.percentile(vals, EMG_GATE_PERCENTILE)) if active else None
    gate = {
        "indicator": value,
        "per_channel": d["per_channel"],
        "band_hz": d["band_hz"],
        "n_prior": len(vals),
        "percentile": EMG_GATE_PERCENTILE,
        "p90": p90,
        "active": active,
        "passed": None,
    }
    if value is None:
        return quality, gate
    if not active:
        return quality.merge(QualityReport(per_channel={}, flags=(EMG_GATE_INACTIVE_FLAG,))), gate
    gate["passed"] = bool(value <= p90)
    if gate["passed"]:
        return quality, gate
    lo, hi = d["band_hz"]
    reason = (
        f"EMG gate: EMG indicator {value:.4f} ({lo:g}-{hi:g} Hz power share, AF7/AF8/TP9/TP10) "
        f"is above this person's own {EMG_GATE_PERCENTILE:g}th percentile {p90:.4f} of "
        f"{len(vals)} prior valid sessions (EVIDENCE §7(i); Gasser 2005)"
    )
    return quality.merge(
        QualityReport(per_channel={}, flags=(EMG_GATE_FAIL_FLAG,), usable=False, reasons=(reason,))
    ), gate


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
    safety_events : tuple of (t_s, kind, reason)
        Closed-loop stops, pauses, prompts and flags (audit only; never scored).
    stopped : bool
        True when the session was stopped early (stop button or symptom).
    research : Mapping | None
        The research classifier's output (:func:`addictidx.models.research.research_block`)
        when it was enabled, else None. Separate from ``index`` and never fused into it.
    emg_gate : Mapping | None
        The personal EMG gate's record (see :func:`emg_gate`), None when not scored.
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
    safety_events: tuple = ()
    stopped: bool = False
    research: Mapping | None = None
    emg_gate: Mapping | None = None


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
    research: bool = False,
):
    """Score the scored phases of a recording and store features, index and prescription.

    With ``research`` the default research classifier also scores the eyes-closed EEG, after
    the index and from nothing the index uses or produces; its block is stored apart
    (:meth:`SessionStore.set_research_result`), never in the index result.

    The personal EMG gate (:func:`emg_gate`) is applied here, where the session history is:
    a session whose EMG indicator is above the person's own 90th percentile gets no index and
    is stored as not usable (so it joins neither the baseline nor later percentiles); the
    gate's record is stored under the ``"emg_gate"`` key of the session's quality JSON.

    Returns
    -------
    features : dict
        The core features (None = unavailable).
    quality : QualityReport
        The feature layer's report, with the EMG gate's flag (and reason, when it failed).
    result : IndexResult
    prescription : Prescription | None
    """
    from addictidx.features import index_features_with_emg
    from addictidx.models import baseline_from_sessions, score_index
    from addictidx.prescribe import prescribe

    eeg_data, rr_data = select_scored(spans, eeg_times, eeg, rr_times, rr_s)
    feats, quality, emg = index_features_with_emg(
        eeg_data, sfreq, list(ch_names), rr_data, eeg_thresholds=eeg_thresholds
    )
    clean = {k: (None if not math.isfinite(v) else float(v)) for k, v in feats.items()}
    quality, gate = emg_gate(emg, store.prior_emg_indicators(subject, before_session=sid), quality)
    store.set_session_features(
        sid, clean, usable=quality.usable, quality={**asdict(quality), "emg_gate": gate}
    )
    baseline = baseline_from_sessions(store.prior_session_features(subject, before_session=sid))
    result = score_index(clean, baseline, quality=quality)
    store.set_index_result(sid, result)
    rx = None
    hr = clean.get("hr_mean_bpm")
    if hr is not None:
        rx = prescribe(result, age=age, resting_hr=hr, screening=screening)
        store.set_prescription(sid, rx)
    if research:
        from addictidx.models.research import research_block

        closed = [s for s in spans if s.scored and s.t_end_s is not None and "closed" in s.name]
        t_s = closed[-1].t_end_s if closed else (float(eeg_times[-1]) if eeg_times.size else 0.0)
        store.set_research_result(sid, t_s, research_block(eeg_data, sfreq, list(ch_names)))
    return clean, quality, result, rx


class _StoreSink:
    """Write events, safety events, phases and trend windows to the store as they happen."""

    def __init__(self, store: SessionStore, sid: int) -> None:
        self.store, self.sid = store, sid
        self.n_windows = 0

    def __call__(self, kind: str, t: float, detail: dict) -> None:
        if kind == "window":
            self.n_windows += self.store.add_feature_windows(
                self.sid,
                detail["phase"],
                [(t, detail["values"], detail["usable"], detail["flags"])],
            )
        elif kind == "safety":  # closed-loop stops, pauses, prompts, flags: audit only
            d = dict(detail)
            self.store.add_safety_event(self.sid, t, d.pop("kind"), d)
        elif kind == "phase_start":  # committed now so that a crash keeps the timeline
            self.store.add_event(self.sid, t, "phase", detail)
        elif kind != "phase_end":  # phase spans are written whole at the end
            self.store.add_event(self.sid, t, kind, detail)


class _Run:
    """One session from ``start_session`` to the stored result; shared by every driver."""

    def __init__(
        self,
        subject,
        *,
        store_dir,
        db_url,
        protocol,
        headband,
        strap,
        simulated,
        age,
        screening,
        on_progress,
        on_start,
        research=False,
    ) -> None:
        check_subject_code(subject)
        self.wall0 = time.perf_counter()
        self.subject, self.protocol = subject, protocol
        self.age, self.screening = age, screening
        self.research = bool(research)
        self.on_progress = on_progress
        self.simulated = simulated
        self.headband, self.strap = headband, strap
        self.devices = {"headband": headband.profile.name, "strap": strap.profile.name}
        self.store = SessionStore(store_dir, url=db_url)
        self.status = "aborted"
        self.transport = None
        try:
            self.sid = self.store.start_session(
                subject,
                devices=self.devices,
                simulated=simulated,
                software=f"addictidx {__version__}",
            )
            raw_rel = raw_dir_name(self.sid)
            eeg = headband.profile.stream("eeg")
            self.meta = {
                "session_id": self.sid,
                "eeg_channels": list(eeg.channels),
                "eeg_sfreq": eeg.sfreq,
                "eeg_unit": eeg.unit,
                "rr_unit": "s",
                "devices": self.devices,
                "protocol": protocol.to_dict(),
                "eeg_thresholds": dict(eeg.quality or {}) or None,
                "simulated": simulated,
            }
            self.store.set_recording(self.sid, raw_rel, protocol=protocol.name, meta=self.meta)
            self.sink = _StoreSink(self.store, self.sid)
            self.writer = RawWriter(self.store.directory / raw_rel, self.meta)
            self.live = LiveAssessment(
                headband,
                strap,
                protocol,
                raw=self.writer,
                sink=self.sink,
                scorer=self._score,
                loop=LoopSettings(age=float(age)),
            )
        except BaseException:
            self.store.close()
            raise
        if on_start is not None:
            on_start(self.live, self.sid)

    # -- callbacks ---------------------------------------------------------------------------
    def on_note(self, device, characteristic, payload, received_at):
        """Transport callback; returns False (and stops the transport) once the session ended."""
        live = self.live
        # After the end, take only the rest of the notifications of the same instant (the
        # other electrodes of the last block).
        if live.finished and (live.stopped or live.session_time(received_at) > live.clock.last_t):
            if self.transport is not None:
                self.transport.stop()
            return False
        before = len(live.trend_rows)
        live.on_notification(device, characteristic, payload, received_at)
        if self.on_progress is not None and len(live.trend_rows) != before:
            t = live.trend_rows[-1][1]
            total = self.protocol.duration_s
            self.on_progress(live.phase_at(t), min(t, total), total)
        return None

    def _score(self, live: LiveAssessment):
        et, e, rt, r = live.recorded()
        return score_and_store(
            self.store,
            self.sid,
            self.subject,
            spans=live.clock.spans,
            eeg_times=et,
            eeg=e,
            ch_names=live.eeg_spec.channels,
            sfreq=live.eeg_spec.sfreq,
            rr_times=rt,
            rr_s=r,
            eeg_thresholds=live._eeg_thresholds,
            age=self.age,
            screening=self.screening,
            research=self.research,
        )

    # -- drivers ------------------------------------------------------------------------------
    def drive_sync(self, until_s: float) -> None:
        """Simulated devices as fast as possible, with session-clock ticks across silences."""
        live, last = self.live, None
        for name, note in iter_notifications([self.headband, self.strap], until_s=until_s):
            if isinstance(note, LinkEvent):
                live.on_link_event(replace(note, device=name))
                continue
            if last is not None and note.t - last > TICK_S:  # both devices silent: tick
                g = last + TICK_S
                while g < note.t and not live.finished:
                    live.on_tick(g)
                    g += TICK_S
            if (
                live.stopped
                or self.on_note(name, note.characteristic, note.payload, note.t) is False
            ):
                break
            last = note.t

    async def drive_async(
        self, transport, *, tick_time: Callable[[], float], tick_s: float, until_s: float | None
    ) -> None:
        """Run a transport with the session-clock ticker on the running event loop."""
        self.transport = transport
        live = self.live
        transport.add_callback(self.on_note)
        transport.add_event_callback(live.on_link_event)

        async def ticker():
            while True:
                await asyncio.sleep(tick_s)
                live.on_tick(tick_time())
                if live.finished:
                    transport.stop()
                    return

        task = asyncio.create_task(ticker())
        try:
            await transport.run(until_s=until_s)
        finally:
            task.cancel()

    # -- the end -----------------------------------------------------------------------------
    def finish(self) -> AssessmentResult:
        live, store, sid = self.live, self.store, self.sid
        live.close()
        t_last = live.clock.last_t or 0.0
        if not live.clock.done:
            for kind, te, detail in live.clock.close(t_last):
                live._emit(kind, te, detail)
            live._emit("protocol_incomplete", t_last, {"phase": live.phase_at(t_last)})
        elif live.t0 is not None and not live.stopped:  # the trend window that ends the session
            live.maybe_tick(live.t0 + t_last)
        self.writer.close()
        total = self.protocol.duration_s
        if self.on_progress is not None:
            self.on_progress("scoring", total, total)
        for span in live.clock.spans:  # pauses are in the events (signal_lost/resumed)
            store.add_phase(sid, span.name, span.t_start_s, span.t_end_s)
        if live.acc.eeg_missing:
            store.add_event(sid, t_last, "eeg_gap_samples", {"n_missing": live.acc.eeg_missing})
        clean, quality, result, rx = live.scored or self._score(live)
        self.status = "complete"
        stats = live.hub.stats().get(self.headband.name, {})
        return AssessmentResult(
            subject=self.subject,
            session_id=sid,
            store_path=store.path,
            protocol=self.protocol.name,
            session_time_s=float(live.clock.spans[-1].t_end_s) if live.clock.spans else 0.0,
            wall_time_s=time.perf_counter() - self.wall0,
            simulated=self.simulated,
            devices=self.devices,
            features=clean,
            quality=quality,
            accounting={
                "eeg_samples": live.acc.eeg_samples,
                "eeg_missing": live.acc.eeg_missing,
                "rr_beats": live.acc.rr_beats,
                "notifications": live.acc.notifications,
                "eeg_late_packets": int(stats.get("eeg_late", 0)),
            },
            n_feature_windows=self.sink.n_windows,
            index=result,
            prescription=rx,
            phases=tuple((s.name, s.t_start_s, s.t_end_s) for s in live.clock.spans),
            events=tuple(
                (k, t) for k, t, _ in live.events if k not in ("phase_start", "phase_end")
            ),
            safety_events=tuple(
                (t, d["kind"], d["reason"]) for k, t, d in live.events if k == "safety"
            ),
            stopped=live.stopped,
            research=store.research_result(sid) if self.research else None,
            emg_gate=(store.session_quality(sid) or {}).get("emg_gate"),
        )

    def close(self) -> None:
        try:
            self.writer.close()
            self.store.end_session(self.sid, status=self.status)
        finally:
            self.store.close()


def _devices_for(kind, headband, strap, protocol, seed, replay_offset_s):
    if kind == "simulate":
        if headband is None or strap is None:
            hb, st = simulated_devices(protocol.duration_s + MAX_PAUSE_S, seed, replay_offset_s)
            headband, strap = headband or hb, strap or st
        return headband, strap
    if kind == "ble":
        if isinstance(headband, BleDevice) and isinstance(strap, BleDevice):
            return headband, strap
        return ble_devices(headband or "auto", strap or "auto")
    raise ValueError(
        f"Invalid value for the 'devices' parameter. Allowed values are 'simulate' "
        f"and 'ble', but got {kind!r} instead."
    )


def run_assessment(
    subject: str,
    *,
    store_dir: str | Path,
    protocol: Protocol = STANDARD_PROTOCOL,
    speed: float = 0.0,
    age: int = 30,
    screening: Mapping | None = None,
    headband: Any = None,
    strap: Any = None,
    seed: int = 0,
    on_progress: ProgressCallback | None = None,
    on_start: Callable[[LiveAssessment, int], None] | None = None,
    db_url: str | None = None,
    replay_offset_s: float = 0.0,
    devices: str = "simulate",
    transport_options: Mapping | None = None,
    research: bool = False,
) -> AssessmentResult:
    """Run one assessment and store it (blocking).

    Decoded data are appended to ``<store>/raw/session-<id>/`` as they arrive, trend windows,
    events and safety events are committed to the store as they happen, so a crash leaves a
    ``running`` session that :func:`recover_session` completes.

    Parameters
    ----------
    subject : str
        Pseudonymous subject code (see :func:`~addictidx.store.codes.check_subject_code`).
    store_dir : path-like
        Store directory (the SQLite file and raw recordings are created there).
    protocol : Protocol
        Phases (default: 20 s device check, 3 min eyes closed, 2 min eyes open).
    speed : float
        Replay speed x real time of simulated devices; 0 = as fast as possible.
    age : int
        Age in years (HRmax by Tanaka for the prescription and the closed loop).
    screening : mapping | None
        Pre-session screening answers (see :class:`addictidx.prescribe.Screening`). The
        simulated demo passes ``{"medically_screened": True}``; ``None`` = never screened, which
        caps intensity at light.
    headband, strap : device | str | None
        Simulated devices (default: the bundled real recordings, looped as long as the session
        needs); with ``devices="ble"`` profile names or ``"auto"`` (or
        :class:`~addictidx.sessions.devices.BleDevice`).
    seed : int
        Seed of the simulated devices' random choices.
    on_progress : callable | None
        ``on_progress(phase, session_s, total_s)`` after each trend window.
    on_start : callable | None
        ``on_start(live, session_id)`` once the session exists (live views hook in here).
    db_url : str | None
        Database URL instead of the store's SQLite file (see :class:`SessionStore`).
    replay_offset_s : float
        Start the default simulated devices' recordings this far in (see
        :func:`simulated_devices`).
    devices : {"simulate", "ble"}
        Simulated devices (replayed real recordings) or real ones over Bluetooth LE.
    transport_options : mapping | None
        Extra keyword arguments of :class:`~addictidx.acquire.BleakTransport` (e.g. ``clock``,
        ``scanner_cls``/``client_cls`` in tests, ``watchdog_s``).
    research : bool
        Also score the default research classifier (UCI alcoholism, labelled "research") on the
        eyes-closed EEG and store it apart from the index (default off: EVIDENCE.md §7(ii) 6).

    Returns
    -------
    AssessmentResult
    """
    if devices == "simulate" and not (speed and speed > 0):
        headband, strap = _devices_for(
            "simulate", headband, strap, protocol, seed, replay_offset_s
        )
        run = _Run(
            subject,
            store_dir=store_dir,
            db_url=db_url,
            protocol=protocol,
            headband=headband,
            strap=strap,
            simulated=True,
            age=age,
            screening=screening,
            on_progress=on_progress,
            on_start=on_start,
            research=research,
        )
        try:
            run.drive_sync(headband.duration_s + 5.0)
            return run.finish()
        finally:
            run.close()
    return asyncio.run(
        run_assessment_async(
            subject,
            store_dir=store_dir,
            protocol=protocol,
            speed=speed,
            age=age,
            screening=screening,
            headband=headband,
            strap=strap,
            seed=seed,
            on_progress=on_progress,
            on_start=on_start,
            db_url=db_url,
            replay_offset_s=replay_offset_s,
            devices=devices,
            transport_options=transport_options,
            research=research,
        )
    )


async def run_assessment_async(
    subject: str,
    *,
    store_dir: str | Path,
    protocol: Protocol = STANDARD_PROTOCOL,
    speed: float = 1.0,
    age: int = 30,
    screening: Mapping | None = None,
    headband: Any = None,
    strap: Any = None,
    seed: int = 0,
    on_progress: ProgressCallback | None = None,
    on_start: Callable[[LiveAssessment, int], None] | None = None,
    db_url: str | None = None,
    replay_offset_s: float = 0.0,
    devices: str = "simulate",
    transport_options: Mapping | None = None,
    research: bool = False,
) -> AssessmentResult:
    """:func:`run_assessment` as a coroutine on the running event loop (shared with bleak).

    Simulated devices play through :class:`~addictidx.acquire.ReplayTransport` at ``speed``
    (0 = as fast as possible); real ones are acquired with
    :class:`~addictidx.acquire.BleakTransport` (scan, connect, keep-alive, watchdog, reconnect)
    until the protocol ends, the session is stopped, or every device gave up. Parameters as
    :func:`run_assessment`.
    """
    from addictidx.acquire import BleakTransport, BleTarget, MonotonicClock

    headband, strap = _devices_for(devices, headband, strap, protocol, seed, replay_offset_s)
    run = _Run(
        subject,
        store_dir=store_dir,
        db_url=db_url,
        protocol=protocol,
        headband=headband,
        strap=strap,
        simulated=devices == "simulate",
        age=age,
        screening=screening,
        on_progress=on_progress,
        on_start=on_start,
        research=research,
    )
    try:
        opts = dict(transport_options or {})
        clock = opts.pop("clock", None) or MonotonicClock()
        if devices == "simulate":
            fast = not (speed and speed > 0)
            transport = ReplayTransport(
                [headband, strap], speed=0.0 if fast else speed, clock=clock
            )
            t_start = clock.now()
            rate = 1e6 if fast else float(speed)
            await run.drive_async(
                transport,
                tick_time=lambda: t_start + (clock.now() - t_start) * rate,
                tick_s=TICK_S / rate,
                until_s=headband.duration_s + 5.0,
            )
        else:
            targets = [
                BleTarget(d.profile, name=d.name, address=d.address) for d in (headband, strap)
            ]
            transport = BleakTransport(targets, clock=clock, **opts)
            await run.drive_async(
                transport,
                tick_time=clock.now,
                tick_s=float(opts.get("check_interval_s", TICK_S)),
                until_s=None,
            )
        return run.finish()
    finally:
        run.close()


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
    store: SessionStore,
    session_id: int,
    *,
    age: int = 30,
    screening: Mapping | None = None,
    force: bool = False,
    research: bool = False,
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
    research : bool
        Also score the research classifier (stored apart from the index).

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
            raw.eeg[:, me] if me.any() else None,
            raw.sfreq,
            list(raw.ch_names),
            raw.rr_s[mr] if mr.any() else None,
            eeg_thresholds=thresholds,
        )
        ph = next(
            (s.name for s in spans if s.t_start_s <= t - 1e-9 < (s.t_end_s or 1e18)),
            spans[-1].name if spans else "unknown",
        )
        rows.setdefault(ph, []).append((t, feats, q.usable, q.flags))
        t += TREND_HOP_S
    for ph, r in rows.items():
        store.add_feature_windows(session_id, ph, r)

    subject = detail["subject"]
    clean, quality, result, rx = score_and_store(
        store,
        session_id,
        subject,
        spans=spans,
        eeg_times=raw.eeg_times,
        eeg=raw.eeg,
        ch_names=raw.ch_names,
        sfreq=raw.sfreq,
        rr_times=raw.rr_times,
        rr_s=raw.rr_s,
        eeg_thresholds=thresholds,
        age=age,
        screening=screening,
        research=research,
    )
    n_eeg = int(np.isfinite(raw.eeg).all(axis=0).sum()) if raw.eeg.size else 0
    info = {
        "data_end_s": round(t_end, 3),
        "eeg_s": round(n_eeg / raw.sfreq, 3),
        "n_beats": int(raw.rr_s.size),
        "partial_bytes_dropped": raw.n_partial_bytes,
        "protocol_complete": bool(
            spans
            and spans[-1].name == protocol.phases[-1].name
            and spans[-1].t_end_s is not None
            and t_end >= spans[-1].t_end_s
        ),
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
