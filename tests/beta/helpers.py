"""Synthetic markets with known betas, and the actor tree the beta tests run."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np

from tests.harness import DaemonHandle
from tests.market.helpers import exchange_cfg, market_config
from virtuoso_daemon.beta.actor import BetaActor
from virtuoso_daemon.core.bus import Bus, Topics
from virtuoso_daemon.core.config import Config
from virtuoso_daemon.core.messages import Candle, CandleBatch
from virtuoso_daemon.core.supervisor import ActorSpec
from virtuoso_daemon.http.server import HttpApiActor
from virtuoso_daemon.market.actor import MarketStoreActor
from virtuoso_daemon.tickers.actor import TickerCacheActor

HOUR = 3_600_000
SPOT = ["BTC/USDT", "ETH/USDT", "SOL/USDT", "DOGE/USDT", "NEW/USDT"]
PERP = ["BTC/USDT:USDT", "ETH/USDT:USDT", "SOL/USDT:USDT"]
BETAS = {"BTC": 1.0, "ETH": 1.4, "SOL": 1.8, "DOGE": 0.5, "NEW": 1.2}


def last_closed_hour() -> int:
    """Open time (ms) of the newest 1h candle that has closed by now."""
    return (int(time.time() * 1000) // HOUR - 1) * HOUR


def factor_closes(
    bases: Sequence[str], n: int, seed: int, *, btc_sigma: float = 0.01, idio: float = 0.004
) -> dict[str, np.ndarray]:
    """``n`` closes per base from ``r = beta * r_btc + eps`` (betas from :data:`BETAS`)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0.0, btc_sigma, n - 1)
    out = {}
    for base in bases:
        noise = 0.0 if base == "BTC" else rng.normal(0.0, idio, n - 1)
        r = BETAS[base] * x + noise
        out[base] = 100.0 * np.exp(np.concatenate([[0.0], np.cumsum(r)]))
    return out


def batch(
    exchange: str, symbol: str, closes: np.ndarray, end_open: int, tf_ms: int = HOUR
) -> CandleBatch:
    """A history page of ``closes`` (oldest first) whose last candle opened at ``end_open``."""
    n = len(closes)
    times = end_open - tf_ms * np.arange(n - 1, -1, -1)
    rows = [
        (int(t), float(c), float(c) * 1.01, float(c) * 0.99, float(c), 10.0)
        for t, c in zip(times, closes, strict=True)
    ]
    return CandleBatch(
        exchange=exchange, symbol=symbol, timeframe="1h", rows=rows, recv_ts=time.time()
    )


def closed_candle(exchange: str, symbol: str, open_time: int, close: float) -> Candle:
    return Candle(
        exchange=exchange,
        symbol=symbol,
        timeframe="1h",
        open_time=open_time,
        open=close,
        high=close * 1.01,
        low=close * 0.99,
        close=close,
        volume=1.0,
        closed=True,
        recv_ts=time.time(),
    )


def publish_market(
    bus: Bus,
    n: int = 200,
    seed: int = 1,
    *,
    end_open: int | None = None,
    short: dict[str, int] | None = None,
) -> dict[str, np.ndarray]:
    """Publish ``n`` 1h candles of :data:`SPOT` on ``spot`` and :data:`PERP` on ``perp``.

    ``short`` gives some bases fewer candles (a late listing). Returns the closes.
    """
    end = last_closed_hour() if end_open is None else end_open
    closes = factor_closes(list(BETAS), n, seed)
    short = short or {}
    for exchange, symbols in (("spot", SPOT), ("perp", PERP)):
        for sym in symbols:
            base = sym.split("/")[0]
            series = closes[base][-short.get(base, n) :]
            bus.publish_nowait(Topics.CANDLES, batch(exchange, sym, series, end))
    return closes


def beta_config(tmp: Path | None = None, **sections: dict[str, Any]) -> Config:
    beta = {"windows": {"1h": ["2d", "7d"]}, "min_obs": 20, "history": 5}
    beta.update(sections.pop("beta", {}))
    return market_config(
        tmp,
        exchanges=[
            exchange_cfg("spot", SPOT, timeframes=["1h"]),
            exchange_cfg("perp", PERP, market="linear", timeframes=["1h"]),
        ],
        beta=beta,
        **sections,
    )


def beta_specs(*, http: bool = True, beta: bool = True) -> list[ActorSpec]:
    specs = [
        ActorSpec("market_store", MarketStoreActor),
        ActorSpec("ticker_cache", TickerCacheActor),
    ]
    if beta:
        specs.append(ActorSpec("beta", BetaActor, depends_on=("market_store",)))
    if http:
        specs.append(ActorSpec("http_api", HttpApiActor, depends_on=("market_store",)))
    return specs


async def get(http: aiohttp.ClientSession, d: DaemonHandle, path: str) -> tuple[int, Any]:
    async with http.get(f"{d.base_url}{path}") as resp:
        assert resp.content_type == "application/json"
        return resp.status, await resp.json()


def beta_stats(d: DaemonHandle) -> dict[str, Any]:
    stats: dict[str, Any] = d.runtime.stats["beta"]()
    return stats
