"""The aiohttp application factory: one app, routes registered by area."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from virtuoso_daemon.core.runtime import Runtime
from virtuoso_daemon.http import alerts, analytics, market, system
from virtuoso_daemon.http.dispatch import dispatched_routes
from virtuoso_daemon.http.errors import UNMATCHED_PATH, json_errors, unmatched
from virtuoso_daemon.http.keys import RUNTIME

# Each area module exposes ``routes`` (a RouteTableDef). Areas added by later work
# (market, signals, dashboard) append themselves here.
AREAS: list[Callable[[], web.RouteTableDef]] = [
    lambda: system.routes,
    lambda: market.routes,
    lambda: analytics.routes,
    lambda: alerts.routes,
]


def register_area(provider: Callable[[], web.RouteTableDef]) -> None:
    if provider not in AREAS:
        AREAS.append(provider)


def create_app(runtime: Runtime) -> web.Application:
    # no middlewares: errors are handled per route (see .errors), so aiohttp calls
    # the hot handlers directly
    app = web.Application(client_max_size=1 << 20)
    app[RUNTIME] = runtime
    for area in AREAS:
        app.add_routes(dispatched_routes(area(), runtime.metrics))
    # last: any other path (counted under one label, whatever the path)
    unmatched_recorder = runtime.metrics.route("http", "unmatched", "*")
    app.router.add_route("*", UNMATCHED_PATH, json_errors(unmatched, unmatched_recorder))
    return app
