"""The dashboard and system areas: one overview call built from registered parts, the
cache stats, and the recent logs (filtered), the same on HTTP and the socket."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import aiohttp
import anyio
import pytest

from tests.harness import running_daemon, test_config
from virtuoso_daemon.core.config import Config
from virtuoso_daemon.core.errors import QueryError
from virtuoso_daemon.protocol import CommandError, ControlClient
from virtuoso_daemon.read import dashboard


def _demo() -> Config:
    return test_config(
        daemon={"demo": True}, demo={"n_alts": 3, "speed": 60.0, "seed": 5, "port": 0}
    )


# what the issue asks of a dashboard's first screen, each answered (not an error)
FIRST_SCREEN = ("market", "movers", "betas", "regime", "alerts", "health")


async def _get(url: str) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as http, http.get(url) as resp:
        return resp.status, await resp.json()


@pytest.fixture
def extra_parts() -> Iterator[None]:
    def broken(rt: Any) -> Any:
        raise QueryError("not_ready", "nothing yet", 503)

    dashboard.register_part("test_ok", lambda rt: {"answer": 42})
    dashboard.register_part("test_not_ready", broken)
    yield
    for name in ("test_ok", "test_not_ready"):
        dashboard._PARTS.pop(name)


async def test_the_overview_has_the_first_screens_parts_once_warmed_up() -> None:
    async with running_daemon(_demo()) as d:
        with anyio.fail_after(30):
            while True:
                status, doc = await _get(d.base_url + "/api/dashboard/overview")
                if all("error" not in doc[p] for p in FIRST_SCREEN):
                    break
                await anyio.sleep(0.2)
    assert status == 200 and set(FIRST_SCREEN) <= set(doc["parts"])
    assert doc["market"]["exchange"] in ("sim-spot", "sim-perp")
    assert doc["movers"]["gainers"] is not None
    assert doc["betas"]["rows"] and "beta" in doc["betas"]["rows"][0]
    assert doc["regime"]["label"]
    assert doc["health"]["status"] in ("ok", "warning", "critical")
    assert isinstance(doc["alerts"]["alerts"], list)


async def test_a_part_that_is_not_ready_says_so_in_its_place(extra_parts: None) -> None:
    async with running_daemon(test_config()) as d:
        status, doc = await _get(
            d.base_url + "/api/dashboard/overview?parts=test_ok,test_not_ready"
        )
        async with ControlClient.connect(d.runtime.socket_path) as client:
            same = await client.call("dashboard.overview", {"parts": "test_ok,test_not_ready"})
    assert status == 200 and doc["parts"] == ["test_ok", "test_not_ready"]
    assert doc["test_ok"] == {"answer": 42}
    assert doc["test_not_ready"] == {"error": {"code": "not_ready", "message": "nothing yet"}}
    assert same["test_not_ready"] == doc["test_not_ready"] and same["test_ok"] == doc["test_ok"]


async def test_an_unknown_part_is_a_400_naming_it() -> None:
    async with running_daemon(test_config()) as d:
        status, body = await _get(d.base_url + "/api/dashboard/overview?parts=nope")
    assert status == 400 and "nope" in body["error"]["message"]


async def test_cache_stats_show_the_cache_and_each_views_age() -> None:
    async with running_daemon(_demo()) as d:
        with anyio.fail_after(20):
            while d.runtime.views.get("market.tickers") is None:
                await anyio.sleep(0.1)
        status, doc = await _get(d.base_url + "/api/dashboard/cache-stats")
    assert status == 200 and doc["cache"]["state"] in ("disabled", "up", "down", "connecting")
    assert doc["views"]["market.tickers"]["age"] >= 0
    assert doc["views"]["market.tickers"]["version"] >= 1


async def test_recent_logs_are_filtered_by_level_actor_and_text() -> None:
    async with running_daemon(test_config()) as d:
        log = logging.getLogger("virtuoso.test")
        log.warning("needle in the %s", "haystack")
        log.info("needle but only info")
        status, doc = await _get(
            d.base_url + "/api/system/logs?level=warning&contains=NEEDLE&logger=virtuoso.test"
        )
        async with ControlClient.connect(d.runtime.socket_path) as client:
            same = await client.call(
                "logs.recent", {"level": "warning", "contains": "NEEDLE", "logger": "virtuoso.test"}
            )
            with pytest.raises(CommandError) as info:
                await client.call("logs.recent", {"level": "loud"})
        status_bad, bad = await _get(d.base_url + "/api/system/logs?level=loud")
    assert bad["error"]["code"] == "invalid_parameter"
    assert status == 200 and doc["matched"] == 1
    [record] = doc["records"]
    assert record["message"] == "needle in the haystack" and record["level"] == "warning"
    assert same["records"] == doc["records"]
    assert doc["capacity"] == d.runtime.config.api.recent_logs
    assert status_bad == 400 and info.value.code == bad["error"]["code"]


async def test_recent_logs_keep_only_the_newest() -> None:
    async with running_daemon(test_config(api={"recent_logs": 100})) as d:
        for i in range(250):
            logging.getLogger("virtuoso.test").warning("line %d", i)
        status, doc = await _get(d.base_url + "/api/system/logs?logger=virtuoso.test&limit=5")
    assert (
        status == 200
        and doc["kept"] == 100
        and [r["message"] for r in doc["records"]][-1] == "line 249"
    )
    assert len(doc["records"]) == 5
