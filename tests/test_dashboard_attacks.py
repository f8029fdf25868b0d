"""Attacks on the dashboard (issue 14 item 1): each case the issue reports, tried against the app.

Two layers: the ASGI app under Starlette's TestClient (every route, every refusal, headers), and
the real ``addictidx dashboard`` process under uvicorn on loopback (raw HTTP with forged Host
and Origin headers, a cross-origin WebSocket with the ``websockets`` client), where a scored
session exists, so a refusal hides real data. On the old main each of these requests succeeded
(no token on loopback, no Origin/Host checks, 500 on malformed JSON, no security headers).

Each attack has a positive control (the same request made the right way succeeds), so the
refusals cannot come from a route that is simply broken.
"""

from __future__ import annotations

import http.client
import importlib.util
import json
import re
import time
from pathlib import Path

import pytest

TOKEN = "attack-test-token-0123456789"
HOST = "127.0.0.1:8765"
BASE = f"http://{HOST}"
EVIL = "http://evil.example"


class RecordingRunner:
    """A :class:`DashboardRunner` that records what the routes ask of it (no devices)."""

    def __new__(cls, store_dir):
        from addictidx.dashboard.runner import DashboardRunner

        class _Runner(DashboardRunner):
            def __init__(self, store_dir):
                super().__init__(store_dir, simulate=True)
                self.calls: list[tuple] = []

            def start(self, subject, **clinical):
                from addictidx.store.codes import check_subject_code

                check_subject_code(subject)
                self.calls.append(("start", subject, clinical))
                self.subject, self.status = subject, "running"

            def stop(self, reason="stop button pressed on the dashboard"):
                self.calls.append(("stop",))
                return True

            def symptom(self, symptom="reported on the dashboard"):
                self.calls.append(("symptom",))
                return True

            def mark(self, label):
                self.calls.append(("mark", label))
                return True

            def history(self, subject):
                self.calls.append(("history", subject))
                return [{"id": 1, "report_html": "/report/1.html"}]

            def report(self, session_id, fmt):
                self.calls.append(("report", session_id))
                path = Path(store_dir) / f"P777_ses-{session_id:04d}_report.{fmt}"
                path.write_text("<html>P777 report</html>")
                return path

        return _Runner(store_dir)


@pytest.fixture
def client(tmp_path):
    from fastapi.testclient import TestClient

    from addictidx.dashboard.app import create_app

    runner = RecordingRunner(tmp_path)
    app = create_app(runner, token=TOKEN)
    with TestClient(app, base_url=BASE) as c:
        c.runner = runner
        c.csrf = app.guard.csrf
        yield c


def _login(c) -> None:
    """What the browser does: open the printed URL (sets the cookie)."""
    r = c.get(f"/?token={TOKEN}")
    assert r.status_code == 200 and c.cookies


def _json_post(c, path, body=b"{}", **headers):
    h = {"content-type": "application/json", "x-csrf-token": c.csrf, "origin": BASE} | headers
    return c.post(path, content=body, headers={k: v for k, v in h.items() if v is not None})


STATE_CHANGES = [
    ("/api/start", b'{"subject": "P001"}'),
    ("/api/mark", b'{"label": "staff_mark"}'),
    ("/api/stop", b"{}"),
    ("/api/symptom", b"{}"),
]


# -- the cases -------------------------------------------------------------------------
@pytest.mark.parametrize("path,body", STATE_CHANGES)
def test_cross_site_text_plain_post_is_refused(client, path, body):
    # a form/fetch from another site: text/plain, no custom header; the browser has the cookie
    # only if SameSite allowed it, so try both with and without it
    for with_cookie in (False, True):
        if with_cookie:
            _login(client)
        r = client.post(
            path,
            content=body,
            headers={"content-type": "text/plain", "origin": EVIL, "sec-fetch-site": "cross-site"},
        )
        assert r.status_code == 403, r.text
        assert "evil.example" in r.json()["detail"]
    assert client.runner.calls == []
    # control: the page's own request (cookie + CSRF + JSON, same origin) goes through
    assert _json_post(client, path, body).status_code == 200
    assert client.runner.calls and client.runner.calls[-1][0] == path.rsplit("/", 1)[1]


