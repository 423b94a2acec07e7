"""The hot-path contract is a type: code in the HTTP thread cannot ask for the runtime.

A handler of a hot route table, and a query served from one, is given the read-only
model; mypy rejects one that asks for the ``Runtime``, one that publishes into the
views, and one that reaches for the bus. The snippet below mixes allowed and rejected
lines; mypy must report exactly the rejected ones (so the check is not vacuous: the
allowed lines are the same code with the right type).
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

from mypy import api

# mypy's cache checks every entry against its source, so one kept between runs is
# safe; cold, the check takes a few seconds, warm a fraction of one
CACHE = Path(tempfile.gettempdir()) / f"virtuoso-mypy-hot-contract-{os.getuid()}"

SNIPPET = """
from typing import Any
from aiohttp import web
from virtuoso_daemon.core.runtime import ReadModel, Runtime
from virtuoso_daemon.http.queries import query_route
from virtuoso_daemon.http.routes import HotRoutes, LoopRoutes
from virtuoso_daemon.read.catalog import QuerySpec
from virtuoso_daemon.read.contract import NoQueryArgs
from virtuoso_daemon.read.model import HotModel

hot, loop = HotRoutes(), LoopRoutes()

def reads_views(m: ReadModel, a: Any) -> int: return len(m.views.keys())
def asks_actors(rt: Runtime, a: Any) -> int: return len(rt.bus.published)

@hot.get("/ok")
async def ok(request: web.Request, model: HotModel) -> web.Response:
    model.views.get("market.tickers")
    return web.Response()

@hot.get("/bad")  # REJECT (mypy reports a decorated function at its decorator)
async def wants_runtime(request: web.Request, rt: Runtime) -> web.Response:
    return web.Response()

@hot.get("/bad2")
async def publishes(request: web.Request, model: HotModel) -> web.Response:
    model.views.publish("x", 1)  # REJECT
    model.bus  # REJECT
    return web.Response()

@loop.get("/loop")
async def on_loop(request: web.Request, rt: Runtime) -> web.Response:
    return web.Response()

query_route(hot, "/q1", reads_views, NoQueryArgs)
query_route(hot, "/q2", asks_actors, NoQueryArgs)  # REJECT
query_route(loop, "/q3", reads_views, NoQueryArgs)
query_route(loop, "/q4", asks_actors, NoQueryArgs)
HOT: tuple[QuerySpec[ReadModel], ...] = (
    QuerySpec("a", "/a", NoQueryArgs, reads_views),
    QuerySpec("b", "/b", NoQueryArgs, asks_actors),  # REJECT
)
LOOP: tuple[QuerySpec[Runtime], ...] = (
    QuerySpec("c", "/c", NoQueryArgs, reads_views),
    QuerySpec("d", "/d", NoQueryArgs, asks_actors),
)
"""


def test_mypy_rejects_hot_code_that_asks_for_the_runtime() -> None:
    args = ["--config-file", "", "--follow-imports", "silent", "--ignore-missing-imports"]
    out, err, _ = api.run([*args, "--cache-dir", str(CACHE), "-c", SNIPPET])
    flagged = {int(n) for n in re.findall(r"^<string>:(\d+): error", out, re.M)}
    expected = {i for i, line in enumerate(SNIPPET.splitlines(), 1) if "# REJECT" in line}
    assert len(expected) == 5
    assert flagged == expected, out + err
