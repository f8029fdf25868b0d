"""Trust commands: ``audit verify|show``, ``export --research``, ``keys init|show|rotate|new``,
``consent record|show`` and ``sessions erase``.

Output names subjects by their pseudonymous code only where staff typed it; the audit log and
research exports use keyed hashes.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from addictidx.cli.app import app, clean_errors, default_store, fail, sessions_app

__all__ = ["audit_verify", "export", "keys_rotate", "consent_record", "sessions_erase"]

audit_app = typer.Typer(help="The store's tamper-evident audit log.", no_args_is_help=True)
keys_app = typer.Typer(help="The site key that encrypts the store at rest.", no_args_is_help=True)
consent_app = typer.Typer(help="Consent per subject and scope.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")
app.add_typer(keys_app, name="keys")
app.add_typer(consent_app, name="consent")

_STORE_HELP = "Store directory (default: the user's data directory)."
_DB_URL_HELP = "Database URL instead of the store's SQLite file (default $ADDICTIDX_DB_URL)."


@audit_app.command("verify")
@clean_errors
def audit_verify(
    store: Path | None = typer.Option(None, "--store", help=_STORE_HELP),
    db_url: str | None = typer.Option(None, "--db-url", help=_DB_URL_HELP),
) -> None:
    """Check every entry's MAC, the chain, the sequence and the signed head (file and database):
    exit 1 if an entry was changed, forged, removed or rolled back; exit 2 if the audit key is
    missing or wrong."""
    from addictidx.store.audit import verify_store

    d = store or default_store()
    if not Path(d).is_dir():
        raise ValueError(f"{d}: no such store directory.")
    rep = verify_store(d, url=db_url)
    if not rep.ok:
        fail(f"audit log FAILED verification: {rep.message}", code=2 if rep.key_problem else 1)
    typer.echo(f"audit log OK: {rep.message}")


@audit_app.command("show")
@clean_errors
def audit_show(
    store: Path | None = typer.Option(None, "--store", help=_STORE_HELP),
    last: int = typer.Option(20, "--last", help="Show the last N entries."),
) -> None:
    """Print the last entries of the audit log (subjects appear as keyed hashes)."""
    from addictidx.store.audit import read_audit

    for e in read_audit(store or default_store())[-last:]:
        typer.echo(
            json.dumps(
                {
                    k: e.get(k)
                    for k in ("seq", "time_utc", "action", "subject", "session", "detail")
                }
            )
        )


@app.command("export")
@clean_errors
def export(
    research: bool = typer.Option(
        False,
        "--research",
        help="Research export: consenting subjects only, codes replaced by keyed hashes.",
    ),
    out: Path = typer.Option(..., "--out", help="Destination directory (outside the store)."),
    store: Path | None = typer.Option(None, "--store", help=_STORE_HELP),
    db_url: str | None = typer.Option(None, "--db-url", help=_DB_URL_HELP),
    on: str | None = typer.Option(
        None, "--on", help="Consent must be in force on this day (YYYY-MM-DD; default today)."
    ),
    recordings: bool = typer.Option(
        True, "--recordings/--no-recordings", help="Also export raw recordings (BDF/EDF+)."
    ),
) -> None:
    """Export pseudonymised data for research (only with --research; clinical exports of one
    subject are 'addictidx sessions export')."""
    from addictidx.sessions.research_export import export_research
    from addictidx.store.session_store import SessionStore

    if not research:
        raise ValueError(
            "Give --research (consenting subjects, hashed codes); to export one "
            "subject's recordings for care use 'addictidx sessions export'."
        )
    with SessionStore(store or default_store(), url=db_url, create=False) as st:
        res = export_research(st, out, on=on, recordings=recordings)
    typer.echo(
        f"Research export: {res.n_subjects} consenting subject(s), {res.n_sessions} "
        f"session(s), {res.n_excluded} subject(s) left out (no research consent) -> "
        f"{res.out_dir}"
    )


@keys_app.command("init")
@clean_errors
def keys_init(
    store: Path | None = typer.Option(None, "--store", help=_STORE_HELP),
    db_url: str | None = typer.Option(None, "--db-url", help=_DB_URL_HELP),
) -> None:
    """Create a store with its keys (site data key, subject-hash key, audit key), or give keys to
    an old store that never had any. Existing keys are kept, never replaced."""
    from addictidx.store.session_store import SessionStore

    d = store or default_store()
    with SessionStore(d, url=db_url) as st:
        ids = st.key_ids()
        ring = st.keyring
    typer.echo(f"store:       {d}")
    typer.echo(f"key source:  {ring.source}")
    typer.echo(f"data key:    {ids['data']}")
    typer.echo(f"audit key:   {ids['audit']}")


@keys_app.command("show")
@clean_errors
def keys_show(
    store: Path | None = typer.Option(None, "--store", help=_STORE_HELP),
    db_url: str | None = typer.Option(None, "--db-url", help=_DB_URL_HELP),
) -> None:
    """Where the site key lives and the ids of its keys (never the key material)."""
    from addictidx.store.crypto import encrypted_files
    from addictidx.store.session_store import SessionStore

    d = store or default_store()
    with SessionStore(d, url=db_url, create=False) as st:
        ids = st.key_ids()
        ring = st.keyring
    typer.echo(f"key source:  {ring.source}")
    typer.echo(f"current key: {ring.current.hex()}")
    others = [k.hex() for k in ring.keys if k != ring.current]
    typer.echo(f"older keys:  {', '.join(others) or '-'}")
    typer.echo(f"audit key:   {ids.get('audit', '-')}")
    typer.echo(f"encrypted files in store: {len(encrypted_files(d))}")


@keys_app.command("rotate")
@clean_errors
def keys_rotate(
    store: Path | None = typer.Option(None, "--store", help=_STORE_HELP),
    db_url: str | None = typer.Option(None, "--db-url", help=_DB_URL_HELP),
    force: bool = typer.Option(
        False,
        "--force",
        help="Rotate although sessions interrupted by a crash are not recovered yet (a session "
        "that is recording right now always refuses rotation).",
    ),
) -> None:
    """Rotate the site data key: a new key, every file under the old one re-encrypted, the
    subject keys re-sealed, the old key dropped. Refused while a recording is open. With
    $ADDICTIDX_KEY: put the new key first (keep the old one after a comma), run this, then
    remove the old key from the variable."""
    from addictidx.store.rotation import open_recordings
    from addictidx.store.session_store import SessionStore

    d = store or default_store()
    with SessionStore(d, url=db_url, create=False) as st:
        running = st.queries.running_sessions()
        if running and not force and not open_recordings(d, running):
            raise ValueError(
                f"Session(s) {running} were interrupted: run 'addictidx sessions recover' "
                "first, or pass --force."
            )
        res = st.rotate_keys()
    typer.echo(
        f"Re-encrypted {res.n_files} file(s) and re-sealed {res.n_subject_keys} subject key(s) "
        f"under key {res.new_key_id} ({res.key_source}); old key(s) "
        f"{', '.join(res.old_key_ids) or '-'} "
        + ("removed." if res.key_source != "env" else "can now be removed from $ADDICTIDX_KEY.")
    )


@keys_app.command("new")
@clean_errors
def keys_new() -> None:
    """Print a fresh random key (base64) for $ADDICTIDX_KEY."""
    import base64
    import secrets

    typer.echo(base64.b64encode(secrets.token_bytes(32)).decode())


@consent_app.command("record")
@clean_errors
def consent_record(
    subject: str = typer.Option(..., "--subject", help="Pseudonymous subject code."),
    scope: str = typer.Option(..., "--scope", help="assessment, research or sharing."),
    withdraw: bool = typer.Option(False, "--withdraw", help="Record a withdrawal."),
    signed_on: str | None = typer.Option(None, "--signed-on", help="YYYY-MM-DD (default today)."),
    expires_on: str | None = typer.Option(
        None, "--expires-on", help="Last day it holds (YYYY-MM-DD; default until withdrawn)."
    ),
    document_version: str = typer.Option("1", "--form-version", help="Consent form version."),
    store: Path | None = typer.Option(None, "--store", help=_STORE_HELP),
    db_url: str | None = typer.Option(None, "--db-url", help=_DB_URL_HELP),
) -> None:
    """Record a subject's consent (or its withdrawal) for one scope."""
    from addictidx.store.codes import check_subject_code
    from addictidx.store.session_store import SessionStore

    check_subject_code(subject)
    with SessionStore(store or default_store(), url=db_url) as st:
        st.consent.add(
            subject,
            scope=scope,
            status="withdrawn" if withdraw else "given",
            document_version=document_version,
            signed_on=signed_on,
            expires_on=expires_on,
        )
    typer.echo(f"Consent {'withdrawal' if withdraw else 'given'} recorded: {subject} / {scope}.")


