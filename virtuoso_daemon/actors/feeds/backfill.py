"""History on start: OHLCV pages per timeframe, and funding / open interest for perps.

OHLCV backfill pages ``fetch_ohlcv`` forward with ``since``: it starts
``backfill_candles`` candles before the exchange's current candle and asks for the
exchange's page limit (binance spot: 1000) until a page comes back short, so 2200
candles take three requests per series and a younger market simply yields fewer.
Every page goes out as one :class:`~virtuoso_daemon.messages.CandleBatch`.
The exchange's clock is asked once per run (``fetch_time`` where ccxt has it): it
may differ from ours (skew, or a simulator running faster than real time).

Funding rates and open interest change slowly and have no streams worth their cost,
so perpetual feeds fetch them on start and then every ``derivatives_refresh``.
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any

import anyio

from . import normalize
from .backoff import Backoff
from .context import FeedContext

log = logging.getLogger("virtuoso.feeds")

MAX_PAGE = 1000  # never ask for more per request, whatever ccxt says the exchange allows


def page_limit(rest: Any, market: str) -> int:
    """Rows per kline request: ccxt's ``features`` for the market type, capped."""
    try:
        feats = rest.features["spot"] if market == "spot" else rest.features["swap"]["linear"]
        limit = int(feats["fetchOHLCV"]["limit"])
    except (KeyError, TypeError, ValueError):
        limit = MAX_PAGE
    return max(1, min(limit, MAX_PAGE))


async def exchange_now_ms(ctx: FeedContext) -> int:
    """The exchange's clock in ms (ours when it cannot tell us)."""
    rest = ctx.rest
    if rest.has.get("fetchTime"):
        try:
            ts = await ctx.call("backfill", rest.fetch_time)
            if ts:
                return int(ts)
        except Exception:
            pass  # recorded by ctx.call; our own clock is a fine estimate
    return int(time.time() * 1000)


class Backfiller:
    """Pages OHLCV history for every (symbol, timeframe) not yet done."""

    def __init__(self, ctx: FeedContext) -> None:
        self.ctx = ctx
        self.done: set[tuple[str, str]] = set()
        self.pages = 0
        self.rows = 0

    async def run(self, symbols: list[str]) -> None:
        ctx = self.ctx
        want = ctx.cfg.backfill_candles
        todo = [(s, tf) for tf in ctx.timeframes for s in symbols if (s, tf) not in self.done]
        if want <= 0 or not todo:
            return
        started = time.monotonic()
        now_ms = await exchange_now_ms(ctx)
        limit = page_limit(ctx.rest, ctx.market)
        backoff = Backoff(ctx.cfg.backoff_initial, ctx.cfg.backoff_max)
        for symbol, tf in todo:
            while True:  # retry this series until it succeeds (or the feed stops)
                try:
                    await self.series(symbol, tf, want, now_ms, limit)
                except Exception:
                    await anyio.sleep(backoff.next())
                    continue
                backoff.reset()
                ctx.health.clear("backfill")
                self.done.add((symbol, tf))
                break
        log.info(
            "%s: backfilled %d series (%d pages, %d candles) in %.1fs",
            ctx.name,
            len(todo),
            self.pages,
            self.rows,
            time.monotonic() - started,
        )

    async def series(self, symbol: str, tf: str, want: int, now_ms: int, limit: int) -> None:
        ctx = self.ctx
        tf_ms = ctx.timeframe_ms(tf)
        current_open = now_ms // tf_ms * tf_ms
        since = current_open - (want - 1) * tf_ms
        got = 0
        last_row: normalize.Row | None = None
        for _ in range(math.ceil(want / limit) + 2):
            ask = min(limit, want - got) if got < want else limit
            data = await ctx.call("backfill", ctx.rest.fetch_ohlcv, symbol, tf, since, ask)
            rows = [r for r in normalize.rows(data) if r[0] >= since]
            if not rows:
                break
            ctx.on_candle_batch(symbol, tf, rows)
            self.pages += 1
            self.rows += len(rows)
            got += len(rows)
            last_row = rows[-1]
            since = last_row[0] + tf_ms
            if len(rows) < ask or got >= want:
                break
        if last_row is not None:
            ctx.tracker.seed(symbol, tf, last_row)


async def derivatives_loop(ctx: FeedContext) -> None:
    """Funding rates and open interest for every symbol, now and then periodically."""
    rest = ctx.rest
    ctx.health.set_mode("funding", "rest", "rest")
    ctx.health.set_mode("open_interest", "rest", "rest")
    backoff = Backoff(ctx.cfg.backoff_initial, ctx.cfg.backoff_max)

    async def guarded(key: str, fn: Any, *args: Any) -> Any:
        try:
            result = await ctx.call(key, fn, *args)
        except Exception:
            await anyio.sleep(backoff.next())
            return None
        backoff.reset()
        return result

    try:
        while True:
            started = anyio.current_time()
            symbols = list(ctx.symbols)
            if rest.has.get("fetchFundingRates"):
                rates = await guarded("funding", rest.fetch_funding_rates, symbols)
                if rates is not None:
                    recv = time.time()
                    n = ctx.on_funding(rates, recv)
                    ctx.health.ok("funding", "funding", recv, n)
            elif rest.has.get("fetchFundingRate"):
                for s in symbols:
                    rate = await guarded("funding", rest.fetch_funding_rate, s)
                    if rate is not None:
                        recv = time.time()
                        ctx.health.ok("funding", "funding", recv, ctx.on_funding({s: rate}, recv))
            if rest.has.get("fetchOpenInterest"):
                for s in symbols:
                    oi = await guarded("open_interest", rest.fetch_open_interest, s)
                    if oi is not None:
                        recv = time.time()
                        n = ctx.on_open_interest(s, oi, recv)
                        ctx.health.ok("open_interest", "open_interest", recv, n)
            elapsed = anyio.current_time() - started
            await anyio.sleep(max(0.0, ctx.cfg.derivatives_refresh - elapsed))
    finally:
        ctx.health.drop("funding")
        ctx.health.drop("open_interest")
