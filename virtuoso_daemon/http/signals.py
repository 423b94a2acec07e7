"""Signals area: ``/api/signals/whales``, ``/api/signals/walls``,
``/api/signals/manipulation`` (:mod:`..read.signals`; views only, so they run in the
HTTP thread). Alerts live in :mod:`.alerts`."""

from __future__ import annotations

from aiohttp import web

from virtuoso_daemon.http.queries import query_route
from virtuoso_daemon.read import signals as q

routes = web.RouteTableDef()

query_route(routes, "/api/signals/whales", q.whales, q.WhalesArgs, hot=True)
query_route(routes, "/api/signals/walls", q.walls, q.WallsArgs, hot=True)
query_route(routes, "/api/signals/manipulation", q.manipulation, q.ManipulationArgs, hot=True)
