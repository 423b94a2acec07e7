"""Signals area: alerts, acknowledgements, silences and the live alert stream (SSE).

Reads are :func:`~.queries.query_route` lines over :mod:`virtuoso_daemon.read.alerts`.
Writes (ack, silence, unsilence) take their arguments from the URL and a JSON object
body; being POST/DELETE routes they are guarded by :mod:`.auth` when the app is built
(``Authorization: Bearer <api.token>``; loopback clients only while no token is set).

``GET /api/signals/stream`` is server-sent events: one ``event: alert`` per alert
change (``id:`` the alert id, ``data:`` the alert as JSON), filtered like the list
(kind, severity, symbol, exchange, status), a ``: keepalive`` comment every
:data:`KEEPALIVE` seconds, and ``event: dropped`` with a count if the client read too
slowly and its queue (:data:`STREAM_QUEUE`) overflowed. It runs in the HTTP thread:
a bus tap on ``Topics.ALERTS`` hands each alert over with ``call_soon_threadsafe``.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import msgspec
from aiohttp import web

from virtuoso_daemon.core.bus import Topics
from virtuoso_daemon.core.errors import QueryError
from virtuoso_daemon.core.messages import Alert
from virtuoso_daemon.core.runtime import Runtime
from virtuoso_daemon.http.errors import ApiError
from virtuoso_daemon.http.openapi import describe_query, documented
from virtuoso_daemon.http.queries import query_route
from virtuoso_daemon.http.responses import json_response
from virtuoso_daemon.http.routes import HotRoutes, LoopRoutes
from virtuoso_daemon.read import alerts as read
from virtuoso_daemon.read.contract import Query, QueryArgs, args_from_strings, run_query
from virtuoso_daemon.read.model import HotModel

routes = LoopRoutes()
hot = HotRoutes()

KEEPALIVE = 15.0  # s between SSE comments that keep proxies from closing the stream
#: the open streams' queues, per app: ended (a None) when the server shuts down, so
#: an open stream never holds the daemon's shutdown up
StreamQueue = asyncio.Queue[Alert | None]
STREAMS: web.AppKey[set[StreamQueue]] = web.AppKey("alert_streams")
STREAM_QUEUE = 1000  # alerts buffered per SSE client before it loses some (counted)
_encode = msgspec.json.Encoder().encode

query_route(routes, "/api/signals/alerts", read.alerts_list, read.AlertsArgs)
query_route(routes, "/api/signals/alerts/{id}", read.alert_detail, read.AlertIdArgs)
query_route(routes, "/api/signals/silences", read.silences_list, read.SilencesArgs)


def write_route(
    path: str, fn: Query, args: type[QueryArgs], *, method: str = "POST", status: int = 200
) -> None:
    """A state-changing query: writer required, arguments from URL and JSON body."""

    async def handler(request: web.Request, rt: Runtime) -> web.Response:
        values: dict[str, Any] = dict(request.query)
        if request.body_exists:
            try:
                body = msgspec.json.decode(await request.read())
            except msgspec.DecodeError:
                raise ApiError(400, "invalid_body", "the body must be a JSON object") from None
            if not isinstance(body, dict):
                raise ApiError(400, "invalid_body", "the body must be a JSON object")
            values.update(body)
        values.update(request.match_info)
        try:
            parsed = args_from_strings(args, values)
            result = await run_query(fn, rt, parsed)
        except QueryError as exc:
            raise ApiError(exc.status, exc.code, exc.message) from None
        return json_response(result, status=status)

    handler.__name__ = handler.__qualname__ = getattr(fn, "__name__", "write")
    handler.__doc__ = fn.__doc__
    describe_query(handler, fn, args, body_params=True)  # /api/openapi.json
    routes.add(method, path, handler)


write_route("/api/signals/alerts/{id}/ack", read.alert_ack, read.AckArgs)
write_route("/api/signals/silences", read.silence_add, read.SilenceArgs, status=201)
write_route("/api/signals/silences/{id}", read.silence_remove, read.SilenceIdArgs, method="DELETE")


def install(app: web.Application) -> None:
    """Called by the app factory: the registry of open streams and its shutdown hook."""
    app[STREAMS] = set()
    app.on_shutdown.append(end_streams)


async def end_streams(app: web.Application) -> None:
    streams: set[StreamQueue] = app[STREAMS]
    for queue in tuple(streams):
        while True:
            try:
                queue.put_nowait(None)
                break
            except asyncio.QueueFull:
                queue.get_nowait()  # the stream ends: what it had not sent does not matter


def _sse(event: str, data: bytes, event_id: str | None = None) -> bytes:
    head = f"id: {event_id}\n" if event_id else ""
    return f"{head}event: {event}\n".encode() + b"data: " + data + b"\n\n"


@hot.get("/api/signals/stream")
@documented(params=read.AlertsArgs, content_type="text/event-stream")
async def stream(request: web.Request, model: HotModel) -> web.StreamResponse:
    """Server-sent events: every alert change as it happens (module docstring)."""
    values = dict(request.query)
    try:
        wanted = read.list_request(args_from_strings(read.AlertsArgs, values))
    except QueryError as exc:
        raise ApiError(exc.status, exc.code, exc.message) from None
    loop = asyncio.get_running_loop()
    queue: StreamQueue = asyncio.Queue(STREAM_QUEUE)
    # an app built without install() (a test's own) has no registry: streams end with
    # the client then
    streams: set[StreamQueue] = request.app.get(STREAMS, set())
    dropped = 0

    def put(alert: Alert) -> None:
        nonlocal dropped
        try:
            queue.put_nowait(alert)
        except asyncio.QueueFull:
            dropped += 1

    def tap(alert: Alert) -> None:  # on the main loop, inline in the publisher
        if read.matches(wanted, alert):
            with contextlib.suppress(RuntimeError):  # the HTTP loop is closing
                loop.call_soon_threadsafe(put, alert)

    resp = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",
        }
    )
    streams.add(queue)
    with model.tap(Topics.ALERTS, tap, name="http:sse"):
        await resp.prepare(request)
        await resp.write(b": virtuoso alerts\n\n")
        reported = 0
        try:
            while True:
                try:
                    alert = await asyncio.wait_for(queue.get(), KEEPALIVE)
                except TimeoutError:
                    await resp.write(b": keepalive\n\n")
                    continue
                if alert is None:  # the server is shutting down
                    return resp
                if dropped > reported:
                    await resp.write(_sse("dropped", str(dropped - reported).encode()))
                    reported = dropped
                await resp.write(_sse("alert", _encode(alert), alert.id))
        except ConnectionError:  # the client went away
            return resp
        finally:
            streams.discard(queue)
