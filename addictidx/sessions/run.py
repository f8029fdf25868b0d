"""One stored session from ``start_session`` to the stored result, shared by every driver.

:class:`SessionRun` opens the store and the raw files, wires a
:class:`~addictidx.sessions.live.LiveAssessment` to them (trend windows, events and safety events
committed as they happen, decoded data appended as they arrive) and drives it from a notification
generator (:meth:`SessionRun.drive_sync`) or a transport (:meth:`SessionRun.drive_async`).
:func:`score_and_store` scores the scored phases with :func:`~addictidx.sessions.scoring.
score_session` against the subject's history in the store and stores the result; live sessions
and crash recovery both call it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, replace
from typing import Any

import addictidx
from addictidx._core.errors import ConsentError, NoStoreError, StoreError
from addictidx.acquire import iter_notifications
from addictidx.acquire.events import LinkEvent
from addictidx.sessions.live import TICK_S, LiveAssessment, LoopSettings
from addictidx.sessions.scoring import SessionData, SessionScore, SubjectHistory, score_session
from addictidx.store.codes import check_subject_code
from addictidx.store.consent import consent_refusal
from addictidx.store.raw import RawWriter, raw_dir_name
from addictidx.store.session_store import SessionStore

__all__ = [
    "SessionRun",
    "StoreSink",
    "assessment_consent_state",
    "open_consented_store",
    "score_and_store",
    "research_time",
]


def score_and_store(
    store: SessionStore,
    sid: int,
    subject: str,
    data: SessionData,
    *,
    age: float | None,
    screening: Mapping | None = None,
    research: bool = False,
    research_t_s: float = 0.0,
) -> SessionScore:
    """Score a session's scored data against the subject's history and store the result.

    The personal EMG gate (:func:`~addictidx.sessions.scoring.emg_gate`) is applied with the
    history of the store: a session whose EMG indicator is above the person's own 90th
    percentile gets no index and is stored as not usable (so it joins neither the baseline nor
    later percentiles); the gate's record is stored under the ``"emg_gate"`` key of the
    session's quality JSON. With ``research`` the default research classifier also scores the
    eyes-closed EEG, after the index and from nothing the index uses or produces; its block is
    stored apart (:meth:`SessionStore.set_research_result`), never in the index result.

    Parameters
    ----------
    store : SessionStore
    sid : int
        The session being scored.
    subject : str
        Its subject code.
    data : SessionData
        The scored data (:meth:`SessionData.from_recording`).
    age : float | None
        Years (18-90), for the prescription; keyword, required (None: no prescription, as
        when recovering a session without an age). Never assumed.
    screening : Mapping | None
        Pre-session screening answers.
    research : bool
        Also score and store the research classifier.
    research_t_s : float
        Session time the research block is stored at (end of the eyes-closed phase).

    Returns
    -------
    SessionScore
    """
    history = SubjectHistory.from_store(store, subject, before_session=sid)
    score = score_session(data, history, age=age, screening=screening)
    q = score.quality
    store.set_session_features(
        sid,
        score.features_json(),
        usable=q.usable,
        quality={**asdict(q), "emg_gate": score.emg_gate},
    )
    store.set_index_result(sid, score.index)
    if score.prescription is not None:
        store.set_prescription(sid, score.prescription)
    if research:
        from addictidx.models.research import research_block

        block = research_block(data.eeg, data.sfreq, list(data.ch_names))
        store.set_research_result(sid, research_t_s, block)
    return score


def research_time(spans, eeg_times) -> float:
    """Session time a research block is stored at: the end of the last eyes-closed phase."""
    closed = [s for s in spans if s.scored and s.t_end_s is not None and "closed" in s.name]
    if closed:
        return closed[-1].t_end_s
    return float(eeg_times[-1]) if eeg_times.size else 0.0


class StoreSink:
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


def open_consented_store(subject: str, store_dir, options) -> SessionStore:
    """The store of a session about to begin, once the subject's assessment consent is in force
    (the one consent gate of recording, issue 14): refused with :class:`ConsentError` otherwise,
    unless ``options.consent_given`` records the consent staff confirmed. Without that
    confirmation a store that does not exist yet is not created (it holds no consent)."""
    if not options.consent_given:
        try:
            store = SessionStore(store_dir, url=options.db_url, create=False)
        except NoStoreError:
            raise ConsentError(consent_refusal(subject, "assessment", "none")) from None
    else:
        store = SessionStore(store_dir, url=options.db_url)
    try:
        store.consent.require(
            subject, "assessment", given=options.consent_given, via=options.consent_via
        )
    except BaseException:
        store.close()
        raise
    return store


def assessment_consent_state(store_dir, db_url: str | None, subject: str) -> str:
    """The subject's assessment consent state (``"in force"``, ``"withdrawn"``, ``"expired"``,
    ``"none"``) without creating anything (a store that does not exist holds none): what the
    CLI and the dashboard check before touching a device, with the wording of the session's
    own gate (:func:`open_consented_store`)."""
    try:
        with SessionStore(store_dir, url=db_url, create=False) as st:
            return st.consent.state(subject, "assessment")
    except NoStoreError:
        return "none"


class SessionRun:
    """One session from ``start_session`` to the stored result.

    Parameters
    ----------
    subject : str
        Pseudonymous subject code.
    store_dir : path-like
        Store directory.
    options : AssessmentOptions
        How to run it (:class:`~addictidx.sessions.assessment.AssessmentOptions`).
    headband, strap : device
        Resolved devices (simulated or :class:`~addictidx.sessions.devices.BleDevice`).
    simulated : bool
        True for simulated devices.
    """

    def __init__(self, subject: str, store_dir, options, headband, strap, simulated: bool):
        check_subject_code(subject)
        self.wall0 = time.perf_counter()
        self.subject, self.options = subject, options
        self.simulated = simulated
        self.headband, self.strap = headband, strap
        self.devices = {"headband": headband.profile.name, "strap": strap.profile.name}
        self.store = open_consented_store(subject, store_dir, options)
        self.status = "aborted"
        self.transport = None
        try:
            self.sid = self.store.start_session(
                subject,
                devices=self.devices,
                simulated=simulated,
                software=f"addictidx {addictidx.__version__}",
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
                "protocol": options.protocol.to_dict(),
                "eeg_thresholds": dict(eeg.quality or {}) or None,
                "simulated": simulated,
            }
            self.store.set_recording(
                self.sid, raw_rel, protocol=options.protocol.name, meta=self.meta
            )
            self.sink = StoreSink(self.store, self.sid)
            # The subject's own key encrypts the raw files (erasure destroys it, issue 14).
            self.writer = RawWriter(
                self.store.directory / raw_rel,
                self.meta,
                keyring=self.store.recording_keyring(self.sid),
            )
            self.erase_requested = False
            self._stop_checked = 0.0
            self.live = LiveAssessment(
                headband,
                strap,
                options.protocol,
                raw=self.writer,
                sink=self.sink,
                scorer=self.score,
                loop=LoopSettings(age=float(options.age)),
                observers=tuple(options.observers),
            )
        except BaseException:
            self.store.close()
            raise
        if options.on_start is not None:
            options.on_start(self.live, self.sid)

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
        self._check_stop_request()
        before = len(live.trend_rows)
        live.on_notification(device, characteristic, payload, received_at)
        on_progress = self.options.on_progress
        if on_progress is not None and len(live.trend_rows) != before:
            t = live.trend_rows[-1][1]
            total = self.options.protocol.duration_s
            on_progress(live.phase_at(t), min(t, total), total)
        return None

    def _check_stop_request(self) -> None:
        """An erasure of this subject asks the recording to stop (a file in the raw folder,
        checked at most twice a second): stop now and store nothing more (issue 14)."""
        now = time.monotonic()
        if self.erase_requested or now - self._stop_checked < 0.5:
            return
        self._stop_checked = now
        if self.writer.stop_requested():
            self.erase_requested = True
            self.live.request_stop("erasure of the subject requested")

    def score(self, live: LiveAssessment) -> SessionScore:
        """Score the scored phases of ``live`` and store the result (the live scorer)."""
        o, spec = self.options, live.eeg_spec
        et, e, rt, r = live.recorded()
        data = SessionData.from_recording(
            live.clock.spans,
            et,
            e,
            rt,
            r,
            sfreq=spec.sfreq,
            ch_names=spec.channels,
            eeg_thresholds=live.eeg_thresholds,
        )
        return score_and_store(
            self.store,
            self.sid,
            self.subject,
            data,
            age=o.age,
            screening=o.screening,
            research=o.research,
            research_t_s=research_time(live.clock.spans, et),
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
    def finish(self) -> dict[str, Any]:
        """Close acquisition, store the phases, score if not yet scored.

        Returns
        -------
        dict
            The fields of :class:`~addictidx.sessions.assessment.AssessmentResult` that the run
            knows.
        """
        live, store, sid = self.live, self.store, self.sid
        if self.erase_requested:  # release the recording; the erasure removes the rest
            self.writer.close()
            raise StoreError(
                f"Session #{sid} stopped: erasure of the subject was requested; nothing more "
                "was stored."
            )
        live.close()
        live.end_protocol()
        t_last = live.clock.last_t or 0.0
        self.writer.close()
        total = self.options.protocol.duration_s
        if self.options.on_progress is not None:
            self.options.on_progress("scoring", total, total)
        for span in live.clock.spans:  # pauses are in the events (signal_lost/resumed)
            store.add_phase(sid, span.name, span.t_start_s, span.t_end_s)
        if live.acc.eeg_missing:
            store.add_event(sid, t_last, "eeg_gap_samples", {"n_missing": live.acc.eeg_missing})
        score = live.scored or live.adopt_score(self.score(live))
        self.status = "complete"
        stats = live.hub.stats().get(self.headband.name, {})
        return {
            "subject": self.subject,
            "session_id": sid,
            "store_path": store.path,
            "protocol": self.options.protocol.name,
            "session_time_s": float(live.clock.spans[-1].t_end_s) if live.clock.spans else 0.0,
            "wall_time_s": time.perf_counter() - self.wall0,
            "simulated": self.simulated,
            "devices": self.devices,
            "features": score.features_json(),
            "quality": score.quality,
            "accounting": {
                "eeg_samples": live.acc.eeg_samples,
                "eeg_missing": live.acc.eeg_missing,
                "rr_beats": live.acc.rr_beats,
                "notifications": live.acc.notifications,
                "eeg_late_packets": int(stats.get("eeg_late", 0)),
            },
            "n_feature_windows": self.sink.n_windows,
            "index": score.index,
            "prescription": score.prescription,
            "phases": tuple((s.name, s.t_start_s, s.t_end_s) for s in live.clock.spans),
            "events": tuple(
                (k, t) for k, t, _ in live.events if k not in ("phase_start", "phase_end")
            ),
            "safety_events": tuple(
                (t, d["kind"], d["reason"]) for k, t, d in live.events if k == "safety"
            ),
            "stopped": live.stopped,
            "research": store.queries.research_result(sid) if self.options.research else None,
            "emg_gate": (store.queries.session_quality(sid) or {}).get("emg_gate"),
        }

    def close(self) -> None:
        """Close the raw files and the store; mark the session complete or aborted."""
        try:
            self.writer.close()
            self.store.end_session(self.sid, status=self.status)
        finally:
            self.store.close()
