"""System area: liveness, status, redacted config."""

from __future__ import annotations

import asyncio

from aiohttp import web

from ..config import redacted
from ..event_loop import loop_name
from ..runtime import Runtime
from .dispatch import in_http_thread
from .keys import RUNTIME
from .responses import json_response

routes = web.RouteTableDef()


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def system_status(rt: Runtime) -> dict[str, object]:
    """The status document shared by the HTTP API and the control socket."""
    sup = rt.supervisor
    return {
        "version": rt.version,
        "uptime": round(rt.uptime(), 3),
        "started_at": rt.started_at,
        "demo": rt.config.daemon.demo,
        "event_loop": loop_name(_running_loop()),
        "actors": sup.status() if sup else [],
        "bus": {
            "drops": rt.bus.drops(),
            "total_drops": rt.bus.total_drops(),
            "published": dict(rt.bus.published),
            "tap_errors": {f"{name}/{topic}": n for (name, topic), n in rt.bus.tap_errors.items()},
        },
        "stats": {name: fn() for name, fn in rt.stats.items()},
    }


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
