"""Who may call what: bearer tokens, CORS, and the request-size limits.

* **Writes** (every route whose method is not GET/HEAD/OPTIONS, and any handler
  marked :func:`requires_token`) need ``Authorization: Bearer <api.token>``. With no
  token configured they are allowed only from a loopback client, so a fresh install
  on 127.0.0.1 works without setup and is never writable from the network.
* **Reads** need ``api.read_token`` (or the write token) when one is configured; the
  config refuses a non-loopback ``daemon.host`` without one
  (:func:`~virtuoso_daemon.core.config.load_config`). The liveness probes in
  :data:`OPEN_PATHS` stay open so a load balancer or ``deploy.sh`` can check them.
* **CORS** is off unless ``api.cors_origins`` lists origins (``"*"`` for any).
* **Sizes**: ``api.max_body_bytes`` (aiohttp's ``client_max_size``, 413 beyond it),
  ``api.max_header_bytes`` and ``api.max_url_bytes`` (the request line, so the query
  string) are the HTTP parser's limits (:func:`server_limits`; 400/431 beyond).

Tokens are compared with :func:`hmac.compare_digest` (constant time). Checks are
wrapped per route when the app is built, like the JSON errors (no middleware, so the
hot read paths pay nothing when no read token is configured).
"""

from __future__ import annotations

import functools
import hmac
import ipaddress
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from aiohttp import hdrs, web

from virtuoso_daemon.core.config import ApiConfig, Config
from virtuoso_daemon.http.errors import ApiError, json_errors

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
H = TypeVar("H", bound=Callable[..., Awaitable[web.StreamResponse]])

#: methods that never change state (everything else needs the write token)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: liveness probes, answered without the read token
OPEN_PATHS = frozenset({"/health", "/health/quick"})

_MARK = "__virtuoso_requires_token__"


def requires_token(handler: H) -> H:
    """Mark ``handler`` as state-changing: it needs the write token whatever its method.

    Routes registered with POST/PUT/PATCH/DELETE are guarded without it; use it on a
    handler that may be registered under a safe method too (there should be none)."""
    setattr(handler, _MARK, True)
    return handler


def is_write(method: str, handler: object) -> bool:
    return method.upper() not in SAFE_METHODS or bool(getattr(handler, _MARK, False))


def _bearer(request: web.Request) -> str | None:
    value = request.headers.get(hdrs.AUTHORIZATION, "")
    scheme, _, token = value.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def _matches(given: str | None, *expected: str) -> bool:
    if given is None:
        return False
    ok = False
    for token in expected:  # compare with every token: the time does not tell which one
        if token:
            ok |= hmac.compare_digest(given.encode(), token.encode())
    return ok


def client_is_loopback(request: web.Request) -> bool:
    remote = request.remote or ""
    if remote.startswith("::ffff:"):  # an IPv4 client on a dual-stack socket
        remote = remote[7:]
    try:
        return ipaddress.ip_address(remote).is_loopback
    except ValueError:
        return False  # unknown peer (a Unix socket, a proxy that hid it): not trusted


def check_write(api: ApiConfig, request: web.Request) -> None:
    """Raise 401/403 unless ``request`` may change state (module docstring)."""
    if not api.token:
        if client_is_loopback(request):
            return
        raise ApiError(
            403,
            "forbidden",
            "writes are allowed only from the local machine until api.token is configured",
        )
    given = _bearer(request)
    if given is None:
        raise ApiError(401, "unauthorized", "this endpoint needs Authorization: Bearer <token>")
    if not _matches(given, api.token):
        raise ApiError(403, "forbidden", "the bearer token is not the API (write) token")


def check_read(api: ApiConfig, request: web.Request) -> None:
    """Raise 401/403 unless ``request`` carries the read (or write) token."""
    given = _bearer(request)
    if given is None:
        raise ApiError(401, "unauthorized", "this API needs Authorization: Bearer <read token>")
    if not _matches(given, api.read_token, api.token):
        raise ApiError(403, "forbidden", "the bearer token is not valid for this API")


def guarded(config: Config, method: str, path: str, handler: Handler) -> Handler:
    """``handler`` with the checks its route needs; itself when it needs none."""
    api = config.api
    write = is_write(method, handler)
    read = bool(api.read_token) and path not in OPEN_PATHS
    if not write and not read:
        return handler

    @functools.wraps(handler)
    async def checked(request: web.Request) -> web.StreamResponse:
        if write:
            check_write(api, request)
        else:
            check_read(api, request)
        return await handler(request)

    return checked


# --- CORS ---------------------------------------------------------------------------

ALLOWED_HEADERS = "Authorization, Content-Type"


def _allowed_origin(api: ApiConfig, origin: str | None) -> str | None:
    if not origin or not api.cors_origins:
        return None
    if "*" in api.cors_origins:
        return "*"
    return origin if origin in api.cors_origins else None


def install_cors(app: web.Application, config: Config) -> None:
    """Answer preflights and add ``Access-Control-Allow-Origin`` for listed origins;
    nothing is installed (CORS stays off) when ``api.cors_origins`` is empty. Call it
    after the areas' routes and before the catch-all (the preflight route matches
    any path)."""
    api = config.api
    if not api.cors_origins:
        return

    async def add_headers(request: web.Request, response: web.StreamResponse) -> None:
        allowed = _allowed_origin(api, request.headers.get(hdrs.ORIGIN))
        if allowed is not None:
            response.headers[hdrs.ACCESS_CONTROL_ALLOW_ORIGIN] = allowed
            if allowed != "*":
                response.headers.add(hdrs.VARY, "Origin")

    async def preflight(request: web.Request) -> web.Response:
        allowed = _allowed_origin(api, request.headers.get(hdrs.ORIGIN))
        if allowed is None:
            raise ApiError(403, "forbidden", "origin not allowed (api.cors_origins)")
        return web.Response(
            status=204,
            headers={
                hdrs.ACCESS_CONTROL_ALLOW_METHODS: "GET, POST, PUT, PATCH, DELETE",
                hdrs.ACCESS_CONTROL_ALLOW_HEADERS: ALLOWED_HEADERS,
                hdrs.ACCESS_CONTROL_MAX_AGE: "600",
            },
        )

    app.on_response_prepare.append(add_headers)
    app.router.add_route("OPTIONS", r"/{_preflight:[\s\S]*}", json_errors(preflight))


def server_limits(config: Config) -> dict[str, Any]:
    """The HTTP parser's limits for :class:`aiohttp.web.AppRunner` (module docstring)."""
    return {
        "max_line_size": config.api.max_url_bytes,
        "max_field_size": config.api.max_header_bytes,
    }
