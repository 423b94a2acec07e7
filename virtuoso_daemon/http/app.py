"""The aiohttp application factory: one app, routes registered by area."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from virtuoso_daemon.core.runtime import Runtime
from virtuoso_daemon.http import (
    alerts,
    backups,
    catalog,
    dashboard,
    docs,
    health,
    market,
    signals,
    system,
)
from virtuoso_daemon.http.auth import guarded, install_cors
from virtuoso_daemon.http.dispatch import Handler, dispatched_routes
from virtuoso_daemon.http.errors import UNMATCHED_PATH, json_errors, unmatched
from virtuoso_daemon.http.keys import RUNTIME

# Each area module exposes ``routes`` (a RouteTableDef). Areas added by later work
# (market, signals, dashboard) append themselves here.
AREAS: list[Callable[[], web.RouteTableDef]] = [
    lambda: system.routes,
    lambda: market.routes,
    lambda: catalog.routes,
    lambda: health.routes,
    lambda: alerts.routes,
    lambda: docs.routes,
    lambda: backups.routes,
    lambda: signals.routes,
    lambda: dashboard.routes,
]


def register_area(provider: Callable[[], web.RouteTableDef]) -> None:
    if provider not in AREAS:
        AREAS.append(provider)


def create_app(runtime: Runtime) -> web.Application:
    # no middlewares: errors and auth are handled per route (see .errors, .auth), so
    # aiohttp calls the hot handlers directly
    config = runtime.config
    app = web.Application(client_max_size=config.api.max_body_bytes)
    app[RUNTIME] = runtime
    app[docs.SPEC_CACHE] = {}

    def guard(method: str, path: str, handler: Handler) -> Handler:
        return guarded(config, method, path, handler)

    for area in AREAS:
        app.add_routes(dispatched_routes(area(), runtime.metrics, guard))
    install_cors(app, config)  # CORS preflights, when api.cors_origins lists origins
    # last: any other path (counted under one label, whatever the path)
    unmatched_recorder = runtime.metrics.route("http", "unmatched", "*")
    app.router.add_route("*", UNMATCHED_PATH, json_errors(unmatched, unmatched_recorder))
    return app
