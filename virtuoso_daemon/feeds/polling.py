"""REST polling: the fallback for every data kind, one chunk of symbols at a time.

Each poller issues its requests one after another (never more than one in flight),
so however many pollers run, the queue in front of ccxt's rate limiter stays as
short as the number of pollers, and a poll round simply takes longer when the
exchange's limit is tight. Failures are per symbol: one failing symbol backs its
poller off and the round continues with the next symbol, so a partial fault (one
request in three fails) still delivers every symbol.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio

from virtuoso_daemon.feeds.backoff import Backoff
from virtuoso_daemon.feeds.context import FeedContext

log = logging.getLogger("virtuoso.feeds")

TRADES_LIMIT = 100  # recent trades per poll and symbol
BOOK_LIMIT = 100  # levels per side fetched for the top-of-book summary
# levels per side a streamed book keeps (its snapshot is fetched once per subscription):
# deep enough to see order-book walls a few percent from the touch (the wall summaries
# of OrderBookTop are computed over every level kept)
STREAM_BOOK_LIMIT = 500
OHLCV_PAGE = 1000  # rows per kline request when catching up


class Poller:
    """One data kind for one chunk of symbols over REST, forever."""

    def __init__(self, ctx: FeedContext, kind: str, key: str, chunk: list[str]) -> None:
        self.ctx = ctx
        self.kind = kind
        self.key = key
        self.chunk = chunk
        self.backoff = Backoff(ctx.cfg.backoff_initial, ctx.cfg.backoff_max)
        # trades: newest (timestamp, ids at that timestamp) seen per symbol
        self._trade_mark: dict[str, tuple[int, set[str]]] = {}
        # ohlcv: monotonic time each (symbol, timeframe) is due next
        self._due: dict[tuple[str, str], float] = {}

    async def run(self) -> None:
        rounds = {
            "tickers": self._tickers,
            "ohlcv": self._ohlcv,
            "trades": self._trades,
            "orderbook": self._orderbook,
        }
        one_round = rounds[self.kind]
        interval = self.ctx.cfg.poll_interval
        while True:
            started = anyio.current_time()
            delay = await one_round()
            # a failure inside the round already slept its backoff
            await anyio.sleep(max(0.0, (delay or interval) - (anyio.current_time() - started)))

    async def _guarded(self, fn: Callable[..., Awaitable[Any]], *args: Any, **kw: Any) -> Any:
        """One request; on failure sleep the backoff and return None."""
        try:
            result = await self.ctx.call(self.key, fn, *args, **kw)
        except Exception:
            await anyio.sleep(self.backoff.next())
            return None
        self.backoff.reset()
        return result

    def _ok(self, n: int, recv: float) -> None:
        if n:
            self.ctx.health.ok(self.key, self.kind, recv, n)
        else:
            self.ctx.health.clear(self.key)

    # --- rounds ----------------------------------------------------------------------

    async def _tickers(self) -> float | None:
        rest = self.ctx.rest
        if rest.has.get("fetchTickers"):
            data = await self._guarded(rest.fetch_tickers, self.chunk)
            if data is not None:
                recv = time.time()
                self._ok(self.ctx.on_tickers(data, recv), recv)
            return None
        for symbol in self.chunk:
            t = await self._guarded(rest.fetch_ticker, symbol)
            if t is not None:
                recv = time.time()
                self._ok(self.ctx.on_tickers({symbol: t}, recv), recv)
        return None

    async def _trades(self) -> float | None:
        rest = self.ctx.rest
        for symbol in self.chunk:
            trades = await self._guarded(rest.fetch_trades, symbol, None, TRADES_LIMIT)
            if trades is None:
                continue
            fresh = self._new_trades(symbol, trades)
            recv = time.time()
            self._ok(self.ctx.on_trades(fresh, recv), recv)
        return None

    def _new_trades(self, symbol: str, trades: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Drop trades an earlier poll already published (by timestamp, then id)."""
        mark = self._trade_mark.get(symbol)
        last_ts, last_ids = mark if mark is not None else (-1, set())
        fresh = []
        for t in trades:
            ts = t.get("timestamp") or 0
            if ts < last_ts or (ts == last_ts and str(t.get("id")) in last_ids):
                continue
            fresh.append(t)
        if trades:
            newest = max(t.get("timestamp") or 0 for t in trades)
            ids = {str(t.get("id")) for t in trades if (t.get("timestamp") or 0) == newest}
            if newest == last_ts:
                ids |= last_ids
            self._trade_mark[symbol] = (newest, ids)
        return fresh

    async def _orderbook(self) -> float | None:
        rest = self.ctx.rest
        for symbol in self.chunk:
            book = await self._guarded(rest.fetch_order_book, symbol, BOOK_LIMIT)
            if book is not None:
                recv = time.time()
                self._ok(self.ctx.on_book(symbol, book, recv), recv)
        return None

    async def _ohlcv(self) -> float | None:
        """Each series is polled at a period tied to its timeframe (see :func:`period`).

        Requests start at the open time of the newest candle already seen, so no
        closed candle is skipped however far the exchange's clock ran meanwhile.
        """
        ctx, rest = self.ctx, self.ctx.rest
        now = anyio.current_time()
        for symbol in self.chunk:
            for tf in ctx.timeframes:
                key = (symbol, tf)
                if self._due.get(key, 0.0) > now:
                    continue
                since = ctx.tracker.current_open_time(symbol, tf)
                if since is None:
                    data = await self._guarded(rest.fetch_ohlcv, symbol, tf, None, 3)
                else:
                    data = await self._guarded(rest.fetch_ohlcv, symbol, tf, since, OHLCV_PAGE)
                if data is None:
                    continue
                recv = time.time()
                self._ok(ctx.on_ohlcv(symbol, tf, data, recv), recv)
                # a full page means there is more to catch up: come back at once
                full = since is not None and len(data) >= OHLCV_PAGE
                self._due[key] = now + (0.0 if full else period(rest, tf, ctx.cfg.poll_interval))
        # sleep until the earliest series is due again
        next_due = min(self._due.values(), default=now) - anyio.current_time()
        return max(0.05, next_due)


def period(rest: Any, timeframe: str, poll_interval: float) -> float:
    """About six polls per candle, at least one a minute, never faster than the
    configured ``poll_interval``."""
    seconds = float(rest.parse_timeframe(timeframe))
    return max(poll_interval, min(60.0, seconds / 6.0))
