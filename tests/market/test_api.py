"""The /api/market endpoints over real HTTP: symbol forms, filters, every 4xx case."""

from __future__ import annotations

import math
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest

from tests.harness import DaemonHandle, running_daemon
from tests.market.helpers import (
    BATCH_RECV_TS,
    HOUR,
    NOW_H,
    exchange_cfg,
    make_ticker,
    market_config,
    market_specs,
    wait_until,
)
from virtuoso_daemon.beta.publish import SENTIMENT_DOC_VIEW
from virtuoso_daemon.core.bus import Topics
from virtuoso_daemon.core.messages import CandleBatch, FeedStatus, Funding
from virtuoso_daemon.core.numbers import round_sig
from virtuoso_daemon.read import market as queries

SPOT = ["BTC/USDT", "ETH/USDT", "SOL/USDT", "XRP/USDT", "ETH/BTC", "DOGE/USDT"]

# (symbol, change %, quote volume, high, low) on the spot exchange
UNIVERSE = [
    ("BTC/USDT", 2.0, 600.0, 110.0, 100.0),
    ("ETH/USDT", 4.0, 300.0, 120.0, 100.0),
    ("SOL/USDT", -1.0, 100.0, 105.0, 100.0),
    ("XRP/USDT", 0.0, 0.0, 100.0, 100.0),
    ("ETH/BTC", 1.0, 50.0, 101.0, 100.0),
]


@asynccontextmanager
async def market_daemon() -> AsyncIterator[tuple[DaemonHandle, aiohttp.ClientSession]]:
    cfg = market_config(
        exchanges=[
            exchange_cfg("binance", SPOT, timeframes=["1h", "4h"]),
            exchange_cfg("binance-perp", ["BTC/USDT:USDT"], market="linear", timeframes=["1h"]),
        ],
        store={"trades": 50},
    )
    async with running_daemon(cfg, market_specs()) as d, aiohttp.ClientSession() as http:
        bus = d.runtime.bus
        for sym, change, qv, high, low in UNIVERSE:
            bus.publish_nowait(
                Topics.TICKERS,
                make_ticker(
                    sym, 100.0 + change, change_pct=change, quote_volume=qv, high=high, low=low
                ),
            )
        bus.publish_nowait(
            Topics.TICKERS,
            make_ticker("BTC/USDT:USDT", 99.0, exchange="binance-perp", market="linear"),
        )
        rows = [(NOW_H + k * HOUR, 1.0, 2.0, 0.5, 1.5, 3.0) for k in range(-4, 1)]
        bus.publish_nowait(
            Topics.CANDLES,
            CandleBatch(
                exchange="binance",
                symbol="BTC/USDT",
                timeframe="1h",
                rows=rows,
                recv_ts=BATCH_RECV_TS,
            ),
        )
        await wait_until(lambda: len(queries.snapshot(d.runtime).tickers) == 6)
        yield d, http


async def get(http: aiohttp.ClientSession, d: DaemonHandle, path: str) -> tuple[int, Any]:
    async with http.get(f"{d.base_url}{path}") as resp:
        assert resp.content_type == "application/json"
        return resp.status, await resp.json()


async def test_symbol_spellings_resolve_to_the_right_exchange() -> None:
    async with market_daemon() as (d, http):
        for form in ("BTC/USDT", "BTC%2FUSDT", "BTC-USDT", "BTCUSDT", "btcusdt", "BTC_USDT"):
            status, body = await get(http, d, f"/api/market/ticker/{form}")
            assert status == 200, form
            assert (body["exchange"], body["symbol"]) == ("binance", "BTC/USDT"), form
        for form in ("BTC-USDT-PERP", "BTC/USDT:USDT", "BTCUSDT.P", "BTC-USDT-USDT"):
            status, body = await get(http, d, f"/api/market/ticker/{form}")
            assert status == 200, form
            assert (body["exchange"], body["symbol"]) == ("binance-perp", "BTC/USDT:USDT"), form
        # without a marker, an exchange with only the perpetual still answers
        status, body = await get(http, d, "/api/market/ticker/BTCUSDT?exchange=binance-perp")
        assert status == 200 and body["symbol"] == "BTC/USDT:USDT"
        status, body = await get(http, d, "/api/market/ticker/ETHBTC")
        assert status == 200 and body["symbol"] == "ETH/BTC" and body["ticker"]["last"] == 101.0


