"""The dashboard's music player: what plays now, and the track files of the scanned library.

``GET /api/music``                   ``{"enabled", "now"}``: the track playing (id, label, step and
                                     played tempo, stretch rate, ``seq`` of the change) or null
``GET /music/track/{track_id}``      the audio file of a scanned track, by its id (digits only)
``POST /api/music {"action", "bpm"}`` the person turns the music ``off`` or sets a ``tempo``:
                                     the closed loop's own input (it then stops stepping)
``GET /static/music.js``             the player script (HTML5 ``<audio>``; no inline script)

Every request passes the same guard as the rest of the dashboard (Host, Origin, token cookie,
headers; the CSP allows media from the page's own origin only). A track is served only when the
id names a row of the store's music library (:class:`~addictidx.music.library.MusicLibrary`)
and its file is still the one scanned (same size and modification time): no path from a request
ever reaches the file system. Range requests are answered (seeking in the browser).
"""

# No ``from __future__ import annotations``: FastAPI reads the route parameters' annotations
# (Request, int), which are local names here.
import asyncio
import re
from functools import cache
from importlib.resources import files

__all__ = ["add_music_routes", "music_script", "AUDIO_MEDIA_TYPES"]

#: Media types of the served audio files, by extension.
AUDIO_MEDIA_TYPES = {
    ".wav": "audio/wav",
    ".flac": "audio/flac",
    ".ogg": "audio/ogg",
    ".oga": "audio/ogg",
    ".mp3": "audio/mpeg",
}


_TRACK_ID = re.compile(r"[0-9]{1,12}")


@cache
def music_script() -> bytes:
    """The player's script (``addictidx/dashboard/music.js``), read once."""
    return files("addictidx.dashboard").joinpath("music.js").read_bytes()


def add_music_routes(app, runner):
    """Add the music routes to the dashboard's FastAPI ``app`` (see the module notes)."""
    from fastapi import HTTPException, Request
    from fastapi.responses import FileResponse, JSONResponse, Response

    script = music_script()

    @app.get("/static/music.js")
    async def music_js(request: Request):
        return Response(script, media_type="text/javascript; charset=utf-8")

    @app.get("/api/music")
    async def music_now(request: Request):
        return JSONResponse({"enabled": runner.music, "now": runner.music_now()})

    @app.post("/api/music")
    async def music_action(request: Request):
        from addictidx.dashboard.app import json_object

        body = await json_object(request)
        action, bpm = body.get("action"), body.get("bpm")
        if action not in ("off", "tempo"):
            raise HTTPException(status_code=400, detail="'action' must be 'off' or 'tempo'.")
        if action == "tempo" and not (
            isinstance(bpm, (int, float)) and not isinstance(bpm, bool) and 30 <= bpm <= 200
        ):
            raise HTTPException(status_code=400, detail="'bpm' must be a number within 30-200.")
        return {"ok": runner.music_action(action, None if action == "off" else float(bpm))}

    @app.get("/music/track/{track_id}")
    async def music_track(request: Request, track_id: str):
        if not _TRACK_ID.fullmatch(track_id):  # digits only: "1.0", "-1", "1e0" are not ids
            raise HTTPException(status_code=404, detail="No such track in the scanned library.")
        path = await asyncio.to_thread(runner.music_file, int(track_id))
        if path is None:
            raise HTTPException(status_code=404, detail="No such track in the scanned library.")
        media = AUDIO_MEDIA_TYPES.get(path.suffix.lower(), "application/octet-stream")
        return FileResponse(path, media_type=media)
