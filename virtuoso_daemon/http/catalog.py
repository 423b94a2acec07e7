"""HTTP routes for every row of the read layer's query catalog.

One ``query_route`` per :class:`~virtuoso_daemon.read.catalog.QuerySpec`: path
parameters (``{symbol}`` matches slashes too, so ``BTC/USDT`` works raw) and the URL
query become the row's argument struct; unknown parameters are a 400.
"""

from __future__ import annotations

from aiohttp import web

from virtuoso_daemon.http.queries import query_route
from virtuoso_daemon.read.catalog import CATALOG

routes = web.RouteTableDef()

for spec in CATALOG:
    query_route(
        routes, spec.path.replace("{symbol}", "{symbol:.+}"), spec.fn, spec.args, hot=spec.hot
    )
