"""HL7 FHIR R5 export of one assessment session (a ``collection`` Bundle).

The Bundle holds:

* a **Patient** carrying one pseudonymous identifier and nothing else (no name, birth date,
  gender, address or contact);
* one **Device** per wearable (the profile's label and vendor) and one for the addictidx
  software;
* **Observations**: heart rate (LOINC 8867-4) and SDNN (LOINC 80404-7) from the RR intervals of
  the resting phases; RMSSD, ln RMSSD, frontal relative beta, temporal alpha/beta ratio and the
  index (with its Z, confidence, band and reference frame as components) under the project's own
  code system :data:`CODE_SYSTEM` (documented in ``docs/fhir.md``);
* a **Provenance** naming the software version and model that produced every Observation.

Every Observation is ``status = final`` with an ``effectivePeriod`` spanning the resting phases;
a feature or index that could not be computed is present with a ``dataAbsentReason`` and the
reason as a note, never silently dropped. The index Observation says it is decision support, not
a diagnosis.

The Bundle is built as plain JSON and validated by ``fhir.resources`` (the R5 models) before it
is returned, so an invalid export cannot be written.
"""

from __future__ import annotations

import datetime as _dt
import math
import uuid
from collections.abc import Mapping
from typing import Any

from addictidx._core.intended_use import DISCLAIMER_SHORT

__all__ = [
    "CODE_SYSTEM",
    "FHIR_CODES",
    "LOINC",
    "PSEUDONYM_SYSTEM",
    "resting_hrv",
    "session_bundle",
    "validate_bundle",
]

#: The project's own code system for observations LOINC does not cover.
CODE_SYSTEM = "https://addictidx.org/fhir/CodeSystem/observation"
#: Identifier system of the pseudonymous subject code (no other identifier is ever exported).
PSEUDONYM_SYSTEM = "https://addictidx.org/fhir/NamingSystem/pseudonym"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
_OBS_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
_ABSENT = "http://terminology.hl7.org/CodeSystem/data-absent-reason"
_SECURITY = "http://terminology.hl7.org/CodeSystem/v3-ObservationValue"
_NS = uuid.UUID("6f1c2b1e-3d2a-5c1b-9a7e-0a1d2c3b4e5f")

#: feature key -> (system, code, display, UCUM unit, unit display, category)
FHIR_CODES: dict[str, tuple[str, str, str, str, str, str]] = {
    "hr_mean_bpm": (LOINC, "8867-4", "Heart rate", "/min", "beats/min", "vital-signs"),
    "hrv_sdnn_ms": (
        LOINC,
        "80404-7",
        "R-R interval.standard deviation (Heart rate variability)",
        "ms",
        "ms",
        "vital-signs",
    ),
    "hrv_rmssd_ms": (
        CODE_SYSTEM,
        "hrv-rmssd",
        "Root mean square of successive RR differences (RMSSD)",
        "ms",
        "ms",
        "exam",
    ),
    "hrv_ln_rmssd": (
        CODE_SYSTEM,
        "hrv-ln-rmssd",
        "Natural logarithm of RMSSD in ms",
        "1",
        "ln(ms)",
        "exam",
    ),
    "eeg_beta_rel_frontal": (
        CODE_SYSTEM,
        "eeg-beta-rel-frontal",
        "Relative EEG beta power 13-25 Hz over 1-25 Hz, mean of AF7 and AF8",
        "1",
        "ratio",
        "exam",
    ),
    "eeg_alpha_beta_ratio_temporal": (
        CODE_SYSTEM,
        "eeg-alpha-beta-ratio-temporal",
        "EEG alpha (8-12 Hz) / beta (13-25 Hz) power ratio, mean of TP9 and TP10",
        "1",
        "ratio",
        "exam",
    ),
}
_INDEX_CODE = (
    CODE_SYSTEM,
    "physiological-deviation-index",
    "Physiological deviation index (addiction index), 0-100",
)


def _uuid(*parts: object) -> str:
    return f"urn:uuid:{uuid.uuid5(_NS, '|'.join(str(p) for p in parts))}"


def _finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(float(x))


def _instant(text: str | None) -> str | None:
    """An ISO-8601 UTC instant with seconds and zone, as FHIR requires."""
    if not text:
        return None
    t = _dt.datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    if t.tzinfo is None:
        t = t.replace(tzinfo=_dt.timezone.utc)
    return t.astimezone(_dt.timezone.utc).isoformat().replace("+00:00", "Z")


