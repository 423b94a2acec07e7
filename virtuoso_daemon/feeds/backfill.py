"""History on start: OHLCV pages per timeframe, and funding / open interest for perps.

OHLCV backfill pages ``fetch_ohlcv`` forward with ``since``: it starts
``backfill_candles`` candles before the exchange's current candle and asks for the
exchange's page limit (binance spot: 1000) until the present is reached, so 2200
candles take three requests per series. A page that starts after ``since``, comes
back short before the present or jumps over candles leaves a gap: gaps are asked
for once more and what stays missing is reported per series (``FeedStatus.gaps``,
``/api/market/exchanges``, the beta answer), never silently accepted.
Every page goes out as one :class:`~virtuoso_daemon.core.messages.CandleBatch` of closed
candles (the open one is the stream's). The same paging refetches what a stream
missed while it was down (:meth:`Backfiller.catch_up`), and the candles that closed
between a series' backfill and the first candle its stream showed, when the stream
got going only after them (a slow page, a late connection). After a restart the market
store's reloaded candles count (:func:`resume_since`): paging starts after the newest
stored closed candle, so a restart fetches only what it missed.
The exchange's clock is asked once per run (``fetch_time`` where ccxt has it): it
may differ from ours (skew, or a simulator running faster than real time).

Funding rates and open interest change slowly and have no streams worth their cost,
so perpetual feeds fetch them on start and then every ``derivatives_refresh``.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import anyio

from virtuoso_daemon.core.messages import CandleGap
from virtuoso_daemon.feeds import normalize
from virtuoso_daemon.feeds.backoff import Backoff
from virtuoso_daemon.feeds.context import FeedContext
from virtuoso_daemon.feeds.coverage import find_gaps
from virtuoso_daemon.market import requests

log = logging.getLogger("virtuoso.feeds")

MAX_PAGE = 1000  # never ask for more per request, whatever ccxt says the exchange allows


def page_limit(ctx: FeedContext) -> int:
    """Rows per kline request: the exchange profile's (or ccxt's ``features``), capped."""
    return ctx.profile.page(ctx.rest, ctx.market, MAX_PAGE)


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


def resume_since(since: int, tf_ms: int, stored: dict[str, Any] | None) -> int:
    """Where a series' backfill starts, given what the store kept across a restart.

    Backfill pages forward from the oldest candle, and the store persists what it got,
    so the newest stored closed candle marks where the previous run stopped, whether
    it finished or was interrupted mid-series: paging resumes right after it. History
    older than the stored candles is not refetched (it only matters if
    ``backfill_candles`` was raised between runs); a gap in the middle of stored
    history is left to the analytics, which treat it as missing candles.
    """
    if not stored or stored.get("last_closed") is None:
        return since
    return max(since, int(stored["last_closed"]) + tf_ms)


class Backfiller:
    """Pages OHLCV history: the initial backfill, and catch-ups after stream gaps."""

    def __init__(self, ctx: FeedContext) -> None:
        self.ctx = ctx
        self.done: set[tuple[str, str]] = set()
        self.pages = 0
        self.rows = 0
        self.catch_ups = 0
        self.total = 0  # series the current backfill covers (done + to do)
        self.resumed = 0  # series that started from stored candles instead of from scratch

    async def _stored_coverage(self) -> dict[str, Any]:
        """What the market store already holds (reloaded from disk) for this exchange."""
        try:
            with anyio.fail_after(5):
                cov = await requests.coverage(self.ctx.runtime, self.ctx.name)
        except Exception as exc:  # no store (feeds-only tests) or not ready: full backfill
            log.debug("%s: no stored coverage (%s); full backfill", self.ctx.name, exc)
            return {}
        result: dict[str, Any] = cov.get(self.ctx.name, {})
        return result

    def forget(self, symbol: str) -> None:
        """A removed symbol gets a full backfill again if it is added back."""
        self.done = {k for k in self.done if k[0] != symbol}

    async def run(self, symbols: list[str]) -> None:
        """Backfill every (symbol, timeframe) not done yet."""
        ctx = self.ctx
        # coarse timeframes first: the long analytics windows (1h/4h/1d betas) are
        # usable sooner, and 1m history matters least
        frames = sorted(ctx.timeframes, key=ctx.timeframe_ms, reverse=True)
        frames = [tf for tf in frames if ctx.cfg.backfill_for(tf) > 0]
        todo = [(s, tf) for tf in frames for s in symbols if (s, tf) not in self.done]
        if not todo:
            return
        self.total = len(self.done) + len(todo)
        started = time.monotonic()
        pages_before, rows_before, resumed_before = self.pages, self.rows, self.resumed
        now_ms = await exchange_now_ms(ctx)
        stored = await self._stored_coverage()
        for symbol, tf in todo:
            tf_ms = ctx.timeframe_ms(tf)
            want = ctx.cfg.backfill_for(tf)
            since = resume_since(
                now_ms // tf_ms * tf_ms - want * tf_ms, tf_ms, stored.get(symbol, {}).get(tf)
            )
            if since != now_ms // tf_ms * tf_ms - want * tf_ms:
                self.resumed += 1
            await self._retrying(symbol, tf, since, now_ms)
            self.done.add((symbol, tf))
        # this backfill's own numbers (the counters run across backfills and catch-ups)
        log.info(
            "%s: backfilled %d series (%d resumed from stored candles; %d pages, %d candles)"
            " in %.1fs",
            ctx.name,
            len(todo),
            self.resumed - resumed_before,
            self.pages - pages_before,
            self.rows - rows_before,
            time.monotonic() - started,
        )

    async def catch_up(self, gaps: dict[tuple[str, str], int]) -> None:
        """Refetch each series from the last candle seen before a gap (a dropped or
        paused stream) up to now, so candles that closed meanwhile are not lost and the
        one that was open gets its final values. Completed entries leave ``gaps``."""
        ctx = self.ctx
        if not gaps:
            return
        now_ms = await exchange_now_ms(ctx)
        for key, since in list(gaps.items()):
            symbol, tf = key
            tf_ms = ctx.timeframe_ms(tf)
            present = now_ms // tf_ms * tf_ms
            if symbol in ctx.symbol_set and present > since:
                # after a long outage: no further back than a backfill would go
                oldest = present - max(ctx.cfg.backfill_for(tf), MAX_PAGE) * tf_ms
                await self._retrying(symbol, tf, max(since, oldest), now_ms)
                self.catch_ups += 1
            gaps.pop(key, None)

    async def _retrying(self, symbol: str, tf: str, since: int, now_ms: int) -> None:
        """Page one series until it succeeds (or the feed stops)."""
        backoff = Backoff(self.ctx.cfg.backoff_initial, self.ctx.cfg.backoff_max)
        while True:
            try:
                await self.series(symbol, tf, since, now_ms)
            except Exception:
                await anyio.sleep(backoff.next())
                continue
            self.ctx.health.clear("backfill")
            return

    async def series(self, symbol: str, tf: str, since: int, now_ms: int) -> None:
        """Closed candles from ``since`` up to the present, one CandleBatch per page.

        Pages run until the present is reached: a page that comes back short before
        it (an exchange that cut it, or a hole) does not end the series, paging goes
        on after its last row. The newest row, when it is the candle still open at
        ``now_ms`` (the exchange's clock when this run started), is left to the stream
        or poller, which follow it until it closes: a batch only ever carries final
        values, so whatever order batches and live candles arrive in, a consumer that
        keeps the newest write per open time ends with the exchange's final candle.

        What is still missing afterwards (:func:`.coverage.find_gaps`) is asked for
        once more, range by range, and what stays missing is reported per series in
        the feed's status.
        """
        ctx = self.ctx
        tf_ms = ctx.timeframe_ms(tf)
        present = now_ms // tf_ms * tf_ms
        times, last_closed = await self._pages(symbol, tf, since, present, now_ms)
        gaps = find_gaps(times, since, present, tf_ms)
        if gaps:
            # a hole can be a passing fault: each range is asked for once more
            for gap in gaps:
                more, last = await self._pages(symbol, tf, gap.start, gap.end, now_ms)
                times += more
                if last is not None and (last_closed is None or last[0] > last_closed[0]):
                    last_closed = last
            gaps = find_gaps(times, since, present, tf_ms)
        self.record_gaps(symbol, tf, since, present, gaps)
        if last_closed is not None:
            first = ctx.tracker.first_live(symbol, tf)
            ctx.tracker.seed(symbol, tf, last_closed)
            if first is not None and first - last_closed[0] > tf_ms:
                # the stream began after candles newer than these had closed (it
                # connected late, or this page took long): nobody fetched those yet
                await self.catch_up({(symbol, tf): last_closed[0] + tf_ms})

    async def _pages(
        self, symbol: str, tf: str, since: int, stop: int, now_ms: int
    ) -> tuple[list[int], normalize.Row | None]:
        """Page forward from ``since`` until open time ``stop`` (or the exchange has
        nothing more); publish the closed rows. (open times received, newest closed)

        Every page moves ``since`` forward by at least one candle, so the candles
        wanted bound the requests, however short the exchange cuts its pages."""
        ctx = self.ctx
        tf_ms = ctx.timeframe_ms(tf)
        limit = page_limit(ctx)
        times: list[int] = []
        last_closed: normalize.Row | None = None
        for _ in range(max(0, stop - since) // tf_ms + 2):
            if since >= stop:
                break
            data = await ctx.call("backfill", ctx.rest.fetch_ohlcv, symbol, tf, since, limit)
            rows = [r for r in normalize.rows(data) if r[0] >= since]
            if not rows:
                if not ctx.profile.kline_windowed:
                    break  # "from since on" answered nothing: there is nothing later
                since += limit * tf_ms  # an empty window (a hole): the next one
                continue
            since = rows[-1][0] + tf_ms
            times += [r[0] for r in rows]
            if rows[-1][0] + tf_ms > now_ms:
                rows.pop()  # still open
            rows = [r for r in rows if r[0] < stop]
            if rows:
                await ctx.on_candle_batch(symbol, tf, rows)
                self.pages += 1
                self.rows += len(rows)
                last_closed = rows[-1]
        return times, last_closed

    def record_gaps(
        self, symbol: str, tf: str, start: int, stop: int, gaps: list[CandleGap]
    ) -> None:
        """Report what one series' paging over ``[start, stop)`` could not get: gaps
        reported before in that range are replaced, older ones stay."""
        book = self.ctx.health.gaps
        kept = [g for g in book.get(symbol, {}).get(tf, []) if g.end <= start or g.start >= stop]
        gaps = sorted(kept + gaps, key=lambda g: g.start)
        if gaps:
            book.setdefault(symbol, {})[tf] = gaps
            # history that starts later than asked (a young listing, a short exchange
            # archive) is reported in the coverage but is not a fault: INFO; a hole
            # inside the series or at its end is one: WARNING
            holes = [g for g in gaps if g.where != "head"]
            log.log(
                logging.WARNING if holes else logging.INFO,
                "%s: %s %s backfill is missing %d candles in %d range(s)%s",
                self.ctx.name,
                symbol,
                tf,
                sum(g.missing for g in gaps),
                len(gaps),
                "" if holes else " (history starts later than requested)",
            )
        elif symbol in book:
            book[symbol].pop(tf, None)
            if not book[symbol]:
                del book[symbol]


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
