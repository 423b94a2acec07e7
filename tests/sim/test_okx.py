"""The simulator's OKX v5 dialect through ccxt's own ``okx`` class (REST and websockets).

The same engine serves both dialects at once: OKX's prices, candles and books are
Binance's, in OKX's shapes and paging.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import anyio
import ccxt
import msgspec
import pytest

from virtuoso_daemon.sim import SimConfig, Simulator, make_ccxt_exchange, make_okx_exchange
from virtuoso_daemon.sim.okx.encode import checksum

CFG = SimConfig(symbols=["ETH", "SOL"], tick_interval=0.05, speed=60.0, dialects=("binance", "okx"))
MIN = 60_000


@contextlib.asynccontextmanager
async def okx(
    market: str = "spot", config: SimConfig = CFG
) -> AsyncIterator[tuple[Simulator, Any, str]]:
    sim = Simulator(config)
    async with sim.running() as url:
        ex = make_okx_exchange(url, market, enableRateLimit=False, timeout=3000)  # type: ignore[arg-type]
        try:
            with anyio.fail_after(20):
                await ex.load_markets()
            yield sim, ex, url
        finally:
            await ex.close()


async def test_markets_tickers_and_prices_match_the_binance_dialect() -> None:
    slow = msgspec.structs.replace(CFG, tick_interval=1.0)
    async with okx(config=slow) as (sim, ex, url):
        assert ex.markets["ETH/USDT"]["id"] == "ETH-USDT" and ex.markets["ETH/USDT"]["spot"]
        binance = make_ccxt_exchange(url, "spot", enableRateLimit=False)
        try:
            with anyio.fail_after(20):
                while True:  # two reads within one market step
                    tick = sim.engine.tick_no
                    ours = await ex.fetch_ticker("ETH/USDT")
                    theirs = await binance.fetch_ticker("ETH/USDT")
                    if sim.engine.tick_no == tick:
                        break
        finally:
            await binance.close()
        assert ours["last"] == theirs["last"] and ours["bid"] == theirs["bid"]
        assert ours["baseVolume"] == theirs["baseVolume"]


async def test_swaps_list_with_funding_and_open_interest() -> None:
    async with okx("linear") as (sim, ex, _):
        m = ex.markets["SOL/USDT:USDT"]
        assert m["id"] == "SOL-USDT-SWAP" and m["swap"] and m["linear"] and m["contractSize"] == 1
        # as on OKX, a contract is a round amount of the base worth 100-1,000 USDT
        assert ex.markets["ETH/USDT:USDT"]["contractSize"] == 0.1
        assert ex.markets["BTC/USDT:USDT"]["contractSize"] == 0.01
        base = sim.engine.universe.find("futures", "ETHUSDT")
        assert base is not None
        with anyio.fail_after(20):
            while True:  # the read and the engine's value within one market step
                tick = sim.engine.tick_no
                rates = await ex.fetch_funding_rates(["ETH/USDT:USDT", "SOL/USDT:USDT"])
                truth = float(sim.engine.funding[base.base.index])
                if sim.engine.tick_no == tick:
                    break
            while True:
                tick = sim.engine.tick_no
                oi = await ex.fetch_open_interest("ETH/USDT:USDT")
                oi_truth = float(sim.engine.open_interest[base.base.index])
                if sim.engine.tick_no == tick:
                    break
        assert rates["ETH/USDT:USDT"]["fundingRate"] == pytest.approx(truth, abs=1e-8)
        # oi in contracts, oiCcy in ETH
        assert oi["openInterestAmount"] * 0.1 == pytest.approx(oi_truth, rel=1e-6)
        assert float(oi["info"]["oiCcy"]) == pytest.approx(oi_truth, rel=1e-6)


async def test_candles_page_with_exclusive_after_and_before_bounds() -> None:
    async with okx() as (sim, ex, _):
        series = sim.engine.series["1m"]
        since = series.open_ms - 700 * MIN
        with anyio.fail_after(20):
            page = await ex.fetch_ohlcv("ETH/USDT", "1m", since, 300)
        # ccxt asks before=since-1, after=since+300 candles: exactly that window
        assert [r[0] for r in page] == [since + k * MIN for k in range(300)]
        raw = await ex.publicGetMarketCandles(
            {"instId": "ETH-USDT", "bar": "1m", "after": str(since + 3 * MIN), "before": str(since)}
        )
        times = [int(r[0]) for r in raw["data"]]
        assert times == [since + 2 * MIN, since + MIN]  # newest first, bounds excluded
        newest = await ex.publicGetMarketCandles({"instId": "ETH-USDT", "bar": "1m", "limit": "2"})
        assert [r[8] for r in newest["data"]] == ["0", "1"]  # the open candle, then closed


async def test_candles_reach_back_1440_candles_and_older_ones_come_from_history() -> None:
    deep = msgspec.structs.replace(CFG, history_candles=2000)
    async with okx(config=deep) as (sim, ex, _):
        series = sim.engine.series["1m"]
        old = series.open_ms - 1700 * MIN
        window = {"instId": "ETH-USDT", "bar": "1m", "after": str(old + 5 * MIN)}
        window["before"] = str(old - MIN)
        with anyio.fail_after(20):
            assert (await ex.publicGetMarketCandles(window))["data"] == []
            older = await ex.publicGetMarketHistoryCandles(window)
            assert [int(r[0]) for r in older["data"]] == [old + k * MIN for k in range(4, -1, -1)]
            recent = await ex.publicGetMarketCandles(
                {"instId": "ETH-USDT", "bar": "1m", "after": str(series.open_ms - 1000 * MIN)}
            )
            assert len(recent["data"]) == 100  # within the newest 1,440: served
            # ccxt picks the endpoint by since: a page 1,700 candles back is history
            page = await ex.fetch_ohlcv("ETH/USDT", "1m", old, 300)
        assert [r[0] for r in page] == [old + k * MIN for k in range(300)]


async def test_unknown_instruments_and_bad_bars_are_okx_errors() -> None:
    async with okx() as (_, ex, _url):
        with anyio.fail_after(20), pytest.raises(ccxt.BadSymbol):
            await ex.publicGetMarketTicker({"instId": "NOPE-USDT"})
        with pytest.raises(ccxt.BadRequest):
            await ex.publicGetMarketCandles({"instId": "ETH-USDT", "bar": "7m"})


async def test_the_streamed_book_chains_by_seq_id_and_matches_okx_checksums() -> None:
    async with okx() as (_, ex, url), aiohttp.ClientSession() as http:
        with anyio.fail_after(20):
            book = await ex.watch_order_book("ETH/USDT", 400)
            for _ in range(5):  # ccxt rejects an update whose prevSeqId is not its nonce
                book = await ex.watch_order_book("ETH/USDT", 400)
            assert len(book["bids"]) >= 25
            # the raw channel: apply each update to a local book, check OKX's checksum
            async with http.ws_connect("ws" + url[4:] + "/ws/v5/public") as ws:
                arg = {"channel": "books", "instId": "ETH-USDT"}
                await ws.send_json({"op": "subscribe", "args": [arg]})
                assert (await ws.receive_json())["event"] == "subscribe"
                sides: dict[str, dict[str, str]] = {}
                seq, updates = None, 0
                while updates < 5:
                    msg = await ws.receive_json()
                    data = msg["data"][0]
                    if msg["action"] == "snapshot":
                        sides = {k: {p: q for p, q, *_ in data[k]} for k in ("bids", "asks")}
                    else:
                        assert data["prevSeqId"] == seq
                        updates += 1
                        for k in ("bids", "asks"):
                            for p, q, *_ in data[k]:
                                if float(q) == 0:
                                    sides[k].pop(p, None)
                                else:
                                    sides[k][p] = q
                    seq = data["seqId"]
                    bids = sorted(sides["bids"].items(), key=lambda x: -float(x[0]))[:25]
                    asks = sorted(sides["asks"].items(), key=lambda x: float(x[0]))[:25]
                    local = checksum([list(b) for b in bids], [list(a) for a in asks])
                    assert data["checksum"] == local


async def test_tickers_trades_and_candles_stream_on_their_endpoints() -> None:
    async with okx("linear") as (sim, ex, _):
        with anyio.fail_after(20):
            t = await ex.watch_ticker("ETH/USDT:USDT")
            trades = await ex.watch_trades("ETH/USDT:USDT")
            candles = await ex.watch_ohlcv("ETH/USDT:USDT", "1m")
        assert t["last"] > 0 and trades and all(x["symbol"] == "ETH/USDT:USDT" for x in trades)
        ids = [int(x["id"]) for x in trades]
        assert ids == sorted(ids)
        assert candles[-1][0] % MIN == 0
        assert any(c.business for c in sim.okx_hub.conns.values())  # candles: /business


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        ({"kind": "outage"}, ccxt.ExchangeNotAvailable),
        ({"kind": "http_500"}, ccxt.ExchangeNotAvailable),
        ({"kind": "http_429"}, ccxt.RateLimitExceeded),
    ],
)
async def test_rest_faults_reach_ccxt_as_on_binance(fault: dict[str, Any], error: type) -> None:
    async with okx() as (sim, ex, _):
        sim.inject(fault)
        with anyio.fail_after(20), pytest.raises(error):
            await ex.fetch_ticker("ETH/USDT")
        assert sim.fault_state()["counters"][fault["kind"]] == 1
        sim.clear_faults()
        assert (await ex.fetch_ticker("ETH/USDT"))["last"] > 0


async def test_a_futures_outage_leaves_spot_streaming() -> None:
    async with okx("linear") as (sim, ex, url):
        spot = make_okx_exchange(url, "spot", enableRateLimit=False)
        try:
            with anyio.fail_after(20):
                await spot.load_markets()
                await ex.watch_ticker("ETH/USDT:USDT")
                await spot.watch_ticker("ETH/USDT")
                sim.inject({"kind": "outage", "market": "futures"})
                with pytest.raises(ccxt.NetworkError):
                    await ex.watch_ticker("ETH/USDT:USDT")
                for _ in range(3):
                    assert (await spot.watch_ticker("ETH/USDT"))["last"] > 0
        finally:
            await spot.close()


def test_the_cli_takes_a_dialect() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "virtuoso_daemon.sim.cli", "--dialect", "kraken"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2 and "dialects" in out.stderr