@consent_app.command("show")
@clean_errors
def consent_show(
    subject: str = typer.Option(..., "--subject", help="Pseudonymous subject code."),
    store: Path | None = typer.Option(None, "--store", help=_STORE_HELP),
    db_url: str | None = typer.Option(None, "--db-url", help=_DB_URL_HELP),
) -> None:
    """A subject's consent records and what is in force today."""
    from addictidx.store.codes import check_subject_code
    from addictidx.store.consent import CONSENT_SCOPES
    from addictidx.store.session_store import SessionStore

    check_subject_code(subject)
    with SessionStore(store or default_store(), url=db_url, create=False) as st:
        recs = st.consent.records(subject)
        now = {s: st.consent.in_force(subject, s) for s in CONSENT_SCOPES}
        st.audit_event("view", subject=subject, detail={"what": "consent"})
    typer.echo(json.dumps({"records": recs, "in_force_today": now}, indent=2))


@sessions_app.command("erase")
@clean_errors
def sessions_erase(
    session_id: int | None = typer.Argument(None, help="Session id (or use --subject)."),
    subject: str | None = typer.Option(None, "--subject", help="Erase this subject entirely."),
    store: Path | None = typer.Option(None, "--store", help=_STORE_HELP),
    db_url: str | None = typer.Option(None, "--db-url", help=_DB_URL_HELP),
    yes: bool = typer.Option(False, "--yes", help="Do not ask for confirmation."),
) -> None:
    """Erase a session, or a subject with every trace: a live recording is stopped first, then
    rows, raw data, the reports and exports addictidx wrote, and the subject's key (so copies in
    backups, WAL or database pages can no longer be read); cannot be undone. Exits 1 if a file
    of the store still holds the code afterwards."""
    from addictidx.cli.sessions import existing_store
    from addictidx.store.codes import check_subject_code
    from addictidx.store.session_store import SessionStore

    if (session_id is None) == (subject is None):
        raise ValueError("Give either a session id or --subject CODE.")
    if subject is not None:
        check_subject_code(subject)
    what = f"session #{session_id}" if subject is None else f"subject {subject} and all sessions"
    if not yes and not typer.confirm(f"Erase {what}? This cannot be undone."):
        raise typer.Exit(1)
    with SessionStore(existing_store(store, db_url), url=db_url, create=False) as st:
        if subject is None:
            if not st.erasure.erase_session(session_id):
                raise ValueError(f"No session with id {session_id} in this store.")
            typer.echo(f"Erased session #{session_id}.")
            return
        if subject not in st.subject_registry.codes():
            raise ValueError(f"No subject {subject} in this store.")
        rep = st.erasure.erase_subject(subject)
        left = st.erasure.files_containing(subject)
    for line in _erasure_lines(subject, rep):
        typer.echo(line)
    if not left:
        typer.echo(f"The code {subject} is in no file of the store.")
    else:
        names = ", ".join(str(p) for p in left[:5]) + (" ..." if len(left) > 5 else "")
        fail(
            f"{len(left)} file(s) in the store still contain the code (not written by "
            f"addictidx, or in use): {names}",
            code=1,
        )


def _erasure_lines(subject: str, rep) -> list[str]:
    out = [
        f"Erased subject {subject}: {rep.n_sessions} session(s) with their rows and "
        f"{rep.n_raw_files} raw file(s); subject key {rep.key_id or '-'} destroyed (copies of "
        "the store in backups, WAL or database pages can no longer be read or linked)."
    ]
    if rep.stopped:
        out.append(f"Stopped live session(s) {list(rep.stopped)} before erasing.")
    out.append(f"Removed {len(rep.removed)} report/export file(s) addictidx had written:")
    out += [f"  {p}" for p in rep.removed]
    if rep.not_found:
        out.append(
            f"NOT reachable: {len(rep.not_found)} tracked file(s) are no longer where addictidx "
            "wrote them (moved, copied or deleted by someone); find and delete them by hand:"
        )
        out += [f"  {p}" for p in rep.not_found]
    out.append(
        "Out of reach: copies made outside addictidx (files copied elsewhere, printouts, "
        "research exports already handed out; their subject hashes can no longer be linked)."
    )
    return out
