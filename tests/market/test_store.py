"""Market store actor over the real bus: candles, trades, books, closes, persistence."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import anyio
import msgspec
import numpy as np
import pytest

from tests.harness import running_daemon, short_tmpdir, test_config
from tests.market.helpers import (
    BATCH_RECV_TS,
    HOUR,
    NOW_H,
    eventually,
    exchange_cfg,
    market_config,
    market_specs,
)
from virtuoso_daemon.core.bus import RequestError, Topics
from virtuoso_daemon.core.messages import (
    Candle,
    CandleBatch,
    Funding,
    OpenInterest,
    OrderBookTop,
    Trade,
)
from virtuoso_daemon.core.runtime import Runtime
from virtuoso_daemon.core.supervisor import ActorSpec
from virtuoso_daemon.feeds.requests import ListFeeds
from virtuoso_daemon.market import persistence as disk
from virtuoso_daemon.market import requests
from virtuoso_daemon.market.actor import STORE_QUERIES, MarketStoreActor
from virtuoso_daemon.market.store_requests import Closes, Persist
from virtuoso_daemon.read import market as queries
from virtuoso_daemon.read.market_answers import Ohlcv


def batch(symbol: str, hours: range, *, exchange: str = "binance", tf: str = "1h") -> CandleBatch:
    rows = [(NOW_H + k * HOUR, 100.0 + k, 101.0 + k, 99.0 + k, 100.5 + k, 10.0 + k) for k in hours]
    return CandleBatch(
        exchange=exchange, symbol=symbol, timeframe=tf, rows=rows, recv_ts=BATCH_RECV_TS
    )


def candle(symbol: str, k: int, close: float, closed: bool) -> Candle:
    return Candle(
        exchange="binance",
        symbol=symbol,
        timeframe="1h",
        open_time=NOW_H + k * HOUR,
        open=close,
        high=close + 1,
        low=close - 1,
        close=close,
        volume=1.0,
        closed=closed,
        recv_ts=time.time(),
    )


def store_cfg(tmp: Path | None = None, **store: Any) -> Any:
    ex = exchange_cfg("binance", ["BTC/USDT", "ETH/USDT", "SOL/USDT"], timeframes=["1h", "1d"])
    return market_config(tmp, exchanges=[ex], store={"persist_interval": 3600.0, **store})


async def ohlcv_count(rt: Runtime, n: int, symbol: str = "BTC/USDT", **kw: Any) -> Ohlcv:
    return await eventually(lambda: queries.ohlcv(rt, symbol, "1h", **kw), lambda r: r.count >= n)


async def test_backfill_and_live_candles_are_served_oldest_first() -> None:
    async with running_daemon(store_cfg(), market_specs(http=False, cache=False)) as d:
        rt = d.runtime
        rt.bus.publish_nowait(Topics.CANDLES, batch("BTC/USDT", range(-9, 1)))
        got = await ohlcv_count(rt, 10, limit=50)
        assert [c[0] for c in got.candles] == [NOW_H + k * HOUR for k in range(-9, 1)]
        assert got.candles[0] == [NOW_H - 9 * HOUR, 91.0, 92.0, 90.0, 91.5, 1.0]
        assert got.open_candle is True  # the current hour has not ended
        assert got.columns == ["open_time", "open", "high", "low", "close", "volume"]

        # the open candle updates in place, then closes; the next one opens
        rt.bus.publish_nowait(Topics.CANDLES, candle("BTC/USDT", 0, 150.0, closed=False))
        rt.bus.publish_nowait(Topics.CANDLES, candle("BTC/USDT", 0, 151.0, closed=True))
        rt.bus.publish_nowait(Topics.CANDLES, candle("BTC/USDT", 1, 152.0, closed=False))
        got = await ohlcv_count(rt, 11, limit=50)
        assert [c[4] for c in got.candles[-2:]] == [151.0, 152.0]
        assert got.open_candle is True

        # limit = the newest n; since = the first n from then on
        last3 = await queries.ohlcv(rt, "BTCUSDT", "1h", limit=3)
        assert [c[0] for c in last3.candles] == [NOW_H + k * HOUR for k in (-1, 0, 1)]
        since = await queries.ohlcv(rt, "BTC-USDT", "1h", limit="2", since=str(NOW_H - 5 * HOUR))
        assert [c[0] for c in since.candles] == [NOW_H - 5 * HOUR, NOW_H - 4 * HOUR]


async def test_trades_books_funding_and_open_interest_are_bounded_and_newest_first() -> None:
    async with running_daemon(store_cfg(trades=5), market_specs(http=False, cache=False)) as d:
        rt, bus = d.runtime, d.runtime.bus
        now = time.time()
        for i in range(12):
            bus.publish_nowait(
                Topics.TRADES,
                Trade(
                    exchange="binance",
                    symbol="ETH/USDT",
                    id=str(i),
                    price=2000.0 + i,
                    amount=1.0,
                    side="buy",
                    ts=1000 + i,
                    recv_ts=now,
                ),
            )
        got = await eventually(
            lambda: queries.trades(rt, "ETH/USDT"),
            lambda r: r.count and r.trades[0].id == "11",
        )
        assert [t.id for t in got.trades] == ["11", "10", "9", "8", "7"]
        assert (await queries.trades(rt, "ETHUSDT", limit=2)).count == 2

        for i in range(3):
            bus.publish_nowait(
                Topics.ORDERBOOK,
                OrderBookTop(
                    exchange="binance",
                    symbol="ETH/USDT",
                    bids=[(1999.0 + i, 1.0)],
                    asks=[(2001.0 + i, 2.0)],
                    bid_depth=10.0,
                    ask_depth=12.0,
                    depth_pct=0.01,
                    spread=2.0,
                    mid=2000.0 + i,
                    ts=5000 + i,
                    recv_ts=now,
                ),
            )
        book = await eventually(
            lambda: queries.orderbook(rt, "ETH/USDT", history=10),
            lambda r: len(r.history.rows) == 3,
        )
        assert book.top.mid == 2002.0
        assert [r[0] for r in book.history.rows] == [5000, 5001, 5002]
        assert book.history.rows[-1][1:] == [2002.0, 2.0, 10.0, 12.0]

        bus.publish_nowait(
            Topics.FUNDING,
            Funding(
                exchange="binance",
                symbol="ETH/USDT",
                rate=0.0001,
                mark_price=2000.0,
                index_price=1999.0,
                next_funding_ts=None,
                ts=1,
                recv_ts=now,
            ),
        )
        bus.publish_nowait(
            Topics.OPEN_INTEREST,
            OpenInterest(
                exchange="binance", symbol="ETH/USDT", amount=5.0, value=1e4, ts=1, recv_ts=now
            ),
        )
        with anyio.fail_after(5):
            while not queries.funding(rt).count or not queries.open_interest(rt).count:
                await anyio.sleep(0.02)
        assert queries.funding(rt, "binance", "ETHUSDT").funding[0].rate == 0.0001
        assert queries.open_interest(rt).open_interest[0].value == 1e4

        # only the amount (Binance's openInterest): the notional is amount x mark price,
        # without the float noise of the product (0.30000000000000004 x 2000)
        bus.publish_nowait(
            Topics.OPEN_INTEREST,
            OpenInterest(
                exchange="binance", symbol="ETH/USDT", amount=0.1 * 3, value=None, ts=2, recv_ts=now
            ),
        )
        with anyio.fail_after(5):
            while queries.open_interest(rt).open_interest[0].ts != 2:
                await anyio.sleep(0.02)
        assert queries.open_interest(rt).open_interest[0].value == 600.0


async def test_closes_matrix_is_aligned_with_nan_for_gaps_and_open_candles() -> None:
    async with running_daemon(store_cfg(), market_specs(http=False, cache=False)) as d:
        rt = d.runtime
        rt.bus.publish_nowait(Topics.CANDLES, batch("BTC/USDT", range(-5, 1)))
        rt.bus.publish_nowait(Topics.CANDLES, batch("ETH/USDT", range(-5, -2)))  # stops early
        await ohlcv_count(rt, 3, "ETH/USDT")
        await ohlcv_count(rt, 6)
        times, closes = await requests.closes(
            rt, "binance", "1h", ["BTC/USDT", "ETH/USDT", "NOPE/USDT"], 4
        )
        # the newest closed candle is the previous hour; the current one is still open
        assert times.tolist() == [NOW_H + k * HOUR for k in (-4, -3, -2, -1)]
        assert closes.shape == (3, 4)
        assert closes[0].tolist() == [96.5, 97.5, 98.5, 99.5]
        assert closes[1, :2].tolist() == [96.5, 97.5] and np.isnan(closes[1, 2:]).all()
        assert np.isnan(closes[2]).all()
        times, closes = await requests.closes(
            rt, "binance", "1h", ["BTC/USDT"], 2, closed_only=False
        )
        assert times[-1] == NOW_H and closes[0].tolist() == [99.5, 100.5]


async def test_store_rejects_bad_requests_without_crashing() -> None:
    async with running_daemon(store_cfg(), market_specs(http=False, cache=False)) as d:
        bus = d.runtime.bus
        with pytest.raises(RequestError) as err:  # a timeframe the store cannot align
            await bus.request(
                STORE_QUERIES, Closes(exchange="binance", timeframe="7x", symbols=["A"], n=3)
            )
        assert err.value.code == "bad_request"
        with pytest.raises(RequestError) as err:
            await bus.request(STORE_QUERIES, ListFeeds())  # not a store request
        assert err.value.code == "unknown_command"
        with pytest.raises(msgspec.ValidationError):  # out of range: cannot even be built
            msgspec.convert(
                {"exchange": "binance", "timeframe": "1h", "symbols": [], "n": 0}, Closes
            )
        assert d.supervisor.runners["market_store"].restarts == 0
        assert d.runtime.stats["market_store"]()["query_errors"] == 2


async def test_candles_survive_a_restart_without_refetching() -> None:
    tmp = short_tmpdir()
    cfg = store_cfg(tmp)
    async with running_daemon(cfg, market_specs(http=False, cache=False)) as d:
        rt = d.runtime
        rt.bus.publish_nowait(Topics.CANDLES, batch("BTC/USDT", range(-99, 1)))
        rt.bus.publish_nowait(Topics.CANDLES, batch("SOL/USDT", range(-30, -1), tf="1d"))
        before = await ohlcv_count(rt, 100, limit=500)
    # shutdown wrote them (persist_interval is an hour, so only the final flush did)
    files = sorted(p.name for p in disk.candles_dir(tmp / "state").rglob("*.npz"))
    assert files == ["BTC-USDT.npz", "SOL-USDT.npz"]

    async with running_daemon(cfg, market_specs(http=False, cache=False)) as d:
        rt = d.runtime
        # nothing is published: the candles come back from the state directory
        after = await queries.ohlcv(rt, "BTC/USDT", "1h", limit=500)
        assert after.candles == before.candles
        assert after.open_candle is True
        stats = rt.stats["market_store"]()
        assert stats["loaded"]["series"] == 2 and stats["candles"] == 0
        cov = await queries.coverage(rt, "binance")
        assert cov["binance"]["BTC/USDT"]["1h"]["count"] == 100
        assert cov["binance"]["BTC/USDT"]["1h"]["last_closed"] == NOW_H - HOUR


async def test_periodic_and_requested_persistence_write_atomically(tmp_path: Path) -> None:
    tmp = short_tmpdir()
    cfg = store_cfg(tmp, persist_interval=0.1)
    state = tmp / "state"
    async with running_daemon(cfg, market_specs(http=False, cache=False)) as d:
        rt = d.runtime
        rt.bus.publish_nowait(Topics.CANDLES, batch("ETH/USDT", range(-4, 1)))
        path = disk.series_path(state, "binance", "ETH/USDT", "1h")
        with anyio.fail_after(5):
            while not path.exists():
                await anyio.sleep(0.02)
        assert disk.load_series(path).times.size == 5
        rt.bus.publish_nowait(Topics.CANDLES, batch("ETH/USDT", range(-6, -4)))
        await ohlcv_count(rt, 7, "ETH/USDT")
        result = await rt.bus.request(STORE_QUERIES, Persist())
        assert result["files"] in (0, 1)  # the periodic writer may have got there first
        assert disk.load_series(path).times.size == 7
        assert not list(path.parent.glob(f"*{disk.TMP_MARK}*"))


async def test_a_persist_run_writes_every_series_batch_by_batch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("virtuoso_daemon.market.persister.PERSIST_BATCH", 2)
    tmp = short_tmpdir()
    state = tmp / "state"
    async with running_daemon(store_cfg(tmp), market_specs(http=False, cache=False)) as d:
        rt = d.runtime
        symbols = ["BTC/USDT", "ETH/USDT", "SOL/USDT"]
        for sym in symbols:
            rt.bus.publish_nowait(Topics.CANDLES, batch(sym, range(-4, 0)))
        for sym in symbols:
            await ohlcv_count(rt, 4, sym)
        result = await rt.bus.request(STORE_QUERIES, Persist())
        assert result["files"] == 3  # two batches: 2 + 1
        for sym in symbols:
            path = disk.series_path(state, "binance", sym, "1h")
            assert disk.load_series(path).times.size == 4
        assert (await rt.bus.request(STORE_QUERIES, Persist()))["files"] == 0  # all noted


async def test_unreadable_files_are_skipped_and_temp_files_removed() -> None:
    tmp = short_tmpdir()
    state = tmp / "state"
    good = disk.series_path(state, "binance", "BTC/USDT", "1h")
    t = np.array([NOW_H - HOUR, NOW_H], dtype=np.int64)
    disk.save_series(
        good,
        exchange="binance",
        symbol="BTC/USDT",
        timeframe="1h",
        times=t,
        values=np.ones((2, 5)),
        closed=np.array([True, False]),
    )
    bad = disk.series_path(state, "binance", "ETH/USDT", "1h")
    bad.write_bytes(b"PK\x03\x04 torn in half")
    stale = good.with_name(good.name + disk.TMP_MARK + "999")
    stale.write_bytes(b"half")
    async with running_daemon(store_cfg(tmp), market_specs(http=False, cache=False)) as d:
        stats = d.runtime.stats["market_store"]()
        assert stats["loaded"] == {**stats["loaded"], "series": 1, "corrupt": 1}
        got = await queries.ohlcv(d.runtime, "BTC/USDT", "1h")
        assert got.count == 2 and math.isclose(got.candles[0][4], 1.0)
    assert not stale.exists()


async def test_reload_with_a_smaller_store_keeps_the_newest_candles() -> None:
    async with running_daemon(store_cfg(), market_specs(http=False, cache=False)) as d:
        rt = d.runtime
        rt.bus.publish_nowait(Topics.CANDLES, batch("BTC/USDT", range(-9, 1)))
        await ohlcv_count(rt, 10)
        new = store_cfg(candles=4, trades=3)
        rt.config = new
        await d.supervisor.actor("market_store").reconfigure(new)
        got = await queries.ohlcv(rt, "BTC/USDT", "1h", limit=4)
        assert [c[0] for c in got.candles] == [NOW_H + k * HOUR for k in range(-3, 1)]
        assert rt.stats["market_store"]()["capacity"] == 4


async def test_store_candles_per_timeframe_bound_each_ring_and_the_ohlcv_limit() -> None:
    minute, hour = 60_000, 3_600_000
    start = 1_700_000_000_000 // hour * hour
    cfg = test_config(
        store={"candles": {"1m": 3, "*": 5}},
        exchanges=[{"name": "x", "symbols": ["BTC/USDT"], "timeframes": ["1m", "1h"]}],
    )
    async with running_daemon(cfg, [ActorSpec("market_store", MarketStoreActor)]) as d:
        rt = d.runtime
        for tf, step in (("1m", minute), ("1h", hour)):
            rows = [(start + i * step, 1.0, 1.0, 1.0, 100.0 + i, 1.0) for i in range(10)]
            msg = CandleBatch(exchange="x", symbol="BTC/USDT", timeframe=tf, rows=rows, recv_ts=2e9)
            await rt.bus.publish(Topics.CANDLE_HISTORY, msg)
        with anyio.fail_after(5):
            while (await queries.ohlcv(rt, "BTC/USDT", "1h", limit=5)).count < 5:
                await anyio.sleep(0.01)
        one_minute = await queries.ohlcv(rt, "BTC/USDT", "1m", limit=3)
        assert [c[4] for c in one_minute.candles] == [107.0, 108.0, 109.0]
        with pytest.raises(queries.QueryError, match="limit"):
            await queries.ohlcv(rt, "BTC/USDT", "1m", limit=4)  # more than 1m keeps
        one_hour = await queries.ohlcv(rt, "BTC/USDT", "1h", limit=5)
        assert [c[4] for c in one_hour.candles] == [105.0 + i for i in range(5)]


async def test_closes_longer_than_the_ring_fill_the_newest_end_and_leave_older_nan() -> None:
    """Asking for more closes than ``store.candles`` keeps must not blank the symbol."""
    hour = 3_600_000
    start = 1_700_000_000_000 // hour * hour
    rows = [(start + i * hour, 1.0, 1.0, 1.0, 100.0 + i, 1.0) for i in range(10)]
    cfg = test_config(
        store={"candles": 8},
        exchanges=[{"name": "x", "symbols": ["BTC/USDT"], "timeframes": ["1h"]}],
    )
    async with running_daemon(cfg, [ActorSpec("market_store", MarketStoreActor)]) as d:
        batch = CandleBatch(exchange="x", symbol="BTC/USDT", timeframe="1h", rows=rows, recv_ts=2e9)
        await d.runtime.bus.publish(Topics.CANDLES, batch)
        with anyio.fail_after(5):
            while True:
                times, closes = await requests.closes(d.runtime, "x", "1h", ["BTC/USDT"], 12)
                if times.size and not np.isnan(closes[0, -1]):
                    break
                await anyio.sleep(0.01)
    assert times[-1] == start + 9 * hour
    assert np.isnan(closes[0, :4]).all()  # older than the 8 slots the ring keeps
    assert closes[0, 4:].tolist() == [102.0 + i for i in range(8)]


def test_a_trade_window_gives_back_the_newest_trades_newest_first() -> None:
    from virtuoso_daemon.core.messages import Trade
    from virtuoso_daemon.market.trades import TradeWindow

    def trade(i: int, tid: str | None = None) -> Trade:
        side = ("buy", "sell", None)[i % 3]
        return Trade(
            exchange="ex",
            symbol="BTC/USDT",
            id=tid or str(1_000_000 + i),
            price=100.0 + i / 7,
            amount=0.001 * i,
            side=side,  # type: ignore[arg-type]
            ts=1_700_000_000_000 + i,
            recv_ts=1_700_000_000.5 + i,
        )

    window = TradeWindow("ex", "BTC/USDT", 5)
    sent = [trade(i) for i in range(7)] + [trade(7, "a-7"), trade(8, "007"), trade(9, "0")]
    for t in sent:
        window.append(t)
    assert len(window) == 5
    assert window.last(50) == list(reversed(sent[-5:]))  # ids, sides and floats exact
    assert window.last(2) == [sent[-1], sent[-2]]
    assert window.resized(3).last(10) == list(reversed(sent[-3:]))
