"""Dashboard area: ``/api/dashboard/overview`` (the parts registry of
:mod:`..read.dashboard`) and ``/api/dashboard/cache-stats``."""

from __future__ import annotations

from virtuoso_daemon.http.queries import query_route
from virtuoso_daemon.http.routes import HotRoutes, LoopRoutes
from virtuoso_daemon.read.dashboard import CacheStatsArgs, OverviewArgs, cache_stats, overview

routes = LoopRoutes()
hot = HotRoutes()

query_route(routes, "/api/dashboard/overview", overview, OverviewArgs)
query_route(hot, "/api/dashboard/cache-stats", cache_stats, CacheStatsArgs)
