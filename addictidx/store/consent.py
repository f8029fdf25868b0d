"""Consent records and decisions: is a subject's consent for a scope in force on a given day?

Consent is recorded per subject and scope (:data:`CONSENT_SCOPES`) by
:meth:`ConsentRecords.add`, one row per decision with the day the
form was signed (or consent withdrawn) and an optional last day. The latest decision signed on
or before the day asked about wins; a withdrawal ends every earlier consent of that scope.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from addictidx._core.errors import ConsentError
from addictidx.store.database import utc_now

__all__ = [
    "CONSENT_SCOPES",
    "ConsentRecords",
    "consent_refusal",
    "consent_state",
    "in_force",
    "parse_date",
]

#: Consent scopes: the assessment itself, research use of the pseudonymised data, sharing with
#: another care provider.
CONSENT_SCOPES = ("assessment", "research", "sharing")


def parse_date(value: str | _dt.date | None, name: str = "date") -> _dt.date | None:
    """``YYYY-MM-DD`` (or a date) as a date; None stays None.

    Raises
    ------
    ValueError
        Naming ``name`` and the value.
    """
    if value is None or value == "":
        return None
    if isinstance(value, _dt.datetime):
        return value.date()
    if isinstance(value, _dt.date):
        return value
    try:
        return _dt.date.fromisoformat(str(value).strip()[:10])
    except ValueError:
        raise ValueError(f"{name}: {value!r} is not a date (YYYY-MM-DD).") from None


def in_force(
    records: Iterable[Mapping[str, Any]], scope: str, on: str | _dt.date | None = None
) -> bool:
    """Whether consent for ``scope`` holds on day ``on`` (default: today, UTC).

    Parameters
    ----------
    records : iterable of mapping
        Consent records oldest first, as :meth:`ConsentRecords.records` returns them
        (``scope``, ``status``, ``signed_on``, ``expires_on``; records from before consent dates
        were kept use the day of ``recorded_utc``).
    scope : str
    on : date | str | None

    Returns
    -------
    bool
        True when the latest record of ``scope`` signed on or before ``on`` is ``given`` and
        ``on`` is not after its ``expires_on``.
    """
    return consent_state(records, scope, on) == "in force"


def consent_state(
    records: Iterable[Mapping[str, Any]], scope: str, on: str | _dt.date | None = None
) -> str:
    """The state of consent for ``scope`` on day ``on`` (default: today, UTC).

    Returns
    -------
    str
        ``"in force"`` (the latest decision signed on or before ``on`` is ``given`` and not
        expired), ``"withdrawn"`` (that decision is a withdrawal), ``"expired"`` or ``"none"``
        (no decision signed on or before ``on``).
    """
    day = parse_date(on, "on") or _dt.datetime.now(_dt.timezone.utc).date()
    latest = None
    for r in records:
        if r.get("scope") != scope:
            continue
        signed = parse_date(r.get("signed_on") or r.get("recorded_utc"), "signed_on")
        if signed is None or signed > day:
            continue
        if latest is None or signed >= latest[0]:
            latest = (signed, r)
    if latest is None:
        return "none"
    rec = latest[1]
    if rec.get("status") != "given":
        return "withdrawn"
    expires = parse_date(rec.get("expires_on"), "expires_on")
    return "in force" if expires is None or day <= expires else "expired"


def consent_refusal(code: str, scope: str, state: str) -> str:
    """The one-line refusal for a subject whose ``scope`` consent is in ``state`` (see
    :func:`consent_state`): what is missing and what staff can do."""
    record = f"'addictidx consent record --subject {code} --scope {scope}'"
    if state == "withdrawn":
        return (
            f"{code} withdrew {scope} consent: nothing is recorded. Only a new signed consent "
            f"can change that ({record})."
        )
    what = "expired" if state == "expired" else "in force"
    return (
        f"No {scope} consent {what} for {code}: record it first ({record}), or confirm the "
        "person signed it (assess --consent-given; the dashboard's consent box; "
        "consent_given=True in Python)."
    )


class ConsentRecords:
    """The consent decisions of a store's subjects.

    Parameters
    ----------
    db : Database
    subjects : Subjects
        The store's subject registry (a consent registers its subject).
    log : callable
        ``log(action, subject=code, detail=...)`` appends to the audit log.
    """

    def __init__(self, db, subjects, log: Callable[..., Any]) -> None:
        self._db = db
        self._subjects = subjects
        self._log = log

    def add(
        self,
        code: str,
        *,
        scope: str = "assessment",
        status: str = "given",
        document_version: str = "1",
        signed_on: str | _dt.date | None = None,
        expires_on: str | _dt.date | None = None,
        via: str | None = None,
    ) -> None:
        """Record that a subject gave (or withdrew) consent for ``scope``.

        Parameters
        ----------
        code : str
            Pseudonymous subject code.
        scope : {"assessment", "research", "sharing"}
            What the consent covers.
        status : {"given", "withdrawn"}
        document_version : str
            Version of the consent form.
        signed_on : date | str | None
            Date the form was signed (or consent withdrawn); default today (UTC).
        expires_on : date | str | None
            Last day the consent holds (None: until withdrawn).
        via : str | None
            How staff recorded it, for the audit entry (e.g. ``"dashboard start form"``);
            None: not logged.
        """
        if status not in ("given", "withdrawn"):
            raise ValueError(f"consent status must be 'given' or 'withdrawn', got {status!r}.")
        if scope not in CONSENT_SCOPES:
            raise ValueError(f"consent scope must be one of {CONSENT_SCOPES}, got {scope!r}.")
        signed = parse_date(signed_on, "signed_on") or _dt.datetime.now(_dt.timezone.utc).date()
        expires = parse_date(expires_on, "expires_on")
        if expires is not None and expires < signed:
            raise ValueError(f"expires_on {expires} is before signed_on {signed}.")
        sid = self._subjects.ensure(code)
        t = self._db.tables
        with self._db.begin() as con:
            res = con.execute(
                t.consents.insert().values(
                    subject_code=sid,
                    recorded_utc=utc_now(),
                    scope=str(scope),
                    status=status,
                    document_version=str(document_version),
                )
            )
            con.execute(
                t.consent_terms.insert().values(
                    consent_id=int(res.inserted_primary_key[0]),
                    signed_on=signed.isoformat(),
                    expires_on=None if expires is None else expires.isoformat(),
                )
            )
        detail = {"scope": scope, "status": status, "document_version": str(document_version)}
        if via is not None:
            detail["via"] = str(via)
        self._log("consent", subject=code, detail=detail)

    def records(self, code: str) -> list[dict[str, Any]]:
        """Consent records of a subject, oldest first (``recorded_utc, scope, status,
        document_version, signed_on, expires_on``)."""
        from sqlalchemy import select

        sid = self._subjects.id_of(code)
        if sid is None:
            return []
        t, d = self._db.tables.consents, self._db.tables.consent_terms
        rows = self._db.rows(
            select(
                t.c.recorded_utc,
                t.c.scope,
                t.c.status,
                t.c.document_version,
                d.c.signed_on,
                d.c.expires_on,
            )
            .select_from(t.outerjoin(d, d.c.consent_id == t.c.id))
            .where(t.c.subject_code == sid)
            .order_by(t.c.id)
        )
        keys = ("recorded_utc", "scope", "status", "document_version", "signed_on", "expires_on")
        return [dict(zip(keys, r)) for r in rows]

    def in_force(self, code: str, scope: str, on: str | _dt.date | None = None) -> bool:
        """Whether the subject's latest consent for ``scope`` signed on or before ``on`` (default
        today) is ``given`` and not expired (see :func:`in_force`)."""
        return in_force(self.records(code), scope, on)

    def state(self, code: str, scope: str, on: str | _dt.date | None = None) -> str:
        """``"in force"``, ``"withdrawn"``, ``"expired"`` or ``"none"`` (see
        :func:`consent_state`)."""
        return consent_state(self.records(code), scope, on)

    def require(
        self, code: str, scope: str = "assessment", *, given: bool = False, via: str | None = None
    ) -> bool:
        """Refuse unless consent for ``scope`` is in force, or staff confirm it now.

        The one consent gate of recording: every session (CLI ``assess``, the dashboard, LSL
        input, the Python API) passes here before it exists.

        Parameters
        ----------
        code : str
            Pseudonymous subject code.
        scope : str
            Consent scope (default ``"assessment"``).
        given : bool
            Staff confirm the person gave (signed) consent for ``scope`` today: recorded (and
            audited) when none is in force. A withdrawal on record is never overridden here:
            only a new consent recorded on purpose (``addictidx consent record``) lifts it.
        via : str | None
            How staff confirmed it, for the audit entry.

        Returns
        -------
        recorded : bool
            True when a consent was recorded by this call.

        Raises
        ------
        ConsentError
            One line naming the subject and what to do; nothing recorded.
        """
        state = self.state(code, scope)
        if state == "in force":
            return False
        if state == "withdrawn" or not given:
            raise ConsentError(consent_refusal(code, scope, state))
        self.add(code, scope=scope, status="given", via=via)
        return True

    def consenting_subjects(self, scope: str, on: str | _dt.date | None = None) -> list[str]:
        """Codes of the subjects whose consent for ``scope`` is in force ``on`` (default today)."""
        return [c for c in self._subjects.codes() if self.in_force(c, scope, on)]
