"""The common fixes: each target asks the owning actors to act and says what they did;
the same answer on HTTP, the socket and virtuoso-ctl (whose exit code says if one failed)."""

from __future__ import annotations

import os
import sys
from typing import Any

import aiohttp
import anyio
import msgspec
import pytest

from tests.harness import MemcachedProcess, running_daemon, test_config
from virtuoso_daemon.core.bus import Topics
from virtuoso_daemon.core.config import Config
from virtuoso_daemon.core.messages import Ticker
from virtuoso_daemon.protocol import CommandError, ControlClient


def _demo(memcached: MemcachedProcess | None = None) -> Config:
    return test_config(
        memcached=memcached,
        daemon={"demo": True},
        demo={"n_alts": 3, "speed": 60.0, "seed": 5, "port": 0},
    )


async def _post_fix(base_url: str, **query: str) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as http:
        async with http.post(base_url + "/api/system/fix", params=query) as resp:
            return resp.status, await resp.json()


async def _next_ticker(d: Any, exchange: str) -> Ticker:
    with d.runtime.bus.subscribe(Topics.TICKERS, name="test", maxsize=10_000) as sub:
        with anyio.fail_after(20):
            while True:
                t = await sub.receive()
                if isinstance(t, Ticker) and t.exchange == exchange:
                    return t


async def test_fix_all_runs_every_target_and_says_what_each_did(
    memcached: MemcachedProcess,
) -> None:
    async with running_daemon(_demo(memcached)) as d:
        await _next_ticker(d, "sim-spot")
        status, report = await _post_fix(d.base_url)
    assert status == 200 and report["ok"] and report["target"] == "all"
    done = [(a["target"], a["action"]) for a in report["actions"]]
    assert done == [
        ("cache", "cache.rewarm"),
        ("connection", "feeds.reconnect"),
        ("connection", "feeds.reconnect"),
        ("timeout", "feeds.reset_backoff"),
        ("timeout", "feeds.reset_backoff"),
        ("dashboard", "cache.rewarm"),
    ]
    cache = report["actions"][0]["result"]
    assert cache["tickers"] > 0 and cache["memcached"] == "up" and not cache["reconnecting"]
    assert {a["result"]["exchange"] for a in report["actions"][1:3]} == {"sim-spot", "sim-perp"}


async def test_fix_connection_reconnects_the_feed_and_data_flows_again() -> None:
    async with running_daemon(_demo()) as d:
        await _next_ticker(d, "sim-spot")
        feed = d.supervisor.actor("feeds:sim-spot")
        before = feed.ctx
        async with ControlClient.connect(d.runtime.socket_path) as client:
            report = await client.call("fix", {"target": "connection", "exchange": "sim-spot"})
        assert report["ok"] and report["actions"][0]["result"]["reconnecting"]
        with anyio.fail_after(10):
            while feed.ctx is before:  # a new connection context: new clients, backoffs
                await anyio.sleep(0.05)
        await _next_ticker(d, "sim-spot")
        assert d.supervisor.runners["feeds:sim-spot"].restarts == 0  # not a crash


async def test_fix_timeout_reopens_a_closed_rate_gate() -> None:
    async with running_daemon(_demo()) as d:
        await _next_ticker(d, "sim-perp")
        gate = d.supervisor.actor("feeds:sim-perp").ctx.gate
        gate.close_for(120)  # as a 429 with Retry-After: 120 would
        status, report = await _post_fix(d.base_url, target="timeout", exchange="sim-perp")
        assert gate.remaining() == 0
    assert status == 200 and report["ok"]
    assert 100 < report["actions"][0]["result"]["gate_was_closed_for"] <= 120


async def test_fix_cache_reconnects_memcached_now_when_it_is_down(
    own_memcached: MemcachedProcess,
) -> None:
    cfg = _demo(own_memcached)
    # a long backoff: without the fix, the cache would wait this long to retry
    slow = msgspec.structs.replace(cfg.memcached, reconnect_initial=30.0, reconnect_max=60.0)
    cfg = msgspec.structs.replace(cfg, memcached=slow)
    async with running_daemon(cfg) as d:
        cache = d.supervisor.actor("ticker_cache")
        own_memcached.stop()
        with anyio.fail_after(15):
            while cache.state != "down":
                await anyio.sleep(0.05)
        own_memcached.start()
        status, report = await _post_fix(d.base_url, target="cache")
        assert status == 200 and report["actions"][0]["result"]["reconnecting"]
        with anyio.fail_after(10):
            while cache.state != "up":
                await anyio.sleep(0.05)


async def test_an_unknown_exchange_is_404_on_http_and_the_same_code_on_the_socket() -> None:
    async with running_daemon(_demo()) as d:
        status, body = await _post_fix(d.base_url, target="connection", exchange="nope")
        async with ControlClient.connect(d.runtime.socket_path) as client:
            with pytest.raises(CommandError) as info:
                await client.call("fix", {"target": "connection", "exchange": "nope"})
    assert status == 404 and body["error"]["code"] == info.value.code == "unknown_exchange"
    assert body["error"]["message"] == info.value.message


async def test_a_bad_target_is_a_400_naming_the_parameter() -> None:
    async with running_daemon(_demo()) as d:
        status, body = await _post_fix(d.base_url, target="everything")
    assert status == 400 and body["error"]["message"].startswith("target:")


async def test_ctl_fix_exits_1_when_an_owner_does_not_answer() -> None:
    from tests.control.helpers import control_specs

    # no ticker cache in this tree: the cache fix cannot be done, and must say so
    async with running_daemon(test_config(), control_specs()) as d:
        env = {**os.environ, "VIRTUOSO_DAEMON__SOCKET": str(d.runtime.socket_path)}
        argv = [sys.executable, "-m", "virtuoso_daemon.ctl", "fix", "cache"]
        proc = await anyio.run_process(argv, env=env, check=False)
    out = proc.stdout.decode()
    assert proc.returncode == 1, out
    assert "cache.rewarm" in out and "FAILED" in out and "unavailable" in out
