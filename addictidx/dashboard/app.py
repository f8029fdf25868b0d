"""The dashboard's web app: one page, one websocket of frames, a few JSON endpoints.

Routes (every one needs ``?token=...`` or the ``X-Addictidx-Token`` header when a token is set):

``GET /``                          the page
``GET /api/state``                 one full frame (JSON)
``WS  /ws``                        frames at ``fps`` per second, each the latest state
``POST /api/start {"subject"}``    start a session
``POST /api/stop``                 the stop button: immediate safety stop (S6)
``POST /api/symptom``              a reported symptom: safety stop (S6)
``POST /api/mark {"label"}``       a staff mark
``GET /api/history?subject=CODE``  the person's sessions with report links
``GET /report/{id}.html|.pdf``     the session's report

Why FastAPI + a hand-written page rather than NiceGUI: the page is one static document with two
canvases, and the data path is one websocket whose send is awaited per frame, so back-pressure is
explicit (a slow browser receives fewer, fuller frames, never a queue). It runs on uvicorn's
asyncio loop, which the session and bleak share. NiceGUI would add Vue/Quasar/socket.io layers
and per-element update messages for no gain here.
"""

import asyncio
import hmac
import time
from typing import Any

from addictidx.dashboard.page import PAGE_HTML
from addictidx.dashboard.runner import DashboardRunner
from addictidx.dashboard.state import Cursor, session_frame

__all__ = ["create_app", "DEFAULT_FPS"]

#: Frames per second pushed to each browser.
DEFAULT_FPS = 20.0
TOKEN_HEADER = "x-addictidx-token"


def create_app(runner: DashboardRunner, *, token: "str | None" = None, fps: float = DEFAULT_FPS):
    """Build the FastAPI app around a :class:`DashboardRunner`.

    Parameters
    ----------
    runner : DashboardRunner
        Starts and stops the sessions.
    token : str | None
        Required on every request when set (the CLI sets one when bound beyond localhost).
    fps : float
        Websocket frames per second.
    """
    from fastapi import FastAPI, HTTPException, Request, WebSocket, WebSocketDisconnect
    from fastapi.responses import FileResponse, HTMLResponse, JSONResponse

    app = FastAPI(title="addictidx dashboard", docs_url=None, redoc_url=None, openapi_url=None)
    period = 1.0 / float(fps)

    def _ok(given: str | None) -> bool:
        return token is None or (given is not None and hmac.compare_digest(given, token))

    def _check(request: Request) -> None:
        given = request.headers.get(TOKEN_HEADER) or request.query_params.get("token")
        if not _ok(given):
            raise HTTPException(status_code=401, detail="token required")

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
        _check(request)
        return HTMLResponse(PAGE_HTML, headers={"Cache-Control": "no-store"})

    @app.get("/api/state")
    async def state(request: Request):
        _check(request)
        return JSONResponse(frame(Cursor()))

    @app.post("/api/start")
    async def start(request: Request):
        _check(request)
        body = await request.json()
        try:
            runner.start(str(body.get("subject", "")))
        except (ValueError, RuntimeError) as exc:
            raise HTTPException(status_code=400, detail=str(exc)) from None
        return {"ok": True}

    @app.post("/api/stop")
    async def stop(request: Request):
        _check(request)
        return {"ok": runner.stop()}

    @app.post("/api/symptom")
    async def symptom(request: Request):
        _check(request)
        return {"ok": runner.symptom()}

    @app.post("/api/mark")
    async def mark(request: Request):
        _check(request)
        body = await request.json()
        label = str(body.get("label", "staff_mark"))
        if not label.replace("_", "").isalnum():
            raise HTTPException(status_code=400, detail="a mark is a machine name (a-z, _)")
        return {"ok": runner.mark(label)}

    @app.get("/api/history")
    async def history(request: Request, subject: str):
        _check(request)
        try:
            return {"subject": subject, "sessions": runner.history(subject)}
        except ValueError as exc:
            raise HTTPException(status_code=400, detail=str(exc)) from None

    @app.get("/report/{session_id}.{fmt}")
    async def report(request: Request, session_id: int, fmt: str):
        _check(request)
        if fmt not in ("html", "pdf"):
            raise HTTPException(status_code=404, detail="html or pdf")
        try:
            path = await asyncio.to_thread(runner.report, session_id, fmt)
        except Exception as exc:  # noqa: BLE001 - unknown session, nothing scored
            raise HTTPException(status_code=404, detail=str(exc)) from None
        return FileResponse(path, media_type="text/html" if fmt == "html" else "application/pdf")

    @app.websocket("/ws")
    async def ws(websocket: WebSocket):
        if not _ok(websocket.query_params.get("token")):
            await websocket.close(code=4401)
            return
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

    return app


async def serve(app, host: str, port: int) -> None:
    """Serve ``app`` with uvicorn on the running loop until interrupted."""
    import uvicorn

    config = uvicorn.Config(
        app, host=host, port=int(port), log_level="warning", lifespan="on", ws="auto"
    )
    await uvicorn.Server(config).serve()
