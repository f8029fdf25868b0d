"""FHIR R5 export: a validated Bundle that carries the pseudonym and nothing else about a
person."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fhir.resources")

from addictidx._core.errors import DataFormatError  # noqa: E402
from addictidx.interop.fhir import (  # noqa: E402
    CODE_SYSTEM,
    LOINC,
    PSEUDONYM_SYSTEM,
    resting_hrv,
    session_bundle,
    validate_bundle,
)

DATA = Path(__file__).resolve().parents[1] / "addictidx" / "data"


def _nsr004_rr() -> np.ndarray:
    with gzip.open(DATA / "nsr2db_nsr004_rr_15min.txt.gz", "rt") as f:
        return np.array([float(x) for x in f if x.strip() and not x.startswith("#")])


def _detail(features, index_result):
    return {
        "id": 7,
        "subject": "P123",
        "started_utc": "2026-12-01T09:00:00Z",
        "ended_utc": "2026-12-01T09:05:40Z",
        "devices": {"headband": "muse-2", "strap": "polar-h10"},
        "phases": [
            {"name": "device_check", "t_start_s": 0.0, "t_end_s": 20.0},
            {"name": "eyes_closed_rest", "t_start_s": 20.0, "t_end_s": 200.0},
            {"name": "eyes_open_rest", "t_start_s": 200.0, "t_end_s": 320.0},
        ],
        "features": features,
        "index_result": index_result,
    }


def _resources(bundle, kind):
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind]


def _obs(bundle, system, code):
    hits = [
        o
        for o in _resources(bundle, "Observation")
        if any(c["system"] == system and c["code"] == code for c in o["code"]["coding"])
    ]
    assert len(hits) == 1, f"{code}: {len(hits)} observations"
    return hits[0]


@pytest.fixture(scope="module")
def real_session():
    """Real RR (PhysioNet nsr004) laid on the protocol's clock; features as the index uses them."""
    rr = _nsr004_rr()
    t = 20.0 + np.cumsum(rr)
    keep = t <= 320.0
    hrv = resting_hrv(t[keep], rr[keep], _detail({}, None)["phases"])
    features = {
        "hrv_ln_rmssd": float(np.log(hrv["hrv_rmssd_ms"])),
        "hr_mean_bpm": 71.3,
        "eeg_beta_rel_frontal": 0.21,
        "eeg_alpha_beta_ratio_temporal": 0.53,
    }
    res = {
        "index": 22.16,
        "z": -0.767,
        "confidence": 0.569,
        "band": "low",
        "baseline": "personal",
        "z_features": {"hr_mean_bpm": -1.54, "hrv_ln_rmssd": 1.11},
        "model_id": "addictidx.physiological_deviation_index",
        "model_version": "1.0.0",
    }
    return t[keep], rr[keep], hrv, _detail(features, res)


def test_sdnn_and_rmssd_equal_a_hand_calculation_on_real_rr(real_session):
    t, rr, hrv, _ = real_session
    # nsr004 at rest has no artefacts in this excerpt: every interval is kept, so SDNN/RMSSD
    # are the textbook formulas (sample SD; root mean square of successive differences).
    ms = rr * 1000.0
    assert hrv["hrv_sdnn_ms"] == pytest.approx(np.std(ms, ddof=1), rel=1e-12)
    assert hrv["hrv_rmssd_ms"] == pytest.approx(np.sqrt(np.mean(np.diff(ms) ** 2)), rel=1e-12)


