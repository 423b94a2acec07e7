"""Where a request runs: the HTTP thread's own event loop, or the daemon's main loop.

The HTTP server runs in a thread of its own (:mod:`..actors.http_api`), so a request
does not wait for the feeds: while the main loop works through a burst of websocket
messages, the interpreter hands the HTTP thread the GIL within the switch interval
(:data:`SWITCH_INTERVAL`). Two kinds of handler:

* marked :func:`in_http_thread`: they read only what actors *published* (immutable
  view snapshots, the ticker cache's live table of immutable tickers, the config),
  so they run where the request arrived. These are the hot read paths
  (``/health/quick``, tickers, one ticker, overview, movers).
* everything else runs on the main loop (:func:`on_main_loop` wraps it, when the
  app is built, in a coroutine that schedules it there and waits), because it asks
  actors over the bus or reads actor state that is being mutated, and the actors'
  anyio primitives belong to that loop. The request body is read first, in the HTTP
  thread, where its stream lives. Wrapping per route rather than in a middleware
  keeps the hot paths free of any dispatch cost (the app has no middleware at all:
  see :mod:`.errors`).

When the app runs on the main loop itself (tests that build it directly), every
handler simply runs where it is.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from typing import TypeVar

from aiohttp import web

from virtuoso_daemon.core.metrics import Metrics
from virtuoso_daemon.http.errors import json_errors
from virtuoso_daemon.http.keys import RUNTIME

#: seconds a thread waiting for the GIL waits before the holder must let go
#: (CPython's default is 5 ms); the HTTP thread's worst wait during a burst
SWITCH_INTERVAL = 0.001

_MARK = "__virtuoso_in_http_thread__"

H = TypeVar("H", bound=Callable[[web.Request], Awaitable[web.StreamResponse]])


def in_http_thread(handler: H) -> H:
    """Mark a handler that only reads published snapshots (safe off the main loop)."""
    setattr(handler, _MARK, True)
    return handler


def runs_in_http_thread(handler: object) -> bool:
    return bool(getattr(handler, _MARK, False))


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def on_main_loop(handler: Handler) -> Handler:
    """``handler`` as it is if marked :func:`in_http_thread`, else run on the main loop."""
    if runs_in_http_thread(handler):
        return handler

    @functools.wraps(handler)
    async def dispatched(request: web.Request) -> web.StreamResponse:
        main = request.app[RUNTIME].main_loop
        if main is None or asyncio.get_running_loop() is main:
            return await handler(request)
        if request.body_exists:
            await request.read()  # cached on the request; handlers' json()/text() reuse it
        future = asyncio.run_coroutine_threadsafe(_call(handler, request), main)
        return await asyncio.wrap_future(future)

    return dispatched


Guard = Callable[[str, str, Handler], Handler]


def dispatched_routes(
    routes: web.RouteTableDef, metrics: Metrics | None = None, guard: Guard | None = None
) -> list[web.AbstractRouteDef]:
    """The routes of an area, each handler wrapped by :func:`on_main_loop`, then by
    ``guard(method, path, handler)`` (the auth checks, run in the HTTP thread before
    any dispatch) and then :func:`~.errors.json_errors` (errors are answered in the
    thread that owns the request, whichever loop the handler ran on), counted and
    timed per route in ``metrics`` when given (the route's path template is the
    label: bounded)."""
    out: list[web.AbstractRouteDef] = []
    for route in routes:
        if isinstance(route, web.RouteDef) and callable(route.handler):
            recorder = None if metrics is None else metrics.route("http", route.path, route.method)
            handler = on_main_loop(route.handler)
            if guard is not None:
                handler = guard(route.method, route.path, handler)
            route = web.RouteDef(
                route.method, route.path, json_errors(handler, recorder), route.kwargs
            )
        out.append(route)
    return out


async def _call(
    handler: Callable[[web.Request], Awaitable[web.StreamResponse]], request: web.Request
) -> web.StreamResponse:
    return await handler(request)
