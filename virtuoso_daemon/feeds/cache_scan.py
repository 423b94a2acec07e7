"""What changed in a ccxt instance's caches, published to the bus: hooks and scans.

Its own module because turning ccxt's caches into bus messages is a job apart from
running the sessions that fill them (:mod:`.streams`: connect, watch, fall back to
REST). :class:`CacheScan` finds what changed since it last looked (identity of
ccxt's per-update dicts, order-book nonces, the last trade published, the tracked
candle) and :class:`HookTable` lets tickers go out from inside ccxt's own handler.
Both run inside ccxt's message handling, so they count and log failures instead of
raising.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from virtuoso_daemon.feeds import trade_cache
from virtuoso_daemon.feeds.context import FeedContext

log = logging.getLogger("virtuoso.feeds")


class HookTable(dict[str, Any]):
    """ccxt's ``tickers`` table with a write callback.

    ccxt's websocket handlers store each parsed ticker with ``self.tickers[symbol] =
    ticker`` (a new dict per update) before they resolve any future: so this sees
    every ticker as soon as ccxt parsed it. (Trades are hooked on the cache itself,
    :mod:`.trade_cache`: not every exchange assigns its trade cache back.)
    """

    __slots__ = ("on_set",)

    def __init__(self, initial: Any, on_set: Callable[[str, Any], None]) -> None:
        super().__init__(initial or {})
        self.on_set = on_set

    def __setitem__(self, key: str, value: Any) -> None:
        dict.__setitem__(self, key, value)
        self.on_set(key, value)


class CacheScan:
    """Publishes what changed in one ccxt instance's caches for one chunk of symbols."""

    def __init__(
        self,
        ctx: FeedContext,
        ex: Any,
        chunk: list[str],
        on_gap: Callable[[str, str, int], None] | None = None,
    ) -> None:
        self.ctx = ctx
        self.ex = ex
        self.chunk = chunk
        self.on_gap = on_gap  # (symbol, timeframe, open time of the last candle seen)
        self._tf_ms = {tf: ctx.timeframe_ms(tf) for tf in ctx.timeframes}
        self._tickers: dict[str, Any] = {}  # symbol -> the ticker dict last published
        self._books: dict[str, tuple[Any, Any]] = {}  # symbol -> (nonce, timestamp)
        self._trades: dict[str, Any] = {}  # symbol -> the newest trade dict published
        self._notify: Callable[[float, int], None] | None = None
        self.hook_errors = 0

    # --- tickers ---------------------------------------------------------------------

    def _hook(
        self, table: str, on_set: Callable[[str, Any], None], notify: Callable[[float, int], None]
    ) -> bool:
        """Replace ccxt's ``table`` cache by a :class:`HookTable`; False if it has none."""
        current = getattr(self.ex, table, None)
        if not isinstance(current, dict):
            return False
        self._notify = notify
        setattr(self.ex, table, HookTable(current, on_set))
        return True

    def hook_tickers(self, notify: Callable[[float, int], None]) -> bool:
        """Publish tickers from ccxt's handler; False if this instance has no table."""
        return self._hook("tickers", self._on_ticker, notify)

    def hook_trades(self, notify: Callable[[float, int], None]) -> bool:
        """Publish each trade as ccxt appends it to its cache (see :mod:`.trade_cache`);
        False if this instance keeps no trade caches."""
        if not trade_cache.install(self.ex, self.chunk, self._on_trade):
            return False
        self._notify = notify
        return True

    def _on_trade(self, symbol: str, trade: Any) -> None:
        # inside ccxt's handler, like _on_ticker: count a failure, never raise
        try:
            self._trades[symbol] = trade  # the safety-net scan starts after it
            recv = time.time()
            n = self.ctx.on_trades((trade,), recv)
            if n and self._notify is not None:
                self._notify(recv, n)
        except Exception:
            self._hook_failed("trades")

    def _hook_failed(self, kind: str) -> None:
        self.hook_errors += 1
        self.ctx.health.errors[f"{kind}_hook"] += 1
        if self.hook_errors == 1:
            log.exception("%s: publishing %s from ccxt's handler failed", self.ctx.name, kind)

    def _on_ticker(self, symbol: str, t: Any) -> None:
        # runs inside ccxt's message handler: an exception here would be taken for a
        # broken message by ccxt, so it is logged and counted instead
        try:
            if t is self._tickers.get(symbol):
                return
            self._tickers[symbol] = t
            recv = time.time()
            if self.ctx.on_ticker(symbol, t, recv) and self._notify is not None:
                self._notify(recv, 1)
        except Exception:
            self._hook_failed("ticker")

    def tickers(self, _result: Any, recv: float, symbols: Sequence[str] | None = None) -> int:
        cache = self.ex.tickers
        seen = self._tickers
        batch = {}
        for s in symbols or self.chunk:
            t = cache.get(s)
            # ccxt builds a new dict per update, so identity means "unchanged"
            if t is not None and t is not seen.get(s):
                seen[s] = t
                batch[s] = t
        return self.ctx.on_tickers(batch, recv) if batch else 0

    def books(self, _result: Any, recv: float, symbols: Sequence[str] | None = None) -> int:
        cache = self.ex.orderbooks
        seen = self._books
        n = 0
        for s in symbols or self.chunk:
            book = cache.get(s)
            if book is None:
                continue
            mark = (book.get("nonce"), book.get("timestamp"))
            if mark != seen.get(s):
                seen[s] = mark
                n += self.ctx.on_book(s, book, recv)
                # ccxt trims a book to the watched depth only when a watch returns
                # it; with conflated re-arms the sides would grow to every level the
                # exchange ever sent a delta for (300 a side on the simulator)
                trim = getattr(book, "limit", None)
                if trim is not None:
                    trim()
        return n

    def _fresh_trades(self, symbol: str, arr: Any) -> list[Any]:
        """ccxt's cached trades of ``symbol`` newer than the last one published."""
        if not arr:
            return []
        prev = self._trades.get(symbol)
        newest = arr[-1]
        if newest is prev:
            return []
        self._trades[symbol] = newest
        fresh = []
        for t in reversed(arr):  # newest first, back to the last one published
            if t is prev:
                break
            fresh.append(t)
        else:
            if prev is not None:
                # the last trade published fell out of ccxt's cache (tradesLimit)
                # before this scan: trades in between are lost, and the feed says so
                self.ctx.health.lost(
                    "trades",
                    f"{symbol}: more trades than the cache holds ({len(arr)}) "
                    "arrived between two scans",
                )
        fresh.reverse()
        return fresh

    def trades(self, _result: Any, recv: float, symbols: Sequence[str] | None = None) -> int:
        cache = self.ex.trades
        out: list[Any] = []
        for s in symbols or self.chunk:
            out.extend(self._fresh_trades(s, cache.get(s)))
        return self.ctx.on_trades(out, recv) if out else 0

    def ohlcv(self, _result: Any, recv: float, symbols: Sequence[str] | None = None) -> int:
        ctx, tracker = self.ctx, self.ctx.tracker
        store = self.ex.ohlcvs
        n = 0
        for s in symbols or self.chunk:
            by_tf = store.get(s)
            if not by_tf:
                continue
            for tf in ctx.timeframes:
                cache = by_tf.get(tf)
                if not cache:
                    continue
                last = cache[-1]
                if tracker.unchanged(s, tf, last):
                    continue
                # rows from the newest back to the candle we track (kline rows are
                # updated in place by ccxt, so the normaliser copies them)
                cur = tracker.current_open_time(s, tf)
                tail = []
                for row in reversed(cache):
                    tail.append(row)
                    if cur is None or row[0] <= cur:
                        break
                tail.reverse()
                if cur is not None and self.on_gap is not None:
                    # a kline that skips one: candles closed that this stream never
                    # showed (a reconnect, or an exchange that dropped updates)
                    step, prev = self._tf_ms[tf], cur
                    for row in tail:
                        if row[0] - prev > step:
                            self.on_gap(s, tf, cur)
                            break
                        prev = max(prev, row[0])
                n += ctx.on_ohlcv(s, tf, tail, recv)
        return n
