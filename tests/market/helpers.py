"""Builders and waits shared by the market tests."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import anyio
import msgspec

from tests.harness import MemcachedProcess, test_config
from virtuoso_daemon.core.config import Config, ExchangeConfig
from virtuoso_daemon.core.messages import Ticker
from virtuoso_daemon.core.runtime import Runtime
from virtuoso_daemon.core.supervisor import ActorSpec
from virtuoso_daemon.http.server import HttpApiActor
from virtuoso_daemon.market.actor import MarketStoreActor
from virtuoso_daemon.tickers.actor import TickerCacheActor

HOUR = 3_600_000
# The tests' own "current hour", fixed at import. Candle batches are stamped
# BATCH_RECV_TS (half an hour into it) rather than the wall clock, so a suite
# that runs across an hour boundary still sees NOW_H's candle as open.
NOW_H = (int(time.time() * 1000) // HOUR) * HOUR
BATCH_RECV_TS = (NOW_H + HOUR // 2) / 1000
T = TypeVar("T")


def market_specs(*, http: bool = True, store: bool = True, cache: bool = True) -> list[ActorSpec]:
    """The actors of this area, wired as assembly.py wires them."""
    specs: list[ActorSpec] = []
    deps: list[str] = []
    if store:
        specs.append(ActorSpec("market_store", MarketStoreActor))
        deps.append("market_store")
    if cache:
        specs.append(ActorSpec("ticker_cache", TickerCacheActor))
        deps.append("ticker_cache")
    if http:
        specs.append(ActorSpec("http_api", HttpApiActor, depends_on=tuple(deps)))
    return specs


def make_ticker(
    symbol: str = "BTC/USDT",
    last: float = 100.0,
    *,
    exchange: str = "binance",
    change_pct: float | None = 0.0,
    quote_volume: float | None = 1000.0,
    high: float | None = None,
    low: float | None = None,
    market: str = "spot",
) -> Ticker:
    now = time.time()
    return Ticker(
        exchange=exchange,
        symbol=symbol,
        market=market,
        last=last,
        bid=last * 0.999,
        ask=last * 1.001,
        open=last / (1 + (change_pct or 0.0) / 100),
        high=high if high is not None else last * 1.02,
        low=low if low is not None else last * 0.98,
        change_pct=change_pct,
        base_volume=None if quote_volume is None else quote_volume / last,
        quote_volume=quote_volume,
        ts=int(now * 1000),
        recv_ts=now,
    )


def exchange_cfg(
    name: str = "binance", symbols: Sequence[str] = ("BTC/USDT",), **kw: Any
) -> dict[str, Any]:
    return {"name": name, "symbols": list(symbols), **kw}


async def wait_until(predicate: Callable[[], object], timeout: float = 5.0) -> None:
    """Poll observable state under a deadline (no sleeps papering over races)."""
    with anyio.fail_after(timeout):
        while not predicate():
            await anyio.sleep(0.01)


def tickers_version(rt: Runtime) -> int:
    return rt.views.versions.get("market.tickers", 0)


def market_config(
    tmp: Path | None = None,
    memcached: MemcachedProcess | None = None,
    exchanges: Sequence[dict[str, Any]] = (),
    memcached_settings: dict[str, Any] | None = None,
    **sections: dict[str, Any],
) -> Config:
    """``test_config`` plus ``[[exchanges]]`` and ``[memcached]`` settings.

    (test_config cannot merge a list section, and its ``memcached`` argument is the
    server process, so the section's other settings come in ``memcached_settings``.)
    """
    cfg = test_config(tmp, memcached, **sections)
    mc = msgspec.structs.replace(cfg.memcached, **(memcached_settings or {}))
    return msgspec.structs.replace(
        cfg, memcached=mc, exchanges=[msgspec.convert(e, ExchangeConfig) for e in exchanges]
    )


async def eventually(
    probe: Callable[[], Awaitable[T]], check: Callable[[T], bool], timeout: float = 5.0
) -> T:
    """Await ``probe()`` until ``check`` accepts its result (bounded)."""
    with anyio.fail_after(timeout):
        while True:
            value = await probe()
            if check(value):
                return value
            await anyio.sleep(0.01)
