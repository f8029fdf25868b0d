"""Consent decisions: is a subject's consent for a scope in force on a given day?

Consent is recorded per subject and scope (``assessment``, ``research``, ``sharing``) by
:meth:`addictidx.sessions.store.SessionStore.add_consent`, one row per decision with the day the
form was signed (or consent withdrawn) and an optional last day. The latest decision signed on
or before the day asked about wins; a withdrawal ends every earlier consent of that scope.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["parse_date", "in_force"]


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
        Consent records oldest first, as :meth:`SessionStore.consents` returns them
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
        return False
    rec = latest[1]
    if rec.get("status") != "given":
        return False
    expires = parse_date(rec.get("expires_on"), "expires_on")
    return expires is None or day <= expires