@pytest.mark.parametrize("path,body", STATE_CHANGES)
def test_state_change_needs_csrf_json_and_no_url_token(client, path, body):
    _login(client)
    # same origin, cookie present, but no CSRF token (another tab's script, a stale page)
    r = _json_post(client, path, body, **{"x-csrf-token": None})
    assert r.status_code == 403 and "CSRF" in r.json()["detail"]
    r = _json_post(client, path, body, **{"x-csrf-token": "guess"})
    assert r.status_code == 403
    # CSRF right, but a form content type
    r = _json_post(client, path, body, **{"content-type": "text/plain"})
    assert r.status_code == 415 and "application/json" in r.json()["detail"]
    r = _json_post(client, path, body, **{"content-type": "application/x-www-form-urlencoded"})
    assert r.status_code == 415
    # a secret in the URL is not accepted for a state change (without the cookie)
    client.cookies.clear()
    r = _json_post(client, f"{path}?token={TOKEN}", body)
    assert r.status_code == 401
    assert client.runner.calls == []
    # scripts: the token header (CSRF-proof by itself) works without the cookie
    r = _json_post(client, path, body, **{"x-csrf-token": None, "x-addictidx-token": TOKEN})
    assert r.status_code == 200


def test_cross_origin_websocket_is_refused(client):
    from starlette.websockets import WebSocketDisconnect

    # even a browser holding the cookie (the TestClient's websocket takes it as a header)
    cookie = f"{client.app.guard.cookie_name}={TOKEN}"
    for origin in (EVIL, "null", "http://127.0.0.1:9999", "https://127.0.0.1:8765"):
        h = {"host": HOST, "origin": origin, "cookie": cookie}
        with pytest.raises(WebSocketDisconnect) as err:
            with client.websocket_connect("/ws", headers=h) as ws:
                ws.receive_json()
        assert err.value.code == 4403, origin
    # no token at all (a page that guessed the port)
    with pytest.raises(WebSocketDisconnect) as err:
        with client.websocket_connect("/ws", headers={"host": HOST, "origin": BASE}) as ws:
            ws.receive_json()
    assert err.value.code == 4403
    # control: the page's own socket
    h = {"host": HOST, "origin": BASE, "cookie": cookie}
    with client.websocket_connect("/ws", headers=h) as ws:
        assert ws.receive_json()["status"] == "idle"


@pytest.mark.parametrize(
    "host", ["evil.example", "evil.example:8765", "127.0.0.1.evil.example", "localhost.", ""]
)
def test_dns_rebinding_host_is_refused(client, host):
    _login(client)  # a rebinding page shares the victim's cookie jar only via a same Host
    for path in ("/report/1.html", "/api/state", "/", "/api/history?subject=P777"):
        r = client.get(path, headers={"host": host, "x-addictidx-token": TOKEN})
        if host == "localhost.":  # the same name, written fully qualified
            assert r.status_code == 200
            continue
        assert r.status_code == 403, (host, path)
        assert "not allowed" in r.json()["detail"]
    if host != "localhost.":
        assert client.runner.calls == []
    # control: the right Host reads the report
    r = client.get("/report/1.html", headers={"host": HOST})
    assert r.status_code == 200 and b"P777" in r.content


def test_every_route_refuses_without_token_and_with_a_foreign_host(client):
    """Any route, present or added later, is behind the guard (routes read from the app)."""
    from fastapi.routing import APIRoute, APIWebSocketRoute

    app = client.app.app  # the FastAPI app inside the guard
    routes = [r for r in app.routes if isinstance(r, (APIRoute, APIWebSocketRoute))]
    assert len(routes) >= 10
    for r in routes:
        path = r.path.replace("{session_id}", "1").replace("{fmt}", "html")
        if isinstance(r, APIWebSocketRoute):
            from starlette.websockets import WebSocketDisconnect

            with pytest.raises(WebSocketDisconnect):
                with client.websocket_connect(path, headers={"host": HOST}) as ws:
                    ws.receive_json()
            continue
        for method in r.methods:
            anon = client.request(method, path, headers={"content-type": "application/json"})
            assert anon.status_code == 401, (method, path)
            foreign = client.request(
                method, path, headers={"host": "evil.example", "x-addictidx-token": TOKEN}
            )
            assert foreign.status_code == 403, (method, path)
    assert client.runner.calls == []


