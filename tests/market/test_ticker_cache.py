"""Ticker cache with a real memcached: writes, outages, re-warm, warm restart."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import aiomcache
import anyio
import msgspec
import pytest

from tests.harness import MemcachedProcess, free_port, running_daemon, short_tmpdir, test_config
from tests.market.helpers import (
    exchange_cfg,
    make_ticker,
    market_config,
    market_specs,
    wait_until,
)
from virtuoso_daemon.core.bus import Topics
from virtuoso_daemon.core.config import Config, memcached_prefix
from virtuoso_daemon.core.errors import QueryError
from virtuoso_daemon.core.messages import FeedStatus, OrderBookTop
from virtuoso_daemon.core.runtime import Runtime
from virtuoso_daemon.read import market as queries
from virtuoso_daemon.tickers.memcached import (
    aggregate_decoder,
    aggregate_key,
    ticker_decoder,
    ticker_key,
)

SYMBOLS = ["BTC/USDT", "ETH/USDT", "SOL/USDT"]
PREFIX = "vt:"


def cache_cfg(mc: MemcachedProcess | None, **memcached: Any) -> Config:
    mc_section = {
        "key_prefix": PREFIX,
        "flush_interval": 0.05,
        "reconnect_initial": 0.05,
        "reconnect_max": 0.2,
        **memcached,
    }
    return market_config(
        None, mc, exchanges=[exchange_cfg("binance", SYMBOLS)], memcached_settings=mc_section
    )


@asynccontextmanager
async def mc_client(mc: MemcachedProcess) -> AsyncIterator[aiomcache.Client]:
    client = aiomcache.Client("127.0.0.1", mc.port)
    try:
        yield client
    finally:
        await client.close()


async def mc_get(mc: MemcachedProcess, key: bytes) -> bytes | None:
    async with mc_client(mc) as client:
        value: bytes | None = await client.get(key)
        return value


def publish_all(rt: Runtime, price: float) -> None:
    for i, sym in enumerate(SYMBOLS):
        rt.bus.publish_nowait(Topics.TICKERS, make_ticker(sym, price + i, change_pct=i - 1.0))


async def wait_in_memcached(mc: MemcachedProcess, symbol: str, price: float) -> None:
    with anyio.fail_after(5):
        while True:
            raw = await mc_get(mc, ticker_key(PREFIX, "binance", symbol))
            if raw is not None and ticker_decoder.decode(raw).last == price:
                return
            await anyio.sleep(0.02)


async def test_tickers_reach_memcached_and_the_api_in_batches(memcached: MemcachedProcess) -> None:
    async with (
        running_daemon(cache_cfg(memcached), market_specs(store=False)) as d,
        aiohttp.ClientSession() as http,
    ):
        rt = d.runtime
        for k in range(50):  # one symbol ticking fast: one write per flush, not per tick
            rt.bus.publish_nowait(Topics.TICKERS, make_ticker("BTC/USDT", 100.0 + k))
        publish_all(rt, 200.0)
        await wait_in_memcached(memcached, "BTC/USDT", 200.0)
        await wait_in_memcached(memcached, "SOL/USDT", 202.0)
        # the documented key scheme, readable by any process
        raw = await mc_get(memcached, b"vt:ticker:binance:ETH-USDT")
        assert raw is not None and ticker_decoder.decode(raw).last == 201.0
        agg_raw = await mc_get(memcached, aggregate_key(PREFIX, "binance"))
        assert agg_raw is not None
        agg = aggregate_decoder.decode(agg_raw)
        assert [t.symbol for t in agg.tickers] == sorted(SYMBOLS)
        stats = rt.stats["ticker_cache"]()
        assert stats["state"] == "up" and stats["received"] == 53
        assert stats["writes"] < stats["received"]

        async with http.get(f"{d.base_url}/api/market/tickers") as resp:
            body = await resp.json()
        assert resp.status == 200 and body["count"] == 3
        assert {t["symbol"]: t["last"] for t in body["tickers"]} == {
            "BTC/USDT": 200.0,
            "ETH/USDT": 201.0,
            "SOL/USDT": 202.0,
        }
        async with http.get(f"{d.base_url}/api/market/cache") as resp:
            state = await resp.json()
        assert state["state"] == "up" and state["errors"] == 0


async def test_memcached_outage_never_fails_the_api_and_the_cache_is_refilled(
    own_memcached: MemcachedProcess,
) -> None:
    mc = own_memcached
    async with (
        running_daemon(cache_cfg(mc), market_specs(store=False)) as d,
        aiohttp.ClientSession() as http,
    ):
        rt = d.runtime
        publish_all(rt, 100.0)
        await wait_in_memcached(mc, "ETH/USDT", 101.0)

        mc.stop()
        statuses: list[int] = []
        publish_all(rt, 300.0)  # new values while memcached is gone
        with anyio.fail_after(10):
            while queries.cache_state(rt).state != "down":
                async with http.get(f"{d.base_url}/api/market/ticker/ETHUSDT") as resp:
                    statuses.append(resp.status)
                await anyio.sleep(0.02)
        down = queries.cache_state(rt)
        assert down.last_error and down.errors >= 1
        for path in ("/api/market/tickers", "/api/market/ticker/ETH-USDT", "/api/system/status"):
            async with http.get(f"{d.base_url}{path}") as resp:
                statuses.append(resp.status)
                if path.endswith("ETH-USDT"):
                    assert (await resp.json())["ticker"]["last"] == 301.0
                if path.endswith("status"):
                    assert (await resp.json())["stats"]["ticker_cache"]["state"] == "down"
        assert set(statuses) == {200}

        mc.start()  # an empty memcached on the same port
        await wait_until(lambda: queries.cache_state(rt).state == "up", timeout=10)
        await wait_in_memcached(mc, "ETH/USDT", 301.0)
        await wait_in_memcached(mc, "BTC/USDT", 300.0)
        assert await mc_get(mc, aggregate_key(PREFIX, "binance")) is not None
        stats = rt.stats["ticker_cache"]()
        assert stats["reconnects"] >= 1 and stats["rewarms"] >= 1


async def test_flushed_memcached_is_rewarmed(memcached: MemcachedProcess) -> None:
    async with running_daemon(
        cache_cfg(memcached, key_prefix="vt-flush:"), market_specs(store=False, http=False)
    ) as d:
        rt = d.runtime
        rt.bus.publish_nowait(Topics.TICKERS, make_ticker("SOL/USDT", 42.0))
        key = ticker_key("vt-flush:", "binance", "SOL/USDT")
        with anyio.fail_after(5):
            while await mc_get(memcached, key) is None:
                await anyio.sleep(0.02)
        async with mc_client(memcached) as client:
            await client.delete(key)
            await client.delete(b"vt-flush:cache:epoch")  # what a restart or flush_all loses
        with anyio.fail_after(5):
            while await mc_get(memcached, key) is None:
                await anyio.sleep(0.05)
        assert rt.stats["ticker_cache"]()["rewarms"] >= 1


async def test_the_liveness_key_outlives_its_ttl_while_the_daemon_runs(
    memcached: MemcachedProcess,
) -> None:
    cfg = cache_cfg(memcached, key_prefix="vt-alive:", ttl=2)
    async with running_daemon(cfg, market_specs(store=False, http=False)) as d:
        stats = d.runtime.stats
        # a probe a second: four of them span twice the TTL
        await wait_until(lambda: stats["ticker_cache"]()["hits"] >= 4, timeout=15)
        assert stats["ticker_cache"]()["rewarms"] == 0  # never "lost our keys"


async def test_ticker_keys_are_per_exchange_and_expire_ttl_after_the_daemon_stops(
    memcached: MemcachedProcess,
) -> None:
    ttl, prefix = 2, "vt-ttl:"
    cfg = market_config(
        None,
        memcached,
        exchanges=[exchange_cfg("binance", SYMBOLS), exchange_cfg("okx", SYMBOLS)],
        memcached_settings={"key_prefix": prefix, "flush_interval": 0.05, "ttl": ttl},
    )
    keys = {ex: ticker_key(prefix, ex, "BTC/USDT") for ex in ("binance", "okx")}
    async with running_daemon(cfg, market_specs(store=False, http=False)) as d:
        written = time.monotonic()  # the keys' last write is after this
        for ex, price in (("binance", 100.0), ("okx", 200.0)):
            d.runtime.bus.publish_nowait(Topics.TICKERS, make_ticker(exchange=ex, last=price))

        async def prices() -> dict[str, float | None]:
            raw = {ex: await mc_get(memcached, key) for ex, key in keys.items()}
            return {ex: ticker_decoder.decode(v).last if v else None for ex, v in raw.items()}

        with anyio.fail_after(5):
            while await prices() != {"binance": 100.0, "okx": 200.0}:
                await anyio.sleep(0.02)
        for ex in keys:
            agg = await mc_get(memcached, aggregate_key(prefix, ex))
            assert agg is not None
            assert {t.exchange for t in aggregate_decoder.decode(agg).tickers} == {ex}
    stopped = time.monotonic()
    # the daemon is gone, its tickers are not: until the TTL runs out
    assert await prices() == {"binance": 100.0, "okx": 200.0}
    with anyio.fail_after(ttl + 2):
        while await prices() != {"binance": None, "okx": None}:
            await anyio.sleep(0.05)
    # memcached's clock ticks in whole seconds: an expiry can come up to 1 s early
    assert time.monotonic() - written >= ttl - 1, time.monotonic() - stopped


def test_two_daemons_on_one_machine_get_their_own_key_prefix() -> None:
    a = test_config(short_tmpdir())
    b = test_config(short_tmpdir())
    assert memcached_prefix(a) != memcached_prefix(b)
    assert memcached_prefix(a).startswith("virtuoso:") and memcached_prefix(a).endswith(":")
    assert memcached_prefix(a) == memcached_prefix(a)  # stable across restarts
    named = msgspec.structs.replace(
        a, memcached=msgspec.structs.replace(a.memcached, key_prefix="prod:")
    )
    assert memcached_prefix(named) == "prod:"


async def test_warm_restart_serves_last_known_tickers_before_any_feed_message(
    memcached: MemcachedProcess,
) -> None:
    cfg = cache_cfg(memcached, key_prefix="vt-warm:")
    agg_key = aggregate_key("vt-warm:", "binance")
    async with running_daemon(cfg, market_specs(store=False, http=False)) as d:
        for i, sym in enumerate(SYMBOLS):
            d.runtime.bus.publish_nowait(Topics.TICKERS, make_ticker(sym, 10.0 + i))
        # a value received long ago (older than the TTL by the time it is restored)
        old = msgspec.structs.replace(make_ticker("OLD/USDT", 1.0), recv_ts=time.time() - 3600)
        d.runtime.bus.publish_nowait(Topics.TICKERS, old)
        with anyio.fail_after(5):
            while True:
                raw = await mc_get(memcached, agg_key)
                if raw is not None and len(aggregate_decoder.decode(raw).tickers) == 4:
                    break
                await anyio.sleep(0.02)

    async with (
        running_daemon(cfg, market_specs(store=False)) as d,
        aiohttp.ClientSession() as http,
    ):
        # no ticker has been published in this daemon: these come from memcached
        async with http.get(f"{d.base_url}/api/market/tickers") as resp:
            body = await resp.json()
        last = {t["symbol"]: t["last"] for t in body["tickers"]}
        assert {s: last[s] for s in SYMBOLS} == {
            "BTC/USDT": 10.0,
            "ETH/USDT": 11.0,
            "SOL/USDT": 12.0,
        }
        assert body["restored"] == body["count"]
        async with http.get(f"{d.base_url}/api/market/ticker/SOLUSDT") as resp:
            one = await resp.json()
        assert one["restored"] is True and one["ticker"]["last"] == 12.0
        assert d.runtime.stats["ticker_cache"]()["restored"] == 4

        d.runtime.bus.publish_nowait(Topics.TICKERS, make_ticker("SOL/USDT", 13.0))
        await wait_until(
            lambda: ("binance", "SOL/USDT") not in queries.snapshot(d.runtime).restored
        )
        got = queries.ticker(d.runtime, "SOL/USDT")
        assert got.restored is False and got.ticker.last == 13.0
        assert queries.snapshot(d.runtime).index[("binance", "BTC/USDT")].last == 10.0
        # the restored value older than the TTL is dropped; fresher ones stay
        await wait_until(lambda: len(queries.snapshot(d.runtime).tickers) == 3)
        assert ("binance", "OLD/USDT") not in queries.snapshot(d.runtime).index


async def test_unreachable_memcached_at_start_is_reported_and_startup_not_stalled() -> None:
    nobody = MemcachedProcess.__new__(MemcachedProcess)
    nobody.port = free_port()  # nothing listens here
    started = time.monotonic()
    async with running_daemon(cache_cfg(nobody), market_specs(store=False)) as d:
        assert time.monotonic() - started < 5
        await wait_until(lambda: queries.cache_state(d.runtime).state == "down")
        d.runtime.bus.publish_nowait(Topics.TICKERS, make_ticker("BTC/USDT", 5.0))
        await wait_until(lambda: queries.snapshot(d.runtime).tickers)
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{d.base_url}/api/market/ticker/BTCUSDT") as resp:
                assert resp.status == 200


async def test_disabled_memcached_means_memory_only() -> None:
    async with running_daemon(cache_cfg(None), market_specs(store=False, http=False)) as d:
        d.runtime.bus.publish_nowait(Topics.TICKERS, make_ticker("BTC/USDT", 7.0))
        await wait_until(lambda: queries.snapshot(d.runtime).tickers)
        state = queries.cache_state(d.runtime)
        assert state.state == "disabled" and state.enabled is False
        assert state.writes == 0 and state.errors == 0


async def test_snapshot_stays_in_exchange_symbol_order_whatever_order_tickers_arrive() -> None:
    arrivals = [("kraken", "ETH/USDT"), ("binance", "SOL/USDT"), ("binance", "BTC/USDT")]
    async with running_daemon(cache_cfg(None), market_specs(store=False, http=False)) as d:
        rt = d.runtime
        for n, (exchange, sym) in enumerate(arrivals * 2):  # new symbols, then updates
            rt.bus.publish_nowait(Topics.TICKERS, make_ticker(sym, 1.0 + n, exchange=exchange))
        await wait_until(lambda: [t.last for t in queries.snapshot(rt).tickers] == [6.0, 5.0, 4.0])
        snap = queries.snapshot(rt)
        view = rt.views.get("market.tickers")
        assert view is not None
    assert [(t.exchange, t.symbol) for t in snap.tickers] == sorted(arrivals)
    body = msgspec.json.decode(view.body)
    assert body["count"] == 3
    assert [(t["exchange"], t["symbol"], t["last"]) for t in body["tickers"]] == [
        ("binance", "BTC/USDT", 6.0),
        ("binance", "SOL/USDT", 5.0),
        ("kraken", "ETH/USDT", 4.0),
    ]


async def test_a_symbol_the_feed_stopped_watching_is_no_longer_served() -> None:
    async with running_daemon(cache_cfg(None), market_specs(store=False, http=False)) as d:
        rt = d.runtime
        publish_all(rt, 10.0)
        await wait_until(lambda: len(queries.snapshot(rt).tickers) == 3)
        # `symbols remove binance SOL/USDT`: the feed's status lists the rest
        status = FeedStatus(exchange="binance", state="connected", symbols=SYMBOLS[:2], ts=1.0)
        rt.bus.publish_nowait(Topics.FEED_STATUS, status)
        await wait_until(lambda: len(queries.snapshot(rt).tickers) == 2)
        assert [t.symbol for t in queries.snapshot(rt).tickers] == SYMBOLS[:2]
        with pytest.raises(QueryError) as info:
            queries.ticker(rt, "SOL/USDT", "binance")
        assert info.value.status == 404
        # a feed that is still starting lists no symbols yet: nothing is dropped
        starting = FeedStatus(exchange="binance", state="starting", ts=2.0)
        rt.bus.publish_nowait(Topics.FEED_STATUS, starting)
        publish_all(rt, 11.0)
        await wait_until(lambda: len(queries.snapshot(rt).tickers) == 3)


async def test_a_removed_symbols_memcached_key_is_deleted(memcached: MemcachedProcess) -> None:
    """Not left to serve a stale ticker to other readers of memcached until its TTL."""
    async with running_daemon(cache_cfg(memcached), market_specs(store=False, http=False)) as d:
        rt = d.runtime
        publish_all(rt, 20.0)
        await wait_in_memcached(memcached, "SOL/USDT", 22.0)
        # `symbols remove binance SOL/USDT`: the feed's status lists the rest
        status = FeedStatus(exchange="binance", state="connected", symbols=SYMBOLS[:2], ts=1.0)
        rt.bus.publish_nowait(Topics.FEED_STATUS, status)
        with anyio.fail_after(5):
            while await mc_get(memcached, ticker_key(PREFIX, "binance", "SOL/USDT")) is not None:
                await anyio.sleep(0.02)
        agg_raw = await mc_get(memcached, aggregate_key(PREFIX, "binance"))
        kept = await mc_get(memcached, ticker_key(PREFIX, "binance", "BTC/USDT"))
    assert agg_raw is not None
    assert [t.symbol for t in aggregate_decoder.decode(agg_raw).tickers] == SYMBOLS[:2]
    assert kept is not None and ticker_decoder.decode(kept).last == 20.0


def _book(bid: float, ask: float) -> OrderBookTop:
    now = time.time()
    return OrderBookTop(
        exchange="binance",
        symbol="BTC/USDT",
        bids=[(bid, 1.5)],
        asks=[(ask, 2.5)],
        bid_depth=10.0,
        ask_depth=12.0,
        depth_pct=1.0,
        spread=ask - bid,
        mid=(bid + ask) / 2,
        ts=int(now * 1000),
        recv_ts=now,
    )


async def test_a_ticker_without_a_quote_takes_bid_and_ask_from_the_book() -> None:
    async with running_daemon(cache_cfg(None), market_specs(store=False, http=False)) as d:
        rt = d.runtime

        def served() -> Any:
            return queries.ticker(rt, "BTC/USDT", "binance").ticker

        no_quote = msgspec.structs.replace(make_ticker("BTC/USDT", 100.0), bid=None, ask=None)
        rt.bus.publish_nowait(Topics.ORDERBOOK, _book(99.5, 100.5))
        rt.bus.publish_nowait(Topics.TICKERS, no_quote)
        await wait_until(lambda: rt.views.value("market.latest").get(("binance", "BTC/USDT")))
        assert (served().bid, served().ask, served().bid_size) == (99.5, 100.5, 1.5)
        # the book moves, no new ticker: the served quote follows the book
        rt.bus.publish_nowait(Topics.ORDERBOOK, _book(99.0, 99.8))
        await wait_until(lambda: served().ask == 99.8)

        def listed_ask() -> Any:
            rows = msgspec.json.decode(rt.views.get("market.tickers").body)["tickers"]
            return rows[0]["ask"] if rows else None

        await wait_until(lambda: listed_ask() == 99.8)  # /tickers serves the same quote
        # a ticker with its own quote wins, and the book no longer overrides it
        rt.bus.publish_nowait(Topics.TICKERS, make_ticker("BTC/USDT", 100.0))
        await wait_until(lambda: served().bid == pytest.approx(99.9))  # 100 x 0.999
        rt.bus.publish_nowait(Topics.ORDERBOOK, _book(90.0, 91.0))
        rt.bus.publish_nowait(Topics.TICKERS, make_ticker("BTC/USDT", 101.0))
        await wait_until(lambda: served().last == 101.0)
        assert served().bid == pytest.approx(101.0 * 0.999)


async def test_shutdown_writes_what_the_last_flush_missed(memcached: MemcachedProcess) -> None:
    cfg = cache_cfg(memcached, key_prefix="vt-final:", flush_interval=60.0)
    async with running_daemon(cfg, market_specs(store=False, http=False)) as d:
        await wait_until(lambda: queries.cache_state(d.runtime).state == "up")
        d.runtime.bus.publish_nowait(Topics.TICKERS, make_ticker("ETH/USDT", 77.0))
        await wait_until(lambda: queries.snapshot(d.runtime).tickers)
        assert await mc_get(memcached, ticker_key("vt-final:", "binance", "ETH/USDT")) is None
    raw = await mc_get(memcached, ticker_key("vt-final:", "binance", "ETH/USDT"))
    assert raw is not None and ticker_decoder.decode(raw).last == 77.0


async def test_reload_enabling_memcached_connects_and_writes_everything(
    memcached: MemcachedProcess,
) -> None:
    cfg = cache_cfg(None, key_prefix="vt-reload:")
    async with running_daemon(cfg, market_specs(store=False, http=False)) as d:
        d.runtime.bus.publish_nowait(Topics.TICKERS, make_ticker("BTC/USDT", 3.0))
        await wait_until(lambda: queries.snapshot(d.runtime).tickers)
        assert queries.cache_state(d.runtime).state == "disabled"
        new = cache_cfg(memcached, key_prefix="vt-reload:")
        d.runtime.config = new
        await d.supervisor.actor("ticker_cache").reconfigure(new)
        key = ticker_key("vt-reload:", "binance", "BTC/USDT")
        with anyio.fail_after(5):
            while await mc_get(memcached, key) is None:
                await anyio.sleep(0.02)
        assert queries.cache_state(d.runtime).state == "up"
