"""Local web dashboard for staff running a session (``addictidx dashboard``).

A FastAPI app served by uvicorn on the same asyncio loop as the session (and so as bleak): one
HTML page with a small vanilla-JS front end, fed by one websocket that pushes the latest state at
a fixed frame rate (never a queue, so a slow browser gets fewer frames, not a backlog). The
session itself is :func:`addictidx.sessions.assessment.run_assessment_async`, exactly what
``addictidx assess`` runs.

Modules: :mod:`~addictidx.dashboard.state` (JSON frames from a live session and the store),
:mod:`~addictidx.dashboard.runner` (starts and stops sessions on the loop),
:mod:`~addictidx.dashboard.app` (routes, JSON bodies), :mod:`~addictidx.dashboard.guard` (Host and
Origin allow-lists, access and CSRF tokens, security headers), :mod:`~addictidx.dashboard.page`
(the page; its script is the package file ``page.js``).
Importing this package is light; FastAPI and uvicorn are imported by ``app`` only.
"""

__all__: list[str] = []
