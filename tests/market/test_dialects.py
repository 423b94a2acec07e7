"""The market API on both simulator dialects: what the daemon serves is the exchange's
truth, in base units, whichever exchange it came from.

One daemon per dialect (feeds, market store, ticker cache, HTTP API) watches the
simulator's spot market and its USDT perpetuals through ccxt's own ``binance`` /
``binanceusdm`` or ``okx`` class. The simulator's engine is the truth both dialects
are encoded from, so every served figure is checked against it:

- candles (closed ones are final: equal to the engine's candle of that open time),
- trades (by id: price and amount),
- order-book levels (a level keeps its size while it stays in the simulator's book,
  apart from a few churned near the touch),
- tickers' 24 h base volume and open interest (both drift slowly: within 5 %),
- funding rates (a slow random walk: within 2e-5 of the engine's).

OKX quotes swaps in contracts of ``ctVal`` base units (BTC 0.01, ETH 0.1, SOL 1 in the
simulator, as on OKX), so a daemon that ignored ccxt's ``contractSize`` would serve
BTC amounts 100 times and ETH amounts 10 times too large here.
"""

from __future__ import annotations

import contextlib
import statistics
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import msgspec
import pytest

from tests.feeds.env import sim_exchange
from tests.harness import DaemonHandle, running_daemon
from tests.market.helpers import eventually, market_config, market_specs
from virtuoso_daemon.core.runtime import Runtime
from virtuoso_daemon.core.supervisor import ActorSpec
from virtuoso_daemon.feeds import feed_specs
from virtuoso_daemon.sim import SimConfig, Simulator
from virtuoso_daemon.sim.okx.encode import contract_value
from virtuoso_daemon.sim.universe import Market

SPOT = ["BTC/USDT", "ETH/USDT", "SOL/USDT"]
PERPS = ["BTC/USDT:USDT", "ETH/USDT:USDT", "SOL/USDT:USDT"]
SIM = SimConfig(seed=21, symbols=["ETH", "SOL"], speed=60.0, dialects=("binance", "okx"))


@contextlib.asynccontextmanager
async def market_on_sim(dialect: str) -> AsyncIterator[tuple[Simulator, DaemonHandle, Any]]:
    sim = Simulator(SIM)
    async with sim.running() as url, aiohttp.ClientSession() as http:
        common = {"dialect": dialect, "backfill_candles": 30, "derivatives_refresh": 0.5}
        exchanges = [
            sim_exchange(sim, url, "spot", "spot", symbols=SPOT, **common),
            sim_exchange(sim, url, "perp", "linear", symbols=PERPS, **common),
        ]
        cfg = msgspec.structs.replace(market_config(), exchanges=exchanges)

        def specs(runtime: Runtime) -> list[ActorSpec]:
            return [*feed_specs(runtime), *market_specs()]

        async with running_daemon(cfg, specs) as d:
            yield sim, d, http


async def api(http: aiohttp.ClientSession, d: DaemonHandle, path: str) -> Any:
    async with http.get(d.base_url + path) as resp:
        assert resp.status == 200, (path, resp.status, await resp.text())
        return await resp.json()


def market(sim: Simulator, symbol: str) -> Market:
    return next(m for m in sim.engine.markets if m.symbol == symbol)


async def check_candles(sim: Simulator, body: dict[str, Any], mk: Market) -> None:
    series = sim.engine.series["1m"]
    closed = body["candles"][:-1] if body["open_candle"] else body["candles"]
    assert len(closed) >= 20, body
    for t, *row in closed:
        idx = (t - series.start_ms) // series.step_ms
        o, h, lo, c, v = (float(series.data[f][idx, mk.index]) for f in ("o", "h", "l", "c", "v"))
        truth = [*(float(mk.fmt_price(x)) for x in (o, h, lo, c)), float(mk.fmt_qty(v))]
        assert row == pytest.approx(truth, rel=1e-9), (mk.symbol, t)


