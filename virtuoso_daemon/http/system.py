"""System area: liveness, status, redacted config."""

from __future__ import annotations

import msgspec
from aiohttp import web

from virtuoso_daemon.core.config import redacted
from virtuoso_daemon.http.dispatch import in_http_thread
from virtuoso_daemon.http.keys import RUNTIME
from virtuoso_daemon.http.openapi import documented
from virtuoso_daemon.http.queries import query_route
from virtuoso_daemon.http.responses import json_response
from virtuoso_daemon.read.contract import NoQueryArgs
from virtuoso_daemon.read.fix import FixArgs, fix
from virtuoso_daemon.read.logs import LogsArgs, logs
from virtuoso_daemon.read.system import reload_config, system_status

routes = web.RouteTableDef()


class Liveness(msgspec.Struct, frozen=True):
    status: str
    version: str
    uptime: float


@routes.get("/health/quick")
@in_http_thread
@documented(params=NoQueryArgs, response=Liveness)
async def health_quick(request: web.Request) -> web.Response:
    rt = request.app[RUNTIME]
    return json_response({"status": "ok", "version": rt.version, "uptime": round(rt.uptime(), 3)})


@routes.get("/api/system/status")
@documented(params=NoQueryArgs)
async def status(request: web.Request) -> web.Response:
    """Version, uptime, actors and restarts, bus drops and per-actor stats."""
    return json_response(system_status(request.app[RUNTIME]))


@routes.get("/api/system/config")
@documented(params=NoQueryArgs)
async def config(request: web.Request) -> web.Response:
    """The effective configuration, secrets replaced by ***."""
    return json_response(redacted(request.app[RUNTIME].config))


# state-changing: needs the API token (or a loopback client when none is set), .auth
query_route(routes, "/api/system/reload", reload_config, NoQueryArgs, method="POST")
query_route(routes, "/api/system/fix", fix, FixArgs, method="POST")
query_route(routes, "/api/system/logs", logs, LogsArgs)
