"""Health area: ``GET /health`` (every check; 503 when critical) and ``GET /metrics``.

``/health`` reads the monitor's published report (:mod:`..read.health`), so it runs in
the HTTP thread and answers even while the main loop is busy; its status code is
what a load balancer or uptime probe acts on: 200 for ok and warning, 503 for
critical. ``/health/quick`` (in :mod:`.system`) stays the cheap liveness probe.

``/metrics`` is the Prometheus text format of ``runtime.metrics``: the request
instruments plus :class:`~..health.metrics.RuntimeCollector` and the process
collector, read at scrape time on the main loop (the actors' stats live there).
"""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, ProcessCollector, generate_latest

from virtuoso_daemon.core.errors import QueryError
from virtuoso_daemon.core.runtime import Runtime
from virtuoso_daemon.health.metrics import RuntimeCollector
from virtuoso_daemon.http.errors import ApiError
from virtuoso_daemon.http.openapi import documented
from virtuoso_daemon.http.responses import json_response
from virtuoso_daemon.http.routes import HotRoutes, LoopRoutes
from virtuoso_daemon.read.contract import NoQueryArgs, args_from_strings
from virtuoso_daemon.read.health import Health, HealthArgs, health
from virtuoso_daemon.read.model import HotModel

hot = HotRoutes()
routes = LoopRoutes()


@hot.get("/health")
@documented(
    params=HealthArgs,
    response=Health,
    summary="Every health check; 503 when critical",
    same_body_on=(503,),
)
async def health_full(request: web.Request, model: HotModel) -> web.Response:
    try:
        args = args_from_strings(HealthArgs, dict(request.query))
        doc = health(model, args)
    except QueryError as exc:
        raise ApiError(exc.status, exc.code, exc.message) from None
    return json_response(doc, status=503 if doc.status == "critical" else 200)


def install_collectors(rt: Runtime) -> None:
    """The scrape-time collectors, once per runtime."""
    rt.metrics.add_collector("runtime", RuntimeCollector(rt))
    rt.metrics.add_collector("process", ProcessCollector(registry=None))


@routes.get("/metrics")
@documented(params=NoQueryArgs, summary="Prometheus metrics", content_type=CONTENT_TYPE_LATEST)
async def metrics(request: web.Request, rt: Runtime) -> web.Response:
    if request.query:
        raise ApiError(400, "invalid_parameter", "/metrics takes no parameters")
    install_collectors(rt)
    body = generate_latest(rt.metrics.registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
