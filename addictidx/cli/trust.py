"""Trust commands: ``audit verify``, ``export --research``, ``keys show|rotate|new`` and
``consent record|show``.

Output names subjects by their pseudonymous code only where staff typed it; the audit log and
research exports use keyed hashes.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from addictidx.cli._app import _clean_errors, _default_store, _fail, app

__all__ = ["audit_verify", "export", "keys_rotate", "consent_record"]

audit_app = typer.Typer(help="The store's tamper-evident audit log.", no_args_is_help=True)
keys_app = typer.Typer(help="The site key that encrypts the store at rest.", no_args_is_help=True)
consent_app = typer.Typer(help="Consent per subject and scope.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")
app.add_typer(keys_app, name="keys")
app.add_typer(consent_app, name="consent")

_STORE_HELP = "Store directory (default: the user's data directory)."
_DB_URL_HELP = "Database URL instead of the store's SQLite file (default $ADDICTIDX_DB_URL)."


@audit_app.command("verify")
@_clean_errors
def audit_verify(
    store: Path | None = typer.Option(None, "--store", help=_STORE_HELP),
) -> None:
    """Check that no line of audit.jsonl was changed, removed or reordered (exit 1 if so)."""
    from addictidx.store.audit import verify_audit

    d = store or _default_store()
    if not Path(d).is_dir():
        raise ValueError(f"{d}: no such store directory.")
    rep = verify_audit(d)
    if not rep.ok:
        _fail(f"audit log FAILED verification: {rep.message}", code=1)
    typer.echo(f"audit log OK: {rep.message}")


@audit_app.command("show")
@_clean_errors
def audit_show(
    store: Path | None = typer.Option(None, "--store", help=_STORE_HELP),
    last: int = typer.Option(20, "--last", help="Show the last N entries."),
) -> None:
    """Print the last entries of the audit log (subjects appear as keyed hashes)."""
    from addictidx.store.audit import read_audit

    for e in read_audit(store or _default_store())[-last:]:
        typer.echo(
            json.dumps(
                {
                    k: e.get(k)
                    for k in ("seq", "time_utc", "action", "subject", "session", "detail")
                }
            )
        )


@app.command("export")
@_clean_errors
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
    with SessionStore(store or _default_store(), url=db_url) as st:
        res = export_research(st, out, on=on, recordings=recordings)
    typer.echo(
        f"Research export: {res.n_subjects} consenting subject(s), {res.n_sessions} "
        f"session(s), {res.n_excluded} subject(s) left out (no research consent) -> "
        f"{res.out_dir}"
    )


@keys_app.command("show")
@_clean_errors
def keys_show(store: Path | None = typer.Option(None, "--store", help=_STORE_HELP)) -> None:
    """Where the site key lives and the ids of its keys (never the key material)."""
    from addictidx.store.crypto import encrypted_files
    from addictidx.store.keyring import load_keyring

    d = store or _default_store()
    ring = load_keyring(d, create=False)
    typer.echo(f"key source:  {ring.source}")
    typer.echo(f"current key: {ring.current.hex()}")
    others = [k.hex() for k in ring.keys if k != ring.current]
    typer.echo(f"older keys:  {', '.join(others) or '-'}")
    typer.echo(f"encrypted files in store: {len(encrypted_files(d))}")


@keys_app.command("rotate")
@_clean_errors
def keys_rotate(
    store: Path | None = typer.Option(None, "--store", help=_STORE_HELP),
    db_url: str | None = typer.Option(None, "--db-url", help=_DB_URL_HELP),
    force: bool = typer.Option(False, "--force", help="Rotate even if a session is recording."),
) -> None:
    """Rotate the site data key: a new key, every encrypted file re-encrypted, the old key
    dropped. With $ADDICTIDX_KEY: put the new key first (keep the old one after a comma), run
    this, then remove the old key from the variable."""
    from addictidx.store.keyring import rotate_key
    from addictidx.store.session_store import SessionStore

    d = store or _default_store()
    with SessionStore(d, url=db_url) as st:
        running = st.running_sessions()
        if running and not force:
            raise ValueError(
                f"Session(s) {running} are still recording (or were interrupted: "
                "run 'addictidx sessions recover' first); or pass --force."
            )
        res = rotate_key(d)
        st.reload_keys()  # the audit head is sealed with the new key
        st.audit_event(
            "key_rotation",
            detail={
                "new_key": res.new_key_id,
                "n_files": res.n_files,
                "old_keys": list(res.old_key_ids),
            },
        )
    typer.echo(
        f"Re-encrypted {res.n_files} file(s) under key {res.new_key_id} "
        f"({res.key_source}); old key(s) {', '.join(res.old_key_ids) or '-'} "
        + ("removed." if res.key_source != "env" else "can now be removed from $ADDICTIDX_KEY.")
    )


@keys_app.command("new")
@_clean_errors
def keys_new() -> None:
    """Print a fresh random key (base64) for $ADDICTIDX_KEY."""
    import base64
    import secrets

    typer.echo(base64.b64encode(secrets.token_bytes(32)).decode())


@consent_app.command("record")
@_clean_errors
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
    with SessionStore(store or _default_store(), url=db_url) as st:
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
@_clean_errors
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
    with SessionStore(store or _default_store(), url=db_url) as st:
        recs = st.consent.records(subject)
        now = {s: st.consent.in_force(subject, s) for s in CONSENT_SCOPES}
        st.audit_event("view", subject=subject, detail={"what": "consent"})
    typer.echo(json.dumps({"records": recs, "in_force_today": now}, indent=2))