@pytest.mark.parametrize(
    "path,body,words",
    [
        ("/api/start", b'{"subject": "P0', "not valid JSON"),
        ("/api/start", b"", "not valid JSON"),
        ("/api/start", b"[1, 2]", "JSON object"),
        ("/api/start", b'"P001"', "JSON object"),
        ("/api/start", b'{"subject": 17}', "'subject' must be a string"),
        ("/api/start", b"\xff\xfe{}", "not valid JSON"),
        ("/api/mark", b"{,}", "not valid JSON"),
        ("/api/mark", b'{"label": ["a"]}', "'label' must be a string"),
        ("/api/mark", b"null", "JSON object"),
        ("/api/stop", b"{oops", "not valid JSON"),
        ("/api/start", b'{"subject": "' + b"A" * 20_000 + b'"}', "larger than"),
    ],
)
def test_malformed_body_is_400_with_one_line(client, path, body, words):
    _login(client)
    r = _json_post(client, path, body)
    assert r.status_code == 400, r.text
    detail = r.json()["detail"]
    assert isinstance(detail, str) and "\n" not in detail and words in detail
    assert client.runner.calls == []


def test_security_headers_on_every_response_and_no_inline_script(client):
    responses = [client.get("/"), client.get("/api/state", headers={"host": "evil.example"})]
    _login(client)
    responses += [client.get("/"), client.get("/api/state"), client.get("/static/page.js")]
    responses += [client.get("/report/1.html"), _json_post(client, "/api/mark", b"{")]
    for r in responses:
        h = r.headers
        csp = {d.split()[0]: d.split()[1:] for d in h["content-security-policy"].split("; ")}
        assert csp["script-src"] == ["'self'"]  # no 'unsafe-inline', no 'unsafe-eval'
        assert csp["frame-ancestors"] == ["'none'"] and csp["default-src"] == ["'none'"]
        assert h["x-frame-options"] == "DENY"
        assert h["referrer-policy"] == "no-referrer"
        assert h["x-content-type-options"] == "nosniff"
    page = responses[2].text
    scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", page, flags=re.S)
    assert scripts and all(  # served files only: the page's script and the music player's
        re.fullmatch(r' src="/static/(page|music)\.js"', attrs) and not body.strip()
        for attrs, body in scripts
    )
    assert not re.search(r"\son[a-z]+\s*=", page)  # no inline event handlers either
    assert client.csrf in page and TOKEN not in page
    assert responses[4].headers["content-type"].startswith("text/javascript")


def test_login_cookie_is_httponly_strict_and_per_launch(tmp_path):
    from fastapi.testclient import TestClient

    from addictidx.dashboard.app import create_app

    apps = [create_app(RecordingRunner(tmp_path), token=None) for _ in range(2)]
    tokens = {a.guard.token for a in apps}
    csrfs = {a.guard.csrf for a in apps}
    assert len(tokens) == 2 and len(csrfs) == 2 and all(len(t) >= 24 for t in tokens)
    with TestClient(apps[0], base_url=BASE) as c:
        assert c.get("/").status_code == 401  # loopback is not open
        r = c.get(f"/?token={apps[0].guard.token}")
        cookie = r.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
        assert c.get("/api/state").status_code == 200  # the cookie alone now
        c.cookies.clear()
        assert c.get(f"/?token={apps[1].guard.token}").status_code == 401  # other launch
    with TestClient(apps[1], base_url=BASE) as c:
        c.cookies.set(apps[0].guard.cookie_name, apps[0].guard.token)
        assert c.get("/api/state").status_code == 401