def check_trades(sim: Simulator, body: dict[str, Any], mk: Market) -> int:
    truth = {t[0]: t for t in sim.engine.trades[mk.index]}
    matched = 0
    for tr in body["trades"]:
        t = truth.get(int(tr["id"]))
        if t is not None:
            truth_row = (float(t[1]), float(t[2]))
            assert (tr["price"], tr["amount"]) == pytest.approx(truth_row, rel=1e-9), tr
            matched += 1
    return matched


def check_book(sim: Simulator, top: dict[str, Any], mk: Market) -> None:
    """Each served level against the engine's size at that price now: most are equal
    (a level keeps its size while it stays in the book); a few near the touch were
    churned since (a lognormal multiple), so the median ratio is 1 up to churn, far
    from a contract size of 0.1 or 0.01."""
    book = sim.engine.books[mk.index]
    levels = [(book.BID, p, q) for p, q in top["bids"]] + [(book.ASK, p, q) for p, q in top["asks"]]
    ratios = sorted(q / book.qty(s, round(p / book.step)) for s, p, q in levels)
    assert len(ratios) == 10 and 0.5 <= statistics.median(ratios) <= 2.0, (mk.symbol, ratios)


@pytest.mark.parametrize("dialect", ["binance", "okx"])
async def test_spot_and_perpetuals_are_served_as_the_exchange_has_them(dialect: str) -> None:
    async with market_on_sim(dialect) as (sim, d, http):
        if dialect == "okx":
            assert contract_value(market(sim, "BTC/USDT:USDT")) == "0.01"
            assert contract_value(market(sim, "ETH/USDT:USDT")) == "0.1"
        await eventually(
            lambda: api(http, d, "/api/market/exchanges"),
            lambda b: (
                {e["name"]: e["state"] for e in b["exchanges"]}
                == {"spot": "connected", "perp": "connected"}
            ),
            timeout=20,
        )
        for exchange, symbols in (("spot", SPOT), ("perp", PERPS)):
            for symbol in symbols:
                mk = market(sim, symbol)
                q = f"{mk.id}?exchange={exchange}"
                body = await eventually(
                    lambda q=q: api(http, d, f"/api/market/ohlcv/{q}&timeframe=1m&limit=30"),
                    lambda b: b["count"] == 30,
                    timeout=10,
                )
                await check_candles(sim, body, mk)
                trades = await eventually(
                    lambda q=q: api(http, d, f"/api/market/trades/{q}&limit=50"),
                    lambda b, mk=mk: check_trades(sim, b, mk) >= 5,
                    timeout=10,
                )
                assert trades["count"] >= 5
                book = await eventually(
                    lambda q=q: api(http, d, f"/api/market/orderbook/{q}"),
                    lambda b: b["top"] is not None,
                    timeout=10,
                )
                check_book(sim, book["top"], mk)
                ticker = (await api(http, d, f"/api/market/ticker/{q}"))["ticker"]
                volume = float(sim.engine.stats["volume"][mk.index])
                assert ticker["base_volume"] == pytest.approx(volume, rel=0.05), ticker

        funding = await eventually(
            lambda: api(http, d, "/api/market/funding?exchange=perp"),
            lambda b: b["count"] == len(PERPS),
            timeout=10,
        )
        for f in funding["funding"]:
            truth = float(sim.engine.funding[market(sim, f["symbol"]).base.index])
            assert f["rate"] == pytest.approx(truth, abs=2e-5), f
        oi = await eventually(
            lambda: api(http, d, "/api/market/open-interest?exchange=perp"),
            lambda b: b["count"] == len(PERPS),
            timeout=10,
        )
        for row in oi["open_interest"]:
            mk = market(sim, row["symbol"])
            truth = float(sim.engine.open_interest[mk.base.index])
            assert row["amount"] == pytest.approx(truth, rel=0.05), row
            price = float(sim.engine.stats["last"][mk.index])
            assert row["value"] == pytest.approx(truth * price, rel=0.05), row
