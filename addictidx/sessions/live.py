"""The live side of an assessment: notifications in, buffers, raw files, protocol clock, closed
loop.

:class:`LiveAssessment` is transport-agnostic. The simulated devices (replayed through
:class:`~addictidx.acquire.ReplayTransport` or :func:`~addictidx.acquire.iter_notifications`)
and real devices (:class:`~addictidx.acquire.BleakTransport`) feed the same two callbacks,
:meth:`LiveAssessment.on_notification` and :meth:`LiveAssessment.on_link_event`, and the same
:class:`~addictidx.acquire.StreamHub` decodes and assembles (gap-marked ring buffers, battery,
reconnects). A session-clock ticker calls :meth:`LiveAssessment.on_tick` so that silence of both
devices pauses the session even though no notification arrives.

During a phase of kind ``intervention`` a :class:`~addictidx.sessions.closed_loop.SessionLoop`
runs the closed loop on RR-derived heart rate: zone guidance, music tempo and the enforced safety
stops S1-S7. Every controller event is handed to the sink (``"safety"`` for stops, pauses,
prompts and flags; ``"loop"`` for guidance and tempo) and so to the store. A safety stop ends the
intervention (the recovery phase follows, so the 1-min HR recovery is measured); the stop button
ends the session. Stops are for safety and audit only: nothing reads them for any score.

The displayed heart rate is the current heart rate of :mod:`addictidx.features.heart_rate`
(``60 / median`` of the last 5 valid RR intervals), the same figure the closed loop uses.

This module depends on nothing above it: the session driver (:mod:`addictidx.sessions.run`)
gives it a scorer and an event sink.
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from typing import Any

import numpy as np

from addictidx._core.types import Chunk
from addictidx.acquire import StreamHub
from addictidx.acquire.events import GapRecord, LinkEvent
from addictidx.sessions.closed_loop import SAFETY_KINDS, LoopSettings, SessionLoop
from addictidx.sessions.live_view import LiveView, Observers, SessionCounts, Timers
from addictidx.sessions.protocol import PhaseClock, Protocol
from addictidx.sessions.scoring import SessionData, select_scored
from addictidx.store.raw import RawWriter

__all__ = [
    "LiveAssessment",
    "LiveView",
    "LoopSettings",
    "select_scored",
    "TREND_HOP_S",
    "TREND_EEG_S",
    "TREND_RR_S",
    "LOSS_S",
    "MAX_PAUSE_S",
    "TICK_S",
    "SAFETY_KINDS",
]

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
#: Session-clock ticker period (s): silence is noticed within ``LOSS_S + TICK_S``.
TICK_S = 0.5

#: ``sink(kind, t_s, detail)`` receives events; ``kind`` "window" carries a trend window.
EventSink = Callable[[str, float, dict], None]


class LiveAssessment:
    """Wire a headband and a strap into the stream hub, raw files, protocol clock and closed loop.

    Parameters
    ----------
    headband, strap : device
        Anything with ``name`` (as the transport reports it) and ``profile``
        (:class:`~addictidx.acquire.DeviceProfile`): the simulated devices, or
        :class:`~addictidx.sessions.devices.BleDevice` for real ones. The headband's profile
        needs a Muse ``eeg`` stream (classic or Athena); the strap's an ``rr`` stream.
    protocol : Protocol
        Phases and their durations.
    raw : RawWriter | None
        Where decoded chunks are appended as they arrive.
    sink : callable | None
        ``sink(kind, t_s, detail)`` for every event (phase start/end, signal lost/resumed, staff
        marks, link changes, ``safety`` and ``loop`` events of the closed loop) and every trend
        window (``kind="window"``), as it happens.
    loss_s : float
        A stream silent for longer pauses the session.
    scorer : callable | None
        ``scorer(live) -> SessionScore``; called once, when the phase after the last scored
        phase starts (so a guided intervention has its prescription). Without phases after the
        scored ones the caller scores at the end.
    loop : LoopSettings | None
        Closed-loop settings for ``intervention`` phases (the person's age or measured HRmax);
        None: no closed loop (an intervention logs ``loop_unavailable``), never an assumed age.
    observers : sequence | None
        Objects told about everything the session sees: ``on_chunk(chunk)`` for every
        assembled chunk (EEG, ECG, RR, HR, battery; gap fill included) and
        ``on_event(kind, t_s, detail)`` for every event (also ``"scored"`` when the session is
        scored at its end, and ``"prescription"`` with the prescription's fields). Either
        method may be absent. They run on the session's thread and must be quick.

    Attributes
    ----------
    hub : StreamHub
        Decoding, assembly and gap-marked buffers of both devices.
    clock : PhaseClock
        Where the protocol is.
    view : LiveView
        Heart rate, channel quality, contact, battery and links as shown live.
    loop : SessionLoop
        The closed loop (its ``controller`` while an intervention runs).
    events : list of (kind, t_s, detail)
        Every event emitted.
    scored : SessionScore | None
        The session's score once computed.
    stopped : bool
        The session was stopped (stop button or symptom outside an intervention).
    """

    def __init__(
        self,
        headband: Any,
        strap: Any,
        protocol: Protocol,
        *,
        raw: RawWriter | None = None,
        sink: EventSink | None = None,
        loss_s: float = LOSS_S,
        scorer: Callable[[LiveAssessment], Any] | None = None,
        loop: LoopSettings | None = None,
        observers: Sequence[Any] | None = None,
    ) -> None:
        self.headband, self.strap, self.protocol = headband, strap, protocol
        self._observers = Observers(observers or ())
        cap = protocol.duration_s + MAX_PAUSE_S + 30.0
        self.hub = StreamHub(
            {headband.name: headband.profile, strap.name: strap.profile},
            capacity_s=cap,
            # RR: capacity for 220 bpm over the whole protocol.
            event_capacity=int(cap * 220 / 60) + 16,
            max_lag_blocks=1,
        )
        self._queue = self.hub.subscribe(maxsize=0)
        self._rr_uuids = {u.lower() for u in strap.profile.stream("rr").characteristics}
        #: EEG quality thresholds of the headband's profile (None: the library defaults).
        self.eeg_thresholds: Mapping | None = headband.profile.stream("eeg").quality or None
        self.raw, self.sink, self.scorer = raw, sink, scorer
        self.clock = PhaseClock(protocol, loss_s=loss_s)
        self.acc = SessionCounts()
        self.view = LiveView(connected={headband.name: False, strap.name: False})
        self.loop = SessionLoop(loop, self.clock, self.emit)
        self._timers = Timers(next_trend=TREND_HOP_S)
        self._pending: collections.deque[tuple[str, str]] = collections.deque()
        self._score_at = self._first_phase_after_scored()
        self.t0: float | None = None
        self.trend_rows: list[tuple[str, float, dict, bool, tuple[str, ...]]] = []
        self.events: list[tuple[str, float, dict]] = []
        self.scored = None
        self.stopped = False

    # -- what live views read ----------------------------------------------------------------
    @property
    def eeg_buf(self):
        """The headband's EEG ring buffer."""
        return self.hub.buffer(self.headband.name, "eeg")

    @property
    def rr_buf(self):
        """The strap's RR event buffer."""
        return self.hub.buffer(self.strap.name, "rr")

    @property
    def eeg_spec(self):
        """The EEG stream (channels, sfreq)."""
        return self.eeg_buf.spec

    @property
    def hr_bpm(self) -> float | None:
        """Current heart rate (``60 / median`` of the last 5 valid RR intervals)."""
        return self.view.heart_rate.hr_bpm

    @property
    def channel_quality(self) -> dict[str, float]:
        """Per-channel EEG pass fraction."""
        return self.view.channel_quality

    @property
    def strap_contact(self) -> bool | None:
        """Skin contact of the strap (``None``: not reported)."""
        return self.view.strap_contact

    @property
    def battery(self) -> dict[str, float]:
        """Latest battery level per device (%)."""
        return self.view.battery

    @property
    def connected(self) -> dict[str, bool]:
        """Link state per device."""
        return self.view.connected

    @property
    def controller(self):
        """The closed-loop controller while an intervention runs (and through recovery)."""
        return self.loop.controller

    @property
    def loop_events(self) -> list:
        """Every closed-loop event."""
        return self.loop.events

    # -- transport callbacks ---------------------------------------------------------------
    def on_notification(
        self, device: str, characteristic: str, payload: bytes, received_at: float
    ) -> None:
        """Handle one BLE notification (the transports' callback signature)."""
        if self.t0 is None:
            self.t0 = received_at
            if self.raw is not None:
                self.raw.t0 = received_at
        self.acc.notifications += 1
        t = received_at - self.t0
        self.view.connected[device] = True
        self.hub.on_notification(device, characteristic, payload, received_at)
        if device == self.strap.name and characteristic.lower() in self._rr_uuids:
            self._strap_flags()
        self._drain(t)
        self.view.last_data_t = max(self.view.last_data_t, t)
        self._advance(t)

    def on_link_event(self, event: LinkEvent) -> None:
        """Handle a transport link event (connected, disconnected, stale, gave up...)."""
        self.hub.on_link_event(event)
        if event.kind in ("connected", "disconnected"):
            self.view.connected[event.device] = event.kind == "connected"
        t = 0.0 if self.t0 is None else max(0.0, event.t - self.t0)
        self._drain(t)
        if event.kind in ("connected", "disconnected", "stale", "gave_up", "connect_failed"):
            self.emit(
                "link", t, {"device": event.device, "link": event.kind, "detail": event.detail}
            )

    def on_tick(self, now: float) -> None:
        """Session-clock ticker (transport-clock time ``now``): notices silence, runs the loop."""
        if self.t0 is None:
            self._apply_requests(0.0)
            return
        t = now - self.t0
        if t < (self.clock.last_t or 0.0):
            return
        self._advance(t)

    # -- staff / participant requests (thread-safe: applied on the next notification or tick) --
    def request_mark(self, kind: str = "staff_mark") -> None:
        """Queue a staff mark (a machine name such as ``"movement"``; no free text)."""
        self._pending.append(("mark", str(kind)))

    def request_stop(self, reason: str = "stop button pressed") -> None:
        """The stop button: an immediate safety stop (S6) that ends the session."""
        self._pending.append(("stop", str(reason)))

    def request_music(self, action: str, bpm: float | None = None) -> None:
        """The person turns the music ``"off"`` or sets its ``"tempo"`` (bpm) (issue 21.4)."""
        from addictidx._core.validate import check_option, check_positive

        check_option("action", action, ("off", "tempo"))
        if action == "tempo":
            bpm = check_positive("bpm", bpm)
        self._pending.append(("music", (str(action), bpm)))

    def report_symptom(self, symptom: str = "symptom") -> None:
        """A symptom is reported: safety stop (S6). Ends the intervention (recovery follows) or,
        outside an intervention, the session."""
        self._pending.append(("symptom", str(symptom)))

    @property
    def finished(self) -> bool:
        """True once the protocol ended or the session was stopped."""
        return self.stopped or self.clock.done

    def emit(self, kind: str, t: float, detail: dict) -> None:
        """Record an event and hand it to the sink and the observers."""
        self.events.append((kind, t, detail))
        if self.sink is not None:
            self.sink(kind, t, detail)
        for f in self._observers.event:
            f(kind, t, detail)

    def feed_chunk(self, chunk: Chunk, received_at: float) -> None:
        """Feed a chunk assembled elsewhere (e.g. an LSL inlet) instead of BLE notifications.

        Parameters
        ----------
        chunk : Chunk
            Samples of one of the session's streams: ``chunk.spec.device`` is the headband's
            or the strap's name and ``chunk.spec.name`` a stream of its profile (``"eeg"``,
            ``"rr"``, ...); times on the same clock as ``received_at``.
        received_at : float
            Arrival time (s) on the clock of the chunk's times.
        """
        if self.t0 is None:
            self.t0 = received_at
            if self.raw is not None:
                self.raw.t0 = received_at
        t = received_at - self.t0
        dev = chunk.spec.device
        self.hub.buffer(dev, chunk.spec.name).write(chunk)
        self.view.connected[dev] = True
        self._drain(t)
        self._on_chunk(chunk, t)
        self.view.last_data_t = max(self.view.last_data_t, t)
        self._advance(t)

    # -- internals -------------------------------------------------------------------------
    def _strap_flags(self) -> None:
        # the hub decoded the notification (once); read the strap's contact from it
        contact = self.hub.skin_contact(self.strap.name)
        self.view.strap_contact = contact.detected
        self.acc.hr_no_contact = contact.n_no_contact

    def _drain(self, t: float) -> None:
        q = self._queue
        while not q.empty():
            item = q.get_nowait()
            if isinstance(item, GapRecord):
                if item.reason in ("disconnect", "silence") and self.t0 is not None:
                    self.emit(
                        "gap",
                        max(0.0, item.start_s - self.t0),
                        {
                            "device": item.device,
                            "stream": item.stream,
                            "reason": item.reason,
                            "duration_s": round(item.duration_s, 3),
                            "n_missing": item.n_missing,
                        },
                    )
                continue
            self._on_chunk(item, t)

    def _on_chunk(self, c: Chunk, t: float) -> None:
        dev, name = c.spec.device, c.spec.name
        view = self.view
        for f in self._observers.chunk:
            f(c)
        if dev == self.headband.name and name == "eeg":
            if self.raw is not None:
                self.raw.append_eeg(c)
            self.acc.eeg_samples += c.n_times
            self.acc.eeg_missing += c.n_missing
            if c.n_missing < c.data.size:
                view.last_eeg_t = t
        elif dev == self.strap.name and name == "rr":
            if self.raw is not None:
                self.raw.append_rr(c)
            self.acc.rr_beats += c.n_times
            if c.n_times and view.strap_contact is not False:
                view.last_beat_t = t
                view.heart_rate.extend(c.data[0].tolist())
            if c.n_times:
                self.loop.feed(t, c.data[0])
        elif name == "battery" and c.n_times:
            view.battery[dev] = float(c.data[0, -1])

    def _advance(self, t: float) -> None:
        loss = self.clock.loss_s
        view, timers = self.view, self._timers
        signal_ok = (t - view.last_eeg_t <= loss) and (t - view.last_beat_t <= loss)
        phase = self.clock.phase
        if phase is not None and phase.kind == "check" and t >= timers.next_check:
            timers.next_check = t + CHECK_EVERY_S
            timers.check_ok = self.device_check(t)
        if not self.stopped:
            for kind, te, detail in self.clock.update(
                t, signal_ok=signal_ok, check_ok=timers.check_ok
            ):
                self.emit(kind, float(te), detail)
                self._on_clock_event(kind, float(te), detail)
        self.loop.tick(t)
        self._apply_requests(t)
        if self.t0 is not None:
            self.maybe_tick(self.t0 + t)

    def _apply_requests(self, t: float) -> None:
        while self._pending:
            what, arg = self._pending.popleft()
            if what == "mark":
                self.mark(arg)
            elif what == "symptom" and self.loop.running:
                self.loop.report_symptom(t, arg)
            elif what == "music":
                self.loop.music(t, *arg)
            elif what in ("stop", "symptom"):
                self._stop_session(t, arg if what == "stop" else f"symptom reported ({arg})")

    def _stop_session(self, t: float, reason: str) -> None:
        if self.stopped:
            return
        if not self.loop.press_stop(t, reason):
            self.emit(
                "safety",
                t,
                {
                    "kind": "stop",
                    "rule": "S6",
                    "hr_bpm": self.hr_bpm,
                    "reason": f"[S6] the person asked to stop ({reason}): stop now",
                },
            )
        self.stopped = True
        for kind, te, detail in self.clock.stop(t):
            self.emit(kind, float(te), detail)
        self.emit(
            "session_stopped",
            t,
            {"reason": reason, "phase": self.clock.spans[-1].name if self.clock.spans else None},
        )

    def _first_phase_after_scored(self) -> str | None:
        phases = self.protocol.phases
        last = max((i for i, p in enumerate(phases) if p.scored), default=None)
        if last is None or last + 1 >= len(phases):
            return None
        return phases[last + 1].name

    def _on_clock_event(self, kind: str, t: float, detail: dict) -> None:
        if kind != "phase_start" and kind != "phase_end":
            return
        phase = next((p for p in self.protocol.phases if p.name == detail.get("phase")), None)
        if phase is None:
            return
        if kind == "phase_start" and phase.name == self._score_at and self.scorer is not None:
            self.score_now()
        if kind == "phase_start" and phase.kind == "intervention":
            sc = self.scored
            rest = sc.resting_hr_bpm if sc is not None else None
            self.loop.start(t, rest if rest is not None else self.hr_bpm, sc and sc.prescription)
        elif kind == "phase_end" and phase.kind == "intervention":
            self.loop.end_work(t)

    def score_now(self):
        """Score the scored phases now (once) with the session's scorer; the SessionScore."""
        if self.scored is None and self.scorer is not None:
            self.scored = self.scorer(self)
            self._announce_score(self.scored, to_sink=True)
        return self.scored

    def adopt_score(self, score):
        """Take a score computed by the caller after the session (scored phases ended it).

        Observers are told (``"scored"`` and ``"prescription"``); the sink is not (a session
        scored at its end stores its result, not a ``scored`` event).
        """
        if self.scored is None:
            self.scored = score
            self._announce_score(score, to_sink=False)
        return self.scored

    def _announce_score(self, score, *, to_sink: bool) -> None:
        res, t = score.index, self.clock.last_t or 0.0
        detail = {
            "index": None if res.index is None else float(res.index),
            "band": res.band,
            "z": None if res.z is None else float(res.z),
            "confidence": float(res.confidence),
        }
        if to_sink:
            self.emit("scored", t, detail)
        else:
            for f in self._observers.event:
                f("scored", t, detail)
        if score.prescription is not None:
            for f in self._observers.event:
                f("prescription", t, asdict(score.prescription))

    # -- device check, marks --------------------------------------------------------------------
    def device_check(self, t: float) -> bool:
        """Per-channel EEG quality over the last 4 s and strap contact; updates the live view."""
        from addictidx.features import eeg_epoch_checks

        eeg, spec = self.eeg_buf.latest(CHECK_WINDOW_S), self.eeg_spec
        ok_eeg = False
        if eeg.data.shape[1] >= int(CHECK_WINDOW_S * spec.sfreq) - 12:
            checks = eeg_epoch_checks(
                eeg.data, spec.sfreq, spec.channels, thresholds=self.eeg_thresholds
            )
            q = dict(zip(checks.ch_names, map(float, checks.pass_fraction)))
            self.view.channel_quality = q
            ok_eeg = all(v >= CHECK_MIN_PASS for v in q.values())
        ok_strap = (t - self.view.last_beat_t <= self.clock.loss_s) and self.acc.rr_beats > 0
        return ok_eeg and ok_strap and self.view.strap_contact is not False

    def mark(self, kind: str = "staff_mark", detail: Mapping | None = None) -> None:
        """Staff mark an event now (``kind`` a machine name such as ``"movement"``; no free
        text)."""
        t = 0.0 if self.clock.last_t is None else self.clock.last_t
        self.emit("mark", t, {"label": str(kind), **dict(detail or {})})

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
        while t >= self._timers.next_trend:
            self.tick(self._timers.next_trend)
            self._timers.next_trend += TREND_HOP_S

    def tick(self, t: float) -> None:
        """Compute trend features over the latest windows and hand them to the sink."""
        from addictidx.features import compute_index_features

        eeg = self.eeg_buf.latest(TREND_EEG_S)
        rr = self.rr_buf.latest(TREND_RR_S)
        spec = self.eeg_spec
        feats, q = compute_index_features(
            eeg.data if eeg.data.shape[1] else None,
            spec.sfreq,
            spec.channels,
            rr.data[0] if rr.data.shape[1] else None,
            eeg_thresholds=self.eeg_thresholds,
        )
        if self.clock.phase is None or self.clock.phase.kind != "check":
            self.view.channel_quality = {
                k: float(v) for k, v in q.per_channel.items() if k != "rr"
            }
        row = (self.phase_at(t - 1e-9), t, feats, q.usable, q.flags)
        self.trend_rows.append(row)
        if self.sink is not None:
            self.sink(
                "window",
                t,
                {"phase": row[0], "values": feats, "usable": q.usable, "flags": list(q.flags)},
            )

    def close(self) -> None:
        """End of acquisition: flush the assemblers into the buffers and raw files."""
        self.hub.close()
        self._drain(self.clock.last_t or 0.0)

    def end_protocol(self) -> None:
        """After :meth:`close`: close the protocol where it stands.

        An unfinished protocol is closed at the last session time with a
        ``protocol_incomplete`` event; a finished one gets the trend window that ends it.
        """
        t_last = self.clock.last_t or 0.0
        if not self.clock.done:
            for kind, te, detail in self.clock.close(t_last):
                self.emit(kind, te, detail)
            self.emit("protocol_incomplete", t_last, {"phase": self.phase_at(t_last)})
        elif self.t0 is not None and not self.stopped:
            self.maybe_tick(self.t0 + t_last)

    # -- the data to score ----------------------------------------------------------------------
    def recorded(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``(eeg_times, eeg, rr_times, rr_s)`` on the session clock, everything buffered."""
        t0 = self.t0 or 0.0
        eeg_buf = self.eeg_buf
        eeg = eeg_buf.latest(eeg_buf.capacity_s)
        rr = self.rr_buf.latest(1e9)
        return eeg.times - t0, eeg.data, rr.times - t0, rr.data[0]

    def scored_data(self) -> SessionData:
        """EEG of the eyes-closed phase and RR of all scored phases (EVIDENCE.md §7(i))."""
        et, e, rt, r = self.recorded()
        spec = self.eeg_spec
        return SessionData.from_recording(
            self.clock.spans,
            et,
            e,
            rt,
            r,
            sfreq=spec.sfreq,
            ch_names=spec.channels,
            eeg_thresholds=self.eeg_thresholds,
        )
