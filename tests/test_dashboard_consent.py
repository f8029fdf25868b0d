"""Assessment consent and the person's clinical inputs on the dashboard's start (issue 14: "consent
for assessment required before recording (staff can record it in the same command)"; issue 17.5:
age never assumed), tried by attack against the real :class:`DashboardRunner` behind the real
app (Starlette TestClient; the session task runs on the client's event loop, simulated devices).

Each refusal is checked for what it must not leave behind: no session, no consent record, no
store created, no audit entry. Each has a positive control (the same start made the right way
records what it should), so a refusal cannot come from a broken route. The browser side (the
consent box, the age field) is in tests/test_dashboard.py.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time

import pytest

TOKEN = "consent-test-token-0123456789"
BASE = "http://127.0.0.1:8765"
EVIL = "http://evil.example"


@pytest.fixture
def dash(tmp_path):
    """(client, runner) around a fresh store folder that does not exist yet."""
    from fastapi.testclient import TestClient

    from addictidx.dashboard.app import create_app
    from addictidx.dashboard.runner import DashboardRunner

    runner = DashboardRunner(tmp_path / "store", simulate=True, speed=50.0)
    app = create_app(runner, token=TOKEN)
    with TestClient(app, base_url=BASE) as c:
        c.csrf = app.guard.csrf
        c.get(f"/?token={TOKEN}")  # the browser opens the printed URL: cookie set
        try:
            yield c, runner
        finally:
            _stop(c, runner)
            runner.close()


def _start(c, body, **headers):
    h = {"content-type": "application/json", "x-csrf-token": c.csrf, "origin": BASE} | headers
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return c.post("/api/start", content=raw, headers={k: v for k, v in h.items() if v})


def _wait(pred, what: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout  # a loaded 2-core machine: generous, no timing asserted
    while not pred():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def _stop(c, runner) -> None:
    """Stop a started session and wait until its task has ended (nothing left running)."""
    if runner.task is None:
        return
    _wait(lambda: runner.live is not None or runner.task.done(), "session did not start")
    if not runner.task.done():
        c.post(
            "/api/stop",
            content=b"{}",
            headers={"content-type": "application/json", "x-csrf-token": c.csrf, "origin": BASE},
        )
    _wait(lambda: runner.task.done(), "session did not stop")


def _store(runner):
    from addictidx.store.session_store import SessionStore

    return SessionStore(runner.store_dir, create=False)


def _audit(runner) -> list[dict]:
    from addictidx.store.audit import read_audit

    return read_audit(runner.store_dir)


def _one_line(r, status: int, *words: str) -> str:
    assert r.status_code == status, r.text
    detail = r.json()["detail"]
    assert isinstance(detail, str) and "\n" not in detail
    for w in words:
        assert w in detail, detail
    return detail


# -- consent ------------------------------------------------------------------------------------
def test_start_without_consent_is_refused_and_nothing_is_recorded(dash):
    c, runner = dash
    r = _start(c, {"subject": "P610", "age": 40})
    _one_line(r, 403, "No assessment consent in force for P610", "consent given")
    assert runner.task is None and runner.status == "idle" and runner.subject is None
    assert not runner.store_dir.exists()  # not even an empty store
    # with a store holding another person's consent: still refused, nothing written
    with _store_created(runner) as st:
        st.consent.add("P999", scope="assessment")
    n_audit = len(_audit(runner))
    r = _start(c, {"subject": "P610", "age": 40, "consent_given": False})
    _one_line(r, 403, "No assessment consent")
    # consent for another scope is not assessment consent
    with _store(runner) as st:
        st.consent.add("P610", scope="research")
    n_audit += 1
    _one_line(_start(c, {"subject": "P610", "age": 40}), 403, "No assessment consent")
    with _store(runner) as st:
        assert st.queries.list_sessions("P610") == []
        assert [r["scope"] for r in st.consent.records("P610")] == ["research"]
    assert len(_audit(runner)) == n_audit
    assert c.get("/api/state").json()["status"] == "idle"


def test_consent_box_records_consent_audited_with_the_start(dash):
    c, runner = dash
    r = _start(c, {"subject": "P611", "age": 52, "consent_given": True})
    assert r.status_code == 200 and r.json() == {"ok": True, "consent_recorded": True}
    _wait(lambda: runner.session_id is not None or runner.task.done(), "no session")
    assert runner.error is None
    with _store(runner) as st:
        (rec,) = st.consent.records("P611")
        assert (rec["scope"], rec["status"]) == ("assessment", "given")
        assert st.consent.in_force("P611", "assessment")
        (row,) = st.queries.list_sessions("P611")
        subject_hash = st.subject_registry.hash("P611")
        from addictidx.store.audit import verify_store

        assert verify_store(runner.store_dir).ok
    (entry,) = [e for e in _audit(runner) if e["action"] == "consent"]
    assert entry["detail"] == {
        "scope": "assessment",
        "status": "given",
        "document_version": "1",
        "via": "dashboard start form",
    }
    assert entry["subject"] == subject_hash  # keyed hash, never the code
    assert b"P611" not in (runner.store_dir / "audit.jsonl").read_bytes()
    assert rec["recorded_utc"] <= row["started_utc"]  # recorded before the session existed
    _stop(c, runner)
    # the next start of the same person: consent is in force, no box needed, nothing re-recorded
    r = _start(c, {"subject": "P611", "age": 52})
    assert r.status_code == 200 and r.json()["consent_recorded"] is False
    _stop(c, runner)
    with _store(runner) as st:
        assert len(st.consent.records("P611")) == 1
        assert len(st.queries.list_sessions("P611")) == 2


def test_withdrawn_consent_refuses_even_with_the_box(dash):
    c, runner = dash
    with _store_created(runner) as st:
        st.consent.add("P612", scope="assessment", signed_on="2026-01-05")
        st.consent.add("P612", scope="assessment", status="withdrawn", signed_on="2026-02-01")
    n_audit = len(_audit(runner))
    _one_line(_start(c, {"subject": "P612", "age": 40}), 403, "withdrew assessment consent")
    # a ticked box is not a new signed consent: a habit-tick never overrides a withdrawal
    r = _start(c, {"subject": "P612", "age": 40, "consent_given": True})
    _one_line(r, 403, "withdrew", "addictidx consent record --subject P612 --scope assessment")
    assert runner.task is None
    with _store(runner) as st:
        assert [r["status"] for r in st.consent.records("P612")] == ["given", "withdrawn"]
        assert st.queries.list_sessions("P612") == []
    assert len(_audit(runner)) == n_audit
    # control: a new consent recorded deliberately (the CLI's 'consent record') lets it start
    with _store(runner) as st:
        st.consent.add("P612", scope="assessment")
    assert _start(c, {"subject": "P612", "age": 40}).status_code == 200


def test_expired_consent_needs_the_box_again(dash):
    c, runner = dash
    with _store_created(runner) as st:
        st.consent.add("P613", scope="assessment", signed_on="2025-01-01", expires_on="2025-12-31")
    _one_line(_start(c, {"subject": "P613", "age": 40}), 403, "No assessment consent")
    r = _start(c, {"subject": "P613", "age": 40, "consent_given": True})
    assert r.status_code == 200 and r.json()["consent_recorded"] is True


def test_a_cross_site_request_cannot_record_consent(dash):
    c, runner = dash
    body = {"subject": "P614", "age": 40, "consent_given": True}
    attacks = [
        # a form post from another site (text/plain, no CSRF token; the cookie may ride along)
        {"content-type": "text/plain", "origin": EVIL, "x-csrf-token": None},
        {"origin": EVIL, "sec-fetch-site": "cross-site"},
        # same origin, JSON, but no or a guessed CSRF token (another tab's script)
        {"x-csrf-token": None},
        {"x-csrf-token": "guess"},
        # a rebinding page (foreign Host)
        {"host": "evil.example"},
    ]
    for headers in attacks:
        r = _start(c, body, **headers)
        assert r.status_code in (403, 415), (headers, r.status_code)
    assert runner.task is None and not runner.store_dir.exists()
    # control: the page's own request records it
    assert _start(c, body).json() == {"ok": True, "consent_recorded": True}


# -- the person's age and screening at every start ------------------------------------------------
@pytest.mark.parametrize(
    "body,words",
    [
        ({"subject": "P615", "consent_given": True}, ["'age' is required", "never assumed"]),
        ({"subject": "P615", "age": None, "consent_given": True}, ["'age' is required"]),
        ({"subject": "P615", "age": 7, "consent_given": True}, ["18-90", "7"]),
        ({"subject": "P615", "age": 130, "consent_given": True}, ["18-90"]),
        ({"subject": "P615", "age": "40", "consent_given": True}, ["'age' must be a number"]),
        ({"subject": "P615", "age": True, "consent_given": True}, ["'age' must be a number"]),
        ({"subject": "P615", "age": 40, "consent_given": "yes"}, ["'consent_given' must be"]),
        ({"subject": "P615", "age": 40, "screened": 1, "consent_given": True}, ["'screened'"]),
        ({"subject": "P 615", "age": 40, "consent_given": True}, ["P 615"]),
    ],
)
def test_bad_clinical_inputs_are_400_and_record_nothing(dash, body, words):
    c, runner = dash
    _one_line(_start(c, body), 400, *words)
    assert runner.task is None and not runner.store_dir.exists()  # no consent recorded either


def test_each_start_uses_the_persons_own_age_and_screening(tmp_path):
    """The start's age (not one per launch) reaches the prescription: its HR target is Karvonen
    from HRmax = 208 - 0.7 x age (Tanaka), checked here by hand for each person."""
    from fastapi.testclient import TestClient

    from addictidx.dashboard.app import create_app
    from addictidx.dashboard.runner import DashboardRunner

    runner = DashboardRunner(tmp_path / "store", simulate=True, speed=200.0, age=30)
    page = create_app(runner, token=TOKEN)
    got = {}
    with TestClient(page, base_url=BASE) as c:
        c.csrf = page.guard.csrf
        html = c.get(f"/?token={TOKEN}").text
        assert 'data-testid="age-input"' in html and 'value="30"' in html  # the launch default
        assert 'data-testid="consent-input">' in html  # never pre-ticked
        starts = {
            "P616": {"age": 72, "screened": True},
            "P617": {"age": 30, "screened": True},
            "P618": {},  # no "age": the launch's --age (30); no "screened": the launch's (not)
        }
        for code, fields in starts.items():
            r = _start(c, {"subject": code, "consent_given": True, **fields})
            assert r.status_code == 200, r.text
            _wait(lambda: runner.task.done(), "session did not finish", timeout=300)
            assert runner.status == "complete", runner.error
            got[code] = _prescription(runner, code)
        runner.close()
    people = (("P616", 72, (40, 59)), ("P617", 30, (40, 59)), ("P618", 30, (30, 39)))
    for code, age, pct in people:
        rx = got[code]
        hrmax = 208 - 0.7 * age  # 157.6 and 187.0
        rest = int(re.search(r"with rest (\d+) bpm", rx["rationale"]).group(1))
        said = float(re.search(r"HRmax ([\d.]+) bpm", rx["rationale"]).group(1))
        assert said == pytest.approx(hrmax, abs=0.05), rx["rationale"]
        assert rx["intensity_pct_hrr"] == list(pct)  # unscreened: light intensity only
        want = [round(rest + p / 100 * (hrmax - rest)) for p in pct]
        assert all(abs(g - w) <= 1 for g, w in zip(rx["hr_target_bpm"], want)), (code, rx)
    assert got["P616"]["hr_target_bpm"][1] < got["P617"]["hr_target_bpm"][1]


def _prescription(runner, code):
    with _store(runner) as st:
        (row,) = st.queries.list_sessions(code)
        return st.queries.session_detail(row["id"])["prescription"]


class _store_created:
    """The store opened (created when missing), as staff's other commands would."""

    def __init__(self, runner) -> None:
        from addictidx.store.session_store import SessionStore

        self.st = SessionStore(runner.store_dir)

    def __enter__(self):
        return self.st

    def __exit__(self, *exc) -> None:
        self.st.close()


# -- the command line ---------------------------------------------------------------------------
def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "addictidx", *args], capture_output=True, text=True, timeout=300
    )


def test_launch_subject_needs_consent_or_consent_given(tmp_path):
    store = tmp_path / "store"
    base = ("dashboard", "--simulate", "--store", str(store), "--port", "1", "--age", "40")
    r = _cli(*base, "--subject", "P620")
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert "No assessment consent in force for P620" in r.stderr and "Traceback" not in r.stderr
    assert not store.exists()
    r = _cli(*base, "--consent-given")
    assert r.returncode == 2 and "--consent-given goes with --subject" in r.stderr
    from addictidx.store.session_store import SessionStore

    with SessionStore(store) as st:
        st.consent.add("P620", scope="assessment", status="withdrawn")
    r = _cli(*base, "--subject", "P620", "--consent-given")
    assert r.returncode == 2 and "withdrew assessment consent" in r.stderr
    with SessionStore(store) as st:
        assert st.queries.list_sessions("P620") == []
