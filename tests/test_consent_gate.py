"""One consent gate for every recording (issue 14): the session itself refuses to exist without
assessment consent in force, whichever entry point starts it (Python API, CLI ``assess``, the
dashboard, LSL input), and a withdrawal is never overridden by a staff confirmation.

Attacks tried here: calling the Python API directly without consent (no CLI check in the way),
with a withdrawal on record plus ``consent_given=True``, with expired consent, and the CLI's
``--consent-given`` against a withdrawal.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys

import pytest

from addictidx._core.errors import ConsentError
from addictidx.sessions.assessment import run_assessment
from addictidx.sessions.protocol import Phase, Protocol
from addictidx.store.audit import read_audit
from addictidx.store.consent import consent_state
from addictidx.store.session_store import SessionStore

#: A short session: the gate acts before a session exists, so scoring is not the point here.
SHORT = Protocol(
    "gate-test",
    (Phase("device_check", 10.0, False), Phase("eyes_closed_rest", 10.0, True)),
)


def _records(store, code):
    with SessionStore(store, create=False) as st:
        return st.consent.records(code), st.queries.list_sessions(code)


def _audit_actions(store):
    return [e["action"] for e in read_audit(store)]


def test_python_api_without_consent_is_refused_and_creates_no_store(tmp_path):
    store = tmp_path / "s"
    with pytest.raises(ConsentError, match="No assessment consent in force for P501"):
        run_assessment("P501", store_dir=store, protocol=SHORT, age=40)
    assert not store.exists()  # not even an empty store or a key folder
    assert not any(tmp_path.iterdir())


def test_python_api_with_another_scope_or_another_person_is_refused(tmp_path):
    store = tmp_path / "s"
    with SessionStore(store) as st:
        st.consent.add("P502", scope="research")  # research is not assessment
        st.consent.add("P503", scope="assessment")  # someone else's consent
    with pytest.raises(ConsentError, match="P502"):
        run_assessment("P502", store_dir=store, protocol=SHORT, age=40)
    recs, sessions = _records(store, "P502")
    assert [r["scope"] for r in recs] == ["research"] and sessions == []


def test_withdrawal_is_never_overridden_by_consent_given(tmp_path):
    store = tmp_path / "s"
    with SessionStore(store) as st:
        st.consent.add("P504", scope="assessment", signed_on="2026-01-05")
        st.consent.add("P504", scope="assessment", status="withdrawn", signed_on="2026-02-01")
    for _ in range(2):  # the refusal records nothing, so a second try is refused the same way
        with pytest.raises(ConsentError, match="P504 withdrew assessment consent"):
            run_assessment("P504", store_dir=store, protocol=SHORT, age=40, consent_given=True)
    recs, sessions = _records(store, "P504")
    assert [r["status"] for r in recs] == ["given", "withdrawn"] and sessions == []


def test_consent_given_records_audited_consent_before_the_session(tmp_path):
    store = tmp_path / "s"
    res = run_assessment(
        "P505",
        store_dir=store,
        protocol=SHORT,
        age=40,
        consent_given=True,
        consent_via="test staff confirmation",
    )
    recs, sessions = _records(store, "P505")
    assert [(r["scope"], r["status"]) for r in recs] == [("assessment", "given")]
    assert [s["id"] for s in sessions] == [res.session_id]
    actions = _audit_actions(store)
    assert actions.count("consent") == 1  # audited (the code itself is keyed in the log)
    assert "P505" not in (store / "audit.jsonl").read_text()
    # a second session finds consent in force and records no second consent
    run_assessment("P505", store_dir=store, protocol=SHORT, age=40, consent_given=True)
    recs, sessions = _records(store, "P505")
    assert len(recs) == 1 and len(sessions) == 2


def test_expired_consent_refused_unless_confirmed_again(tmp_path):
    store = tmp_path / "s"
    with SessionStore(store) as st:
        st.consent.add("P506", scope="assessment", signed_on="2025-01-01", expires_on="2025-06-30")
        assert st.consent.state("P506", "assessment") == "expired"
    with pytest.raises(ConsentError, match="No assessment consent expired for P506"):
        run_assessment("P506", store_dir=store, protocol=SHORT, age=40)
    run_assessment("P506", store_dir=store, protocol=SHORT, age=40, consent_given=True)
    recs, sessions = _records(store, "P506")
    assert [r["status"] for r in recs] == ["given", "given"] and len(sessions) == 1


def test_consent_state_by_hand():
    today = dt.date(2026, 3, 1)
    given = {"scope": "assessment", "status": "given", "signed_on": "2026-01-01"}
    later_withdrawn = {"scope": "assessment", "status": "withdrawn", "signed_on": "2026-02-01"}
    future_given = {"scope": "assessment", "status": "given", "signed_on": "2026-04-01"}
    expiring = {**given, "expires_on": "2026-02-28"}
    assert consent_state([], "assessment", today) == "none"
    assert consent_state([given], "assessment", today) == "in force"
    assert consent_state([given], "research", today) == "none"
    assert consent_state([given, later_withdrawn], "assessment", today) == "withdrawn"
    # a consent signed after the day asked about does not count yet
    assert consent_state([later_withdrawn, future_given], "assessment", today) == "withdrawn"
    assert consent_state([expiring], "assessment", today) == "expired"
    assert consent_state([expiring], "assessment", dt.date(2026, 2, 28)) == "in force"


ENV_KEYS = ("ADDICTIDX_STORE", "ADDICTIDX_SUBJECT_CODE_PATTERN")


def _cli(*args):
    env = {k: v for k, v in os.environ.items() if k not in ENV_KEYS}
    return subprocess.run(
        [sys.executable, "-m", "addictidx", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )


def test_cli_consent_given_does_not_override_a_withdrawal(tmp_path):
    store = tmp_path / "s"
    with SessionStore(store) as st:
        st.consent.add("P507", scope="assessment", status="withdrawn")
    r = _cli(
        "assess",
        "--age",
        "40",
        "--simulate",
        "--speed",
        "1000",
        "--subject",
        "P507",
        "--store",
        str(store),
        "--consent-given",
        "--no-report",
    )
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert "withdrew assessment consent" in r.stderr
    recs, sessions = _records(store, "P507")
    assert [r["status"] for r in recs] == ["withdrawn"] and sessions == []
    assert json.dumps(recs)  # records stay readable (the refusal wrote nothing half-way)
