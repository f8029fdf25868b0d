"""Assessment commands: ``assess`` and ``sessions list|show|export|erase|
recover|report``.

Heavy libraries (scipy, onnxruntime, matplotlib, edfio, mne, SQLAlchemy) are imported inside the
commands. Output never contains anything but pseudonymous codes.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

from addictidx.cli.app import app, clean_errors, default_store, sessions_app
from addictidx.cli.clinical import (
    AGE_HELP,
    SCREENED_HELP,
    check_replay_speed,
    require_age,
    screening_answers,
)

__all__ = ["assess", "existing_store", "progress_bar", "write_report"]

RESEARCH_HELP = (
    "Also show the research classifier (trained on the UCI alcoholism ERP set, proxy electrodes, "
    "subject-wise AUC 0.70): a separate, research-labelled probability beside the index, never "
    "fused into it; a pipeline demonstration, not a screen."
)

#: Staff mark keys typed during ``assess`` (a line with the key, then Enter). Labels only: the
#: store never holds free text about a person.
MARK_KEYS = {
    "m": "staff_mark",
    "mv": "movement",
    "t": "talking",
    "e": "eyes_opened",
}
#: Safety keys typed during ``assess``: a symptom stops the intervention (or the session outside
#: it); stop ends the session. Both are immediate S6 safety stops, logged as safety events.
SAFETY_KEYS = {"s": "symptom", "x": "stop"}

_DB_URL_HELP = (
    "Database URL instead of the store's SQLite file (e.g. postgresql+psycopg://user@host/db); "
    "default $ADDICTIDX_DB_URL."
)


def existing_store(store: Path | None, db_url: str | None) -> Path:
    """The store folder of a command that reads a store; never creates one (issue 17.9).

    ``sessions list --store demo-store`` (the demo's folder, not its ``store/``) used to create
    an empty store and a keys folder there. A database URL (option or environment) is a store
    elsewhere and is not checked here.
    """
    import os

    from addictidx.store.database import DB_URL_ENV, STORE_FILENAME

    path = Path(store) if store is not None else default_store()
    if db_url or os.environ.get(DB_URL_ENV) or (path / STORE_FILENAME).is_file():
        return path
    hint = ""
    if (path / "store" / STORE_FILENAME).is_file():
        hint = f"; did you mean --store {path / 'store'}?"
    raise ValueError(
        f"{path}: no addictidx store here (no {STORE_FILENAME}); nothing created{hint}"
    )


def progress_bar(quiet: bool):
    """Return (context manager, callback(phase, done_s, total_s)) for a rich progress bar."""
    import contextlib

    if quiet:
        return contextlib.nullcontext(), None
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    progress = Progress(
        TextColumn("[bold]{task.description:<24}"),
        BarColumn(),
        TextColumn("{task.completed:>5.0f}/{task.total:.0f} s session time"),
        TimeRemainingColumn(),
        transient=False,
    )
    task = progress.add_task("starting", total=1.0)

    def on_progress(phase: str, done_s: float, total_s: float) -> None:
        progress.update(task, description=phase, completed=done_s, total=total_s)

    return progress, on_progress


def write_report(store, session_id: int, out_dir: Path) -> dict[str, Path]:
    from addictidx.report.content import report_content
    from addictidx.report.html import write_html
    from addictidx.report.pdf import write_pdf

    rc = report_content(store, session_id)
    stem = f"{rc.subject}_ses-{session_id:04d}_report"
    paths = {
        "report_pdf": write_pdf(rc, out_dir / f"{stem}.pdf"),
        "report_html": write_html(rc, out_dir / f"{stem}.html"),
    }
    track_files(store, rc.subject, paths, "report")
    return paths


def track_files(store, subject: str, paths: dict, kind: str) -> None:
    """Track files written for a subject, so 'sessions erase' removes them (issue 14)."""
    for p in paths.values():
        if p is not None:
            store.erasure.track(subject, p, kind)


def plain_safe(text: str, subject: str, tty: bool) -> str:
    """Output for a non-terminal (a log, a pipe) never carries the code next to values."""
    return text if tty else text.replace(subject, "[code shown on terminals only]")


# --------------------------------------------------------------------------------------------
def _stdin_marks(live_ref) -> None:
    """Read staff mark keys from the terminal (daemon thread)."""
    import threading

    def loop():
        for line in sys.stdin:
            key = line.strip().lower()
            live = live_ref.live
            if live is None or not key:
                continue
            if SAFETY_KEYS.get(key) == "stop":
                live.request_stop("stop key pressed by staff")
            elif SAFETY_KEYS.get(key) == "symptom":
                live.report_symptom("reported to staff")
            else:
                live.request_mark(MARK_KEYS.get(key, "staff_mark"))

    threading.Thread(target=loop, daemon=True).start()


@app.command()
@clean_errors
def assess(
    subject: str = typer.Option(..., "--subject", help="Pseudonymous subject code, e.g. P001."),
    headband: str = typer.Option(
        "auto",
        "--headband",
        help="Headband profile name (muse-2, muse-s, muse-2016, muse-s-athena), or auto "
        "(a classic-protocol Muse; a Muse S Athena must be named). With "
        "--simulate, muse-s-athena replays the recording as Athena packets.",
    ),
    strap: str = typer.Option("auto", "--strap", help="Chest-strap profile name, or auto."),
    simulate: bool = typer.Option(
        False, "--simulate", help="Use simulated devices replaying the bundled real recordings."
    ),
    speed: float = typer.Option(1.0, "--speed", help="Replay speed x real time (simulation)."),
    store: Path | None = typer.Option(
        None, "--store", help="Store directory (default: the user's data directory)."
    ),
    db_url: str | None = typer.Option(None, "--db-url", help=_DB_URL_HELP),
    guided: bool = typer.Option(
        False, "--guided", help="Add the guided intervention and recovery phases."
    ),
    age: int | None = typer.Option(None, "--age", help=AGE_HELP),
    screened: bool = typer.Option(False, "--screened/--not-screened", help=SCREENED_HELP),
    report: bool = typer.Option(True, "--report/--no-report", help="Write the PDF + HTML report."),
    research_model: bool = typer.Option(False, "--research-model", help=RESEARCH_HELP),
    music: bool = typer.Option(
        False,
        "--music",
        help="With --guided: choose tracks of the store's music library ('music scan') that "
        "follow the closed loop's tempo; each change is a session event listed in the report (the "
        "dashboard plays them: 'dashboard --music').",
    ),
    consent_given: bool = typer.Option(
        False,
        "--consent-given",
        help="Staff confirm the subject signed the assessment consent form; it is recorded "
        "(consent scope 'assessment', signed today) before anything is recorded. Without it, "
        "a consent in force must already be on record ('addictidx consent record').",
    ),
    lsl: bool = typer.Option(
        False, "--lsl", help="Also publish the streams, index and markers on LSL (mne-lsl)."
    ),
    source: str | None = typer.Option(
        None,
        "--source",
        help="lsl: score named LSL streams (--eeg-stream, --rr-stream) instead of devices.",
    ),
    lsl_prefix: str = typer.Option(
        "addictidx", "--lsl-prefix", help="First word of the LSL stream names (e.g. a room)."
    ),
    lsl_wait: float = typer.Option(
        0.0, "--lsl-wait", help="With --lsl: wait up to this many seconds for a recorder."
    ),
    eeg_stream: str | None = typer.Option(None, "--eeg-stream", help="LSL EEG stream name."),
    rr_stream: str | None = typer.Option(None, "--rr-stream", help="LSL RR stream name."),
) -> None:
    """Run a guided assessment with a live view (device check, eyes closed, eyes open, scoring).

    Without --simulate the headband and strap are found and connected over Bluetooth LE
    (scan, reconnect with backoff, keep-alive, watchdog); --guided adds the intervention with
    the closed loop and its safety stops (type s + Enter for a symptom, x + Enter to stop).
    """
    from addictidx.store.codes import check_subject_code

    # Every input is checked before a device is touched or a session exists (issue 17.5).
    check_subject_code(subject)
    age = require_age(age)
    if simulate:
        check_replay_speed(speed)
    lsl_in = _check_lsl_source(source, eeg_stream, rr_stream, simulate)
    from addictidx.report.summary import format_summary
    from addictidx.sessions.assessment import MAX_PAUSE_S, run_assessment
    from addictidx.sessions.devices import session_devices
    from addictidx.sessions.protocol import GUIDED_PROTOCOL, STANDARD_PROTOCOL
    from addictidx.store.session_store import SessionStore

    protocol = GUIDED_PROTOCOL if guided else STANDARD_PROTOCOL
    store_dir = store or default_store()
    # Consent is checked before any device or session, creating nothing (issue 14) ...
    # (the same refusal the session itself makes: store.consent.require)
    from addictidx.sessions.run import assessment_consent_state

    state = assessment_consent_state(store_dir, db_url, subject)
    if state == "withdrawn" or (state != "in force" and not consent_given):
        from addictidx._core.errors import ConsentError
        from addictidx.store.consent import consent_refusal

        raise ConsentError(consent_refusal(subject, "assessment", state))
    if lsl_in:
        kind, hb, st = "lsl", None, None
    else:
        kind, hb, st = session_devices(
            simulate, headband, strap, duration_s=protocol.duration_s + MAX_PAUSE_S
        )
    publisher = None
    if lsl:
        from addictidx.interop.lsl_out import publisher_for_devices

        publisher = publisher_for_devices(hb, st, prefix=lsl_prefix)
    if publisher is not None and lsl_wait > 0:
        typer.echo(f"LSL: waiting up to {lsl_wait:g} s for a recorder ...", err=True)
        if not publisher.wait_for_consumers(lsl_wait):
            typer.echo("LSL: no recorder connected; starting anyway.", err=True)
    player = None
    if music:
        from addictidx.music.library import MusicLibrary
        from addictidx.music.session import SessionMusic

        with MusicLibrary(store_dir, url=db_url) as lib:
            player = SessionMusic(lib.tracks(with_tempo=True))
    if not simulate and not lsl_in:
        import asyncio

        from addictidx.sessions.devices import preflight_ble

        # No adapter or no device: one line, exit 2, and no session is created (issue 17.2).
        asyncio.run(preflight_ble((hb, st)))
        speed = 1.0  # real devices run in real time
    from addictidx.cli.live_view import LiveView

    view = LiveView(subject, {**MARK_KEYS, **SAFETY_KEYS})
    tty = sys.stdout.isatty()

    def on_start(live, sid):
        view.live, view.sid = live, sid
        if publisher is not None:
            publisher.bind(live)
        if player is not None:
            player.attach(live, sid)
        if not tty:  # the live view shows it otherwise
            typer.echo(f"session #{sid} started (store {store_dir})", err=True)

    def on_progress(phase, done, total):
        if not tty:  # plain, flushed lines for logs and pipes
            print(f"t={done:.1f}s phase={phase}", flush=True)

    import contextlib

    cm = contextlib.nullcontext()
    if tty:
        from rich.live import Live

        cm = Live(view, refresh_per_second=4, transient=False)
        if sys.stdin.isatty():
            _stdin_marks(view)
    common = {
        "protocol": protocol,
        "age": age,
        "screening": screening_answers(screened),
        "on_progress": on_progress,
        "on_start": on_start,
        "db_url": db_url,
        "research": research_model,
        "observers": tuple(o for o in (publisher, player) if o is not None),
        # ... and recorded by the session once the devices are there
        "consent_given": consent_given,
        "consent_via": "assess --consent-given",
    }
    with cm:
        if lsl_in:
            from addictidx.interop.lsl_assess import run_lsl_assessment
            from addictidx.sessions.assessment import AssessmentOptions

            result = run_lsl_assessment(
                subject,
                store_dir=store_dir,
                eeg_stream=eeg_stream,
                rr_stream=rr_stream,
                headband="muse-2" if headband == "auto" else headband,
                strap="generic-hrs" if strap == "auto" else strap,
                options=AssessmentOptions.build(**common),
            )
        else:
            result = run_assessment(
                subject,
                store_dir=store_dir,
                speed=speed,
                headband=hb,
                strap=st,
                devices=kind,
                **common,
            )
    if publisher is not None:
        publisher.close()
    typer.echo(plain_safe(format_summary(result), result.subject, tty))
    if report:
        with SessionStore(store_dir, url=db_url) as s:
            # Plaintext reports go next to the store, never inside it (issue 9).
            paths = write_report(
                s, result.session_id, Path(store_dir).resolve().parent / "reports"
            )
        typer.echo(f"Report (PDF):   {paths['report_pdf']}")
        typer.echo(f"Report (HTML):  {paths['report_html']}")


def _check_lsl_source(source, eeg_stream, rr_stream, simulate) -> bool:
    """Validate --source/--eeg-stream/--rr-stream before anything starts; True for LSL input."""
    from addictidx._core.validate import check_option

    if source is None:
        if eeg_stream or rr_stream:
            raise ValueError("--eeg-stream/--rr-stream need --source lsl.")
        return False
    check_option("--source", source, ("lsl",))
    if simulate:
        raise ValueError("--source lsl and --simulate exclude each other.")
    if not (eeg_stream or rr_stream):
        raise ValueError("--source lsl needs --eeg-stream NAME and/or --rr-stream NAME.")
    return True


# --------------------------------------------------------------------------------------------
@sessions_app.command("list")
@clean_errors
def sessions_list(
    store: Path | None = typer.Option(None, "--store", help="Store directory."),
    subject: str | None = typer.Option(None, "--subject", help="Only this subject code."),
    db_url: str | None = typer.Option(None, "--db-url", help=_DB_URL_HELP),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List stored sessions."""
    from addictidx.report.explain import session_outcome
    from addictidx.store.session_store import SessionStore

    with SessionStore(existing_store(store, db_url), url=db_url, create=False) as st:
        rows = st.queries.list_sessions(subject)
        for r in rows:  # "complete" alone hides a STOPped or recovered session (issue 17.9)
            r["outcome"] = session_outcome(st.queries.session_detail(r["id"]))
        st.audit_event("view", subject=subject, detail={"what": "list", "n_sessions": len(rows)})
    if json_out:
        typer.echo(json.dumps(rows, indent=2))
        return
    tty = sys.stdout.isatty()  # a log or a pipe never gets the code next to values
    for r in rows:
        idx = "-" if r["index"] is None else f"{r['index']:.0f}"
        subj = (r["subject"] or "-") if tty else "[hidden]"
        typer.echo(
            f"#{r['id']:<4} {subj:<12} {r['started_utc']} {r['outcome']:<16} "
            f"index {idx:>3} {r['band'] or '':<9} baseline {r['baseline'] or '-'}"
        )


@sessions_app.command("show")
@clean_errors
def sessions_show(
    session_id: int = typer.Argument(..., help="Session id."),
    store: Path | None = typer.Option(None, "--store", help="Store directory."),
    db_url: str | None = typer.Option(None, "--db-url", help=_DB_URL_HELP),
) -> None:
    """Show one stored session as JSON."""
    from addictidx.store.session_store import SessionStore

    with SessionStore(existing_store(store, db_url), url=db_url, create=False) as st:
        detail = st.queries.session_detail(session_id)
        from addictidx.report.explain import session_outcome

        detail["outcome"] = session_outcome(detail)
        st.audit_event(
            "view", subject=detail["subject"], session=session_id, detail={"what": "session"}
        )
        typer.echo(json.dumps(detail, indent=2))


@sessions_app.command("export")
@clean_errors
def sessions_export(
    subject: str = typer.Option(..., "--subject", help="Subject code whose sessions to export."),
    out: Path = typer.Option(..., "--out", help="Destination directory."),
    session_id: int | None = typer.Option(None, "--session", help="Only this session."),
    store: Path | None = typer.Option(None, "--store", help="Store directory."),
    db_url: str | None = typer.Option(None, "--db-url", help=_DB_URL_HELP),
    bids: bool = typer.Option(
        False,
        "--bids",
        help="Also write a BIDS dataset: EEG, events and the RR as physiology (needs mne-bids).",
    ),
    report: bool = typer.Option(
        False, "--report", help="Also write each session's PDF + HTML report."
    ),
    fhir: bool = typer.Option(
        False,
        "--fhir",
        help="Also write each session as an HL7 FHIR R5 Bundle (needs 'sharing' consent).",
    ),
) -> None:
    """Export a subject's recordings: EEG as BDF, RR as EDF+ (with phase/event annotations)."""
    from addictidx.sessions.io import export_session, write_bids
    from addictidx.store.codes import check_subject_code
    from addictidx.store.session_store import SessionStore

    check_subject_code(subject)
    with SessionStore(existing_store(store, db_url), url=db_url, create=False) as st:
        rows = [
            r
            for r in st.queries.list_sessions(subject)
            if session_id is None or r["id"] == session_id
        ]
        if not rows:
            raise ValueError(f"No sessions of subject {subject} in this store.")
        if fhir and not st.consent.in_force(subject, "sharing"):  # refuse before writing anything
            raise ValueError(
                "--fhir needs the subject's 'sharing' consent in force; record it with "
                "`addictidx consent record --scope sharing`."
            )
        for r in rows:
            if st.queries.recording(r["id"]) is None:
                typer.echo(f"#{r['id']}: no raw recording (skipped)")
                continue
            paths = export_session(st, r["id"], out)
            track_files(st, subject, paths, "export")
            if bids and paths["eeg_bdf"] is not None:
                vendor, model = _headband_vendor(st.queries.session_detail(r["id"]))
                paths["bids"] = write_bids(
                    paths["eeg_bdf"],
                    Path(out) / "bids",
                    subject=subject,
                    session=r["id"],
                    manufacturer=vendor,
                    model_name=model,
                )
                if paths.get("rr_tsv") is not None:
                    paths["bids_physio"] = _bids_physio(paths, st.queries.session_detail(r["id"]))
                track_files(st, subject, {"bids": paths["bids"]}, "export")
            if fhir:
                from addictidx.interop.fhir_export import export_fhir

                paths["fhir"] = export_fhir(st, r["id"], out)
                track_files(st, subject, {"fhir": paths["fhir"]}, "export")
            if report:
                paths.update(write_report(st, r["id"], Path(out)))
            typer.echo(f"#{r['id']}: " + ", ".join(str(p) for p in paths.values() if p))


def _bids_physio(paths: dict, detail: dict) -> Path:
    """Write the exported RR beside the BIDS EEG file as ``recording-cardiac`` physiology."""
    import numpy as np

    from addictidx.interop.bids_physio import write_bids_physio

    bids_root = Path(paths["bids"])
    stem = Path(paths["eeg_bdf"]).name
    ses = stem.split("_ses-")[1].split("_")[0]
    (eeg_file,) = bids_root.glob(f"sub-*/ses-{ses}/eeg/*_ses-{ses}_task-assessment_eeg.bdf")
    beats = np.loadtxt(paths["rr_tsv"], delimiter="\t", skiprows=1, ndmin=2)
    tsv, _ = write_bids_physio(
        eeg_file,
        beats[:, 0],
        beats[:, 1] / 1000.0,
        device=(detail.get("devices") or {}).get("strap"),
    )
    return tsv


def _headband_vendor(detail: dict) -> tuple[str | None, str | None]:
    """(vendor, profile name) of a session's headband, for the BIDS sidecar."""
    name = (detail.get("devices") or {}).get("headband")
    if not name:
        return None, None
    try:
        from addictidx.acquire.profiles import load_profile

        return load_profile(name).vendor, name
    except Exception:  # noqa: BLE001 - an unknown or edited profile: leave the field n/a
        return None, name


# ``sessions erase`` lives in addictidx/cli/trust.py (with the other store-trust commands).


@sessions_app.command("recover")
@clean_errors
def sessions_recover(
    store: Path | None = typer.Option(None, "--store", help="Store directory."),
    db_url: str | None = typer.Option(None, "--db-url", help=_DB_URL_HELP),
    age: int | None = typer.Option(
        None,
        "--age",
        help="Age in years (18-90) of the interrupted sessions' participant, for their "
        "prescription; without it they are completed with no prescription (never an assumed "
        "age).",
    ),
    force: bool = typer.Option(False, "--force", help="Recover even if the recorder seems alive."),
) -> None:
    """Complete sessions interrupted by a crash from their raw data."""
    from addictidx._core.errors import StoreError
    from addictidx.sessions.recover import recover_session
    from addictidx.store.session_store import SessionStore

    if age is not None:
        age = require_age(age)
    with SessionStore(existing_store(store, db_url), url=db_url, create=False) as st:
        ids = st.queries.running_sessions()
        if not ids:
            typer.echo("No interrupted sessions.")
            return
        for sid in ids:
            try:
                info = recover_session(st, sid, age=age, force=force)
            except StoreError as exc:
                typer.echo(f"#{sid}: not recovered: {exc}")
                continue
            idx = "-" if info["index"] is None else f"{info['index']:.0f} ({info['band']})"
            typer.echo(
                f"#{sid}: recovered {info['eeg_s']:.1f} s of EEG and {info['n_beats']} beats up "
                f"to {info['data_end_s']:.1f} s; index {idx}"
                + ("" if age is not None else "; no prescription (give --age)")
            )


@sessions_app.command("report")
@clean_errors
def sessions_report(
    session_id: int = typer.Argument(..., help="Session id."),
    out: Path = typer.Option(Path("."), "--out", help="Destination directory."),
    store: Path | None = typer.Option(None, "--store", help="Store directory."),
    db_url: str | None = typer.Option(None, "--db-url", help=_DB_URL_HELP),
) -> None:
    """Write the PDF + HTML report of one session."""
    from addictidx.store.session_store import SessionStore

    with SessionStore(existing_store(store, db_url), url=db_url, create=False) as st:
        paths = write_report(st, session_id, out)
    for p in paths.values():
        typer.echo(str(p))
