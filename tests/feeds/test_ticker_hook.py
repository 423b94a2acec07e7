"""Tickers and trades are published from inside ccxt's own websocket handler
(cache_scan.HookTable).

ccxt's real binance handler is fed a real simulator ticker event (the frame the
simulator would push), with the markets loaded from the simulator over loopback.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from ccxt.async_support.base.ws.client import Client

from virtuoso_daemon.core.bus import Topics
from virtuoso_daemon.core.config import ExchangeConfig, load_config
from virtuoso_daemon.core.runtime import Runtime
from virtuoso_daemon.feeds.cache_scan import CacheScan, HookTable
from virtuoso_daemon.feeds.context import FeedContext
from virtuoso_daemon.feeds.trade_cache import HOOKED_TRADES_LIMIT
from virtuoso_daemon.sim import SimConfig, make_ccxt_exchange
from virtuoso_daemon.sim.encode import ticker_event, trade_event
from virtuoso_daemon.sim.server import Simulator


@asynccontextmanager
async def binance_on_sim() -> AsyncIterator[tuple[Any, Simulator, Any]]:
    sim = Simulator(SimConfig(seed=7, n_alts=3, perpetuals=False))
    async with sim.running() as url:
        ex = make_ccxt_exchange(url, "spot", options={"watchTickers": {"name": "ticker"}})
        try:
            await ex.load_markets()
            ws_url = ex.urls["api"]["ws"]["spot"]
            noop = lambda *_: None  # noqa: E731
            client = Client(ws_url, noop, noop, noop, noop, {})
            yield ex, sim, client
        finally:
            await ex.close()


def _context(
    ex: Any, symbols: list[str], topic: str = Topics.TICKERS
) -> tuple[FeedContext, list[Any]]:
    rt = Runtime(config=load_config(None, environ={}))
    ctx = FeedContext(rt, ExchangeConfig(name="sim", symbols=symbols))
    ctx.rest = ex  # the feed's REST instance: timeframes are parsed with it
    ctx.set_symbols(symbols)
    seen: list[Any] = []
    rt.bus.tap(topic, seen.append)
    return ctx, seen


async def test_a_ticker_reaches_the_bus_inside_ccxts_handler() -> None:
    async with binance_on_sim() as (ex, sim, client):
        ctx, seen = _context(ex, ["BTC/USDT", "ETH/USDT"])
        notified: list[int] = []
        scan = CacheScan(ctx, ex, ["BTC/USDT", "ETH/USDT"])
        assert scan.hook_tickers(lambda recv, n: notified.append(n))
        assert isinstance(ex.tickers, HookTable)
        frame = json.loads(ticker_event(sim.engine, 0))  # BTCUSDT, as pushed
        ex.handle_message(client, frame)
        # no await since: the message is on the bus and ccxt's cache has it too
        assert [t.symbol for t in seen] == ["BTC/USDT"] and notified == [1]
        assert seen[0].last == float(frame["c"]) and seen[0].ts == frame["C"]
        assert ex.tickers["BTC/USDT"]["last"] == seen[0].last
        # the safety-net scan finds nothing new: the hook already published it
        assert scan.tickers(None, 0.0) == 0


async def test_a_failing_publish_is_counted_and_ccxt_keeps_its_ticker() -> None:
    async with binance_on_sim() as (ex, sim, client):
        ctx, _ = _context(ex, ["BTC/USDT"])

        def broken(symbol: str, raw: Any, recv: float) -> int:
            raise RuntimeError("bug downstream")

        ctx.on_ticker = broken  # type: ignore[method-assign]
        scan = CacheScan(ctx, ex, ["BTC/USDT"])
        scan.hook_tickers(lambda recv, n: None)
        ex.handle_message(client, json.loads(ticker_event(sim.engine, 0)))
        assert ex.tickers["BTC/USDT"]["symbol"] == "BTC/USDT"
        assert ctx.health.errors["ticker_hook"] == 1 and scan.hook_errors == 1


async def test_tickers_of_symbols_the_feed_does_not_watch_are_not_published() -> None:
    async with binance_on_sim() as (ex, sim, client):
        ctx, seen = _context(ex, ["ETH/USDT"])
        scan = CacheScan(ctx, ex, ["ETH/USDT"])
        scan.hook_tickers(lambda recv, n: None)
        ex.handle_message(client, json.loads(ticker_event(sim.engine, 0)))  # BTC
        assert seen == [] and "BTC/USDT" in ex.tickers


async def test_each_trade_reaches_the_bus_as_ccxt_stores_it_and_its_cache_stays_small() -> None:
    async with binance_on_sim() as (ex, sim, client):
        ctx, seen = _context(ex, ["BTC/USDT"], Topics.TRADES)
        scan = CacheScan(ctx, ex, ["BTC/USDT"])
        assert scan.hook_trades(lambda recv, n: None)
        eng, sent = sim.engine, []
        while len(sent) < 3 * HOOKED_TRADES_LIMIT:
            eng.tick(eng.t_ms + 1000)
            sent += [
                json.loads(trade_event(eng.markets[0], t, eng.t_ms)) for t in eng.tick_trades[0]
            ]
        for frame in sent:
            ex.handle_message(client, frame)
        assert [t.id for t in seen] == [str(f["t"]) for f in sent]  # every one, in order
        assert len(ex.trades["BTC/USDT"]) == HOOKED_TRADES_LIMIT
        assert scan.trades(None, 0.0) == 0 and ctx.health.errors["trades_overflow"] == 0
