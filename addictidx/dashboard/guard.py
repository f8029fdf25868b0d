"""Who may talk to the dashboard: Host and Origin allow-lists, access token, CSRF, headers.

One ASGI middleware (:class:`GuardMiddleware`) wraps the whole app, so every HTTP and WebSocket
route, present and future, passes the same checks in the same order before any route runs:

1. **Host allow-list** (every request). The ``Host`` header must name this dashboard (the bound
   address, the loopback names when bound to loopback, ``--allow-host`` names). A web page on
   ``evil.example`` whose DNS record is re-bound to 127.0.0.1 (DNS rebinding) sends
   ``Host: evil.example`` and is refused, so it cannot read reports or state.
2. **Origin** (every request that carries one: browsers send it on every WebSocket handshake and
   every non-GET fetch). It must be the same origin as the ``Host`` (scheme, name and port);
   ``null`` and other sites are refused; so is ``Sec-Fetch-Site: cross-site``.
3. **Access token** (every request, loopback included, as Jupyter does). Printed at launch in the
   URL ``/?token=...``; the first request carrying it sets an ``HttpOnly; SameSite=Strict``
   cookie (its name is derived from the token, so two dashboards on one host do not clash).
   Scripts may send it in the ``X-Addictidx-Token`` header instead.
4. **CSRF token** (state-changing methods authenticated by the cookie): a per-launch random value,
   served inside the page as ``<meta name="csrf-token">``, returned in the ``X-CSRF-Token``
   header. A request authenticated by the ``X-Addictidx-Token`` header needs none: a browser
   cannot add a custom header cross-origin without a CORS pre-flight, which is never granted.
5. **JSON only**: a state-changing request must be ``Content-Type: application/json`` (a
   cross-site ``text/plain`` form post is refused before any route parses it).

Every HTTP response gets the security headers of :data:`SECURITY_HEADERS` (a CSP with no inline
script, ``frame-ancestors 'none'``, ``X-Frame-Options: DENY``, ``Referrer-Policy: no-referrer``).
Refusals are one line of JSON, ``{"detail": "..."}``, with status 400/401/403/415; a refused
WebSocket is closed before it is accepted (HTTP 403 on the wire).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import socket
from dataclasses import dataclass
from http.cookies import SimpleCookie
from urllib.parse import parse_qs, urlsplit

__all__ = [
    "Guard",
    "GuardMiddleware",
    "allowed_hosts_for",
    "host_name",
    "SECURITY_HEADERS",
    "TOKEN_HEADER",
    "CSRF_HEADER",
    "LOOPBACK_NAMES",
]

TOKEN_HEADER = "x-addictidx-token"
CSRF_HEADER = "x-csrf-token"
#: Names that reach this computer only.
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")
_WILDCARD = ("0.0.0.0", "::", "")
_SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
_HOST_CHARS = re.compile(r"[a-z0-9.\-:]+")

#: Headers on every HTTP response. Styles may be inline (the page and the reports use style
#: attributes); scripts may not: the page's script is the served file /static/page.js.
SECURITY_HEADERS = (
    (
        b"content-security-policy",
        b"default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        b"img-src 'self' data:; media-src 'self'; connect-src 'self'; frame-ancestors 'none'; "
        b"base-uri 'none'; "
        b"form-action 'none'",
    ),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-content-type-options", b"nosniff"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"cache-control", b"no-store"),
)


def host_name(host_header: str | None) -> str | None:
    """The lower-case name of a ``Host`` header (``name``, ``name:port``, ``[v6]:port``).

    Returns ``None`` when the header is absent or not a well-formed host.
    """
    if not host_header:
        return None
    try:
        parts = urlsplit("//" + host_header.strip())
        name, _ = parts.hostname, parts.port  # .port raises on a bad port
    except ValueError:
        return None
    if not name or parts.path or parts.query or parts.username is not None:
        return None
    name = name.lower().rstrip(".")
    return name if _HOST_CHARS.fullmatch(name) else None


def allowed_hosts_for(bind_host: str, extra: tuple[str, ...] = ()) -> frozenset[str]:
    """Host names accepted for a dashboard bound to ``bind_host``.

    Loopback binds accept the loopback names; a wildcard bind (``0.0.0.0``, ``::``) accepts
    those, this computer's name and addresses; a specific address accepts itself. ``extra``
    (``--allow-host``) adds names a reverse proxy or DNS uses.
    """
    bind = bind_host.strip().strip("[]").lower()
    names = {n.lower() for n in extra}
    if bind in LOOPBACK_NAMES or bind in _WILDCARD:
        names.update(LOOPBACK_NAMES)
    if bind in _WILDCARD:
        for name in {socket.gethostname(), socket.getfqdn()}:
            names.add(name.lower())
            try:
                names.update(str(a[4][0]).lower() for a in socket.getaddrinfo(name, None))
            except OSError:
                pass
    elif bind not in LOOPBACK_NAMES:
        names.add(bind)
    return frozenset(n.rstrip(".") for n in names if n)


@dataclass(frozen=True)
class Guard:
    """The secrets and allow-list of one dashboard launch.

    Parameters
    ----------
    token : str
        Access token (shown once at launch in the URL).
    csrf : str
        Per-launch CSRF token (served inside the page).
    allowed_hosts : frozenset of str
        Accepted ``Host`` names (see :func:`allowed_hosts_for`).
    """

    token: str
    csrf: str
    allowed_hosts: frozenset[str]

    @classmethod
    def create(cls, token: str | None, allowed_hosts) -> Guard:
        """A guard with ``token`` (a new random one when ``None``) and a new CSRF token."""
        if token is not None and len(token) < 8:
            raise ValueError(f"'token' must have at least 8 characters, but got {len(token)}.")
        return cls(
            token=token or secrets.token_urlsafe(24),
            csrf=secrets.token_urlsafe(24),
            allowed_hosts=frozenset(h.lower() for h in allowed_hosts),
        )

    @property
    def cookie_name(self) -> str:
        """Cookie name of this launch (derived from the token: launches do not clash)."""
        return "addictidx-" + hashlib.sha256(self.token.encode()).hexdigest()[:12]

    def token_ok(self, given: str | None) -> bool:
        """Constant-time comparison with the access token."""
        return given is not None and hmac.compare_digest(given.encode(), self.token.encode())

    def csrf_ok(self, given: str | None) -> bool:
        """Constant-time comparison with the CSRF token."""
        return given is not None and hmac.compare_digest(given.encode(), self.csrf.encode())


def _headers(scope) -> dict[str, str]:
    out: dict[str, str] = {}
    for k, v in scope.get("headers", ()):
        key = k.decode("latin-1").lower()
        # a repeated security header is ambiguous: keep a marker that never matches
        out[key] = "\x00repeated" if key in out else v.decode("latin-1")
    return out


def _cookie(headers: dict[str, str], name: str) -> str | None:
    raw = headers.get("cookie")
    if not raw:
        return None
    jar = SimpleCookie()
    try:
        jar.load(raw)
    except Exception:  # noqa: BLE001 - a malformed cookie header authenticates nobody
        return None
    morsel = jar.get(name)
    return morsel.value if morsel is not None else None


def _origin_ok(origin: str, host_header: str, scheme: str) -> bool:
    """Same origin: the request's own scheme (ws -> http), the Host header's name and port."""
    try:
        parts = urlsplit(origin)
    except ValueError:
        return False
    want = {"ws": "http", "wss": "https"}.get(scheme, scheme)
    if parts.scheme != want or parts.path not in ("", "/"):
        return False
    return parts.netloc.lower() == host_header.strip().lower()


class GuardMiddleware:
    """ASGI middleware applying :class:`Guard` to every HTTP and WebSocket request."""

    def __init__(self, app, guard: Guard) -> None:
        self.app = app
        self.guard = guard

    def _refusal(self, scope, headers: dict[str, str]) -> tuple[int, str] | None:
        g = self.guard
        host = headers.get("host")
        name = host_name(host)
        if name is None or name not in g.allowed_hosts:
            return 403, (
                f"Host {host!r} is not allowed (this dashboard answers to "
                f"{', '.join(sorted(g.allowed_hosts))}; add a name with --allow-host)."
            )
        origin = headers.get("origin")
        if origin is not None and not _origin_ok(origin, host, scope.get("scheme", "http")):
            return 403, f"Origin {origin!r} is not allowed (same origin only)."
        if headers.get("sec-fetch-site") == "cross-site":
            return 403, "Cross-site requests are not allowed."
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        by_header = g.token_ok(headers.get(TOKEN_HEADER))
        by_cookie = g.token_ok(_cookie(headers, g.cookie_name))
        by_query = g.token_ok((query.get("token") or [None])[0])
        method = scope.get("method", "GET")
        if method in _SAFE_METHODS or scope["type"] == "websocket":
            if not (by_header or by_cookie or by_query):
                return 401, "Access token required (open the URL printed at launch)."
            return None
        if not (by_header or by_cookie):  # never a secret in the URL of a state change
            return 401, "Access token required (X-Addictidx-Token header or the page's cookie)."
        if not by_header and not g.csrf_ok(headers.get(CSRF_HEADER)):
            return 403, "CSRF token missing or wrong (reload the dashboard page)."
        ctype = headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if ctype != "application/json":
            return 415, f"Content-Type must be application/json, got {ctype or 'none'!r}."
        return None

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = _headers(scope)
        refusal = self._refusal(scope, headers)
        if scope["type"] == "websocket":
            if refusal is not None:
                await receive()  # websocket.connect
                await send({"type": "websocket.close", "code": 4403, "reason": refusal[1]})
                return
            await self.app(scope, receive, send)
            return
        set_cookie = None
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        if refusal is None and self.guard.token_ok((query.get("token") or [None])[0]):
            set_cookie = (
                f"{self.guard.cookie_name}={self.guard.token}; Path=/; HttpOnly; SameSite=Strict"
            ).encode()

        async def guarded_send(message) -> None:
            if message["type"] == "http.response.start":
                extra = list(SECURITY_HEADERS)
                if set_cookie is not None:
                    extra.append((b"set-cookie", set_cookie))
                names = {k for k, _ in extra if k != b"set-cookie"}
                kept = [(k, v) for k, v in message.get("headers", []) if k.lower() not in names]
                message = {**message, "headers": kept + extra}
            await send(message)

        if refusal is not None:
            status, detail = refusal
            body = json.dumps({"detail": detail}).encode()
            await guarded_send(
                {
                    "type": "http.response.start",
                    "status": status,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                    ],
                }
            )
            await guarded_send({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, guarded_send)
