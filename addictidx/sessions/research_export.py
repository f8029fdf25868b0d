"""Research export: the pseudonymised data of consenting subjects only.

``addictidx export --research`` writes, for every subject whose ``research`` consent is in force
on the day of the export (:meth:`~addictidx.store.consent.ConsentRecords.in_force`)::

    <out>/sessions.tsv             one row per complete session: subject hash, session number,
                                   day offset from the subject's first session, status, index,
                                   band, confidence, baseline, model id/version
    <out>/features.jsonl           one JSON object per session: scored features and quality
    <out>/recordings/<hash>_ses-<n>_eeg.bdf, _rr.edf, _rr.tsv
                                   raw recordings (anonymous EDF+ start date)
    <out>/manifest.json            what was exported, how subjects are named, consent date

Subject codes are replaced by keyed hashes (:meth:`SessionStore.subject_hash` with
``purpose="research"``: HMAC-SHA256 under the site's hash key and the subject's random salt), so
the recipient cannot recover a code, the site can re-link a later export of the same subject,
and nobody can once the subject is erased. Calendar dates are replaced by day offsets from the
subject's first session. The export is logged once in the audit trail.
"""

from __future__ import annotations

import datetime as _dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from addictidx.store.files import write_atomic

__all__ = ["ResearchExport", "export_research"]


@dataclass(frozen=True)
class ResearchExport:
    """What :func:`export_research` wrote.

    Attributes
    ----------
    out_dir : Path
    n_subjects : int
        Consenting subjects exported.
    n_excluded : int
        Subjects left out (no research consent in force).
    n_sessions : int
    files : tuple of Path
    """

    out_dir: Path
    n_subjects: int
    n_excluded: int
    n_sessions: int
    files: tuple


def _day(utc: str | None) -> _dt.date | None:
    try:
        return _dt.datetime.strptime(str(utc), "%Y-%m-%dT%H:%M:%SZ").date()
    except ValueError:
        return None


def export_research(
    store: Any, out_dir: str | Path, *, on: str | _dt.date | None = None, recordings: bool = True
) -> ResearchExport:
    """Export the consenting subjects' sessions with keyed-hash subject names.

    Parameters
    ----------
    store : SessionStore
    out_dir : path-like
        Destination (created; must not be inside the store directory).
    on : date | str | None
        Day on which research consent must be in force (default: today, UTC).
    recordings : bool
        Also export the raw recordings (BDF/EDF+/TSV).

    Returns
    -------
    ResearchExport
    """
    from addictidx.sessions.io import staged_dir
    from addictidx.store.consent import parse_date

    out = Path(out_dir).resolve()
    if out == store.directory.resolve() or store.directory.resolve() in out.parents:
        raise ValueError(
            f"{out_dir}: the research export must go outside the store directory "
            "(files in the store are encrypted; exports are plaintext)."
        )
    day = parse_date(on, "on") or _dt.datetime.now(_dt.timezone.utc).date()
    codes = store.subject_registry.codes()
    chosen = [c for c in codes if store.consent.in_force(c, "research", day)]
    # Written into a hidden folder beside ``out`` and moved in only when complete: a failure
    # half-way leaves no partial export behind (issue 17.1).
    with staged_dir(out) as stage:
        staged, n_sessions = _write_export(store, stage, chosen, day, recordings)
    files = [out / p.relative_to(stage) for p in staged]
    for code in chosen:  # per-subject recordings are removed by 'sessions erase' (issue 14)
        h = store.subject_registry.hash(code, purpose="research")
        for f in files:
            if f.name.startswith(h):
                store.erasure.track(code, f, "research")
    store.audit_event(
        "export",
        detail={
            "what": "research",
            "n_subjects": len(chosen),
            "n_sessions": n_sessions,
            "n_excluded": len(codes) - len(chosen),
            "consent_on": day.isoformat(),
        },
    )
    return ResearchExport(out, len(chosen), len(codes) - len(chosen), n_sessions, tuple(files))


def _write_export(
    store: Any, out: Path, chosen: list, day: _dt.date, recordings: bool
) -> tuple[list[Path], int]:
    """Write the research export of the ``chosen`` subjects into ``out``."""
    from addictidx.sessions.io import export_session

    files: list[Path] = []
    rows: list[str] = [
        "\t".join(
            (
                "subject",
                "session",
                "day",
                "status",
                "index",
                "band",
                "confidence",
                "baseline",
                "model_id",
                "model_version",
            )
        )
    ]
    feats: list[str] = []
    n_sessions = 0
    for code in chosen:
        h = store.subject_registry.hash(code, purpose="research")
        sessions = [s for s in store.queries.list_sessions(code) if s["status"] == "complete"]
        first = min((d for d in (_day(s["started_utc"]) for s in sessions) if d), default=None)
        for k, s in enumerate(sessions, start=1):
            d = store.queries.session_detail(s["id"])
            ir = d.get("index_result") or {}
            d0 = _day(s["started_utc"])
            offset = "" if first is None or d0 is None else str((d0 - first).days)

            def fmt(v):
                return "" if v is None else (f"{v:.6g}" if isinstance(v, float) else str(v))

            rows.append(
                "\t".join(
                    fmt(v)
                    for v in (
                        h,
                        k,
                        offset,
                        s["status"],
                        ir.get("index"),
                        ir.get("band"),
                        ir.get("confidence"),
                        ir.get("baseline"),
                        ir.get("model_id"),
                        ir.get("model_version"),
                    )
                )
            )
            feats.append(
                json.dumps(
                    {
                        "subject": h,
                        "session": k,
                        "day": None if offset == "" else int(offset),
                        "features": d.get("features"),
                        "features_usable": d.get("features_usable"),
                        "quality": d.get("quality"),
                    },
                    sort_keys=True,
                )
            )
            if recordings and d.get("recording") is not None:
                # export_session names files by label and internal id; rename to the number
                paths = export_session(
                    store,
                    s["id"],
                    out / "recordings",
                    subject_label=h,
                    anonymize_dates=True,
                    audit=False,
                )
                for p in paths.values():
                    if p is not None:
                        tail = p.name.split(f"_ses-{s['id']:04d}", 1)[1]
                        q = p.with_name(f"{h}_ses-{k:03d}{tail}")
                        p.replace(q)
                        files.append(q)
            n_sessions += 1
    for name, lines in (("sessions.tsv", rows), ("features.jsonl", feats)):
        p = out / name
        write_atomic(p, "\n".join(lines) + ("\n" if lines else ""))
        files.append(p)
    manifest = {
        "format": "addictidx-research-export-1",
        "consent_scope": "research",
        "consent_in_force_on": day.isoformat(),
        "n_subjects": len(chosen),
        "n_sessions": n_sessions,
        "subject_naming": "HMAC-SHA256 keyed hash (20 hex digits) of the site's pseudonymous "
        "code; "
        "not reversible without the site's key",
        "dates": "day offsets from each subject's first session; EDF+ start dates anonymous",
        "intended_use": "research on a physiological deviation index; not a diagnosis",
    }
    p = out / "manifest.json"
    write_atomic(p, json.dumps(manifest, indent=1) + "\n")
    files.append(p)
    return files, n_sessions
