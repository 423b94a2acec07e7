"""System area: liveness, status, redacted config."""

from __future__ import annotations

import msgspec
from aiohttp import web

from virtuoso_daemon.core.config import Config, redacted
from virtuoso_daemon.core.runtime import Runtime
from virtuoso_daemon.http.openapi import documented
from virtuoso_daemon.http.queries import query_route
from virtuoso_daemon.http.responses import json_response
from virtuoso_daemon.http.routes import HotRoutes, LoopRoutes
from virtuoso_daemon.read.contract import NoQueryArgs
from virtuoso_daemon.read.fix import FixArgs, fix
from virtuoso_daemon.read.logs import LogsArgs, logs
from virtuoso_daemon.read.model import HotModel
from virtuoso_daemon.read.system import SystemStatus, reload_config, system_status

hot = HotRoutes()
routes = LoopRoutes()


class Liveness(msgspec.Struct, frozen=True):
    status: str
    version: str
    uptime: float


@hot.get("/health/quick")
@documented(params=NoQueryArgs, response=Liveness)
async def health_quick(request: web.Request, model: HotModel) -> web.Response:
    return json_response(
        {"status": "ok", "version": model.version, "uptime": round(model.uptime(), 3)}
    )


@routes.get("/api/system/status")
@documented(params=NoQueryArgs, response=SystemStatus)
async def status(request: web.Request, rt: Runtime) -> web.Response:
    """Version, uptime, actors and restarts, bus drops and per-actor stats."""
    return json_response(system_status(rt))


@routes.get("/api/system/config")
@documented(params=NoQueryArgs, response=Config)
async def config(request: web.Request, rt: Runtime) -> web.Response:
    """The effective configuration, secrets replaced by ***.

    Its shape is the config's own (secrets are strings, so *** and "" fit it)."""
    return json_response(redacted(rt.config))


# state-changing: needs the API token (or a loopback client when none is set), .auth
query_route(routes, "/api/system/reload", reload_config, NoQueryArgs, method="POST")
query_route(routes, "/api/system/fix", fix, FixArgs, method="POST")
query_route(routes, "/api/system/logs", logs, LogsArgs)
