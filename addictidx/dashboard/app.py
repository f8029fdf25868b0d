"""The dashboard's web app: one page, one websocket of frames, a few JSON endpoints.

Every route passes :class:`~addictidx.dashboard.guard.GuardMiddleware` first: Host and Origin
allow-lists, the access token (always, loopback included: ``?token=`` once, then a cookie, or the
``X-Addictidx-Token`` header), the CSRF token and ``application/json`` on state changes, and the
security headers. Bodies that are not a JSON object get 400 with one line.

``GET /``                          the page (its script is ``/static/page.js``: no inline script)
``GET /static/page.js``            the page's script
``GET /api/state``                 one full frame (JSON)
``WS  /ws``                        frames at ``fps`` per second, each the latest state
``POST /api/start {"subject", "age", "screened", "consent_given"}``  start a session: ``age``
                                   (years, required; a request without it takes the launch's
                                   ``--age``), ``screened`` (default the launch's), and
                                   ``consent_given`` (staff confirm the person signed the
                                   assessment consent: recorded and audited when none is in
                                   force). No consent in force and none confirmed, or a
                                   withdrawal on record: 403 with one line, nothing recorded.
``POST /api/stop``                 the stop button: immediate safety stop (S6)
``POST /api/symptom``              a reported symptom: safety stop (S6)
``POST /api/mark {"label"}``       a staff mark
``GET /api/history?subject=CODE``  the person's sessions with report links
``GET /report/{id}.html|.pdf``     the session's report
``GET /api/music``, ``GET /music/track/{id}``, ``GET /static/music.js``  the music player
                                   (:mod:`addictidx.dashboard.music_routes`)

Why FastAPI + a hand-written page rather than NiceGUI: the page is one static document with two
canvases, and the data path is one websocket whose send is awaited per frame, so back-pressure is
explicit (a slow browser receives fewer, fuller frames, never a queue). It runs on uvicorn's
asyncio loop, which the session and bleak share. NiceGUI would add Vue/Quasar/socket.io layers
and per-element update messages for no gain here.
"""

import asyncio
import html
import json
import time
from typing import Any

from addictidx.dashboard.guard import Guard, GuardMiddleware, allowed_hosts_for
from addictidx.dashboard.page import PAGE_HTML, page_script, start_form_defaults
from addictidx.dashboard.runner import DashboardRunner, NoConsent
from addictidx.dashboard.state import Cursor, session_frame

__all__ = ["create_app", "DEFAULT_FPS", "MAX_BODY_BYTES"]

#: Frames per second pushed to each browser.
DEFAULT_FPS = 20.0
#: Largest JSON body accepted (the page sends a few dozen bytes).
MAX_BODY_BYTES = 16_384


class BadBody(ValueError):
    """A request body that is not one JSON object (answered with 400 and one line)."""