def _rest_period(detail: Mapping[str, Any]) -> dict[str, str]:
    """The resting phases' span as a FHIR Period (absolute times from the session start)."""
    start = _dt.datetime.fromisoformat(str(detail["started_utc"]).replace("Z", "+00:00"))
    rest = [p for p in detail.get("phases", []) if str(p.get("name", "")).endswith("_rest")]
    if not rest:
        end = detail.get("ended_utc") or detail["started_utc"]
        return {"start": _instant(detail["started_utc"]), "end": _instant(end)}
    t0 = min(float(p["t_start_s"]) for p in rest)
    t1 = max(float(p["t_end_s"]) for p in rest)
    return {
        "start": _instant((start + _dt.timedelta(seconds=t0)).isoformat()),
        "end": _instant((start + _dt.timedelta(seconds=t1)).isoformat()),
    }


def _observation(
    key: str,
    value: float | None,
    *,
    patient: str,
    device: str | None,
    period: Mapping[str, str],
    issued: str,
    sid: str,
    absent_reason: str | None = None,
) -> dict[str, Any]:
    system, code, display, ucum, unit, category = FHIR_CODES[key]
    obs: dict[str, Any] = {
        "resourceType": "Observation",
        "id": _uuid(sid, key).rsplit(":", 1)[1],
        "status": "final",
        "category": [{"coding": [{"system": _OBS_CATEGORY, "code": category}]}],
        "code": {"coding": [{"system": system, "code": code, "display": display}], "text": key},
        "subject": {"reference": patient},
        "effectivePeriod": dict(period),
        "issued": issued,
    }
    if device:
        obs["device"] = {"reference": device}
    if value is not None and _finite(value):
        obs["valueQuantity"] = {"value": float(value), "unit": unit, "system": UCUM, "code": ucum}
    else:
        obs["dataAbsentReason"] = {"coding": [{"system": _ABSENT, "code": "not-performed"}]}
        obs["note"] = [{"text": absent_reason or "could not be computed from this recording"}]
    return obs


def _index_observation(
    res: Mapping[str, Any] | None,
    *,
    patient: str,
    devices: list[str],
    period: Mapping[str, str],
    issued: str,
    sid: str,
) -> dict[str, Any]:
    system, code, display = _INDEX_CODE
    obs: dict[str, Any] = {
        "resourceType": "Observation",
        "id": _uuid(sid, "index").rsplit(":", 1)[1],
        "status": "final",
        "category": [{"coding": [{"system": _OBS_CATEGORY, "code": "survey"}]}],
        "code": {"coding": [{"system": system, "code": code, "display": display}]},
        "subject": {"reference": patient},
        "effectivePeriod": dict(period),
        "issued": issued,
        "note": [{"text": DISCLAIMER_SHORT}],
    }
    if devices:
        obs["device"] = {"reference": devices[0]}
    if res is None or not _finite(res.get("index")):
        reason = (res or {}).get("reason") or "no index for this session"
        obs["dataAbsentReason"] = {"coding": [{"system": _ABSENT, "code": "not-performed"}]}
        obs["note"].append({"text": f"No index: {reason}"})
        return obs
    obs["valueQuantity"] = {"value": round(float(res["index"]), 3), "unit": "score"}
    comps = []
    for ccode, label, value in (
        ("index-z", "Composite robust z-score Z", res.get("z")),
        ("index-confidence", "Confidence of the index (0-1)", res.get("confidence")),
    ):
        if _finite(value):
            comps.append(
                {
                    "code": {"coding": [{"system": CODE_SYSTEM, "code": ccode, "display": label}]},
                    "valueQuantity": {
                        "value": float(value),
                        "unit": "1",
                        "system": UCUM,
                        "code": "1",
                    },
                }
            )
    for ccode, label, value in (
        ("index-band", "Index band", res.get("band")),
        ("index-reference-frame", "Reference frame (personal or population)", res.get("baseline")),
    ):
        if value:
            comps.append(
                {
                    "code": {"coding": [{"system": CODE_SYSTEM, "code": ccode, "display": label}]},
                    "valueCodeableConcept": {
                        "coding": [{"system": CODE_SYSTEM, "code": f"{ccode}-{value}"}],
                        "text": str(value),
                    },
                }
            )
    for feat, zval in sorted((res.get("z_features") or {}).items()):
        if _finite(zval):
            comps.append(
                {
                    "code": {
                        "coding": [
                            {
                                "system": CODE_SYSTEM,
                                "code": f"z-{feat.replace('_', '-')}",
                                "display": f"Robust z-score of {feat} (signed: + raises the "
                                "index)",
                            }
                        ]
                    },
                    "valueQuantity": {
                        "value": float(zval),
                        "unit": "1",
                        "system": UCUM,
                        "code": "1",
                    },
                }
            )
    obs["component"] = comps
    return obs


