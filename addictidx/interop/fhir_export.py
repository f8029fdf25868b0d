"""Write a stored session as a FHIR R5 Bundle file (``sessions export --fhir``).

Sharing with a hospital system is a separate consent scope: the export is refused unless the
subject's ``sharing`` consent is in force. The file is written atomically with owner-only
permissions and the export is recorded in the audit log (subject named by keyed hash there).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import addictidx
from addictidx._core.errors import StoreError
from addictidx.interop.fhir import resting_hrv, session_bundle

__all__ = ["export_fhir"]


def _device_info(devices: dict[str, str]) -> dict[str, dict[str, str]]:
    from addictidx.acquire import load_profile

    out = {}
    for role, name in devices.items():
        try:
            p = load_profile(name)
            out[role] = {"label": p.label, "vendor": p.vendor}
        except Exception:  # noqa: BLE001 - an unknown or edited profile: the name alone
            out[role] = {"label": str(name)}
    return out


def export_fhir(store: Any, session_id: int, out_dir: str | Path) -> Path:
    """Write ``<code>_ses-<id>_fhir.json`` (a validated R5 Bundle) into ``out_dir``.

    Parameters
    ----------
    store : SessionStore
        The open store.
    session_id : int
        The session to export.
    out_dir : path-like
        Destination folder (created owner-only).

    Returns
    -------
    Path
        The Bundle file.

    Raises
    ------
    StoreError
        If the subject's ``sharing`` consent is not in force.
    """
    from addictidx.store.files import private_dir, safe_name, write_atomic
    from addictidx.store.raw import read_raw

    detail = store.queries.session_detail(session_id)
    code = detail["subject"]
    if not store.consent.in_force(code, "sharing"):
        raise StoreError(
            f"Session {session_id}: no 'sharing' consent in force for this subject; record it "
            "with `addictidx consent record --scope sharing` before a FHIR export."
        )
    hrv = None
    rec = store.queries.recording(session_id)
    if rec is not None and Path(rec["raw_dir"]).is_dir():
        raw = read_raw(rec["raw_dir"], keyring=store.keyring)
        hrv = resting_hrv(raw.rr_times, raw.rr_s, detail.get("phases", []))
    bundle = session_bundle(
        detail,
        pseudonym=code,
        hrv=hrv,
        device_info=_device_info(dict(detail.get("devices") or {})),
        software=f"addictidx {addictidx.__version__}",
    )
    out = private_dir(out_dir)
    path = write_atomic(
        Path(out) / f"{safe_name(code)}_ses-{int(session_id):04d}_fhir.json",
        json.dumps(bundle, indent=1) + "\n",
    )
    store.audit_event(
        "export", subject=code, session=session_id, detail={"what": "fhir", "files": ["fhir"]}
    )
    return path
