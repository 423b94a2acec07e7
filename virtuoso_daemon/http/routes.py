"""Two route tables: the table a handler is in decides the thread it runs in.

The HTTP server runs in a thread of its own (:mod:`.server`), so a request does not
wait for the feeds: while the main loop works through a burst of websocket messages,
the interpreter hands the HTTP thread the GIL within the switch interval. Each area
module (``http/<area>.py``) has up to two tables:

* ``hot = HotRoutes()``: served in the HTTP thread, where the request arrived. The
  handler is ``async def h(request, model: HotModel)``: it is given the read-only
  :class:`~virtuoso_daemon.read.model.HotModel` (views, the live ticker table among
  them, and the config), never the runtime, so it cannot ask an actor or touch state
  an actor is mutating. These are the hot read paths (``/health/quick``, tickers,
  one ticker, overview, movers, ``/health``, the signals' views, the alert stream).
* ``routes = LoopRoutes()``: served on the main loop. The handler is
  ``async def h(request, rt: Runtime)``; the app schedules it on the main loop and
  waits, because it asks actors over the bus or reads their state, and the actors'
  anyio primitives belong to that loop. The request body is read first, in the HTTP
  thread, where its stream lives.

The app keeps no runtime of its own (no ``app[...]`` key): a handler gets what its
table gives it, and mypy rejects a hot handler (or a hot query,
:func:`~.queries.query_route`) that asks for the ``Runtime``. Binding is per route,
when the app is built (:func:`bind`), so the hot paths pay no dispatch cost (the
app has no middleware at all: see :mod:`.errors`). When the server runs on the main
loop itself (``api.thread = false``, or a test that builds the app there), every
handler simply runs where it is.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

from aiohttp import web

from virtuoso_daemon.core.metrics import Metrics
from virtuoso_daemon.core.runtime import Runtime
from virtuoso_daemon.http.errors import json_errors
from virtuoso_daemon.read.model import HotModel

#: what aiohttp calls
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
#: a handler served in the HTTP thread: it gets the read-only model
HotHandler = Callable[[web.Request, HotModel], Awaitable[web.StreamResponse]]
#: a handler served on the main loop: it gets the runtime
LoopHandler = Callable[[web.Request, Runtime], Awaitable[web.StreamResponse]]

H = TypeVar("H", HotHandler, LoopHandler)


@dataclass(frozen=True, slots=True)
class Route(Generic[H]):
    method: str
    path: str
    handler: H


class _Table(Generic[H]):
    def __init__(self) -> None:
        self._routes: list[Route[H]] = []

    def add(self, method: str, path: str, handler: H) -> None:
        self._routes.append(Route(method.upper(), path, handler))

    def route(self, method: str, path: str) -> Callable[[H], H]:
        def register(handler: H) -> H:
            self.add(method, path, handler)
            return handler

        return register

    def get(self, path: str) -> Callable[[H], H]:
        return self.route("GET", path)

    def post(self, path: str) -> Callable[[H], H]:
        return self.route("POST", path)

    def delete(self, path: str) -> Callable[[H], H]:
        return self.route("DELETE", path)

    def __iter__(self) -> Iterator[Route[H]]:
        return iter(self._routes)

    def __len__(self) -> int:
        return len(self._routes)


class HotRoutes(_Table[HotHandler]):
    """Routes served in the HTTP thread; handlers get the read-only model."""


class LoopRoutes(_Table[LoopHandler]):
    """Routes served on the main loop; handlers get the runtime."""


RouteTable = HotRoutes | LoopRoutes
Guard = Callable[[str, str, Handler], Handler]


def with_model(handler: HotHandler, model: HotModel) -> Handler:
    """``handler`` with the model bound: no coroutine of its own, only a call."""
    bound: Handler = lambda request: handler(request, model)  # noqa: E731
    return functools.update_wrapper(bound, handler)


def on_main_loop(handler: LoopHandler, rt: Runtime) -> Handler:
    """``handler`` run on the runtime's main loop (where it is when that is this one)."""

    @functools.wraps(handler)
    async def dispatched(request: web.Request) -> web.StreamResponse:
        main = rt.main_loop
        if main is None or asyncio.get_running_loop() is main:
            return await handler(request, rt)
        if request.body_exists:
            await request.read()  # cached on the request; handlers' json()/text() reuse it
        future = asyncio.run_coroutine_threadsafe(_call(handler, request, rt), main)
        return await asyncio.wrap_future(future)

    return dispatched


def bind(
    table: RouteTable,
    rt: Runtime,
    model: HotModel,
    metrics: Metrics | None = None,
    guard: Guard | None = None,
) -> list[web.RouteDef]:
    """aiohttp routes for ``table``: each handler bound to what its table gives it
    (:func:`with_model` or :func:`on_main_loop`), then wrapped by
    ``guard(method, path, handler)`` (the auth checks, run in the HTTP thread before
    any dispatch) and then :func:`~.errors.json_errors` (errors are answered in the
    thread that owns the request, whichever loop the handler ran on), counted and
    timed per route in ``metrics`` when given (the route's path template is the
    label: bounded)."""
    if isinstance(table, HotRoutes):
        bound = [(r.method, r.path, with_model(r.handler, model)) for r in table]
    else:
        bound = [(r.method, r.path, on_main_loop(r.handler, rt)) for r in table]
    out: list[web.RouteDef] = []
    for method, path, handler in bound:
        if guard is not None:
            handler = guard(method, path, handler)
        recorder = None if metrics is None else metrics.route("http", path, method)
        out.append(web.RouteDef(method, path, json_errors(handler, recorder), {}))
    return out


async def _call(handler: LoopHandler, request: web.Request, rt: Runtime) -> web.StreamResponse:
    return await handler(request, rt)
