"""ccxt's REST methods (async_support) parse every simulated Binance endpoint."""

from __future__ import annotations

import itertools

import anyio
import msgspec
import pytest

from tests.sim.helpers import get_json, sim_and_exchange
from virtuoso_daemon.sim import SimConfig

HOUR_MS = 3_600_000


async def test_spot_rest_through_ccxt() -> None:
    async with sim_and_exchange(SimConfig(), "spot", pro=False) as (_sim, ex):
        with anyio.fail_after(30):
            assert len(ex.markets) == 41 and "ETH/USDT" in ex.markets
            assert ex.markets["ETH/USDT"]["spot"] is True
            tickers = await ex.fetch_tickers()
            assert len(tickers) == 41
            assert all(
                t["last"] and t["bid"] < t["ask"] and t["quoteVolume"] > 0 for t in tickers.values()
            )
            some = await ex.fetch_tickers(["ETH/USDT", "SOL/USDT"])
            assert set(some) == {"ETH/USDT", "SOL/USDT"}
            t = await ex.fetch_ticker("ETH/USDT")
            assert t["symbol"] == "ETH/USDT" and t["low"] <= t["last"] <= t["high"]
            assert t["bid"] <= t["last"] <= t["ask"] or abs(t["last"] / t["bid"] - 1) < 0.01

            ohlcv = await ex.fetch_ohlcv("ETH/USDT", "1h", limit=10)
            assert len(ohlcv) == 10
            assert all(c[0] - p[0] == HOUR_MS for p, c in itertools.pairwise(ohlcv))
            assert all(
                row[3] <= min(row[1], row[4]) <= max(row[1], row[4]) <= row[2] for row in ohlcv
            )

            book = await ex.fetch_order_book("ETH/USDT", 100)
            assert len(book["bids"]) == 100 and len(book["asks"]) == 100
            assert book["bids"][0][0] < book["asks"][0][0] and book["nonce"] > 0
            assert book["bids"] == sorted(book["bids"], reverse=True)

            trades = await ex.fetch_trades("ETH/USDT", limit=20)
            assert 0 < len(trades) <= 20
            assert all(
                tr["symbol"] == "ETH/USDT" and tr["side"] in ("buy", "sell") for tr in trades
            )
            assert abs(trades[-1]["price"] / t["last"] - 1) < 0.01


async def test_perpetual_rest_through_ccxt() -> None:
    async with sim_and_exchange(SimConfig(), "linear", pro=False) as (_sim, ex):
        with anyio.fail_after(30):
            assert len(ex.markets) == 41
            m = ex.markets["ETH/USDT:USDT"]
            assert m["swap"] and m["linear"] and m["settle"] == "USDT"
            tickers = await ex.fetch_tickers()
            assert len(tickers) == 41 and all(k.endswith(":USDT") for k in tickers)
            t = await ex.fetch_ticker("ETH/USDT:USDT")
            assert t["last"] > 0
            ohlcv = await ex.fetch_ohlcv("ETH/USDT:USDT", "4h", limit=1500)
            assert len(ohlcv) >= 1000  # futures pages hold up to 1500 candles
            book = await ex.fetch_order_book("ETH/USDT:USDT", 50)
            assert len(book["bids"]) == 50
            trades = await ex.fetch_trades("ETH/USDT:USDT", limit=5)
            assert trades and trades[-1]["symbol"] == "ETH/USDT:USDT"

            fr = await ex.fetch_funding_rate("ETH/USDT:USDT")
            assert fr["symbol"] == "ETH/USDT:USDT" and abs(fr["fundingRate"]) < 0.01
            assert fr["fundingTimestamp"] % (8 * HOUR_MS) == 0 and fr["markPrice"] > 0
            assert abs(fr["markPrice"] / fr["indexPrice"] - 1) < 0.01
            rates = await ex.fetch_funding_rates()
            assert len(rates) == 41
            oi = await ex.fetch_open_interest("ETH/USDT:USDT")
            assert oi["symbol"] == "ETH/USDT:USDT" and oi["openInterestAmount"] > 0
            history = await ex.fetch_funding_rate_history("ETH/USDT:USDT", limit=3)
            assert len(history) == 3
            assert history[1]["timestamp"] - history[0]["timestamp"] == 8 * HOUR_MS


@pytest.mark.parametrize(("market", "symbol"), [("spot", "BTC/USDT"), ("linear", "BTC/USDT:USDT")])
async def test_ohlcv_pages_with_since_across_more_than_1000_candles(
    market: str, symbol: str
) -> None:
    """A backfill pages with ``since``: the pages tile the history with no gap or overlap."""
    async with sim_and_exchange(SimConfig(symbols=["ETH"]), market, pro=False) as (sim, ex):
        with anyio.fail_after(30):
            now = sim.now_ms()
            since = now - 1100 * HOUR_MS
            candles: list[list[float]] = []
            while True:
                page = await ex.fetch_ohlcv(symbol, "1h", since=since, limit=1000)
                if not page:
                    break
                candles += page
                if page[-1][0] >= now - HOUR_MS:
                    break
                since = page[-1][0] + 1
            assert len(candles) > 1000
            times = [c[0] for c in candles]
            assert all(b - a == HOUR_MS for a, b in itertools.pairwise(times))
            assert times[-1] // HOUR_MS == now // HOUR_MS  # the open candle comes last

            # ccxt's own pagination gets the same candles
            paged = await ex.fetch_ohlcv(
                symbol, "1h", since=times[0], limit=1050, params={"paginate": True}
            )
            assert [c[0] for c in paged[:1000]] == times[:1000]


async def test_every_timeframe_has_1000_candles_of_history() -> None:
    async with sim_and_exchange(SimConfig(symbols=["SOL"]), "spot", pro=False) as (sim, ex):
        for tf in ("1m", "5m", "15m", "1h", "4h", "1d"):
            with anyio.fail_after(20):
                ohlcv = await ex.fetch_ohlcv("SOL/USDT", tf, since=0, limit=1000)
            assert len(ohlcv) == 1000, tf
            step = ex.parse_timeframe(tf) * 1000
            assert all(b[0] - a[0] == step for a, b in itertools.pairwise(ohlcv))
            assert ohlcv[-1][0] + step < sim.now_ms()  # all 1000 are closed history


async def test_rest_errors_are_binance_shaped() -> None:
    async with sim_and_exchange(SimConfig(symbols=["ETH"]), "spot", pro=False) as (sim, _ex):
        base = sim.base_url
        status, _, body = await get_json(f"{base}/api/v3/ticker/24hr?symbol=NOPEUSDT")
        assert status == 400 and msgspec.json.decode(body) == {
            "code": -1121,
            "msg": "Invalid symbol.",
        }
        status, _, body = await get_json(f"{base}/api/v3/klines?symbol=ETHUSDT&interval=7m")
        assert status == 400 and msgspec.json.decode(body)["code"] == -1120
        status, _, body = await get_json(f"{base}/api/v3/depth")
        assert status == 400 and msgspec.json.decode(body)["code"] == -1102
        status, _, body = await get_json(f"{base}/api/v3/depth?symbol=ETHUSDT&limit=x")
        assert status == 400 and msgspec.json.decode(body)["code"] == -1100
        status, headers, body = await get_json(f"{base}/api/v3/time")
        assert status == 200 and abs(msgspec.json.decode(body)["serverTime"] - sim.now_ms()) < 5_000
        assert headers["X-MBX-USED-WEIGHT-1M"]
        status, _, body = await get_json(f"{base}/__sim/stats")
        doc = msgspec.json.decode(body)
        assert status == 200 and doc["requests"] >= 6 and doc["markets"] == 4
