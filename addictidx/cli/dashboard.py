"""``addictidx dashboard``: the live web dashboard for staff (issue #10)."""

from __future__ import annotations

from pathlib import Path

import typer

from addictidx.cli.app import app, clean_errors, default_store
from addictidx.cli.clinical import SCREENED_HELP, require_age

__all__ = ["dashboard"]

AGE_FORM_HELP = (
    "The start form's default age in years (18-90); staff confirm or change it for each person "
    "at every start (HRmax = 208 - 0.7 x age sets the exercise targets and safety stops; it is "
    "never assumed). Required with --subject."
)


@app.command()
@clean_errors
def dashboard(
    simulate: bool = typer.Option(
        False, "--simulate", help="Simulated devices replaying the bundled real recordings."
    ),
    host: str = typer.Option(
        "127.0.0.1", "--host", help="Address to bind (default: this computer only)."
    ),
    port: int = typer.Option(8765, "--port", help="TCP port."),
    store: Path | None = typer.Option(
        None, "--store", help="Store directory (default: the user's data directory)."
    ),
    token: str | None = typer.Option(
        None,
        "--token",
        envvar="ADDICTIDX_DASHBOARD_TOKEN",
        help="Access token (at least 8 characters); a random one is made at every launch when "
        "not given. Always required, on localhost too; printed in the URL at launch.",
    ),
    allow_host: list[str] = typer.Option(
        [],
        "--allow-host",
        help="Also accept this Host name (DNS name or reverse proxy); repeatable. The bound "
        "address (and the loopback names on localhost) are always accepted.",
    ),
    subject: str | None = typer.Option(
        None,
        "--subject",
        help="Start a session for this pseudonym at once (needs --age, and assessment consent "
        "on record or --consent-given).",
    ),
    consent_given: bool = typer.Option(
        False,
        "--consent-given",
        help="With --subject: staff confirm the person signed the assessment consent form; it "
        "is recorded (scope 'assessment', signed today, audited) before anything is recorded. "
        "Without it a consent in force must already be on record ('addictidx consent record'). "
        "On the page, the start form's consent box does the same for each person.",
    ),
    headband: str = typer.Option("auto", "--headband", help="Headband profile name, or auto."),
    strap: str = typer.Option("auto", "--strap", help="Chest-strap profile name, or auto."),
    speed: float = typer.Option(1.0, "--speed", help="Replay speed x real time (--simulate)."),
    guided: bool = typer.Option(
        False, "--guided", help="Add the guided intervention (closed loop) and recovery."
    ),
    age: float | None = typer.Option(None, "--age", help=AGE_FORM_HELP),
    screened: bool = typer.Option(
        False,
        "--screened/--not-screened",
        help=SCREENED_HELP + " On the page: the start form's default, confirmed at every start.",
    ),
    db_url: str | None = typer.Option(
        None, "--db-url", help="Database URL instead of the store's SQLite file."
    ),
    fps: float = typer.Option(
        20.0, "--fps", min=1.0, max=60.0, help="Frames per second pushed to the page."
    ),
    lsl: bool = typer.Option(
        False, "--lsl", help="Also publish the streams, index and markers on LSL (mne-lsl)."
    ),
    music: bool = typer.Option(
        False,
        "--music",
        help="Play music in the browser during the guided intervention: tracks of the store's "
        "music library ('addictidx music scan DIR --store S') follow the closed loop's tempo.",
    ),
    research_model: bool = typer.Option(
        False,
        "--research-model",
        help="Also show the research classifier (UCI alcoholism ERP set, proxy electrodes, "
        "subject-wise AUC 0.70) in its own research-labelled panel beside the index, never fused "
        "into it; a pipeline demonstration, not a screen.",
    ),
) -> None:
    """Serve the live session dashboard (quality, traces, phase, index, prescription, STOP)."""
    import asyncio

    try:
        from addictidx.dashboard.app import create_app, serve
        from addictidx.dashboard.guard import Guard, allowed_hosts_for
    except ImportError as exc:  # pragma: no cover - dependencies are declared
        raise ValueError(
            f"The dashboard needs fastapi and uvicorn ({exc.name} is missing): "
            "pip install fastapi uvicorn websockets"
        ) from None
    from addictidx.dashboard.runner import DashboardRunner
    from addictidx.store.codes import check_subject_code

    if consent_given and subject is None:
        raise ValueError(
            "--consent-given goes with --subject (on the page, tick the start form's consent box)."
        )
    if subject is not None:
        check_subject_code(subject)
        age = require_age(age)
    elif age is not None:
        age = require_age(age)
    if not speed > 0:
        # An unpaced replay would monopolise the event loop the web server shares.
        raise ValueError(f"--speed must be > 0 for the dashboard (a paced replay), got {speed!r}.")
    guard = Guard.create(token or None, allowed_hosts_for(host, tuple(allow_host)))
    runner = DashboardRunner(
        store or default_store(),
        simulate=simulate,
        headband=headband,
        strap=strap,
        speed=speed,
        guided=guided,
        age=age,
        screened=screened,
        db_url=db_url,
        research=research_model,
        lsl=lsl,
        music=music,
    )
    if subject is not None:
        # consent and clinical inputs refused before anything is served or recorded (issue 14)
        runner.check_start(subject, age=age, consent_given=consent_given)
    web = create_app(runner, fps=fps, guard=guard)
    shown = f"[{host}]" if ":" in host else host
    if host in ("0.0.0.0", "::"):
        shown = "127.0.0.1"
    # Like Jupyter: the one URL that opens the dashboard, token included (stderr, not stdout).
    typer.echo(
        f"addictidx dashboard ({'simulated' if simulate else 'Bluetooth'} devices; Ctrl+C to "
        f"quit). Open: http://{shown}:{port}/?token={guard.token}",
        err=True,
    )

    async def main() -> None:
        if subject is not None:
            runner.start(subject, age=age, consent_given=consent_given)
        try:
            await serve(web, host, port)
        finally:
            runner.close()
            if runner.task is not None and not runner.task.done():
                try:
                    await asyncio.wait_for(runner.task, timeout=10)
                except (asyncio.TimeoutError, asyncio.CancelledError):
                    pass

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
