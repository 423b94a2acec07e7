"""System area: liveness, status, redacted config."""

from __future__ import annotations

from aiohttp import web

from virtuoso_daemon.core.config import redacted
from virtuoso_daemon.http.dispatch import in_http_thread
from virtuoso_daemon.http.keys import RUNTIME
from virtuoso_daemon.http.responses import json_response
from virtuoso_daemon.read.system import system_status

routes = web.RouteTableDef()


@routes.get("/health/quick")
@in_http_thread
async def health_quick(request: web.Request) -> web.Response:
    rt = request.app[RUNTIME]
    return json_response({"status": "ok", "version": rt.version, "uptime": round(rt.uptime(), 3)})


@routes.get("/api/system/status")
async def status(request: web.Request) -> web.Response:
    return json_response(system_status(request.app[RUNTIME]))


@routes.get("/api/system/config")
async def config(request: web.Request) -> web.Response:
    return json_response(redacted(request.app[RUNTIME].config))
