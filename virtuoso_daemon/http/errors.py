"""JSON errors for every failure: ``{"error": {"code", "message"}}`` with the right status.

Handlers raise :class:`ApiError` (or aiohttp's HTTP exceptions) for bad input;
:func:`json_errors`, wrapped around every route's handler when the app is built,
turns both into JSON. Anything else is a bug: it is logged with its traceback and
answered 500 with a generic message, never the internals. A path no route matches
lands on :func:`unmatched`, the last route, which answers the 404 or 405 (with
``Allow``) that aiohttp's router would have raised.

Why per route and not an aiohttp middleware: with any middleware aiohttp wraps every
request in two more coroutine layers (ours and its own ``_fix_request_current_app``)
built from partials, which the hot read paths pay on each request.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Awaitable, Callable

import msgspec
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from virtuoso_daemon.core.metrics import RouteRecorder

log = logging.getLogger("virtuoso.api")
_encode = msgspec.json.Encoder().encode

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    408: "timeout",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "unprocessable",
    429: "rate_limited",
    503: "unavailable",
}


class ApiError(Exception):
    """A client-facing error: status, a stable machine code and a human message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def error_response(status: int, code: str, message: str) -> web.Response:
    body = _encode({"error": {"code": code, "message": message}})
    return web.Response(status=status, body=body, content_type="application/json")


def _http_error(request: web.Request, exc: web.HTTPException) -> web.Response:
    code = _CODES.get(exc.status, "http_error")
    message = exc.reason
    if exc.status == 404:
        message = f"no such endpoint: {request.method} {request.path}"
    return error_response(exc.status, code, message)


def _not_allowed(request: web.Request, allowed: set[str]) -> web.Response:
    methods = ", ".join(sorted(allowed))
    resp = error_response(
        405,
        "method_not_allowed",
        f"method {request.method} not allowed here (allowed: {methods})",
    )
    resp.headers["Allow"] = methods
    return resp


def json_errors(handler: Handler, recorder: RouteRecorder | None = None) -> Handler:
    """``handler`` answering every failure as a JSON error (see the module docstring);
    with a ``recorder``, every answer is counted and timed there (``/metrics``), in the
    same coroutine (no extra layer on the hot paths: ~1 us a request)."""
    observe = recorder.observe if recorder is not None else None
    clock = time.perf_counter

    @functools.wraps(handler)
    async def guarded(request: web.Request) -> web.StreamResponse:
        start = clock()
        response: web.StreamResponse
        try:
            response = await handler(request)
        except ApiError as exc:
            response = error_response(exc.status, exc.code, exc.message)
        except web.HTTPMethodNotAllowed as exc:
            response = _not_allowed(request, set(exc.allowed_methods))
        except web.HTTPException as exc:
            if exc.status < 400:  # a redirect: raised for aiohttp to answer
                if observe is not None:
                    observe(exc.status, clock() - start)
                raise
            response = _http_error(request, exc)
        except (web.RequestPayloadError, HttpProcessingError) as exc:  # the body
            response = error_response(400, "bad_request", f"cannot read the request body: {exc}")
        except ConnectionError:
            transport = request.transport
            if transport is not None and not transport.is_closing():
                raise  # not the client's connection: a bug below, answered as one
            log.debug("client went away during %s %s", request.method, request.path)
            response = error_response(400, "bad_request", "the client went away")
        except Exception:
            log.exception("unhandled error in %s %s", request.method, request.path)
            response = error_response(
                500, "internal_error", "internal server error (see daemon log)"
            )
        if observe is not None:
            observe(response.status, clock() - start)
        return response

    return guarded


#: the catch-all route's path: registered last, any method, any path (``[\\s\\S]``, not
#: ``.``: a percent-encoded newline in the path must land here too, not on aiohttp's
#: plain-text 404)
UNMATCHED_PATH = r"/{_unmatched_path:[\s\S]*}"


async def unmatched(request: web.Request) -> web.Response:
    """Raise what aiohttp's router would have: 404, or 405 when another route has
    this path under other methods (:func:`json_errors` around it answers both)."""
    own = request.match_info.route.resource
    allowed: set[str] = set()
    for resource in request.app.router.resources():
        if resource is not own:
            _, methods = await resource.resolve(request)
            allowed |= methods
    if allowed:
        raise web.HTTPMethodNotAllowed(request.method, allowed)
    raise web.HTTPNotFound()
