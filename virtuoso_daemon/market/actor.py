"""Market store actor: candles, recent trades, order-book summaries, funding and OI.

What it keeps (all bounded, sizes from ``[store]``; :mod:`.state`):

* OHLCV per (exchange, symbol, timeframe) in a :class:`~.ringbuffer.CandleRing`
  of ``store.candles`` slots (per timeframe), aligned on open time. ``Candle``
  messages (open and closed) update one slot in place; ``CandleBatch`` pages
  (backfill, REST polling) are written vectorised, a row counting as closed once its
  period has ended by the batch's receive time. No Python object per candle is kept.
* The newest ``store.trades`` trades per (exchange, symbol).
* The newest ``OrderBookTop`` per (exchange, symbol) and the last
  :data:`.state.BOOK_HISTORY` summaries ``(ts, mid, spread, bid_depth, ask_depth)`` in a
  numpy ring.
* The newest ``Funding`` and ``OpenInterest`` per (exchange, symbol).

How readers get at it -- never by touching the actor's buffers:

* **Requests** on topic :data:`STORE_QUERIES` (``"store_queries"``, lossless) via
  ``await bus.request(STORE_QUERIES, body)`` with a typed request of
  :mod:`.store_requests` (its tag first below; ``market.requests`` wraps them;
  :mod:`.answers` computes the replies). The actor answers each request in one
  synchronous step with freshly copied arrays, so a reply can never contain a
  half-written buffer and the caller owns what it gets:

  ``ohlcv`` {exchange, symbol, timeframe, limit, since=None, closed_only=False}
      -> {"known": bool, "times": int64[k], "values": float64[k, 5], "closed": bool[k]}
      (present candles only, oldest first; see ``CandleRing.rows``).
  ``closes`` {exchange, timeframe, symbols, n, closed_only=True, end=None}
      -> ``(open_times int64[n], closes float64[len(symbols), n])`` on one time axis
      ending at ``end`` or at the newest (closed) candle among the symbols; a missing
      candle (gap, unknown symbol, open candle when ``closed_only``) is NaN. This is
      what the beta calculator uses (``queries.closes`` wraps it).
  ``trades`` {exchange, symbol, limit} -> list[Trade], newest first.
  ``orderbook`` {exchange, symbol, history=0}
      -> {"top": OrderBookTop | None, "history": float64[h, 5]} (oldest first).
  ``coverage`` {exchange=None}
      -> {exchange: {symbol: {timeframe: {"first", "last", "last_closed", "count"}}}}
      (open times in ms; for feeds deciding how much history to backfill).
  ``persist`` {} -> {"files": n, "bytes": b}: write dirty series now (backups).

  Bad arguments are answered with ``req.fail("bad_request", ...)``.
* **Views** (republished at most every :data:`VIEW_INTERVAL` s when changed):
  ``market.funding`` (list[Funding]), ``market.open_interest`` (list[OpenInterest]),
  ``market.store.series`` ({exchange: {symbol: [timeframes]}}).

Persistence (:mod:`.persister`): series whose closed candles changed are written to
the state directory (:mod:`.persistence`: one ``.npz`` per series, atomic tmp + fsync
+ rename) every ``store.persist_interval`` seconds, in a worker thread, and once more on shutdown
inside a shielded scope bounded by :func:`_final_persist_deadline`. On start the
files of the configured exchanges and timeframes are loaded before the actor reports
ready, so a restart needs to backfill only the candles it missed (``coverage``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, ClassVar

import anyio
import anyio.abc

from virtuoso_daemon.core.bus import Request, Subscription, Topics
from virtuoso_daemon.core.config import Config
from virtuoso_daemon.core.exchanges import exchange_configs
from virtuoso_daemon.core.runtime import Runtime
from virtuoso_daemon.core.supervisor import run_with_deadline
from virtuoso_daemon.market import answers
from virtuoso_daemon.market.persister import SeriesPersister
from virtuoso_daemon.market.state import MarketData
from virtuoso_daemon.market.store_requests import (
    Closes,
    Coverage,
    OhlcvRows,
    OrderBook,
    Persist,
    RecentTrades,
)

log = logging.getLogger("virtuoso.store")

STORE_QUERIES = Topics.STORE_QUERIES
VIEW_INTERVAL = 0.5  # funding / open interest / series views: at most this often
CANDLE_QUEUE = 8192  # live candles: a scan of a large chunk publishes hundreds at once
HISTORY_QUEUE = 16  # history pages (lossless topic: the backfill waits for room)


def _final_persist_deadline(config: Config) -> float:
    # part of the daemon's shutdown budget; the rest is for the other actors
    return max(0.5, min(2.5, config.daemon.shutdown_timeout * 0.6))


class MarketStoreActor:
    """Owns the market history in memory and on disk; see the module docstring.

    The actor holds the loops (ingest, requests, persistence, views) and the wiring;
    the data is :class:`.state.MarketData`, the files :class:`.persister.SeriesPersister`.
    """

    name = "market_store"
    config_sections: ClassVar[tuple[str, ...]] = ("store",)

    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime
        cfg = runtime.config.store
        self.persist_interval = cfg.persist_interval
        self.data = MarketData(runtime, cfg)
        self.persister = SeriesPersister(runtime.state_dir, self.data)
        self.counters: dict[str, int] = {"queries": 0, "query_errors": 0}

    # --- lifecycle ---------------------------------------------------------------------

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        await self.persister.load(self._wanted_series())
        bus, data = self.rt.bus, self.data
        subs: list[tuple[Subscription[Any], Callable[[Any], None]]] = [
            (
                bus.subscribe(Topics.CANDLES, name=self.name, maxsize=CANDLE_QUEUE),
                data.on_candles,
            ),
            (
                bus.subscribe(Topics.CANDLE_HISTORY, name=self.name, maxsize=HISTORY_QUEUE),
                data.on_candles,
            ),
            (bus.subscribe(Topics.TRADES, name=self.name), data.on_trade),
            (bus.subscribe(Topics.ORDERBOOK, name=self.name), data.on_book),
            (bus.subscribe(Topics.FUNDING, name=self.name), data.on_funding),
            (bus.subscribe(Topics.OPEN_INTEREST, name=self.name), data.on_open_interest),
        ]
        queries: Subscription[Request] = bus.subscribe(STORE_QUERIES, name=self.name, lossy=False)
        self.rt.stats[self.name] = self.stats
        try:
            async with anyio.create_task_group() as tg:
                for sub, handler in subs:
                    tg.start_soon(self._consume, sub, handler)
                tg.start_soon(self._serve_queries, queries, tg)
                tg.start_soon(self._persist_loop)
                tg.start_soon(self._view_loop)
                self._publish_views(force=True)
                task_status.started()
        finally:
            for sub, _ in subs:
                sub.close()
            queries.close()
            await run_with_deadline(self._final_persist, _final_persist_deadline(self.rt.config))

    async def _final_persist(self) -> None:
        await self.persist()

    async def reconfigure(self, config: Config) -> None:
        cfg = config.store
        self.persist_interval = cfg.persist_interval
        for key in self.data.resize(cfg):
            self.persister.forget(key)
        log.info("store reconfigured: candles=%s trades=%d", cfg.candles, self.data.trades_size)

    def _wanted_series(self) -> list[tuple[str, str, int]]:
        out = []
        for ex in exchange_configs(self.rt):
            for tf in ex.timeframes:
                ms = self.data.timeframe_ms(tf)
                if ms is not None:
                    out.append((ex.name, tf, ms))
        return out

    # --- loops ---------------------------------------------------------------------------

    async def persist(self) -> dict[str, int]:
        """Write every series whose closed candles changed (:meth:`.SeriesPersister.persist`)."""
        return await self.persister.persist()

    async def _persist_loop(self) -> None:
        while True:
            await anyio.sleep(self.persist_interval)
            await self.persist()

    async def _consume(self, sub: Subscription[Any], handler: Callable[[Any], None]) -> None:
        async for msg in sub:
            handler(msg)

    def _publish_views(self, force: bool = False) -> None:
        dirty = {"funding", "open_interest", "series"} if force else self.data.dirty_views
        for key, value in self.data.view_values(dirty).items():
            self.rt.views.publish(key, value)
        self.data.dirty_views = set()

    async def _view_loop(self) -> None:
        while True:
            await anyio.sleep(VIEW_INTERVAL)
            if self.data.dirty_views:
                self._publish_views()

    # --- queries -----------------------------------------------------------------------

    async def _serve_queries(self, sub: Subscription[Request], tg: anyio.abc.TaskGroup) -> None:
        data = self.data
        async for req in sub:
            self.counters["queries"] += 1
            if isinstance(req.body, Persist):
                tg.start_soon(self._persist_request, req)
                continue
            try:
                match req.body:
                    case OhlcvRows():
                        req.reply(answers.ohlcv(data, req.body))
                    case Closes():
                        req.reply(answers.closes(data, req.body))
                    case RecentTrades():
                        req.reply(answers.recent_trades(data, req.body))
                    case OrderBook():
                        req.reply(answers.orderbook(data, req.body))
                    case Coverage():
                        req.reply(answers.coverage(data, req.body))
                    case _:
                        self.counters["query_errors"] += 1
                        req.fail("unknown_command", f"market store has no command {req.command!r}")
            except Exception as exc:  # a bad request must never take the store down
                self.counters["query_errors"] += 1
                log.debug("store query %s failed", req.command, exc_info=True)
                req.fail("bad_request", f"{req.command}: {type(exc).__name__}: {exc}")

    async def _persist_request(self, req: Request) -> None:
        try:
            req.reply(await self.persist())
        except OSError as exc:
            req.fail("persist_failed", str(exc))

    # --- stats ---------------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        return {
            **self.data.counters,
            **self.counters,
            **self.data.stats(),
            "persist": dict(self.persister.persist_stats),
            "loaded": dict(self.persister.load_stats),
            "capacity": self.data.store_cfg.candles,
        }
