"""Feeds against the simulator over loopback: streams, backfill, REST fallback, perps."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from tests.feeds.env import DIALECTS, by_symbol, feed_env
from virtuoso_daemon.core.bus import Topics
from virtuoso_daemon.core.messages import (
    Candle,
    CandleBatch,
    FeedStatus,
    Funding,
    OpenInterest,
    OrderBookTop,
    Ticker,
    Trade,
)
from virtuoso_daemon.sim import SimConfig

SPOT = ["BTC/USDT", "ETH/USDT", "SOL/USDT", "BNB/USDT", "XRP/USDT", "ADA/USDT"]


def _all_symbols_have(env: Any, topic: str, kind: type, n: int = 1) -> bool:
    got = by_symbol(env.rec.get(topic), kind)
    return all(len(got.get(s, [])) >= n for s in SPOT)


async def test_streams_deliver_every_kind_for_every_symbol_and_backfill_matches_the_sim() -> None:
    sim_cfg = SimConfig(seed=11, n_alts=5, speed=60.0, history_candles=2500)
    async with feed_env(("spot", "spot", {"backfill_candles": 2200}), sim_config=sim_cfg) as env:
        factory = env.feed("spot").ctx.factory
        # tickers for every symbol, and they keep moving
        await env.wait_for(
            lambda: _all_symbols_have(env, Topics.TICKERS, Ticker, 8), 15, "8 tickers per symbol"
        )
        tickers = by_symbol(env.rec.get(Topics.TICKERS), Ticker)
        for symbol, ts in tickers.items():
            assert len({t.ts for t in ts}) > 3, symbol
            assert all(t.exchange == "spot" and t.bid and t.ask and t.bid <= t.ask for t in ts)
            assert all(t.recv_ts > 0 for t in ts)
        # the other kinds, per symbol
        await env.wait_for(
            lambda: _all_symbols_have(env, Topics.TRADES, Trade, 3), 10, "trades per symbol"
        )
        await env.wait_for(
            lambda: _all_symbols_have(env, Topics.ORDERBOOK, OrderBookTop, 3), 10, "books"
        )
        books = by_symbol(env.rec.get(Topics.ORDERBOOK), OrderBookTop)
        for symbol, tops in books.items():
            top = tops[-1]
            assert top.bids and top.asks and top.bids[0][0] < top.asks[0][0], symbol
            assert len(top.bids) == 5 and top.bid_depth > 0 and top.ask_depth > 0
            assert top.mid is not None and top.bids[0][0] < top.mid < top.asks[0][0]

        def closed_candles() -> bool:
            got = by_symbol(env.rec.get(Topics.CANDLES), Candle)
            return all(sum(c.closed for c in got.get(s, [])) >= 2 for s in SPOT)

        await env.wait_for(closed_candles, 15, "two closed 1m candles per symbol")

        # backfill: 2200 candles in three pages per symbol (binance spot: 1000 per page)
        def backfilled() -> dict[str, list[CandleBatch]]:
            got = by_symbol(env.rec.get(Topics.CANDLE_HISTORY), CandleBatch)
            done = all(sum(len(b.rows) for b in got.get(s, [])) >= 2200 for s in SPOT)
            return got if done else {}

        batches = await env.wait_for(backfilled, 20, "2200 backfilled candles per symbol")
        for symbol in SPOT:
            pages = batches[symbol]
            # closed candles only: the open one is the stream's (200 + any that closed
            # while the pages were fetched)
            sizes = [len(p.rows) for p in pages]
            assert sizes[:2] == [1000, 1000] and 200 <= sizes[2] <= 230, (symbol, sizes)
            rows = [r for p in pages for r in p.rows]
            assert all(b[0] - a[0] == 60_000 for a, b in itertools.pairwise(rows))
            # what the simulator serves for the same range, fetched directly
            served: list[list[Any]] = []
            since = rows[0][0]
            while len(served) < len(rows):
                page = await env.sim_get(
                    "/api/v3/klines",
                    symbol=symbol.replace("/", ""),
                    interval="1m",
                    startTime=since,
                    limit=1000,
                )
                served += page
                since = page[-1][0] + 60_000
            expected = [
                (int(k[0]), float(k[1]), float(k[2]), float(k[3]), float(k[4]), float(k[5]))
                for k in served[: len(rows)]
            ]
            assert rows == expected, symbol

        status: FeedStatus = env.status("spot")
        assert status.state == "connected", status
        assert status.modes == dict.fromkeys(("tickers", "ohlcv", "trades", "orderbook"), "stream")
        assert status.symbols == SPOT and status.last_message_ts is not None
        assert any(isinstance(s, FeedStatus) for s in env.rec.get(Topics.FEED_STATUS))
        assert "feeds:spot" in env.runtime.stats
        assert env.restarts() == {"feeds:spot": 0, "feeds": 0}
        assert factory.live  # streaming instances are open while running
    # every ccxt instance was closed on shutdown (and no unclosed-session warning)
    assert not factory.live and factory.created == factory.closed


@pytest.mark.parametrize("dialect", ["binance", "okx"])
async def test_rest_fallback_delivers_the_same_kinds_when_streaming_is_off(dialect: str) -> None:
    # ccxt's limiter (kept on) paces the four pollers; 10 ms per unit keeps the test short
    opts = {"dialect": dialect, "streaming": False, "backfill_candles": 10, "rate_limit_ms": 10}
    async with feed_env(("spot", "spot", opts)) as env:
        await env.wait_for(
            lambda: _all_symbols_have(env, Topics.TICKERS, Ticker, 3), 15, "REST tickers"
        )
        await env.wait_for(
            lambda: _all_symbols_have(env, Topics.TRADES, Trade, 1), 15, "REST trades"
        )
        await env.wait_for(
            lambda: _all_symbols_have(env, Topics.ORDERBOOK, OrderBookTop, 1), 15, "REST books"
        )

        def closed() -> bool:
            got = by_symbol(env.rec.get(Topics.CANDLES), Candle)
            return all(any(c.closed for c in got.get(s, [])) for s in SPOT)

        await env.wait_for(closed, 20, "a REST-polled candle closing per symbol")
        status = env.status("spot")
        assert status.modes == dict.fromkeys(("tickers", "ohlcv", "trades", "orderbook"), "rest")
        assert status.state == "connected"
        # trades are never published twice by overlapping polls
        trades = [(t.symbol, t.id) for t in env.rec.get(Topics.TRADES)]
        assert len(trades) == len(set(trades))
        feed = env.feed("spot")
        assert len(feed.ctx.factory.live) == 1  # only the REST instance
        assert env.restarts() == {"feeds:spot": 0, "feeds": 0}


async def test_perpetuals_stream_and_deliver_funding_and_open_interest() -> None:
    perps = ["BTC/USDT:USDT", "ETH/USDT:USDT", "SOL/USDT:USDT"]
    opts = {
        "symbols": ["BTC/USDT", "ETHUSDT", "SOL/USDT:USDT"],  # spellings resolve to perps
        "kinds": ["tickers", "ohlcv"],
        "derivatives_refresh": 0.5,
        "backfill_candles": 1200,
    }
    async with feed_env(("perp", "linear", opts)) as env:

        def has_all(topic: str, kind: type, n: int) -> bool:
            got = by_symbol(env.rec.get(topic), kind)
            return all(len(got.get(s, [])) >= n for s in perps)

        await env.wait_for(lambda: has_all(Topics.TICKERS, Ticker, 3), 15, "perp tickers")
        await env.wait_for(lambda: has_all(Topics.FUNDING, Funding, 2), 15, "funding, twice")
        await env.wait_for(lambda: has_all(Topics.OPEN_INTEREST, OpenInterest, 2), 15, "OI")
        await env.wait_for(
            lambda: has_all(Topics.CANDLE_HISTORY, CandleBatch, 2), 15, "perp backfill"
        )
        f = by_symbol(env.rec.get(Topics.FUNDING), Funding)["BTC/USDT:USDT"][-1]
        assert f.rate is not None and f.mark_price and f.next_funding_ts
        oi = by_symbol(env.rec.get(Topics.OPEN_INTEREST), OpenInterest)["ETH/USDT:USDT"][-1]
        assert oi.amount and oi.amount > 0
        batches = by_symbol(env.rec.get(Topics.CANDLE_HISTORY), CandleBatch)
        # binanceusdm's profile pages klines by 1500 (ccxt's features say 500; the
        # same weight buys three times the rows), capped at the feeds' 1000; the sim
        # has 1000 closed 1m candles of history, so 1200 asked yields all of them
        pages = [len(b.rows) for b in batches["BTC/USDT:USDT"]]
        assert pages[0] == 1000 and sum(pages) >= 1000, pages
        status = env.status("perp")
        assert status.symbols == perps and status.market == "linear"
        assert status.modes == {
            "tickers": "stream",
            "ohlcv": "stream",
            "funding": "rest",
            "open_interest": "rest",
        }
        assert env.restarts() == {"feeds:perp": 0, "feeds": 0}


@pytest.mark.parametrize(("dialect", "market"), [("binance", "spot"), ("okx", "linear")])
async def test_top_n_by_quote_volume_and_periodic_refreshes(dialect: str, market: str) -> None:
    # OKX's swap tickers have no quote volume and count contracts (BTC 0.01, DOGE 1,000
    # coins each): ranked by base volume x contract size x last, the top is the same.
    # DOGE ranks second by volume here, ETH third with twice SOL's.
    sim = SimConfig(
        seed=11, symbols=["DOGE", "ETH", "SOL", "BNB", "XRP"], speed=60.0, dialects=DIALECTS
    )
    opts = {
        "dialect": dialect,
        "symbols": [],
        "top_n": 3,
        "top_refresh": 0.5,
        "markets_refresh": 0.5,
        "kinds": ["tickers"],
        "backfill_candles": 0,
    }
    async with feed_env(("top", market, opts), sim_config=sim) as env:
        feed = env.feed("top")
        await env.wait_for(
            lambda: feed.markets_loads >= 3 and feed.top_refreshes >= 2, 10, "refreshes"
        )
        engine = env.sim.engine
        kind = "spot" if market == "spot" else "futures"
        volume = engine.stats["quote_volume"]
        ranked = sorted(engine.universe.kind_markets(kind), key=lambda m: -float(volume[m.index]))
        expected = [m.symbol for m in ranked[:3]]
        assert env.status("top").symbols == expected
        await env.wait_for(
            lambda: {t.symbol for t in env.rec.get(Topics.TICKERS)} == set(expected),
            10,
            "tickers for the top 3",
        )
        assert env.restarts() == {"feeds:top": 0, "feeds": 0}


async def test_perpetual_tickers_carry_the_book_top_as_their_quote() -> None:
    # Binance futures' ticker stream has no bid/ask: the feed takes them from the book
    opts = {"symbols": ["BTC/USDT:USDT"], "kinds": ["tickers", "orderbook"], "backfill_candles": 0}
    async with feed_env(("perp", "linear", opts)) as env:

        def quoted() -> list[Ticker]:
            return [t for t in env.rec.get(Topics.TICKERS) if t.bid is not None]

        await env.wait_for(lambda: len(env.rec.get(Topics.ORDERBOOK)) >= 1, 15, "a book")
        await env.wait_for(lambda: len(quoted()) >= 2, 15, "tickers with a quote")
        t = quoted()[-1]
        assert t.ask is not None and t.bid < t.ask and t.bid_size and t.ask_size
        books = [b for b in env.rec.get(Topics.ORDERBOOK) if b.recv_ts <= t.recv_ts]
        assert any(b.bids[0][0] == t.bid and b.asks[0][0] == t.ask for b in books)