def resting_hrv(rr_times, rr_s, phases) -> dict[str, float]:
    """SDNN and RMSSD of the resting phases' RR, screened exactly as the index features are.

    The intervals whose beat falls inside a phase named ``*_rest`` are screened by
    :func:`~addictidx.features.rr_quality` (rejected intervals dropped, no difference spanning
    them) and passed to :func:`~addictidx.features.compute_hrv` (Kubios convention, time domain).
    When the RR gate fails, both values are ``NaN`` (exported with a ``dataAbsentReason``).

    Parameters
    ----------
    rr_times, rr_s : array, shape (n_rr,)
        Beat times (session clock, s) and RR intervals (s).
    phases : sequence of mapping
        ``{"name", "t_start_s", "t_end_s"}`` as stored with the session.

    Returns
    -------
    dict
        ``{"hrv_sdnn_ms": float, "hrv_rmssd_ms": float}``.
    """
    import numpy as np

    from addictidx.features import compute_hrv, rr_quality

    t = np.asarray(rr_times, dtype=np.float64)
    rr = np.asarray(rr_s, dtype=np.float64)
    keep = np.zeros(t.shape, dtype=bool)
    for p in phases:
        if str(p.get("name", "")).endswith("_rest"):
            keep |= (t > float(p["t_start_s"])) & (t <= float(p["t_end_s"]))
    out = {"hrv_sdnn_ms": math.nan, "hrv_rmssd_ms": math.nan}
    if not keep.any():
        return out
    rr = rr[keep]
    mask_ok, report = rr_quality(rr)
    if not report.usable:
        return out
    hrv = compute_hrv(
        np.where(mask_ok, rr, np.nan),
        convention="kubios",
        frequency=False,
        nonlinear=False,
        geometric=False,
    )
    return {"hrv_sdnn_ms": float(hrv["hrv_sdnn_ms"]), "hrv_rmssd_ms": float(hrv["hrv_rmssd_ms"])}