@pytest.mark.parametrize("unused", [None])  # one daemon, many cases: see the table
async def test_every_bad_input_is_a_4xx_json_error(unused: None) -> None:
    cases = [
        ("/api/market/ticker/NOPEUSDT", 404, "unknown_symbol"),
        ("/api/market/ticker/BTC%20USDT", 400, "invalid_symbol"),
        ("/api/market/ticker/..%2F..", 400, "invalid_symbol"),
        ("/api/market/ticker/BTCUSDT?exchange=kraken", 404, "unknown_exchange"),
        ("/api/market/ticker/SOL-USDT?exchange=binance-perp", 404, "unknown_symbol"),
        ("/api/market/ticker/DOGEUSDT", 404, "no_data"),  # configured, no ticker yet
        ("/api/market/ticker/BTCUSDT?foo=1", 400, "invalid_parameter"),
        ("/api/market/ohlcv/BTCUSDT?timeframe=7m", 400, "invalid_timeframe"),
        ("/api/market/ohlcv/BTCUSDT?timeframe=1d", 400, "invalid_timeframe"),
        ("/api/market/ohlcv/BTCUSDT?limit=0", 400, "invalid_parameter"),
        ("/api/market/ohlcv/BTCUSDT?limit=2401", 400, "invalid_parameter"),
        ("/api/market/ohlcv/BTCUSDT?limit=ten", 400, "invalid_parameter"),
        ("/api/market/ohlcv/BTCUSDT?since=-5", 400, "invalid_parameter"),
        ("/api/market/ohlcv/BTCUSDT?since=yesterday", 400, "invalid_parameter"),
        ("/api/market/ohlcv/NOPE-USDT", 404, "unknown_symbol"),
        ("/api/market/tickers?sort=hype", 400, "invalid_parameter"),
        ("/api/market/tickers?order=sideways", 400, "invalid_parameter"),
        ("/api/market/tickers?limit=0", 400, "invalid_parameter"),
        ("/api/market/tickers?quote=US%24D", 400, "invalid_parameter"),
        ("/api/market/tickers?exchange=kraken", 404, "unknown_exchange"),
        ("/api/market/tickers?colour=red", 400, "invalid_parameter"),
        ("/api/market/trades/ETHUSDT?limit=51", 400, "invalid_parameter"),
        ("/api/market/trades/NOPEUSDT", 404, "unknown_symbol"),
        ("/api/market/orderbook/ETHUSDT?history=100000", 400, "invalid_parameter"),
        ("/api/market/orderbook/ETHUSDT?history=-1", 400, "invalid_parameter"),
        ("/api/market/movers?limit=101", 400, "invalid_parameter"),
        ("/api/market/movers?exchange=kraken", 404, "unknown_exchange"),
        ("/api/market/overview?exchange=kraken", 404, "unknown_exchange"),
        ("/api/market/funding?symbol=NOPEUSDT", 404, "unknown_symbol"),
        ("/api/market/open-interest?exchange=kraken", 404, "unknown_exchange"),
        ("/api/market/exchanges?x=1", 400, "invalid_parameter"),
        ("/api/market/nothing-here", 404, "not_found"),
    ]
    async with market_daemon() as (d, http):
        for path, status, code in cases:
            got_status, body = await get(http, d, path)
            assert (got_status, body["error"]["code"]) == (status, code), path
            assert body["error"]["message"], path
        async with http.post(f"{d.base_url}/api/market/tickers") as resp:
            assert resp.status == 405


