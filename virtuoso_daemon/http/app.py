"""The aiohttp application factory: one app, routes registered by area.

Each area module has a loop table (``routes``) and/or a hot table (``hot``); the
table decides where a handler runs and what it is given (:mod:`.routes`). The read
model the hot handlers share is built here, once.
"""

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
from virtuoso_daemon.http.errors import UNMATCHED_PATH, json_errors, unmatched
from virtuoso_daemon.http.routes import Handler, RouteTable, bind
from virtuoso_daemon.read.model import HotModel

# The route tables of every area, hot (HTTP thread) and loop (main loop); a new area
# adds its tables here.
AREAS: list[Callable[[], RouteTable]] = [
    lambda: system.hot,
    lambda: system.routes,
    lambda: market.hot,
    lambda: catalog.hot,
    lambda: catalog.routes,
    lambda: health.hot,
    lambda: health.routes,
    lambda: alerts.hot,
    lambda: alerts.routes,
    lambda: docs.hot,
    lambda: backups.routes,
    lambda: signals.hot,
    lambda: dashboard.hot,
    lambda: dashboard.routes,
]


def register_area(provider: Callable[[], RouteTable]) -> None:
    if provider not in AREAS:
        AREAS.append(provider)


def create_app(runtime: Runtime) -> web.Application:
    # no middlewares: errors and auth are handled per route (see .errors, .auth), so
    # aiohttp calls the hot handlers directly
    config = runtime.config
    app = web.Application(client_max_size=config.api.max_body_bytes)
    app[docs.SPEC_CACHE] = {}
    model = HotModel.of(runtime)  # all the hot handlers see

    def guard(method: str, path: str, handler: Handler) -> Handler:
        return guarded(config, method, path, handler)

    for area in AREAS:
        app.add_routes(bind(area(), runtime, model, runtime.metrics, guard))
    alerts.install(app)  # open alert streams end when the server shuts down
    install_cors(app, config)  # CORS preflights, when api.cors_origins lists origins
    # last: any other path (counted under one label, whatever the path)
    unmatched_recorder = runtime.metrics.route("http", "unmatched", "*")
    app.router.add_route("*", UNMATCHED_PATH, json_errors(unmatched, unmatched_recorder))
    return app