def session_bundle(
    detail: Mapping[str, Any],
    *,
    pseudonym: str,
    hrv: Mapping[str, float] | None = None,
    device_info: Mapping[str, Mapping[str, str]] | None = None,
    software: str,
    issued: str | None = None,
) -> dict[str, Any]:
    """Build and validate the FHIR R5 Bundle of one stored session.

    Parameters
    ----------
    detail : mapping
        The session as :meth:`SessionStore.session_detail` returns it (``id``, ``started_utc``,
        ``phases``, ``features``, ``index_result``, ``devices``...).
    pseudonym : str
        The only subject identifier written (the site's pseudonymous code).
    hrv : mapping | None
        Extra HRV values from the session's RR (``hrv_sdnn_ms``, ``hrv_rmssd_ms``); missing ones
        are exported with a ``dataAbsentReason``.
    device_info : mapping | None
        ``{"headband": {"label": ..., "vendor": ...}, "strap": {...}}`` from the profiles.
    software : str
        ``"addictidx <version>"``.
    issued : str | None
        ISO-8601 instant of the export (default now, UTC).

    Returns
    -------
    dict
        The Bundle as JSON-ready data, already validated against the R5 models.
    """
    issued = _instant(issued or _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))
    sid = f"session-{detail['id']}-{detail.get('started_utc')}"
    patient_url = _uuid("patient", pseudonym)  # one Patient across a subject's sessions
    patient = {
        "resourceType": "Patient",
        "id": patient_url.rsplit(":", 1)[1],
        "meta": {
            "security": [{"system": _SECURITY, "code": "PSEUDED", "display": "pseudonymized"}]
        },
        "identifier": [{"system": PSEUDONYM_SYSTEM, "value": str(pseudonym)}],
    }
    entries: list[dict[str, Any]] = [{"fullUrl": patient_url, "resource": patient}]
    dev_refs: dict[str, str] = {}
    for role, profile in sorted((detail.get("devices") or {}).items()):
        info = (device_info or {}).get(role, {})
        url = _uuid(sid, "device", role)
        dev = {
            "resourceType": "Device",
            "id": url.rsplit(":", 1)[1],
            "displayName": info.get("label") or str(profile),
            "name": [{"value": str(profile), "type": "model-name"}],
            "note": [{"text": f"role: {role}; firmware profile {profile}"}],
        }
        if info.get("vendor"):
            dev["manufacturer"] = info["vendor"]
        entries.append({"fullUrl": url, "resource": dev})
        dev_refs[role] = url
    sw_url = _uuid(sid, "software")
    entries.append(
        {
            "fullUrl": sw_url,
            "resource": {
                "resourceType": "Device",
                "id": sw_url.rsplit(":", 1)[1],
                "displayName": software,
                "name": [{"value": "addictidx", "type": "user-friendly-name"}],
                "version": [{"value": software.rsplit(" ", 1)[-1]}],
            },
        }
    )
    period = _rest_period(detail)
    feats = dict(detail.get("features") or {})
    feats.update({k: v for k, v in (hrv or {}).items() if k in FHIR_CODES})
    strap, headband = dev_refs.get("strap"), dev_refs.get("headband")
    obs_urls = []
    for key in FHIR_CODES:
        dev = headband if key.startswith("eeg_") else strap
        obs = _observation(
            key,
            feats.get(key),
            patient=patient_url,
            device=dev,
            period=period,
            issued=issued,
            sid=sid,
        )
        url = f"urn:uuid:{obs['id']}"
        entries.append({"fullUrl": url, "resource": obs})
        obs_urls.append(url)
    idx = _index_observation(
        detail.get("index_result"),
        patient=patient_url,
        devices=[u for u in (headband, strap) if u],
        period=period,
        issued=issued,
        sid=sid,
    )
    url = f"urn:uuid:{idx['id']}"
    entries.append({"fullUrl": url, "resource": idx})
    obs_urls.append(url)
    res = detail.get("index_result") or {}
    prov_url = _uuid(sid, "provenance")
    entries.append(
        {
            "fullUrl": prov_url,
            "resource": {
                "resourceType": "Provenance",
                "id": prov_url.rsplit(":", 1)[1],
                "target": [{"reference": u} for u in obs_urls],
                "recorded": issued,
                "occurredPeriod": dict(period),
                "patient": {"reference": patient_url},
                "agent": [
                    {
                        "type": {"text": "assembler"},
                        "who": {"reference": sw_url},
                    }
                ],
                "entity": [
                    {
                        "role": "source",
                        "what": {
                            "display": f"model {res.get('model_id', 'n/a')} "
                            f"{res.get('model_version', '')}".strip()
                        },
                    }
                ],
            },
        }
    )
    bundle = {
        "resourceType": "Bundle",
        "id": _uuid(sid, "bundle").rsplit(":", 1)[1],
        "type": "collection",
        "timestamp": issued,
        "entry": entries,
    }
    validate_bundle(bundle)
    return bundle


def validate_bundle(bundle: Mapping[str, Any]) -> None:
    """Validate a Bundle and each of its resources with the ``fhir.resources`` R5 models.

    Raises
    ------
    DataFormatError
        If ``fhir.resources`` is not installed, or naming the first invalid resource.
    """
    from addictidx._core.errors import DataFormatError

    try:
        from fhir.resources import get_fhir_model_class
    except ModuleNotFoundError:
        raise DataFormatError(
            "FHIR export needs fhir.resources: pip install 'addictidx[fhir]'."
        ) from None
    try:
        get_fhir_model_class("Bundle").model_validate(dict(bundle))
        for e in bundle.get("entry", []):
            r = e["resource"]
            get_fhir_model_class(r["resourceType"]).model_validate(r)
    except Exception as exc:  # pydantic.ValidationError: one line naming what failed
        first = str(exc).splitlines()[0:3]
        raise DataFormatError(f"FHIR Bundle failed validation: {' '.join(first)}") from None