def test_bundle_validates_and_carries_the_coded_observations(real_session):
    _, _, hrv, detail = real_session
    b = session_bundle(detail, pseudonym="P123", hrv=hrv, software="addictidx 9.9")
    validate_bundle(b)  # the R5 models accept it (session_bundle validated it too)
    assert b["resourceType"] == "Bundle" and b["type"] == "collection"
    hr = _obs(b, LOINC, "8867-4")
    assert hr["valueQuantity"] == {
        "value": 71.3,
        "unit": "beats/min",
        "system": "http://unitsofmeasure.org",
        "code": "/min",
    }
    sdnn = _obs(b, LOINC, "80404-7")
    assert sdnn["valueQuantity"]["value"] == pytest.approx(hrv["hrv_sdnn_ms"])
    assert sdnn["valueQuantity"]["code"] == "ms"
    rmssd = _obs(b, CODE_SYSTEM, "hrv-rmssd")
    assert rmssd["valueQuantity"]["value"] == pytest.approx(hrv["hrv_rmssd_ms"])
    idx = _obs(b, CODE_SYSTEM, "physiological-deviation-index")
    assert idx["valueQuantity"]["value"] == 22.16
    comp = {c["code"]["coding"][0]["code"]: c for c in idx["component"]}
    assert comp["index-z"]["valueQuantity"]["value"] == -0.767
    assert comp["index-reference-frame"]["valueCodeableConcept"]["text"] == "personal"
    assert "not a diagnosis" in idx["note"][0]["text"]
    # the resting phases (20-320 s after 09:00:00Z) are the effective period of every observation
    for o in _resources(b, "Observation"):
        assert o["effectivePeriod"] == {
            "start": "2026-12-01T09:00:20Z",
            "end": "2026-12-01T09:05:20Z",
        }
        assert o["status"] == "final"
    # one Device per wearable plus the software; a Provenance covering every observation
    assert len(_resources(b, "Device")) == 3
    (prov,) = _resources(b, "Provenance")
    targets = {t["reference"] for t in prov["target"]}
    obs_urls = {e["fullUrl"] for e in b["entry"] if e["resource"]["resourceType"] == "Observation"}
    assert targets == obs_urls


def test_the_pseudonym_is_the_only_identifier(real_session):
    _, _, hrv, detail = real_session
    b = session_bundle(detail, pseudonym="P123", hrv=hrv, software="addictidx 9.9")
    (patient,) = _resources(b, "Patient")
    assert set(patient) == {"resourceType", "id", "meta", "identifier"}
    assert patient["identifier"] == [{"system": PSEUDONYM_SYSTEM, "value": "P123"}]
    text = json.dumps(b)
    assert text.count("P123") == 1  # nowhere else: not in notes, ids, devices or provenance
    for key in ("name", "birthDate", "gender", "address", "telecom", "photo", "contact"):
        assert f'"{key}"' not in json.dumps(patient)


def test_a_missing_index_is_exported_as_absent_with_its_reason(real_session):
    _, _, hrv, detail = real_session
    d = dict(detail, index_result={"index": None, "reason": "EEG quality gate failed"})
    d["features"] = dict(detail["features"], eeg_beta_rel_frontal=float("nan"))
    b = session_bundle(d, pseudonym="P123", hrv=hrv, software="addictidx 9.9")
    idx = _obs(b, CODE_SYSTEM, "physiological-deviation-index")
    assert "valueQuantity" not in idx and idx["dataAbsentReason"]["coding"][0]["code"]
    assert any("EEG quality gate failed" in n["text"] for n in idx["note"])
    beta = _obs(b, CODE_SYSTEM, "eeg-beta-rel-frontal")
    assert "valueQuantity" not in beta and "dataAbsentReason" in beta


def test_validation_rejects_an_invalid_resource(real_session):
    _, _, hrv, detail = real_session
    b = session_bundle(detail, pseudonym="P123", hrv=hrv, software="addictidx 9.9")
    bad = json.loads(json.dumps(b))
    del _resources(bad, "Observation")[0]["code"]  # Observation.code is required (1..1)
    with pytest.raises(DataFormatError, match="FHIR Bundle failed validation"):
        validate_bundle(bad)
    bad = json.loads(json.dumps(b))
    _resources(bad, "Observation")[1]["valueQuantity"]["value"] = "seventy"  # not a decimal
    with pytest.raises(DataFormatError, match="FHIR Bundle failed validation"):
        validate_bundle(bad)
    bad = json.loads(json.dumps(b))
    _resources(bad, "Patient")[0]["birthDate"] = "1980-13-45"  # not a date
    with pytest.raises(DataFormatError, match="FHIR Bundle failed validation"):
        validate_bundle(bad)