async def test_tickers_default_is_the_preencoded_snapshot_and_filters_work() -> None:
    async with market_daemon() as (d, http):
        async with http.get(f"{d.base_url}/api/market/tickers") as resp:
            raw = await resp.read()
        view = d.runtime.views.get("market.tickers")
        assert view is not None and raw == view.body
        _, spot = await get(http, d, "/api/market/tickers?exchange=binance&sort=change")
        assert [t["symbol"] for t in spot["tickers"]] == [
            "ETH/USDT",
            "BTC/USDT",
            "ETH/BTC",
            "XRP/USDT",
            "SOL/USDT",
        ]
        _, btcq = await get(http, d, "/api/market/tickers?quote=btc")
        assert [t["symbol"] for t in btcq["tickers"]] == ["ETH/BTC"]
        _, vol = await get(http, d, "/api/market/tickers?exchange=binance&sort=volume&limit=2")
        assert [t["symbol"] for t in vol["tickers"]] == ["BTC/USDT", "ETH/USDT"]
        _, cheap = await get(http, d, "/api/market/tickers?sort=price&order=asc&limit=1")
        assert cheap["tickers"][0]["symbol"] == "SOL/USDT" and cheap["count"] == 1
        _, by_symbol = await get(http, d, "/api/market/tickers?exchange=binance-perp")
        assert [t["symbol"] for t in by_symbol["tickers"]] == ["BTC/USDT:USDT"]


async def test_overview_and_movers_numbers() -> None:
    async with market_daemon() as (d, http):
        status, ov = await get(http, d, "/api/market/overview")
        assert status == 200 and ov["exchange"] == "binance"
        assert (ov["advancers"], ov["decliners"], ov["unchanged"]) == (3, 1, 1)
        assert ov["breadth"] == pytest.approx(0.6)
        assert ov["avg_change_pct"] == pytest.approx(1.2)
        # weights: quote volume; XRP's zero volume carries no weight
        assert ov["vw_avg_change_pct"] == pytest.approx((2 * 600 + 4 * 300 - 100 + 50) / 1050)
        # population std of [2, 4, -1, 0, 1] % = sqrt(14.8 / 5) %
        assert ov["volatility"]["dispersion_pct"] == pytest.approx(math.sqrt(14.8 / 5))
        assert ov["volatility"]["avg_range_pct"] == pytest.approx((10 + 20 + 5 + 0 + 1) / 5)
        # BTC's share of the USDT-quoted volume (ETH/BTC is quoted in BTC: not added in)
        assert ov["btc_dominance_pct"] == pytest.approx(60.0)
        assert ov["regime"]["label"] == "risk-on" and ov["regime"]["rule"] == "risk_on_btc"
        # one unit per kind of number, named in the field: changes in percent
        assert ov["regime"]["inputs"]["btc_change_pct"] == pytest.approx(2.0)
        assert ov["benchmark_change_pct"] == pytest.approx(2.0)
        assert ov["regime"]["source"] == "tickers"  # the beta actor has no regime yet

        _, perp = await get(http, d, "/api/market/overview?exchange=binance-perp")
        assert perp["benchmark"] == "BTC/USDT:USDT" and perp["regime"]["label"] == "neutral"

        status, mv = await get(http, d, "/api/market/movers?limit=2")
        assert status == 200
        assert [m["symbol"] for m in mv["gainers"]] == ["ETH/USDT", "BTC/USDT"]
        assert [m["symbol"] for m in mv["losers"]] == ["SOL/USDT"]
        assert [m["symbol"] for m in mv["volume"]] == ["BTC/USDT", "ETH/USDT"]
        assert mv["gainers"][0]["change_pct"] == 4.0
        _, q = await get(http, d, "/api/market/movers?quote=BTC")
        assert [m["symbol"] for m in q["gainers"]] == ["ETH/BTC"]


def _floats(doc: Any) -> list[float]:
    if isinstance(doc, float):
        return [doc]
    if isinstance(doc, dict):
        return [f for v in doc.values() for f in _floats(v)]
    if isinstance(doc, list):
        return [f for v in doc for f in _floats(v)]
    return []


