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
  a ``tickers`` table that calls back on every write (:class:`.cache_scan.HookTable`), so a
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

from virtuoso_daemon.feeds.backfill import Backfiller
from virtuoso_daemon.feeds.backoff import Backoff, error_kind
from virtuoso_daemon.feeds.cache_scan import CacheScan
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
            # the error's traceback runs through ccxt's frames of the closed instance:
            # kept over the next session, it kept that instance (books, caches) alive
            del error, ex
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
        """A ticker went out from ccxt's handler (see :class:`.cache_scan.HookTable`)."""
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


def _bind(fn: Callable[..., Awaitable[Any]], *args: Any) -> Callable[[], Awaitable[Any]]:
    return lambda: fn(*args)
