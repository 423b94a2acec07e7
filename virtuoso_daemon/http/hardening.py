"""The HTTP server's connection handling, hardened: what aiohttp does before a route
runs, done the way the API answers everything else.

aiohttp's defaults, met by a fuzzer and by idle clients (issue 16):

* a malformed request (request line over the limit, unknown method, bad or duplicate
  Content-Length, bad chunking, ``HTTP/9.9``, NUL in the path) was answered in
  ``text/plain`` *echoing the offending bytes*, and each logged a ~10-line traceback
  at ERROR (211 requests, 211 tracebacks). Here: a JSON error with a fixed message,
  and one WARNING line per :data:`LOG_EVERY` seconds with the count of the others
  (the traceback only at DEBUG);
* a connection that sent nothing, or trickled its headers, was held for an hour
  (``keepalive_timeout=3630``): ``api.keepalive_timeout`` now bounds both, since
  aiohttp closes a connection that has no complete request by then;
* connections were not capped: past ``api.max_connections`` a new one gets a 503 JSON
  answer and is closed at once.

The pieces hook into aiohttp where it allows it: a ``RequestHandler`` subclass (its
``handle_error`` and ``log_exception`` are the documented override points), created
by a ``Server`` subclass, set up by an ``AppRunner`` subclass.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from typing import Any

from aiohttp import http_exceptions, web
from aiohttp.web_protocol import RequestHandler

from virtuoso_daemon.http.errors import error_response

log = logging.getLogger("virtuoso.http")

LOG_EVERY = 60.0  # seconds between two log lines about malformed requests
REFUSED_LINGER = 1.0  # seconds a refused connection waits for its request before closing
#: errors that are the client's doing (a body that does not decode, a peer gone)
CLIENT_FAULTS = (web.RequestPayloadError, http_exceptions.HttpProcessingError, ConnectionError)

_KINDS: list[tuple[type[BaseException], str]] = [
    (http_exceptions.LineTooLong, "request line or header too long"),
    (http_exceptions.BadHttpMethod, "unknown or invalid method"),
    (http_exceptions.InvalidURLError, "invalid characters in the request target"),
    (http_exceptions.BadStatusLine, "malformed request line or HTTP version"),
    (http_exceptions.InvalidHeader, "invalid header"),
    (http_exceptions.ContentLengthError, "invalid Content-Length"),
    (http_exceptions.TransferEncodingError, "invalid chunked body"),
    (http_exceptions.PayloadEncodingError, "the body does not match its Content-Encoding"),
    (http_exceptions.BadHttpMessage, "malformed headers"),
]


def describe(exc: BaseException | None) -> str:
    """What was wrong, in our words: never the client's bytes (no reflection)."""
    for kind, text in _KINDS:
        if isinstance(exc, kind):
            return text
    return "malformed HTTP request"


class BadRequestLog:
    """One WARNING line per ``every`` seconds about malformed requests, with a count."""

    def __init__(self, every: float = LOG_EVERY) -> None:
        self.every = every
        self.last = -float("inf")
        self.suppressed = 0

    def note(self, remote: str | None, what: str, exc: BaseException | None) -> None:
        now = time.monotonic()
        if now - self.last < self.every:
            self.suppressed += 1
        else:
            more = f" ({self.suppressed} more since the last report)" if self.suppressed else ""
            log.warning(
                "malformed HTTP request from %s: %s%s; the next %gs are counted, not logged",
                remote or "?",
                what,
                more,
                self.every,
            )
            self.last, self.suppressed = now, 0
        log.debug("malformed HTTP request from %s", remote, exc_info=exc)


class HardenedServer(web.Server):
    """aiohttp's ``Server`` making :class:`HardenedHandler` connections, capped."""

    def __init__(self, *args: Any, max_connections: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.max_connections = max_connections
        self.counters: Counter[str] = Counter()
        self.bad_requests = BadRequestLog()

    def __call__(self) -> RequestHandler:
        return HardenedHandler(self, loop=self._loop, **self._kwargs)

    def stats(self) -> dict[str, int]:
        return {
            "connections": len(self._connections),
            "bad_requests": self.counters["bad_requests"],
            "refused_connections": self.counters["refused_connections"],
        }


_BUSY = error_response(503, "unavailable", "too many connections; try again shortly").body
assert isinstance(_BUSY, bytes)
BUSY_RESPONSE = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
    b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(_BUSY), _BUSY)
)


class HardenedHandler(RequestHandler):
    """One connection: JSON errors for malformed requests, one log line, the cap."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        server = self._manager
        if isinstance(server, HardenedServer) and len(server.connections) >= (
            server.max_connections
        ):
            server.counters["refused_connections"] += 1
            assert isinstance(transport, asyncio.Transport)
            self._refused = transport
            self._manager = None  # never registered: connection_lost has nothing to undo
            transport.write(BUSY_RESPONSE)
            # closed once the request has arrived (closing on unread data would reset
            # the connection, and the client might never see the answer), or soon
            self._loop.call_later(REFUSED_LINGER, transport.close)
            return
        super().connection_made(transport)

    def data_received(self, data: bytes) -> None:
        refused = getattr(self, "_refused", None)
        if refused is not None:
            refused.close()  # the data is read (and ignored): a clean close
            return
        super().data_received(data)

    def handle_error(
        self,
        request: Any,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        server = self._manager
        if status == 500:  # a handler escaped its JSON errors: a bug, keep the traceback
            self.logger.error("error handling %s", getattr(request, "path", "?"), exc_info=exc)
            resp = error_response(500, "internal_error", "internal server error (see daemon log)")
        elif status > 500:  # aiohttp's own 504: the handler timed out
            resp = error_response(status, "timeout", "the request took too long")
        else:
            what = describe(exc)
            if isinstance(server, HardenedServer):
                server.counters["bad_requests"] += 1
                server.bad_requests.note(request.remote, what, exc)
            resp = error_response(status, "bad_request", f"{what}; the request was not read")
        if request.writer.output_size > 0:  # part of a response went out: just close
            raise ConnectionError("a response was already started")
        resp.force_close()
        return resp

    def log_exception(self, *args: Any, **kw: Any) -> None:
        """aiohttp's other error reports (a body left unread failing to decode, ...):
        client faults, one rate-limited line (the traceback at DEBUG)."""
        server = self._manager
        exc = kw.get("exc_info")
        if isinstance(server, HardenedServer) and isinstance(exc, CLIENT_FAULTS):
            server.counters["bad_requests"] += 1
            server.bad_requests.note(None, describe(exc), exc)
        else:  # anything else may be a bug: keep aiohttp's report
            self.logger.exception(*args, **kw)


class HardenedRunner(web.AppRunner):
    """``AppRunner`` whose server is a :class:`HardenedServer`."""

    def __init__(self, app: web.Application, *, max_connections: int, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self._max_connections = max_connections

    async def _make_server(self) -> web.Server:
        plain = await super()._make_server()
        return HardenedServer(
            plain.request_handler,
            request_factory=plain.request_factory,
            handler_cancellation=plain.handler_cancellation,
            loop=plain._loop,
            max_connections=self._max_connections,
            **plain._kwargs,
        )
