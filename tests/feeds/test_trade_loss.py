"""Streamed trades are never lost silently.

Against the simulator (whose trade ids are consecutive per market) every trade the
exchange printed at ~40 trades/s per symbol is published exactly once; and where a
scanned trade cache overflows between two scans (an exchange without a trade hook),
the feed turns ``degraded`` and says what was lost.
"""

from __future__ import annotations

import json
import time

import pytest

from tests.feeds.env import by_symbol, feed_env
from tests.feeds.test_ticker_hook import _context, binance_on_sim
from virtuoso_daemon.core.bus import Topics
from virtuoso_daemon.core.messages import Trade
from virtuoso_daemon.feeds.cache_scan import CacheScan
from virtuoso_daemon.feeds.status import LOSS_HOLD, FeedHealth
from virtuoso_daemon.sim import SimConfig
from virtuoso_daemon.sim.encode import trade_event

SYMBOLS = ["BTC/USDT", "ETH/USDT", "SOL/USDT"]


@pytest.mark.parametrize("dialect", ["binance", "okx"])
async def test_every_streamed_trade_is_published_once_at_40_trades_per_second(
    dialect: str,
) -> None:
    # BTC prints trade_rate * speed = 40 trades per wall second
    sim_cfg = SimConfig(
        seed=5,
        n_alts=2,
        speed=10.0,
        trade_rate=4.0,
        max_trades_per_step=40,
        dialects=("binance", "okx"),
    )
    feed = {"dialect": dialect, "symbols": SYMBOLS, "kinds": ["trades"], "timeframes": ["1m"]}
    async with feed_env(("spot", "spot", feed), sim_config=sim_cfg) as env:

        def enough() -> bool:
            got = by_symbol(env.rec.get(Topics.TRADES), Trade)
            return len(got.get("BTC/USDT", [])) >= 160 and all(got.get(s) for s in SYMBOLS)

        await env.wait_for(enough, 20, "160 BTC trades and some of every symbol")
        for symbol, trades in by_symbol(env.rec.get(Topics.TRADES), Trade).items():
            ids = [int(t.id) for t in trades]
            # the simulator numbers each market's trades consecutively: no id missing
            # between the first and the last published, none published twice
            assert ids == list(range(ids[0], ids[0] + len(ids))), symbol
        status = env.status("spot")
        assert status.state == "connected" and status.modes["trades"] == "stream"
        assert "trades_lost" not in status.errors


async def test_a_trade_cache_that_overflows_between_scans_marks_the_feed_degraded() -> None:
    async with binance_on_sim() as (ex, sim, client):
        ctx, _ = _context(ex, ["BTC/USDT"], Topics.TRADES)
        ex.options["tradesLimit"] = 10  # a scanned exchange's cache
        scan = CacheScan(ctx, ex, ["BTC/USDT"])
        eng = sim.engine

        def push(n: int) -> None:
            sent = 0
            while sent < n:
                eng.tick(eng.t_ms + 1000)
                for t in eng.tick_trades[0]:
                    ex.handle_message(client, json.loads(trade_event(eng.markets[0], t, eng.t_ms)))
                    sent += 1

        push(5)
        assert scan.trades(None, time.time()) > 0
        ctx.health.ok("trades", "trades", time.time(), 1)
        assert ctx.health.state() == "connected"
        push(30)  # more than the cache keeps before the next scan
        scan.trades(None, time.time())
        assert ctx.health.errors["trades_lost"] == 1
        assert ctx.health.state() == "degraded"
        assert "trades lost: BTC/USDT" in ctx.health.detail()


def test_a_loss_keeps_the_feed_degraded_for_the_hold_time_only() -> None:
    health = FeedHealth("x", "spot", silent_timeout=1e9)
    now = time.time()
    health.ok("trades", "trades", now)
    health.lost("trades", "BTC/USDT: 12 trades", now=now)
    assert health.state(now + 1) == "degraded"
    assert "trades lost: BTC/USDT: 12 trades" in health.detail(now + 1)
    assert health.state(now + LOSS_HOLD + 1) == "connected"
    assert health.errors["trades_lost"] == 1  # the count stays
