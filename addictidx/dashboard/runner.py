"""Start, watch and stop sessions from the dashboard, on the web server's own event loop.

The session is :func:`addictidx.sessions.assessment.run_assessment_async` with the devices of
:func:`addictidx.sessions.devices.session_devices`, the same call ``addictidx assess`` makes, so
the dashboard has no pipeline of its own. It runs as a task on the loop uvicorn serves from (the
loop bleak needs for real devices).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from addictidx._core.errors import AddictIdxError, ConsentError
from addictidx.prescribe import check_age
from addictidx.store.codes import check_subject_code
from addictidx.store.consent import consent_refusal

__all__ = ["DashboardRunner", "NoConsent", "StartRequest", "CONSENT_VIA"]

logger = logging.getLogger(__name__)

#: How the audit log names a consent staff confirmed on the dashboard's start form.
CONSENT_VIA = "dashboard start form"


class NoConsent(ConsentError):
    """The subject has no assessment consent in force and it may not be recorded here (refused
    before anything is recorded; the page shows the message)."""


@dataclass(frozen=True)
class StartRequest:
    """One checked start: who, the clinical inputs staff gave for this person, and whether the
    session must first record the assessment consent staff confirmed.

    Attributes
    ----------
    subject : str
        Pseudonymous subject code (checked).
    age : float
        Years, 18-90 (checked).
    screened : bool
        Staff confirmed the pre-session medical screening.
    record_consent : bool
        No consent in force yet: record the one staff confirmed (after the device pre-flight).
    """

    subject: str
    age: float
    screened: bool
    record_consent: bool


class DashboardRunner:
    """Sessions of one dashboard (one at a time).

    Parameters
    ----------
    store_dir : path-like
        Session store.
    simulate : bool
        Simulated devices replaying the bundled real recordings, else real BLE devices.
    headband, strap : str
        Profile names or ``"auto"``.
    speed : float
        Replay speed of simulated devices (1 = real time).
    guided : bool
        Run the guided protocol (intervention with the closed loop, recovery).
    age : float | None
        The start form's default age in years (``--age`` at launch; None: the form starts
        empty). Each start gives the person's own age (:meth:`start`); nothing is assumed.
    screened : bool
        The start form's default for "staff confirmed the pre-session medical screening"
        (each start says it again).
    db_url : str | None
        Database URL instead of the store's SQLite file.
    research : bool
        Also score the research classifier (UCI alcoholism, labelled "research"); the page
        shows it in its own panel, never fused into the index (default off).
    lsl : bool
        Also publish each session's streams, index and markers on Lab Streaming Layer
        (:mod:`addictidx.interop.lsl_out`).
    transport_options : dict | None
        Passed to :func:`~addictidx.sessions.assessment.run_assessment_async` (tests inject
        fake bleak classes and a clock here).
    """

    def __init__(
        self,
        store_dir: str | Path,
        *,
        simulate: bool,
        headband: str = "auto",
        strap: str = "auto",
        speed: float = 1.0,
        guided: bool = False,
        age: float | None = None,
        screened: bool = False,
        db_url: str | None = None,
        transport_options: dict | None = None,
        research: bool = False,
        lsl: bool = False,
        music: bool = False,
    ) -> None:
        self.store_dir = Path(store_dir)
        self.simulate = bool(simulate)
        self.headband, self.strap = headband, strap
        self.speed = float(speed)
        self.guided = bool(guided)
        self.age = None if age is None else check_age(age)
        self.screened = bool(screened)
        self.db_url = db_url
        self.transport_options = transport_options
        self.research = bool(research)
        self.lsl = bool(lsl)
        self.music = bool(music)
        #: The music player of the current session (:class:`~addictidx.music.session.
        #: SessionMusic`), None without ``music``.
        self.music_player = None
        self._music_lib = None
        self.live = None
        self.session_id: int | None = None
        self.subject: str | None = None
        self.status = "idle"
        self.error: str | None = None
        self.task: asyncio.Task | None = None
        self._store = None
        self._index: tuple[int, dict | None] | None = None
        self._research: tuple[int, dict | None] | None = None

    # -- store ---------------------------------------------------------------------------------
    @property
    def store(self):
        """The session store (opened on first use)."""
        if self._store is None:
            from addictidx.store.session_store import SessionStore

            self._store = SessionStore(self.store_dir, url=self.db_url)
        return self._store

    def close(self) -> None:
        """Stop a running session and close the store."""
        if self.live is not None and self.status == "running":
            self.live.request_stop("dashboard closed")
        if self._store is not None:
            self._store.close()
            self._store = None
        if self._music_lib is not None:
            self._music_lib.close()
            self._music_lib = None

    # -- sessions ------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        """True while a session task runs."""
        return self.task is not None and not self.task.done()

    def consent_state(self, subject: str) -> str:
        """The subject's assessment consent today: ``"in force"``, ``"withdrawn"``,
        ``"expired"`` or ``"none"`` (:func:`addictidx.sessions.run.assessment_consent_state`).
        Creates nothing (a store that does not exist yet holds no consent)."""
        from addictidx.sessions.run import assessment_consent_state

        return assessment_consent_state(self.store_dir, self.db_url, subject)

    def check_start(
        self,
        subject: str,
        *,
        age: float | None,
        screened: bool | None = None,
        consent_given: bool = False,
    ) -> StartRequest:
        """Check a start before anything is recorded (issue 14: consent; 17.5: clinical inputs).

        Parameters
        ----------
        subject : str
            Pseudonymous subject code.
        age : float
            The person's age in years (18-90), required: HRmax = 208 - 0.7 x age sets the
            exercise targets and the closed loop's safety stops.
        screened : bool | None
            Staff confirmed the medical screening (None: the launch's ``screened``).
        consent_given : bool
            Staff confirm the person gave (signed) assessment consent; when none is in force it
            is recorded, dated today and audited, before the session starts (like ``assess
            --consent-given``). A withdrawal on record is never overridden here.

        Raises
        ------
        ValueError
            Bad subject code or age (one line).
        NoConsent
            No assessment consent in force and none confirmed, or consent withdrawn.
        """
        check_subject_code(subject)
        if age is None:
            raise ValueError(
                "'age' is required: the person's age in years (18-90) sets HRmax = 208 - 0.7 x "
                "age, the exercise targets and the safety stops, and is never assumed."
            )
        age = check_age(age)
        state = self.consent_state(subject)
        if state == "withdrawn":
            raise NoConsent(consent_refusal(subject, "assessment", state))
        if state != "in force" and not consent_given:
            raise NoConsent(
                f"No assessment consent in force for {subject}: tick 'consent given' once the "
                "person has signed the assessment consent form (it is recorded and audited)."
            )
        return StartRequest(
            subject,
            age,
            self.screened if screened is None else bool(screened),
            record_consent=state != "in force",
        )

    def start(
        self,
        subject: str,
        *,
        age: float | None,
        screened: bool | None = None,
        consent_given: bool = False,
    ) -> StartRequest:
        """Start a session for ``subject`` (a task on the running loop) once
        :meth:`check_start` passes (same parameters); returns the checked request."""
        req = self.check_start(subject, age=age, screened=screened, consent_given=consent_given)
        if self.running:
            raise RuntimeError(f"Session #{self.session_id} is still running; stop it first.")
        self.subject, self.session_id, self.live = subject, None, None
        self.status, self.error, self._index, self._research = "running", None, None, None
        self.task = asyncio.get_running_loop().create_task(self._run(req))
        return req

    def _on_start(self, live, sid: int) -> None:
        self.live, self.session_id = live, sid

    async def _run(self, req: StartRequest) -> None:
        from addictidx.sessions.assessment import MAX_PAUSE_S, run_assessment_async
        from addictidx.sessions.devices import session_devices
        from addictidx.sessions.protocol import GUIDED_PROTOCOL, STANDARD_PROTOCOL

        protocol = GUIDED_PROTOCOL if self.guided else STANDARD_PROTOCOL
        try:
            kind, hb, st = session_devices(
                self.simulate,
                self.headband,
                self.strap,
                duration_s=protocol.duration_s + MAX_PAUSE_S,
            )
            if kind == "ble" and not self.transport_options:
                from addictidx.sessions.devices import preflight_ble

                # no adapter or no device: an error on the page, and no session (issue 17.2)
                await preflight_ble((hb, st))
            observers, on_start = (), self._on_start
            if self.lsl:
                from addictidx.interop.lsl_out import publisher_for_devices

                pub = publisher_for_devices(hb, st)
                observers = (pub,)

                def on_start(live, sid, _pub=pub):
                    self._on_start(live, sid)
                    _pub.bind(live)

            if self.music:
                observers, on_start = self._with_music(observers, on_start)

            result = await run_assessment_async(
                req.subject,
                store_dir=self.store_dir,
                protocol=protocol,
                speed=self.speed if self.simulate else 1.0,
                age=req.age,
                screening={"medically_screened": True if req.screened else None},
                headband=hb,
                strap=st,
                on_start=on_start,
                observers=observers,
                db_url=self.db_url,
                devices=kind,
                transport_options=self.transport_options,
                research=self.research,
                # recorded by the session's consent gate once the devices are there, before
                # the session exists; a withdrawal meanwhile refuses it (ConsentError)
                consent_given=req.record_consent,
                consent_via=CONSENT_VIA,
            )
            self.status = "stopped" if result.stopped else "complete"
            for obs in observers:
                if hasattr(obs, "close"):
                    obs.close()
        except (AddictIdxError, NoConsent) as exc:  # expected (no adapter, ...): one line
            logger.warning("session not started: %s", exc)
            self.status, self.error = "error", str(exc)
        except Exception as exc:  # noqa: BLE001 - shown on the page, logged
            logger.exception("session failed")
            self.status, self.error = "error", f"{type(exc).__name__}: {exc}"

    # -- music (issue 21.4) -----------------------------------------------------------------------
    @property
    def music_library(self):
        """The store's music library (opened on first use)."""
        if self._music_lib is None:
            from addictidx.music.library import MusicLibrary

            self._music_lib = MusicLibrary(self.store_dir, url=self.db_url)
        return self._music_lib

    def _with_music(self, observers: tuple, on_start):
        """Add a :class:`SessionMusic` player of the library to the session's observers."""
        from addictidx.music.session import SessionMusic

        player = SessionMusic(self.music_library.tracks(with_tempo=True))
        self.music_player = player

        def chained(live, sid, _prev=on_start):
            _prev(live, sid)
            player.attach(live, sid)

        return (*observers, player), chained

    def music_now(self) -> dict | None:
        """What the player plays now (None: silent)."""
        p = self.music_player
        return None if p is None or not self.music else p.snapshot()

    def music_action(self, action: str, bpm: float | None = None) -> bool:
        """The person turns the music off (``"off"``) or sets its tempo (``"tempo"``, bpm)."""
        if not self.music or self.live is None or not self.running:
            return False
        self.live.request_music(action, bpm)
        return True

    def music_file(self, track_id: int) -> Path | None:
        """The file of a scanned track, by id (None unless it is still the scanned file)."""
        if not self.music:
            return None
        return self.music_library.playable_file(track_id)

    def stop(self, reason: str = "stop button pressed on the dashboard") -> bool:
        """The stop button: immediate safety stop (S6) of the running session."""
        if self.live is None or not self.running:
            return False
        self.live.request_stop(reason)
        return True

    def symptom(self, symptom: str = "reported on the dashboard") -> bool:
        """A reported symptom: safety stop (S6) of the intervention, or of the session."""
        if self.live is None or not self.running:
            return False
        self.live.report_symptom(symptom)
        return True

    def mark(self, label: str) -> bool:
        """A staff mark (machine name only)."""
        if self.live is None or not self.running:
            return False
        self.live.request_mark(label)
        return True

    # -- what the store holds ---------------------------------------------------------------------
    def stored_index(self) -> dict | None:
        """Index view of the current session as the store holds it (once scored)."""
        from addictidx.dashboard.state import index_view

        sid = self.session_id
        if sid is None:
            return None
        if self._index is not None and self._index[0] == sid and self._index[1] is not None:
            return self._index[1]
        scored = self.live is not None and self.live.scored is not None
        if not scored and self.status == "running":
            return None
        d = self.store.queries.session_detail(sid)
        view = index_view(d.get("index_result"), d.get("prescription"))
        self._index = (sid, view)
        return view

    def stored_research(self) -> dict | None:
        """The research block of the current session as the store holds it (None when the
        research model is off or the session is not scored yet)."""
        from addictidx.dashboard.state import research_view

        sid = self.session_id
        if not self.research or sid is None:
            return None
        if self._research is not None and self._research[0] == sid:
            return self._research[1]
        if self.stored_index() is None:
            return None
        view = research_view(self.store.queries.research_result(sid))
        if view is not None or self.status != "running":
            self._research = (sid, view)
        return view

    def history(self, subject: str) -> list[dict[str, Any]]:
        """The subject's sessions (id, date, status, index, band) with report links."""
        from addictidx.report.explain import session_outcome

        check_subject_code(subject)
        rows = self.store.queries.list_sessions(subject)
        for r in rows:
            r["outcome"] = session_outcome(self.store.queries.session_detail(r["id"]))
            r["report_html"] = f"/report/{r['id']}.html"
            r["report_pdf"] = f"/report/{r['id']}.pdf"
        return rows

    def report(self, session_id: int, fmt: str) -> Path:
        """Write (once) and return the session's report (``fmt`` "html" or "pdf")."""
        from addictidx.report.content import report_content
        from addictidx.report.html import write_html
        from addictidx.report.pdf import write_pdf

        # Plaintext reports go beside the store, never inside it, and are tracked so that
        # 'sessions erase' removes them (issue 14).
        out = self.store_dir.resolve().parent / "reports"
        rc = report_content(self.store, int(session_id))
        path = out / f"{rc.subject}_ses-{int(session_id):04d}_report.{fmt}"
        if not path.exists():
            (write_html if fmt == "html" else write_pdf)(rc, path)
            self.store.erasure.track(rc.subject, path, "report")
        return path