async def json_object(request, *, required: bool = True) -> dict:
    """The request's body as a JSON object, read up to :data:`MAX_BODY_BYTES`.

    Raises
    ------
    BadBody
        Too large, not UTF-8 JSON, or not an object (an empty body is ``{}`` when not required).
    """
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_BODY_BYTES:
            raise BadBody(f"Request body larger than {MAX_BODY_BYTES} bytes.")
    if not raw.strip() and not required:
        return {}
    try:
        body = json.loads(bytes(raw).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        msg = getattr(exc, "msg", None) or "not UTF-8"
        raise BadBody(f"Request body is not valid JSON ({msg}).") from None
    if not isinstance(body, dict):
        raise BadBody(f"Request body must be a JSON object, got {type(body).__name__}.")
    return body


def _string_field(body: dict, key: str, default: str | None = None) -> str:
    value = body.get(key, default)
    if not isinstance(value, str):
        raise BadBody(f"{key!r} must be a string, got {type(value).__name__}.")
    return value


def _bool_field(body: dict, key: str, default: bool) -> bool:
    value = body.get(key, default)
    if not isinstance(value, bool):
        raise BadBody(f"{key!r} must be true or false, got {type(value).__name__}.")
    return value


def _age_field(body: dict, default: float | None) -> float | None:
    value = body.get("age", default)
    if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
        raise BadBody(f"'age' must be a number of years, got {type(value).__name__}.")
    return value


def create_app(
    runner: DashboardRunner,
    *,
    token: str | None = None,
    fps: float = DEFAULT_FPS,
    guard: Guard | None = None,
):
    """Build the FastAPI app around a :class:`DashboardRunner`.

    Parameters
    ----------
    runner : DashboardRunner
        Starts and stops the sessions.
    token : str | None
        Access token required on every request; a random one when ``None`` (read it from
        ``app.state.guard.token``). Ignored when ``guard`` is given.
    fps : float
        Websocket frames per second.
    guard : Guard | None
        Token, CSRF token and Host allow-list; default: ``token`` and the loopback names.
    """
    from fastapi import FastAPI, HTTPException, Request, WebSocket, WebSocketDisconnect
    from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response

    if guard is None:
        guard = Guard.create(token, allowed_hosts_for("127.0.0.1"))
    app = FastAPI(title="addictidx dashboard", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.guard = guard
    period = 1.0 / float(fps)
    page_html = start_form_defaults(
        PAGE_HTML.replace("__CSRF_TOKEN__", html.escape(guard.csrf, quote=True)),
        age=runner.age,
        screened=runner.screened,
    )
    script = page_script()

    @app.exception_handler(BadBody)
    async def bad_body(request: Request, exc: BadBody):
        return JSONResponse({"detail": str(exc)}, status_code=400)

    def frame(cursor: Cursor) -> dict[str, Any]:
        f = session_frame(
            runner.live,
            session_id=runner.session_id,
            subject=runner.subject,
            status=runner.status,
            cursor=cursor,
            index=runner.stored_index(),
        )
        research = runner.stored_research()
        if research is not None:  # its own key, only when enabled and scored
            f["research"] = research
        f["error"] = runner.error
        f["server_time"] = time.time()
        f["simulated"] = runner.simulate
        return f

    @app.get("/", response_class=HTMLResponse)
    async def page(request: Request):
        return HTMLResponse(page_html)

    @app.get("/static/page.js")
    async def page_js(request: Request):
        return Response(script, media_type="text/javascript; charset=utf-8")

    @app.get("/api/state")
    async def state(request: Request):
        return JSONResponse(frame(Cursor()))

    @app.post("/api/start")
    async def start(request: Request):
        body = await json_object(request)
        subject = _string_field(body, "subject", "")
        age = _age_field(body, runner.age)  # the launch's --age only when the body has none
        screened = _bool_field(body, "screened", runner.screened)
        consent_given = _bool_field(body, "consent_given", False)
        try:
            req = runner.start(subject, age=age, screened=screened, consent_given=consent_given)
        except NoConsent as exc:  # nothing recorded (issue 14)
            raise HTTPException(status_code=403, detail=str(exc)) from None
        except (ValueError, RuntimeError) as exc:
            raise HTTPException(status_code=400, detail=str(exc)) from None
        return {"ok": True, "consent_recorded": bool(getattr(req, "record_consent", False))}

    @app.post("/api/stop")
    async def stop(request: Request):
        await json_object(request, required=False)
        return {"ok": runner.stop()}

    @app.post("/api/symptom")
    async def symptom(request: Request):
        await json_object(request, required=False)
        return {"ok": runner.symptom()}

    @app.post("/api/mark")
    async def mark(request: Request):
        label = _string_field(await json_object(request, required=False), "label", "staff_mark")
        if not label.replace("_", "").isalnum():
            raise HTTPException(status_code=400, detail="a mark is a machine name (a-z, _)")
        return {"ok": runner.mark(label)}

    @app.get("/api/history")
    async def history(request: Request, subject: str):
        try:
            return {"subject": subject, "sessions": runner.history(subject)}
        except ValueError as exc:
            raise HTTPException(status_code=400, detail=str(exc)) from None

    @app.get("/report/{session_id}.{fmt}")
    async def report(request: Request, session_id: int, fmt: str):
        if fmt not in ("html", "pdf"):
            raise HTTPException(status_code=404, detail="html or pdf")
        try:
            path = await asyncio.to_thread(runner.report, session_id, fmt)
        except Exception as exc:  # noqa: BLE001 - unknown session, nothing scored
            raise HTTPException(status_code=404, detail=str(exc)) from None
        return FileResponse(path, media_type="text/html" if fmt == "html" else "application/pdf")

    @app.websocket("/ws")
    async def ws(websocket: WebSocket):
        await websocket.accept()
        cursor = Cursor()
        nxt = time.perf_counter()
        try:
            while True:
                # awaiting the send is the back-pressure: one frame in flight per client
                await websocket.send_json(frame(cursor))
                nxt += period
                delay = nxt - time.perf_counter()
                if delay < 0:  # late: skip ahead instead of catching up
                    nxt, delay = time.perf_counter(), 0.0
                await asyncio.sleep(delay)
        except (WebSocketDisconnect, RuntimeError):
            return

    from addictidx.dashboard.music_routes import add_music_routes

    add_music_routes(app, runner)
    return GuardMiddleware(app, guard)


async def serve(app, host: str, port: int) -> None:
    """Serve ``app`` with uvicorn on the running loop until interrupted."""
    import uvicorn

    config = uvicorn.Config(
        app, host=host, port=int(port), log_level="warning", lifespan="on", ws="auto"
    )
    await uvicorn.Server(config).serve()
