"""The HTTP server answers from its own thread; handlers that need actors run on the
main loop. "While the main loop is busy" is shown by ordering, not by a stopwatch: the
main loop runs a pure-Python busy loop (holding the GIL except when the interpreter
forces a switch) and the request's answer is checked to arrive before that loop ends.
"""

from __future__ import annotations

import threading
import time
import urllib.request
from typing import Any

import anyio
import anyio.to_thread
from aiohttp import web

from tests.harness import running_daemon, test_config
from virtuoso_daemon.http import catalog, market, system
from virtuoso_daemon.http.dispatch import runs_in_http_thread

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


def _handler(routes: web.RouteTableDef, path: str) -> Any:
    for route in routes:
        if isinstance(route, web.RouteDef) and route.path == path:
            return route.handler
    raise AssertionError(f"no route {path}")


async def test_the_hot_read_paths_are_the_ones_marked_for_the_http_thread() -> None:
    hot = {
        market.market_tickers,
        _handler(catalog.routes, "/api/market/ticker/{symbol:.+}"),
        _handler(catalog.routes, "/api/market/overview"),
        _handler(catalog.routes, "/api/market/movers"),
        system.health_quick,
    }
    for handler in hot:
        assert runs_in_http_thread(handler), handler.__name__
    cold = (
        _handler(catalog.routes, "/api/market/ohlcv/{symbol:.+}"),
        _handler(catalog.routes, "/api/market/exchanges"),
        system.status,
        system.config,
    )
    for handler in cold:
        assert not runs_in_http_thread(handler), handler.__name__


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
