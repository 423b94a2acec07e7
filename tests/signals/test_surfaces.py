"""/api/signals/whales|walls|manipulation, the socket's ``signals.*`` and
``virtuoso-ctl signals``, against a real daemon (signals actor, HTTP API, control
socket) fed real bus messages: same answer and error code on every surface."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import anyio
import pytest

from tests.control.helpers import run_ctl
from tests.harness import DaemonHandle, running_daemon, test_config
from tests.health.test_surfaces import samples
from virtuoso_daemon.control import ControlActor
from virtuoso_daemon.core.bus import Topics
from virtuoso_daemon.core.messages import OrderBookTop, Trade
from virtuoso_daemon.core.supervisor import ActorSpec
from virtuoso_daemon.http.server import HttpApiActor
from virtuoso_daemon.protocol import CommandError, ControlClient
from virtuoso_daemon.signals.actor import SignalsActor

SPECS = [
    ActorSpec("signals", SignalsActor),
    ActorSpec("http_api", HttpApiActor),
    ActorSpec("control", ControlActor),
]
EX = "sim-perp"
SYM = "ALT/USDT:USDT"
T0 = 1_700_000_000_000


def trade(i: int, amount: float, side: str = "buy") -> Trade:
    return Trade(
        exchange=EX,
        symbol=SYM,
        id=str(i),
        price=100.0,
        amount=amount,
        side=side,  # type: ignore[arg-type]
        ts=T0 + i * 500,
        recv_ts=0.0,
    )


def book(t: float, walls: list[tuple[float, float, float]]) -> OrderBookTop:
    return OrderBookTop(
        exchange=EX,
        symbol=SYM,
        bids=[(99.9, 1.0)],
        asks=[(100.1, 1.0)],
        bid_depth=100.0,
        ask_depth=100.0,
        depth_pct=1.0,
        spread=0.2,
        mid=100.0,
        ts=T0 + int(t * 1000),
        recv_ts=0.0,
        bid_walls=walls,
        bid_edge=95.0,
        ask_edge=105.0,
    )


async def get(d: DaemonHandle, path: str) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as http, http.get(d.base_url + path) as resp:
        return resp.status, await resp.json()


async def feed(d: DaemonHandle) -> None:
    """300 ordinary trades, one 250k sell whale, a bid wall that is then pulled."""
    bus = d.runtime.bus
    for i in range(300):
        await bus.publish(Topics.TRADES, trade(i, 1.0 + (i % 7) * 0.3, "buy" if i % 2 else "sell"))
    with anyio.fail_after(10):  # the sizes are measured before the whale comes
        while d.runtime.stats["signals"]()["trades"] < 300:
            await anyio.sleep(0.02)
    await bus.publish(Topics.TRADES, trade(301, 2_500.0, "sell"))
    await bus.publish(Topics.ORDERBOOK, book(0, [(99.0, 5_000.0, 150.0)]))
    await bus.publish(Topics.ORDERBOOK, book(60, []))
    with anyio.fail_after(10):
        while True:
            doc = d.runtime.views.value("signals.walls") or {"recent": []}
            whales = d.runtime.views.value("signals.whales") or {"whales": []}
            if doc["recent"] and whales["whales"]:
                return
            await anyio.sleep(0.05)


async def test_whales_and_walls_are_the_same_on_http_the_socket_and_ctl() -> None:
    cfg = test_config()
    async with running_daemon(cfg, SPECS) as d:
        await feed(d)
        status, http_whales = await get(d, f"/api/signals/whales?symbol={SYM}&side=sell")
        assert status == 200
        [w] = http_whales["whales"]
        assert (w["side"], w["usd"], w["type"], w["trade_id"]) == (
            "sell",
            250_000.0,
            "single",
            "301",
        )
        status, http_walls = await get(d, "/api/signals/walls?state=ended")
        assert status == 200 and http_walls["active"] == []
        assert [(r["price"], r["outcome"]) for r in http_walls["recent"]] == [(99.0, "pulled")]
        async with ControlClient.connect(d.runtime.socket_path) as client:
            assert (
                await client.call("signals.whales", {"symbol": SYM, "side": "sell"}) == http_whales
            )
            assert await client.call("signals.walls", {"state": "ended"}) == http_walls
        sock = ["--socket", str(d.runtime.socket_path)]
        rc, out, err = await run_ctl("signals", "whales", *sock)
        assert rc == 0, err
        assert SYM in out and "sell" in out and "250.0K" in out
        rc, out, err = await run_ctl("signals", "walls", *sock)
        assert rc == 0 and "pulled" in out, err
        rc, out, err = await run_ctl("--json", "signals", "walls", "--state", "ended", *sock)
        assert rc == 0 and json.loads(out) == http_walls
        stats = d.runtime.stats["signals"]()
        assert stats["whales"] == 1 and stats["walls_pulled"] == 1
        assert stats["conditions_by_kind"]["whale_trade"] == 1
        async with aiohttp.ClientSession() as http, http.get(d.base_url + "/metrics") as resp:
            scrape = samples(await resp.text())
        assert scrape[("virtuoso_signal_events_total", (("event", "whales"),))] == 1
        assert scrape[("virtuoso_signal_events_total", (("event", "walls_pulled"),))] == 1
        assert scrape[("virtuoso_signal_conditions_total", (("kind", "whale_trade"),))] == 1
        assert scrape[("virtuoso_signal_messages_total", (("kind", "trades"),))] == 301


@pytest.mark.parametrize(
    ("path", "cmd", "args", "status", "code"),
    [
        ("/api/signals/whales?side=up", "signals.whales", {"side": "up"}, 400, "invalid_parameter"),
        ("/api/signals/whales?limit=0", "signals.whales", {"limit": 0}, 400, "invalid_parameter"),
        (
            "/api/signals/whales?min_usd=-5",
            "signals.whales",
            {"min_usd": -5},
            400,
            "invalid_parameter",
        ),
        (
            "/api/signals/walls?state=gone",
            "signals.walls",
            {"state": "gone"},
            400,
            "invalid_parameter",
        ),
        (
            "/api/signals/manipulation?min_score=2",
            "signals.manipulation",
            {"min_score": 2},
            400,
            "invalid_parameter",
        ),
        (
            "/api/signals/manipulation?symbol=NOPE/USDT",
            "signals.manipulation",
            {"symbol": "NOPE/USDT"},
            404,
            "unknown_symbol",
        ),
    ],
)
async def test_bad_input_is_the_same_error_on_http_and_the_socket(
    path: str, cmd: str, args: dict[str, Any], status: int, code: str
) -> None:
    async with running_daemon(test_config(), SPECS) as d:
        got_status, body = await get(d, path)
        assert (got_status, body["error"]["code"]) == (status, code)
        async with ControlClient.connect(d.runtime.socket_path) as client:
            with pytest.raises(CommandError) as err:
                await client.call(cmd, args)
        assert err.value.code == code
