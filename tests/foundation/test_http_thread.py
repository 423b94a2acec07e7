"""The HTTP server answers from its own thread: the handlers of the hot route tables
run there, given the read-only model; the loop tables' run on the main loop, given
the runtime. "While the main loop is busy" is shown by ordering, not by a stopwatch:
the main loop runs a pure-Python busy loop (holding the GIL except when the
interpreter forces a switch) and the request's answer is checked to arrive before
that loop ends.
"""

from __future__ import annotations

import threading
import time
import urllib.request
from typing import Any

import anyio
import anyio.to_thread
import pytest
from aiohttp import web

from tests.harness import running_daemon, test_config
from virtuoso_daemon.core.runtime import Runtime
from virtuoso_daemon.http import app as app_module
from virtuoso_daemon.http import catalog, market, system
from virtuoso_daemon.http.routes import HotRoutes, LoopRoutes, RouteTable
from virtuoso_daemon.read.model import HotModel

BUSY_SECONDS = 1.0  # how long the main loop is kept busy (an upper bound, not a figure)


def _get(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return resp.status, resp.read()


def _busy_main_loop(state: dict[str, Any]) -> None:
    """Burn CPU in Python bytecode on the calling (main) thread until told or timed out."""
    state["busy"] = True
    deadline = time.monotonic() + BUSY_SECONDS
    n = 0
    while time.monotonic() < deadline and not state.get("answered"):
        n += 1
    state["busy"] = False


async def _request_during_busy_loop(url: str) -> dict[str, Any]:
    state: dict[str, Any] = {}
    result: dict[str, Any] = {}

    def client() -> None:
        while not state.get("busy"):
            time.sleep(0.001)
        status, body = _get(url)
        result.update(status=status, body=body, busy_at_answer=state.get("busy"))
        state["answered"] = True

    t = threading.Thread(target=client)
    t.start()
    _busy_main_loop(state)  # runs on the event loop's thread: nothing else runs there
    await anyio.to_thread.run_sync(t.join, 10)
    return result


async def test_health_quick_is_answered_while_the_main_loop_is_busy() -> None:
    async with running_daemon(test_config()) as d:
        got = await _request_during_busy_loop(f"{d.base_url}/health/quick")
    assert got["status"] == 200 and b'"status":"ok"' in got["body"]
    assert got["busy_at_answer"] is True


async def test_a_handler_that_needs_the_main_loop_waits_for_it() -> None:
    async with running_daemon(test_config()) as d:
        got = await _request_during_busy_loop(f"{d.base_url}/api/system/status")
    assert got["status"] == 200 and b'"actors"' in got["body"]
    # status reads actor state, so it ran on the main loop: only once that was free
    assert got["busy_at_answer"] is False


def _paths(table: RouteTable) -> set[str]:
    return {route.path for route in table}


async def test_the_hot_read_paths_are_in_the_http_threads_tables() -> None:
    hot = _paths(market.hot) | _paths(catalog.hot) | _paths(system.hot)
    assert {
        "/api/market/tickers",
        "/api/market/ticker/{symbol:.+}",
        "/api/market/overview",
        "/api/market/movers",
        "/health/quick",
    } <= hot
    loop = _paths(catalog.routes) | _paths(system.routes)
    assert {
        "/api/market/ohlcv/{symbol:.+}",
        "/api/market/exchanges",
        "/api/system/status",
        "/api/system/config",
    } <= loop
    assert not hot & loop


async def test_the_table_decides_the_thread_and_what_the_handler_is_given(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: dict[str, tuple[str, object]] = {}
    hot, loop = HotRoutes(), LoopRoutes()

    @hot.get("/test/hot")
    async def in_thread(request: web.Request, model: HotModel) -> web.Response:
        seen["hot"] = (threading.current_thread().name, model)
        return web.json_response({})

    @loop.get("/test/loop")
    async def on_loop(request: web.Request, rt: Runtime) -> web.Response:
        seen["loop"] = (threading.current_thread().name, rt)
        return web.json_response({})

    monkeypatch.setattr(app_module, "AREAS", [*app_module.AREAS, lambda: hot, lambda: loop])
    async with running_daemon(test_config()) as d:
        for path in ("/test/hot", "/test/loop"):
            status, _ = await anyio.to_thread.run_sync(_get, d.base_url + path)
            assert status == 200
        main = threading.current_thread().name
        runtime = d.runtime
    thread, model = seen["hot"]
    assert thread == "virtuoso-http" and isinstance(model, HotModel)
    assert not hasattr(model, "bus") and not hasattr(model, "supervisor")
    assert seen["loop"] == (main, runtime)


async def test_the_server_thread_ends_with_the_daemon() -> None:
    before = set(threading.enumerate())
    async with running_daemon(test_config()) as d:
        status, _ = await anyio.to_thread.run_sync(_get, f"{d.base_url}/health/quick")
        assert status == 200
        ours = [t for t in threading.enumerate() if t.name == "virtuoso-http" and t not in before]
        assert len(ours) == 1
    assert not ours[0].is_alive()


async def test_with_api_thread_off_every_handler_runs_on_the_main_loop() -> None:
    before = set(threading.enumerate())
    async with running_daemon(test_config(api={"thread": False})) as d:
        got = await _request_during_busy_loop(f"{d.base_url}/health/quick")
        status, body = await anyio.to_thread.run_sync(_get, f"{d.base_url}/api/system/status")
        assert not [
            t for t in threading.enumerate() if t.name == "virtuoso-http" and t not in before
        ]
    assert got["status"] == 200 and got["busy_at_answer"] is False  # waited for the loop
    assert status == 200 and b'"thread":false' in body
