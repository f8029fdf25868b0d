"""The live side of an assessment: notifications in, buffers, raw files, protocol clock, closed loop.

:class:`LiveAssessment` is transport-agnostic. The simulated devices (replayed through
:class:`~addictidx.acquire.ReplayTransport` or :func:`~addictidx.acquire.iter_notifications`)
and real devices (:class:`~addictidx.acquire.BleakTransport`) feed the same two callbacks,
:meth:`LiveAssessment.on_notification` and :meth:`LiveAssessment.on_link_event`, and the same
:class:`~addictidx.acquire.StreamHub` decodes and assembles (gap-marked ring buffers, battery,
reconnects). A session-clock ticker calls :meth:`LiveAssessment.on_tick` so that silence of both
devices pauses the session even though no notification arrives.

During a phase of kind ``intervention`` a :class:`~addictidx.prescribe.controller.LoopController`
runs on RR-derived heart rate: zone guidance, music tempo and the enforced safety stops S1-S7.
Every controller event is handed to the sink (``"safety"`` for stops, pauses, prompts and flags;
``"loop"`` for guidance and tempo) and so to the store. A safety stop ends the intervention (the
recovery phase follows, so the 1-min HR recovery is measured); the stop button ends the session.
Stops are for safety and audit only: nothing reads them for any score.
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from addictidx._core.types import Chunk
from addictidx.acquire import StreamHub, decode_heart_rate_measurement
from addictidx.acquire.events import GapRecord, LinkEvent
from addictidx.sessions.protocol import PhaseClock, Protocol
from addictidx.store.raw import RawWriter

__all__ = [
    "LiveAssessment",
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
#: The closed loop is ticked at least this often (s) (the controller needs >= 1 Hz).
LOOP_TICK_S = 1.0
#: Controller event kinds stored as safety events (the rest are guidance / tempo).
SAFETY_KINDS = ("stop", "pause", "resume", "prompt", "flag", "hr_recovery")
#: Beats for the displayed heart rate (60 / median RR, as the controller).
HR_BEATS = 5

#: ``sink(kind, t_s, detail)`` receives events; ``kind`` "window" carries a trend window.
EventSink = Callable[[str, float, dict], None]


@dataclass(frozen=True)
class LoopSettings:
    """What the closed loop needs besides the prescription.

    Parameters
    ----------
    age : float
        Years (HRmax by Tanaka unless ``hrmax``).
    hrmax : float | None
        Measured HRmax (bpm).
    warmup_s : float
        No zone guidance during the first seconds of the intervention.
    """

    age: float = 30.0
    hrmax: float | None = None
    warmup_s: float = 60.0


@dataclass
class _Accounting:
    eeg_samples: int = 0
    eeg_missing: int = 0
    rr_beats: int = 0
    notifications: int = 0
    hr_no_contact: int = 0
    extra: dict = field(default_factory=dict)


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
        ``scorer(live) -> (features, quality, index_result, prescription)``; called once, when
        the phase after the last scored phase starts (so a guided intervention has its
        prescription). Without phases after the scored ones the caller scores at the end.
    loop : LoopSettings | None
        Closed-loop settings for ``intervention`` phases (default :class:`LoopSettings`).

    Attributes
    ----------
    hub : StreamHub
        Decoding, assembly and gap-marked buffers of both devices.
    clock : PhaseClock
        Where the protocol is.
    hr_bpm : float | None
        RR-derived heart rate (60 / median of the last 5 RR).
    channel_quality : dict of str to float
        Per-channel EEG pass fraction (device check, then each trend window).
    strap_contact : bool | None
        Skin contact of the strap (``None``: not reported).
    battery : dict of str to float
        Latest battery level per device (%).
    controller : LoopController | None
        The closed loop while an intervention runs (and through recovery).
    loop_events : list of LoopEvent
        Every controller event.
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
        scorer: Callable[[LiveAssessment], tuple] | None = None,
        loop: LoopSettings | None = None,
    ) -> None:
        self.headband = headband
        self.strap = strap
        self.protocol = protocol
        cap = protocol.duration_s + MAX_PAUSE_S + 30.0
        self.hub = StreamHub(
            {headband.name: headband.profile, strap.name: strap.profile},
            capacity_s=cap,
            # RR: capacity for 220 bpm over the whole protocol.
            event_capacity=int(cap * 220 / 60) + 16,
            max_lag_blocks=1,
        )
        self._queue = self.hub.subscribe(maxsize=0)
        self.eeg_buf = self.hub.buffer(headband.name, "eeg")
        self.rr_buf = self.hub.buffer(strap.name, "rr")
        self.eeg_spec = self.eeg_buf.spec
        self._rr_uuids = {u.lower() for u in strap.profile.stream("rr").characteristics}
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
        self.last_data_t = 0.0
        self.hr_bpm: float | None = None
        self._recent_rr: collections.deque[float] = collections.deque(maxlen=HR_BEATS)
        self.channel_quality: dict[str, float] = {}
        self.strap_contact: bool | None = None
        self.battery: dict[str, float] = {}
        self.connected: dict[str, bool] = {headband.name: False, strap.name: False}
        self._next_check = 0.0
        self._check_ok = False
        self.events: list[tuple[str, float, dict]] = []
        self._pending: collections.deque[tuple[str, str]] = collections.deque()
        # scoring and the closed loop
        self.scorer = scorer
        self.loop_settings = loop or LoopSettings()
        self.scored: tuple | None = None
        self._score_at = self._first_phase_after_scored()
        self.controller = None
        self.loop_events: list = []
        self._next_loop_tick = 0.0
        self.stopped = False

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
        self.connected[device] = True
        if device == self.strap.name and characteristic.lower() in self._rr_uuids:
            self._strap_flags(payload)
        self.hub.on_notification(device, characteristic, payload, received_at)
        self._drain(t)
        self.last_data_t = max(self.last_data_t, t)
        self._advance(t)

    def on_link_event(self, event: LinkEvent) -> None:
        """Handle a transport link event (connected, disconnected, stale, gave up...)."""
        self.hub.on_link_event(event)
        if event.kind in ("connected", "disconnected"):
            self.connected[event.device] = event.kind == "connected"
        t = 0.0 if self.t0 is None else max(0.0, event.t - self.t0)
        self._drain(t)
        if event.kind in ("connected", "disconnected", "stale", "gave_up", "connect_failed"):
            self._emit(
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

    def report_symptom(self, symptom: str = "symptom") -> None:
        """A symptom is reported: safety stop (S6). Ends the intervention (recovery follows) or,
        outside an intervention, the session."""
        self._pending.append(("symptom", str(symptom)))

    @property
    def finished(self) -> bool:
        """True once the protocol ended or the session was stopped."""
        return self.stopped or self.clock.done

    # -- internals -------------------------------------------------------------------------
    def _strap_flags(self, payload: bytes) -> None:
        try:
            m = decode_heart_rate_measurement(payload)
        except Exception:  # noqa: BLE001 - the hub counts the decode error
            return
        self.strap_contact = bool(m.contact_detected) if m.contact_supported else None
        if m.contact_supported and not m.contact_detected:
            self.acc.hr_no_contact += 1

    def _drain(self, t: float) -> None:
        q = self._queue
        while not q.empty():
            item = q.get_nowait()
            if isinstance(item, GapRecord):
                if item.reason in ("disconnect", "silence") and self.t0 is not None:
                    self._emit(
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
        if dev == self.headband.name and name == "eeg":
            if self.raw is not None:
                self.raw.append_eeg(c)
            self.acc.eeg_samples += c.n_times
            self.acc.eeg_missing += c.n_missing
            if c.n_missing < c.data.size:
                self.last_eeg_t = t
        elif dev == self.strap.name and name == "rr":
            if self.raw is not None:
                self.raw.append_rr(c)
            self.acc.rr_beats += c.n_times
            if c.n_times and self.strap_contact is not False:
                self.last_beat_t = t
                self._recent_rr.extend(float(v) for v in c.data[0])
                self.hr_bpm = 60.0 / float(np.median(self._recent_rr))
            if self.controller is not None and c.n_times:
                self._loop(self.controller.feed(t, c.data[0]))
        elif name == "battery" and c.n_times:
            self.battery[dev] = float(c.data[0, -1])

    def _emit(self, kind: str, t: float, detail: dict) -> None:
        self.events.append((kind, t, detail))
        if self.sink is not None:
            self.sink(kind, t, detail)

    def _advance(self, t: float) -> None:
        loss = self.clock.loss_s
        signal_ok = (t - self.last_eeg_t <= loss) and (t - self.last_beat_t <= loss)
        phase = self.clock.phase
        if phase is not None and phase.kind == "check" and t >= self._next_check:
            self._next_check = t + CHECK_EVERY_S
            self._check_ok = self.device_check(t)
        if not self.stopped:
            for kind, te, detail in self.clock.update(
                t, signal_ok=signal_ok, check_ok=self._check_ok
            ):
                self._emit(kind, float(te), detail)
                self._on_clock_event(kind, float(te), detail)
        if self.controller is not None and t >= self._next_loop_tick:
            self._next_loop_tick = t + LOOP_TICK_S
            self._loop(self.controller.tick(t))
        self._apply_requests(t)
        if self.t0 is not None:
            self.maybe_tick(self.t0 + t)

    def _apply_requests(self, t: float) -> None:
        while self._pending:
            what, arg = self._pending.popleft()
            if what == "mark":
                self.mark(arg)
            elif what == "symptom" and self._in_intervention():
                self._loop(self.controller.report_symptom(t, arg))
            elif what in ("stop", "symptom"):
                self._stop_session(t, arg if what == "stop" else f"symptom reported ({arg})")

    def _in_intervention(self) -> bool:
        p = self.clock.phase
        return (
            p is not None
            and p.kind == "intervention"
            and self.controller is not None
            and self.controller.status != "stopped"
        )

    def _stop_session(self, t: float, reason: str) -> None:
        if self.stopped:
            return
        ctl = self.controller
        if ctl is not None and ctl.status != "stopped":
            self._loop(ctl.press_stop(t, reason))
        else:
            self._emit(
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
            self._emit(kind, float(te), detail)
        self._emit(
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
            self._start_loop(t)
        elif kind == "phase_end" and phase.kind == "intervention" and self.controller is not None:
            self._loop(self.controller.end_work(t))

    def score_now(self) -> tuple | None:
        """Score the scored phases now (once) with the session's scorer."""
        if self.scored is None and self.scorer is not None:
            self.scored = self.scorer(self)
            self._emit(
                "scored",
                self.clock.last_t or 0.0,
                {
                    "index": None if self.scored[2].index is None else float(self.scored[2].index),
                    "band": self.scored[2].band,
                },
            )
        return self.scored

    def _start_loop(self, t: float) -> None:
        """Build the closed loop from the prescription (needs a resting HR)."""
        from addictidx.prescribe.controller import LoopConfig, LoopController
        from addictidx.prescribe.safety import safety_limits

        feats, _q, _res, rx = self.scored if self.scored is not None else ({}, None, None, None)
        rest = (feats or {}).get("hr_mean_bpm") or self.hr_bpm
        if rest is None:
            self._emit("loop_unavailable", t, {"reason": "no resting heart rate"})
            return
        s = self.loop_settings
        zone = (
            None if rx is None or rx.hr_target_bpm is None else tuple(map(float, rx.hr_target_bpm))
        )
        limits = safety_limits(age=s.age, resting_hr=float(rest), hrmax=s.hrmax, zone_bpm=zone)
        music = rx is not None and rx.music_bpm is not None
        cfg = LoopConfig(
            limits=limits,
            warmup_s=s.warmup_s,
            music=music,
            music_preferred_bpm=float(np.mean(rx.music_bpm)) if music else None,
        )
        self.controller = LoopController(cfg, t0_s=t)
        self._next_loop_tick = t
        self._emit(
            "loop_start",
            t,
            {
                "zone_bpm": None if zone is None else list(zone),
                "stop_bpm": round(limits.stop_bpm, 1),
                "music": music,
                "rule_id": None if rx is None else rx.rule_id,
            },
        )

    def _loop(self, events) -> None:
        for e in events:
            self.loop_events.append(e)
            detail = {"kind": e.kind, "rule": e.rule, "reason": e.reason, "hr_bpm": e.hr_bpm}
            self._emit("safety" if e.kind in SAFETY_KINDS else "loop", float(e.t_s), detail)
            if e.kind == "stop":
                p = self.clock.phase
                if p is not None and p.kind == "intervention":
                    for kind, te, d in self.clock.end_phase(float(e.t_s), {"safety_stop": e.rule}):
                        self._emit(kind, float(te), d)

    # -- device check, marks --------------------------------------------------------------------
    def device_check(self, t: float) -> bool:
        """Per-channel EEG quality over the last 4 s and strap contact; updates the live view."""
        from addictidx.features import eeg_epoch_checks

        eeg = self.eeg_buf.latest(CHECK_WINDOW_S)
        ok_eeg = False
        if eeg.data.shape[1] >= int(CHECK_WINDOW_S * self.eeg_spec.sfreq) - 12:
            checks = eeg_epoch_checks(
                eeg.data,
                self.eeg_spec.sfreq,
                self.eeg_spec.channels,
                thresholds=self._eeg_thresholds,
            )
            self.channel_quality = dict(zip(checks.ch_names, map(float, checks.pass_fraction)))
            ok_eeg = all(v >= CHECK_MIN_PASS for v in self.channel_quality.values())
        ok_strap = (t - self.last_beat_t <= self.clock.loss_s) and self.acc.rr_beats > 0
        return ok_eeg and ok_strap and self.strap_contact is not False

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
            self.sink(
                "window",
                t,
                {"phase": row[0], "values": feats, "usable": q.usable, "flags": list(q.flags)},
            )

    def close(self) -> None:
        """End of acquisition: flush the assemblers into the buffers and raw files."""
        self.hub.close()
        self._drain(self.clock.last_t or 0.0)

    # -- the data to score ----------------------------------------------------------------------
    def recorded(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``(eeg_times, eeg, rr_times, rr_s)`` on the session clock, everything buffered."""
        t0 = self.t0 or 0.0
        eeg = self.eeg_buf.latest(self.eeg_buf.capacity_s)
        rr = self.rr_buf.latest(1e9)
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
