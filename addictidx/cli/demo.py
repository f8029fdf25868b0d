"""``addictidx demo``: a simulated person's visits on replayed real recordings, the last one scored
against their own baseline, with the store, the PDF + HTML report and the BDF/EDF+ export.

The visits replay different real recordings (:mod:`addictidx.sessions.demo`), so the personal
baseline has a real spread, and the output explains the last score against it. The research
classifier is off unless ``--research-model`` is given (issue 17.6).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

from addictidx.cli.app import app, clean_errors
from addictidx.cli.sessions import (
    RESEARCH_HELP,
    plain_safe,
    progress_bar,
    track_files,
)

__all__ = ["demo"]


@app.command()
@clean_errors
def demo(
    out: Path | None = typer.Option(
        None,
        "--out",
        help="Directory for the demo store, reports and export "
        "(default: a new temporary directory).",
    ),
    subject: str = typer.Option("DEMO-001", "--subject", help="Pseudonymous subject code."),
    speed: float = typer.Option(
        0.0,
        "--speed",
        help="Replay speed x real time of the final session (0 = as fast as possible).",
    ),
    age: int = typer.Option(
        30, "--age", help="Age of the simulated participant in years, for HRmax (Tanaka)."
    ),
    screened: bool = typer.Option(
        False,
        "--screened/--not-screened",
        help="Whether the simulated participant completed the medical screening (default: not "
        "screened = light intensity only, as in assess and prescribe).",
    ),
    history: int = typer.Option(
        5,
        "--history",
        min=0,
        max=30,
        help="Earlier sessions to simulate first (5 = a personal baseline for the last one).",
    ),
    json_out: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
    research_model: bool = typer.Option(
        False, "--research-model", help=RESEARCH_HELP + " Its own report page when given."
    ),
) -> None:
    """A full assessment of a simulated person with a history of sessions, on replayed real
    recordings: store, PDF + HTML report and BDF/EDF+ export, all under --out."""
    import tempfile

    from addictidx.prescribe import check_age
    from addictidx.report import explain
    from addictidx.report.content import report_content
    from addictidx.report.html import write_html
    from addictidx.report.pdf import write_pdf
    from addictidx.report.summary import format_summary, summary_dict
    from addictidx.sessions.assessment import MAX_PAUSE_S, run_assessment
    from addictidx.sessions.demo import demo_devices, demo_visit
    from addictidx.sessions.io import export_session
    from addictidx.sessions.protocol import DEMO_PROTOCOL
    from addictidx.store.codes import check_subject_code
    from addictidx.store.session_store import SessionStore

    check_subject_code(subject)
    check_age(age)
    out_dir = Path(out) if out is not None else Path(tempfile.mkdtemp(prefix="addictidx-demo-"))
    # The store (encrypted raw files, database, audit log) is a folder of its own; reports and
    # exports are explicit plaintext outputs next to it, never inside it (issue 9).
    store_dir = out_dir / "store"
    screening = {"medically_screened": True if screened else None}
    duration = DEMO_PROTOCOL.duration_s + MAX_PAUSE_S
    with SessionStore(store_dir) as st:  # the demo creates its store and keys (issue 14)
        st.consent.require(subject, given=True, via="demo (simulated participant)")
    visits = []
    progress_cm, on_progress = progress_bar(quiet=json_out)
    with progress_cm:
        for k in range(history + 1):
            visit = demo_visit(k, history)
            hb, st = demo_devices(visit, duration, seed=100 + k)
            visits.append(visit.label)
            last = k == history

            def progress(phase, done, total, k=k, last=last):
                if on_progress is not None:
                    what = "scored session" if last else f"history {k + 1}/{history}"
                    on_progress(f"{what}: {phase}", done, total)

            result = run_assessment(
                subject,
                store_dir=store_dir,
                protocol=DEMO_PROTOCOL,
                speed=speed if last else 0.0,
                age=age,
                screening=screening,
                headband=hb,
                strap=st,
                seed=100 + k,
                on_progress=progress,
                research=research_model and last,
            )
    with SessionStore(store_dir) as store:
        rc = report_content(store, result.session_id)
        stem = f"{rc.subject}_ses-{result.session_id:04d}_report"
        paths = {
            "report_pdf": write_pdf(rc, out_dir / "reports" / f"{stem}.pdf"),
            "report_html": write_html(rc, out_dir / "reports" / f"{stem}.html"),
        }
        exported = export_session(store, result.session_id, out_dir / "export")
        track_files(store, subject, {**paths, **exported}, "demo")
    paths.update({k: v for k, v in exported.items() if v is not None})
    paths["store"] = result.store_path
    idx = rc.index or {}
    story = [explain.reference_frame_words(idx)] if idx.get("index") is not None else []
    story += explain.feature_sentences(idx, rc.features, rc.reference) if story else []
    if json_out:
        summary = summary_dict(result)
        summary["paths"] = {k: str(v) for k, v in paths.items()}
        summary["research_model_enabled"] = research_model
        summary["visits"] = visits
        summary["explanation"] = story
        typer.echo(json.dumps(summary, indent=2))
        return
    typer.echo(plain_safe(format_summary(result), subject, sys.stdout.isatty()))
    typer.echo("")
    typer.echo(
        f"The simulated participant (age {age}, {'screened' if screened else 'not screened'}) "
        "is a composite of real recordings, one per visit:"
    )
    for k, label in enumerate(visits, start=1):
        typer.echo(f"  session {k}: {label}")
    if story:
        typer.echo("Why the last session scores as it does:")
        for line in story:
            typer.echo(explain.wrap_paragraph(line))
    typer.echo("")
    typer.echo(f"Report (PDF):   {paths['report_pdf']}")
    typer.echo(f"Report (HTML):  {paths['report_html']}")
    typer.echo(f"EEG (BDF):      {paths.get('eeg_bdf', '-')}")
    typer.echo(f"RR (EDF+):      {paths.get('rr_edf', '-')}")
    typer.echo(f"Store:          {paths['store']}")
