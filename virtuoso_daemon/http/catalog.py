"""HTTP routes for every row of the read layer's query catalog.

One ``query_route`` per :class:`~virtuoso_daemon.read.catalog.QuerySpec`: path
parameters (``{symbol}`` matches slashes too, so ``BTC/USDT`` works raw) and the URL
query become the row's argument struct; unknown parameters are a 400. The catalog's
hot rows go in the hot table (HTTP thread), the rest in the loop table.
"""

from __future__ import annotations

from virtuoso_daemon.http.queries import query_route
from virtuoso_daemon.http.routes import HotRoutes, LoopRoutes
from virtuoso_daemon.read.catalog import HOT_QUERIES, LOOP_QUERIES

routes = LoopRoutes()
hot = HotRoutes()


def _path(path: str) -> str:
    return path.replace("{symbol}", "{symbol:.+}")


for spec in LOOP_QUERIES:
    query_route(routes, _path(spec.path), spec.fn, spec.args)
for hot_spec in HOT_QUERIES:
    query_route(hot, _path(hot_spec.path), hot_spec.fn, hot_spec.args)
