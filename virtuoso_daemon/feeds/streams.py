"""Streaming first, REST when streaming fails: one runner per data kind and symbol chunk.

A :class:`ChunkRunner` owns one data kind (tickers, ohlcv, trades, orderbook) for one
chunk of symbols. It streams through its own ccxt instance (so a chunk gets its own
websocket connection, stays under the exchange's per-connection stream limit, and can
be torn down alone), and:

* a session that raises, or receives nothing for ``silent_timeout`` seconds, is
  ended: its ccxt instance is closed (dropping sockets, subscriptions and futures)
  and a fresh one connects after an exponential backoff with jitter;
* after :data:`FALLBACK_AFTER` sessions in a row without any data it switches that
  chunk to REST polling, and tries streaming again ``stream_retry`` seconds later;
* when streaming is off in config, or the exchange has no ``watch*`` method for the
  kind, it polls from the start.

Silence is watched by one timer task per session, so the per-message cost is one
clock read, not a cancel scope per ``await``.

What a wake-up costs is what sets the daemon's CPU per message, and so how long a
ticker waits behind a burst of other messages. Two rules keep it small:

* **Tickers are published from ccxt's own handler.** The chunk's ccxt instance gets
  a ``tickers`` table that calls back on every write (:class:`HookTable`), so a
  ticker reaches the bus in the same event-loop step in which ccxt parsed it, with no
  future to resolve and no task to wake. The watch loop then only keeps the
  subscription alive (and sees errors): it re-arms every :data:`TICKER_REARM` s and
  scans the cache as a safety net, which finds nothing new while the hook works.
  Trades go out the same way where the exchange's profile says its trade handler
  appends to a cache the feed provides (:mod:`.trade_cache`); elsewhere they are
  scanned, and a trade cache that overflowed between two scans marks the feed
  ``degraded`` (trades lost) instead of passing silently.
* **Other kinds are conflated.** After a wake-up the loop sleeps ``conflate[kind]``
  seconds before it scans again and re-arms, so a burst of kline, book or trade
  messages costs ccxt's parsing plus one scan, not one scan and one re-arm each.
  ccxt keeps applying every message to its caches meanwhile; a scan publishes the
  newest state (every new trade, every candle that changed).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import anyio
import anyio.lowlevel

from virtuoso_daemon.feeds import trade_cache
from virtuoso_daemon.feeds.backfill import Backfiller
from virtuoso_daemon.feeds.backoff import Backoff, error_kind
from virtuoso_daemon.feeds.context import FeedContext
from virtuoso_daemon.feeds.exchanges.profile import DEFAULT_STREAMS
from virtuoso_daemon.feeds.polling import STREAM_BOOK_LIMIT, Poller

log = logging.getLogger("virtuoso.feeds")

FALLBACK_AFTER = 3  # consecutive sessions without data before REST takes over
REST_CHUNK = 100  # symbols per REST poller when nothing streams

# a hooked watch (tickers, trades) only keeps the subscription alive and reports
# errors (the hook publishes), so it is re-armed this often, not after every message
TICKER_REARM = 1.0
# a conflated kind is scanned every ``conflate`` seconds and its watch re-armed (a
# ccxt subscription round for the whole chunk) only this often
CONFLATED_REARM = 5.0
# symbols per scan step: the loop yields between steps, so a scan of a large chunk
# never holds the event loop for more than a millisecond or two
SCAN_SLICE = 25

Handler = Callable[[Any, float, Sequence[str] | None], int]
Watcher = tuple[Callable[[], Awaitable[Any]], Handler]


class StreamSilent(Exception):
    """Nothing arrived on a stream for longer than the feed's ``silent_timeout``."""


