"""Signals area: ``/api/signals/whales``, ``/api/signals/walls``,
``/api/signals/manipulation`` (:mod:`..read.signals`; views only, so they run in the
HTTP thread). Alerts live in :mod:`.alerts`."""

from __future__ import annotations

from virtuoso_daemon.http.queries import query_route
from virtuoso_daemon.http.routes import HotRoutes
from virtuoso_daemon.read import signals as q

hot = HotRoutes()

query_route(hot, "/api/signals/whales", q.whales, q.WhalesArgs)
query_route(hot, "/api/signals/walls", q.walls, q.WallsArgs)
query_route(hot, "/api/signals/manipulation", q.manipulation, q.ManipulationArgs)
