"""Dashboard area: ``/api/dashboard/overview`` (the parts registry of
:mod:`..read.dashboard`) and ``/api/dashboard/cache-stats``."""

from __future__ import annotations

from typing import Any

from virtuoso_daemon.http.openapi import ObjectOf, return_type
from virtuoso_daemon.http.queries import query_route
from virtuoso_daemon.http.routes import HotRoutes, LoopRoutes
from virtuoso_daemon.read.dashboard import (
    CacheStatsArgs,
    OverviewArgs,
    PartFailed,
    cache_stats,
    overview,
    part_answers,
)

routes = LoopRoutes()
hot = HotRoutes()


def overview_members() -> dict[str, tuple[Any, ...]]:
    """The overview's members for /api/openapi.json: each registered part is its
    answer (the return type of its function; any JSON when it has none) or its error."""
    members: dict[str, tuple[Any, ...]] = {"ts": (float,), "parts": (list[str],)}
    for name, like in part_answers().items():
        members[name] = (return_type(like), PartFailed)
    return members


query_route(
    routes,
    "/api/dashboard/overview",
    overview,
    OverviewArgs,
    response=ObjectOf("DashboardOverview", overview_members, required=("ts", "parts")),
)
query_route(hot, "/api/dashboard/cache-stats", cache_stats, CacheStatsArgs)