async def test_overview_serves_the_one_regime_and_numbers_without_float_noise() -> None:
    async with market_daemon() as (d, http):
        # what the beta actor publishes: the regime /api/market/sentiment serves too
        regime = {
            "label": "neutral",
            "rule": "neutral",
            "explanation": "no risk-on, risk-off or sell-off rule fired",
            "inputs": {"btc_change_pct": 0.516, "breadth": 0.6, "avg_correlation": 0.675},
            "computed_at": time.time(),
        }
        d.runtime.views.publish(SENTIMENT_DOC_VIEW, {"score": 0.1, "regime": regime})
        _, ov = await get(http, d, "/api/market/overview")
        assert ov["regime"]["inputs"]["avg_correlation"] == 0.675
        assert ov["regime"]["source"] == "analytics"
        # (2*600 + 4*300 - 100 + 50) / 1050 and friends carry binary noise unrounded
        assert all(f == round_sig(f) for f in _floats(ov))
        assert ov["vw_avg_change_pct"] == round_sig(2350 / 1050)


async def test_a_since_in_seconds_is_refused_with_the_unit_named() -> None:
    async with market_daemon() as (d, http):
        status, body = await get(http, d, "/api/market/ohlcv/BTCUSDT?since=1796398000")
        assert (status, body["error"]["code"]) == (400, "invalid_parameter")
        assert "milliseconds" in body["error"]["message"]
        assert "1796398000000" in body["error"]["message"]
        status, body = await get(http, d, f"/api/market/ohlcv/BTCUSDT?since={NOW_H - HOUR}")
        assert status == 200 and [c[0] for c in body["candles"]] == [NOW_H - HOUR, NOW_H]
        status, _ = await get(http, d, "/api/market/ohlcv/BTCUSDT?since=0")  # from the start
        assert status == 200


async def test_ohlcv_trades_orderbook_funding_and_exchanges() -> None:
    async with market_daemon() as (d, http):
        rt = d.runtime
        await wait_until(lambda: rt.stats["market_store"]()["batches"] == 1)
        status, body = await get(http, d, "/api/market/ohlcv/BTC-USDT?limit=3")
        assert status == 200 and body["timeframe"] == "1h" and body["count"] == 3
        assert body["candles"][-1] == [NOW_H, 1.0, 2.0, 0.5, 1.5, 3.0]
        _, empty = await get(http, d, "/api/market/ohlcv/ETHUSDT?timeframe=4h")
        assert empty["count"] == 0 and empty["candles"] == []
        _, trades = await get(http, d, "/api/market/trades/ETHUSDT")
        assert trades == {"exchange": "binance", "symbol": "ETH/USDT", "count": 0, "trades": []}
        _, book = await get(http, d, "/api/market/orderbook/ETHUSDT?history=5")
        assert book["top"] is None and book["history"]["rows"] == []

        rt.bus.publish_nowait(
            Topics.FUNDING,
            Funding(
                exchange="binance-perp",
                symbol="BTC/USDT:USDT",
                rate=-0.0002,
                mark_price=99.0,
                index_price=99.1,
                next_funding_ts=None,
                ts=1,
                recv_ts=time.time(),
            ),
        )
        await wait_until(lambda: queries.funding(rt).count == 1)
        _, funding = await get(http, d, "/api/market/funding?symbol=BTC-USDT-PERP")
        assert funding["count"] == 1 and funding["funding"][0]["rate"] == -0.0002
        _, none = await get(http, d, "/api/market/funding?exchange=binance")
        assert none["count"] == 0

        status_msg = FeedStatus(
            exchange="binance",
            state="degraded",
            symbols=SPOT,
            modes={"tickers": "rest"},
            errors={"timeout": 3},
            ts=time.time(),
        )
        rt.views.publish("feeds.status", {"binance": status_msg})
        _, ex = await get(http, d, "/api/market/exchanges")
        by_name = {e["name"]: e for e in ex["exchanges"]}
        assert list(by_name) == ["binance", "binance-perp"]
        assert by_name["binance"]["state"] == "degraded"
        assert by_name["binance"]["errors"] == {"timeout": 3}
        assert by_name["binance"]["tickers"] == 5
        assert by_name["binance-perp"]["state"] == "unknown"
        assert by_name["binance-perp"]["market"] == "linear"