def test_host_allow_list_follows_the_bind_address():
    from addictidx.dashboard.guard import allowed_hosts_for, host_name

    loop = allowed_hosts_for("127.0.0.1")
    assert loop == {"127.0.0.1", "localhost", "::1"}
    lan = allowed_hosts_for("192.168.1.20", ("dash.site.example",))
    assert lan == {"192.168.1.20", "dash.site.example"}
    assert "localhost" in allowed_hosts_for("0.0.0.0")
    assert host_name("[::1]:8765") == "::1" and host_name("LocalHost.:80") == "localhost"
    for bad in ("a b", "x:port", "user@h", "h/p", None, ""):
        assert host_name(bad) is None


# -- the real server (uvicorn, loopback) ---------------------------------------------------------
def _dash_helpers():
    spec = importlib.util.spec_from_file_location(
        "addictidx_test_dashboard_helpers_attacks", Path(__file__).with_name("test_dashboard.py")
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _raw(port: int, method: str, path: str, headers: dict, body: bytes = b""):
    # bounds a hang only: the first GET of a report writes it (a dozen plots), which took over
    # 20 s under load (load 13: TimeoutError reading the control request's answer)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    try:
        conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        for k, v in headers.items():
            conn.putheader(k, v)
        if body or method == "POST":
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        r = conn.getresponse()
        return r.status, r.msg, r.read()  # r.msg: case-insensitive headers
    finally:
        conn.close()


@pytest.mark.slow
def test_attacks_on_the_real_server(tmp_path):
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    dash = _dash_helpers()
    srv = dash.Server(tmp_path, "--subject", "P401", "--consent-given", "--speed", "100")
    port, host = srv.port, f"127.0.0.1:{srv.port}"
    try:
        deadline = time.monotonic() + 300  # bounds a hang only
        while (st := srv.state())["status"] == "running" or st.get("index") is None:
            assert time.monotonic() < deadline, "session did not finish"
            time.sleep(0.3)
        sid = st["session_id"]
        auth = {"X-Addictidx-Token": srv.token}
        # DNS rebinding: the report, the state and the page under a foreign Host
        for path in (f"/report/{sid}.html", "/api/state", "/"):
            status, headers, body = _raw(port, "GET", path, {"Host": "evil.example"} | auth)
            assert status == 403 and b"P401" not in body, path
            assert headers["X-Frame-Options"] == "DENY"
        status, _, body = _raw(port, "GET", f"/report/{sid}.html", {"Host": host} | auth)
        assert status == 200 and b"P401" in body  # control
        # loopback without the token: nothing
        status, _, body = _raw(port, "GET", f"/report/{sid}.html", {"Host": host})
        assert status == 401 and b"P401" not in body
        # the cross-site text/plain POST that started a session, marked and stopped one
        for path in ("/api/start", "/api/mark", "/api/stop"):
            status, _, _ = _raw(
                port,
                "POST",
                path,
                {"Host": host, "Origin": EVIL, "Content-Type": "text/plain"},
                b'{"subject": "P402", "label": "x"}',
            )
            assert status == 403, path
        status, _, body = _raw(port, "POST", "/api/start", {"Host": host} | auth, b"{")
        assert status == 415  # JSON content type required (header-token client)
        status, _, body = _raw(
            port,
            "POST",
            "/api/start",
            {"Host": host, "Content-Type": "application/json"} | auth,
            b'{"subject": ',
        )
        assert status == 400 and "\n" not in json.loads(body)["detail"]
        assert srv.state()["subject"] == "P401" and srv.state()["session_id"] == sid
        # the cross-origin websocket that streamed the code, HR and EEG
        url = f"ws://{host}/ws?token={srv.token}"
        with pytest.raises(InvalidStatus) as err:
            connect(url, origin=EVIL, open_timeout=120)
        assert err.value.response.status_code == 403
        with connect(url, origin=f"http://{host}", open_timeout=120) as ws:  # control
            assert json.loads(ws.recv(timeout=120))["subject"] == "P401"
        from addictidx.store.session_store import SessionStore

        with SessionStore(srv.store) as store:
            assert [r["subject"] for r in store.queries.list_sessions("P401")] == ["P401"]
            assert store.queries.list_sessions("P402") == []
    finally:
        srv.close()


EVIL_PAGE = """<!doctype html><html><body><script>
const T = "%(target)s", W = "%(ws)s";
window.results = {post: null, json_post: null, ws_messages: 0, ws_closed: false};
fetch(T + "/api/start", {method: "POST", mode: "no-cors", credentials: "include",
  headers: {"content-type": "text/plain"},
  body: JSON.stringify({subject: "P999", age: 40, consent_given: true})})
  .then(() => { results.post = "sent"; }, () => { results.post = "blocked"; });
fetch(T + "/api/stop", {method: "POST", credentials: "include",
  headers: {"content-type": "application/json"}, body: "{}"})
  .then(r => { results.json_post = r.status; }, () => { results.json_post = "blocked"; });
const ws = new WebSocket(W);
ws.onmessage = () => { results.ws_messages++; };
ws.onclose = () => { results.ws_closed = true; };
</script></body></html>"""


@pytest.mark.slow
@pytest.mark.parametrize("evil_host", ["127.0.0.1", "localhost"])
def test_a_hostile_page_in_the_staff_browser_cannot_drive_the_dashboard(tmp_path, evil_host):
    """Real Chromium, logged in to the dashboard (cookie set), then visits a hostile page on
    another origin: ``127.0.0.1:<other port>`` is same-site (the SameSite=Strict cookie IS sent,
    so the Origin check and the CSRF token must hold), ``localhost:<port>`` is cross-site."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    dash = _dash_helpers()
    if not Path(dash.CHROMIUM).exists():
        pytest.skip(f"Chromium not found at {dash.CHROMIUM}")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    srv = dash.Server(tmp_path, "--subject", "P501", "--consent-given", "--speed", "1")
    body = (
        EVIL_PAGE
        % {"target": f"http://127.0.0.1:{srv.port}", "ws": f"ws://127.0.0.1:{srv.port}/ws"}
    ).encode()

    class Evil(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's naming
            self.send_response(200)
            self.send_header("content-type", "text/html")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    evil = ThreadingHTTPServer(("127.0.0.1", 0), Evil)
    threading.Thread(target=evil.serve_forever, daemon=True).start()
    try:
        with sync_api.sync_playwright() as p:
            ctx = p.chromium.launch_persistent_context(
                str(tmp_path / "chromium-profile"),
                executable_path=dash.CHROMIUM,
                args=dash.FLAGS,
                headless=True,
                timeout=180_000,  # the launch itself, on a loaded machine (default 30 s)
            )
            ctx.set_default_timeout(120_000)  # bounds a hang only (a loaded 2-core machine)
            try:
                page = ctx.new_page()
                page.goto(srv.url)  # staff open the dashboard: the cookie is set
                page.wait_for_function("() => window.__stats && window.__stats.frames > 2")
                hostile = ctx.new_page()
                hostile.goto(f"http://{evil_host}:{evil.server_address[1]}/")
                hostile.wait_for_function(
                    "() => results.ws_closed && results.post !== null && results.json_post !== "
                    "null",
                    timeout=120000,
                )
                res = hostile.evaluate("() => results")
                # the legitimate page still works (its socket is still streaming)
                n = page.evaluate("() => window.__stats.frames")
                page.wait_for_function(f"() => window.__stats.frames > {n}")
            finally:
                ctx.close()
        assert res["ws_messages"] == 0  # no subject code, HR or EEG reached the hostile page
        assert res["json_post"] == "blocked"  # the CORS pre-flight is refused
        st = srv.state()
        assert st["subject"] == "P501" and st["status"] == "running"  # not started, not stopped
        from addictidx.store.session_store import SessionStore

        with SessionStore(srv.store) as store:
            assert store.queries.list_sessions("P999") == []
            assert store.consent.records("P999") == []  # nor could it record consent for them
    finally:
        evil.shutdown()
        srv.close()