def stream_plan(
    ex: Any, kind: str, n_timeframes: int, streams: int = DEFAULT_STREAMS
) -> tuple[str, int] | None:
    """Which ccxt watch method serves ``kind``, and how many symbols one session takes
    (``streams``: what one connection may carry, from the exchange's profile)."""
    has = ex.has
    per_symbol = max(1, n_timeframes) if kind == "ohlcv" else 1
    plans = {
        "tickers": (("watchTickers", streams), ("watchTicker", 1)),
        "ohlcv": (("watchOHLCVForSymbols", streams // per_symbol), ("watchOHLCV", 1)),
        "trades": (("watchTradesForSymbols", streams), ("watchTrades", 1)),
        "orderbook": (("watchOrderBookForSymbols", streams), ("watchOrderBook", 1)),
    }
    for method, size in plans.get(kind, ()):
        if has.get(method) is True:
            return method, max(1, size)
    return None


def first_error(exc: BaseException) -> BaseException:
    """The first leaf of an exception group (task groups wrap what their tasks raise)."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


class ChunkRunner:
    """One data kind for one chunk of symbols: stream if possible, else poll."""

    def __init__(
        self, ctx: FeedContext, kind: str, key: str, chunk: list[str], method: str | None
    ) -> None:
        self.ctx = ctx
        self.kind = kind
        self.key = key
        self.chunk = chunk
        self.method = method
        self.sessions = 0
        self.interval = 0.0 if kind == "tickers" else max(0.0, ctx.cfg.conflate.get(kind, 0.0))
        self.hooked = False  # tickers published from ccxt's handler (this session)
        self._last = 0.0
        self._got_data = False
        # ohlcv: (symbol, timeframe) -> open time of the last candle seen before a gap
        self.gaps: dict[tuple[str, str], int] = {}
        self._gap_noted = anyio.Event()

    async def run(self) -> None:
        ctx = self.ctx
        preferred = "stream" if self.method else "rest"
        try:
            while True:
                if self.method:
                    ctx.health.set_mode(self.key, "stream", preferred)
                    await self._stream_until_fallback()
                    log.warning(
                        "%s %s: stream failed %d times in a row; REST polling for %.0fs",
                        ctx.name,
                        self.key,
                        FALLBACK_AFTER,
                        ctx.cfg.stream_retry,
                    )
                ctx.health.set_mode(self.key, "rest", preferred)
                poller = Poller(ctx, self.kind, self.key, self.chunk)
                if self.method:
                    with anyio.move_on_after(ctx.cfg.stream_retry):
                        await poller.run()
                else:
                    await poller.run()
        finally:
            ctx.health.drop(self.key)

    # --- streaming -------------------------------------------------------------------

    async def _stream_until_fallback(self) -> None:
        ctx = self.ctx
        backoff = Backoff(ctx.cfg.backoff_initial, ctx.cfg.backoff_max)
        failures = 0
        self._note_gaps()  # after a restart or REST spell: candles may have closed unseen
        while True:
            await ctx.gate.wait()
            ex = ctx.factory.create(markets_from=ctx.rest, kind=self.kind)
            self._got_data = False
            self.sessions += 1
            error: BaseException
            try:
                await self._session(ex)
                error = RuntimeError("stream session ended")
            except Exception as exc:
                error = first_error(exc)
            finally:
                await ctx.factory.close(ex)
            self._note_gaps()
            kind = "silent" if isinstance(error, StreamSilent) else error_kind(error)
            ctx.record_failure(self.key, error, kind)
            ctx.health.reconnects += 1
            if self._got_data:
                failures = 0
                backoff.reset()
            failures += 1
            if failures >= FALLBACK_AFTER:
                return
            delay = backoff.next()
            log.log(
                logging.WARNING if kind == "other" else logging.INFO,
                "%s %s: stream %s (%s); reconnecting in %.2fs",
                ctx.name,
                self.key,
                kind,
                str(error)[:200],
                delay,
                # an unclassified error may be ours, not the exchange's: keep the trace
                exc_info=error if kind == "other" else None,
            )
            await anyio.sleep(delay)

    async def _session(self, ex: Any) -> None:
        watchers = self._watchers(ex)
        self._last = anyio.current_time()
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._watchdog)
            for start, handle in watchers:
                tg.start_soon(self._watch_loop, start, handle)
            if self.kind == "ohlcv" and self.ctx.backfiller is not None:
                tg.start_soon(self._catch_up_loop, self.ctx.backfiller)

    async def _catch_up_loop(self, backfiller: Backfiller) -> None:
        """Refetch over REST what the stream missed (while down, or skipped)."""
        while True:
            self._gap_noted = anyio.Event()
            if self.gaps:
                await backfiller.catch_up(self.gaps)
            if not self.gaps:
                await self._gap_noted.wait()

    def _gap(self, symbol: str, timeframe: str, since: int) -> None:
        self.gaps.setdefault((symbol, timeframe), since)
        self._gap_noted.set()

    def _note_gaps(self) -> None:
        """Remember where each series stood when its stream stopped (oldest wins)."""
        if self.kind != "ohlcv":
            return
        tracker = self.ctx.tracker
        for s in self.chunk:
            for tf in self.ctx.timeframes:
                cur = tracker.current_open_time(s, tf)
                if cur is not None:
                    self.gaps.setdefault((s, tf), cur)

    async def _watchdog(self) -> None:
        timeout = self.ctx.cfg.silent_timeout
        tick = min(1.0, timeout / 4)
        while True:
            await anyio.sleep(tick)
            silent = anyio.current_time() - self._last
            if silent > timeout:
                raise StreamSilent(f"no data for {silent:.1f}s (silent_timeout {timeout:g}s)")

    async def _watch_loop(self, start: Callable[[], Awaitable[Any]], handle: Handler) -> None:
        clock = anyio.current_time
        while True:
            await start()  # (re)subscribes; resolves on the next message
            self._last = clock()
            self._got_data = True
            await self._scan(handle)
            if self.interval <= 0:
                continue
            # ccxt keeps applying messages to its caches while this sleeps; a scan then
            # publishes the newest state, and the watch is re-armed only now and then
            rearm_at = clock() + (TICKER_REARM if self.hooked else CONFLATED_REARM)
            while True:
                await anyio.sleep(self.interval)
                if await self._scan(handle):
                    self._last = clock()
                if clock() >= rearm_at:
                    break

    async def _scan(self, handle: Handler) -> int:
        """Publish what changed in the caches, a slice of the chunk per loop step."""
        chunk, total = self.chunk, 0
        for i in range(0, len(chunk), SCAN_SLICE):
            if i:
                await anyio.lowlevel.checkpoint()
            recv = time.time()
            n = handle(None, recv, chunk[i : i + SCAN_SLICE])
            if n:
                self.ctx.health.ok(self.key, self.kind, recv, n)
                total += n
        return total

    def _on_hooked(self, recv: float, n: int) -> None:
        """A ticker went out from ccxt's handler (see :class:`HookTable`)."""
        self._last = anyio.current_time()
        self._got_data = True
        self.ctx.health.ok(self.key, self.kind, recv, n)

    def _watchers(self, ex: Any) -> list[Watcher]:
        """What to await, and what to do on each wake-up.

        For tickers, klines and books a resolved watch is only a wake-up call: ccxt
        resolves one future per message but keeps applying every message to its
        caches (``ex.tickers``, ``ex.ohlcvs``, ``ex.orderbooks``), so the handler
        scans the chunk's cache entries and publishes whatever changed. That is
        lossless for the newest value even when a burst arrives between two wake-ups,
        and it costs one scan per wake-up instead of one future race per message.
        Trades are scanned the same way (every trade after the last one published).
        """
        ctx, chunk, method = self.ctx, self.chunk, self.method
        scan = CacheScan(ctx, ex, chunk, self._gap)
        if self.kind == "tickers":
            self.hooked = scan.hook_tickers(self._on_hooked)
        elif self.kind == "trades" and ctx.profile.trade_hook:
            self.hooked = scan.hook_trades(self._on_hooked)
        if self.hooked:
            self.interval = TICKER_REARM  # a safety-net scan per re-arm, nothing more
        if method == "watchTickers":
            return [(lambda: ex.watch_tickers(chunk), scan.tickers)]
        if method == "watchTicker":
            return [(_bind(ex.watch_ticker, s), scan.tickers) for s in chunk]
        if method == "watchOHLCVForSymbols":
            pairs = [[s, tf] for s in chunk for tf in ctx.timeframes]
            return [(lambda: ex.watch_ohlcv_for_symbols(pairs), scan.ohlcv)]
        if method == "watchOHLCV":
            return [
                (_bind(ex.watch_ohlcv, s, tf), scan.ohlcv) for s in chunk for tf in ctx.timeframes
            ]
        if method == "watchTradesForSymbols":
            return [(lambda: ex.watch_trades_for_symbols(chunk), scan.trades)]
        if method == "watchTrades":
            return [(_bind(ex.watch_trades, s), scan.trades) for s in chunk]
        depth = ctx.profile.book_depth(ctx.market, STREAM_BOOK_LIMIT)
        if method == "watchOrderBookForSymbols":
            return [(lambda: ex.watch_order_book_for_symbols(chunk, depth), scan.books)]
        if method == "watchOrderBook":
            return [(_bind(ex.watch_order_book, s, depth), scan.books) for s in chunk]
        raise ValueError(f"no watcher for {method!r}")


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


def _bind(fn: Callable[..., Awaitable[Any]], *args: Any) -> Callable[[], Awaitable[Any]]:
    return lambda: fn(*args)
