"""Market store actor: candles, recent trades, order-book summaries, funding and OI.

What it keeps (all bounded, sizes from ``[store]``):

* OHLCV per (exchange, symbol, timeframe) in a :class:`~..store.ringbuffer.CandleRing`
  of ``store.candles`` slots (per timeframe), aligned on open time. ``Candle``
  messages (open and closed) update one slot in place; ``CandleBatch`` pages
  (backfill, REST polling) are written vectorised, a row counting as closed once its
  period has ended by the batch's receive time. No Python object per candle is kept.
* The newest ``store.trades`` trades per (exchange, symbol).
* The newest ``OrderBookTop`` per (exchange, symbol) and the last
  :data:`BOOK_HISTORY` summaries ``(ts, mid, spread, bid_depth, ask_depth)`` in a
  numpy ring.
* The newest ``Funding`` and ``OpenInterest`` per (exchange, symbol).

How readers get at it -- never by touching the actor's buffers:

* **Requests** on topic :data:`STORE_QUERIES` (``"store_queries"``, lossless) via
  ``await bus.request(STORE_QUERIES, body)`` with a typed request of
  :mod:`.store_requests` (its tag first below; ``market.requests`` wraps them).
  The actor answers each request in one synchronous step with freshly copied
  arrays, so a reply can never contain a half-written buffer and the caller owns what it gets:

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

Persistence: series whose closed candles changed are written to the state directory
(``storage/candles.py``: one ``.npz`` per series, atomic tmp + fsync + rename) every
``store.persist_interval`` seconds, in a worker thread, and once more on shutdown
inside a shielded scope bounded by :func:`_final_persist_deadline`. On start the
files of the configured exchanges and timeframes are loaded before the actor reports
ready, so a restart needs to backfill only the candles it missed (``coverage``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import anyio
import anyio.abc
import msgspec
import numpy as np

from virtuoso_daemon.analytics.timeframes import timeframe_ms
from virtuoso_daemon.core import malloc
from virtuoso_daemon.core.bus import Request, Subscription, Topics
from virtuoso_daemon.core.config import Config
from virtuoso_daemon.core.exchanges import exchange_configs
from virtuoso_daemon.core.messages import (
    Candle,
    CandleBatch,
    Funding,
    OpenInterest,
    OrderBookTop,
    Trade,
)
from virtuoso_daemon.core.numbers import round_sig
from virtuoso_daemon.core.runtime import Runtime
from virtuoso_daemon.core.supervisor import run_with_deadline
from virtuoso_daemon.market import persistence as disk
from virtuoso_daemon.market.ringbuffer import (
    CandleRing,
    FloatArray,
    FloatRing,
    IntArray,
    batch_arrays,
)
from virtuoso_daemon.market.store_requests import (
    Closes,
    Coverage,
    OhlcvRows,
    OrderBook,
    Persist,
    RecentTrades,
)
from virtuoso_daemon.market.trades import TradeWindow

log = logging.getLogger("virtuoso.store")

STORE_QUERIES = Topics.STORE_QUERIES
BOOK_HISTORY = 300  # order-book summaries kept per symbol
VIEW_INTERVAL = 0.5  # funding / open interest / series views: at most this often
CANDLE_QUEUE = 8192  # live candles: a scan of a large chunk publishes hundreds at once
HISTORY_QUEUE = 16  # history pages (lossless topic: the backfill waits for room)
PERSIST_BATCH = 64  # series copied and written per worker-thread call (see persist)

SeriesKey = tuple[str, str, str]  # exchange, symbol, timeframe
SymbolKey = tuple[str, str]  # exchange, symbol


def _final_persist_deadline(config: Config) -> float:
    # part of the daemon's shutdown budget; the rest is for the other actors
    return max(0.5, min(2.5, config.daemon.shutdown_timeout * 0.6))


class MarketStoreActor:
    """Owns the market history in memory and on disk; see the module docstring."""

    name = "market_store"
    config_sections: ClassVar[tuple[str, ...]] = ("store",)

    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime
        cfg = runtime.config.store
        self.store_cfg = cfg
        self.trades_size = cfg.trades
        self.persist_interval = cfg.persist_interval
        self.state_dir: Path = runtime.state_dir
        self.series: dict[SeriesKey, CandleRing] = {}
        self.trades: dict[SymbolKey, TradeWindow] = {}
        self.books: dict[SymbolKey, OrderBookTop] = {}
        self.book_history: dict[SymbolKey, FloatRing] = {}
        self.funding: dict[SymbolKey, Funding] = {}
        self.open_interest: dict[SymbolKey, OpenInterest] = {}
        self._persisted: dict[SeriesKey, int] = {}  # closed_version last written
        self._tf_ms: dict[str, int | None] = {}
        self._dirty_views: set[str] = set()
        self._persist_lock = anyio.Lock()
        self.counters: dict[str, int] = {
            "candles": 0,
            "batches": 0,
            "batch_rows": 0,
            "bad_timeframe": 0,
            "trades": 0,
            "books": 0,
            "funding": 0,
            "open_interest": 0,
            "queries": 0,
            "query_errors": 0,
        }
        self.persist_stats: dict[str, Any] = {
            "runs": 0,
            "files": 0,
            "bytes": 0,
            "errors": 0,
            "last_error": None,
            "last_ts": None,
            "last_seconds": None,
        }
        self.load_stats: dict[str, Any] = {
            "series": 0,
            "candles": 0,
            "corrupt": 0,
            "discarded": 0,  # rows of readable files that failed disk.sane
            "seconds": 0.0,
        }

    # --- lifecycle ---------------------------------------------------------------------

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        await self._load()
        bus = self.rt.bus
        subs: list[tuple[Subscription[Any], Callable[[Any], None]]] = [
            (
                bus.subscribe(Topics.CANDLES, name=self.name, maxsize=CANDLE_QUEUE),
                self._on_candles,
            ),
            (
                bus.subscribe(Topics.CANDLE_HISTORY, name=self.name, maxsize=HISTORY_QUEUE),
                self._on_candles,
            ),
            (bus.subscribe(Topics.TRADES, name=self.name), self._on_trade),
            (bus.subscribe(Topics.ORDERBOOK, name=self.name), self._on_book),
            (bus.subscribe(Topics.FUNDING, name=self.name), self._on_funding),
            (bus.subscribe(Topics.OPEN_INTEREST, name=self.name), self._on_open_interest),
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
        if cfg.trades != self.trades_size:
            self.trades_size = cfg.trades
            for sym_key, window in self.trades.items():
                self.trades[sym_key] = window.resized(cfg.trades)
        self.store_cfg = cfg
        for key, ring in self.series.items():
            capacity = cfg.candles_for(key[2])
            if capacity != ring.capacity:
                times, values, closed, valid = ring.window()
                new = CandleRing(capacity, ring.tf_ms)
                new.update_many(times[valid], values[valid], closed[valid])
                self.series[key] = new
                self._persisted.pop(key, None)
        log.info("store reconfigured: candles=%s trades=%d", cfg.candles, self.trades_size)

    # --- loading and persisting --------------------------------------------------------

    def _wanted_series(self) -> list[tuple[str, str, int]]:
        out = []
        for ex in exchange_configs(self.rt):
            for tf in ex.timeframes:
                ms = self._timeframe_ms(tf)
                if ms is not None:
                    out.append((ex.name, tf, ms))
        return out

    async def _load(self) -> None:
        started = time.perf_counter()
        wanted = self._wanted_series()
        store_cfg, state_dir = self.store_cfg, self.state_dir

        def load() -> tuple[dict[SeriesKey, CandleRing], int, int]:
            disk.remove_stale_temp(state_dir)
            rings: dict[SeriesKey, CandleRing] = {}
            corrupt = discarded = 0
            for exchange, tf, ms in wanted:
                for path in disk.iter_series_files(state_dir, exchange, tf):
                    try:
                        data = disk.load_series(path)
                    except disk.CorruptSeries as exc:
                        log.warning("ignoring unreadable candle file: %s", exc)
                        corrupt += 1
                        continue
                    if data.meta.exchange != exchange or data.meta.timeframe != tf:
                        log.warning("ignoring candle file in the wrong place: %s", path)
                        corrupt += 1
                        continue
                    data, dropped = disk.sane(data, ms)
                    if dropped:
                        log.warning(
                            "dropped %d of the candles in %s: off the %s grid, out of "
                            "range or order, or not finite",
                            dropped,
                            path,
                            tf,
                        )
                        discarded += dropped
                    ring = CandleRing(store_cfg.candles_for(tf), ms)
                    ring.update_many(data.times, data.values, data.closed)
                    rings[(exchange, data.meta.symbol, tf)] = ring
            return rings, corrupt, discarded

        rings, corrupt, discarded = await anyio.to_thread.run_sync(load)
        self.series.update(rings)
        for key, ring in rings.items():
            self._persisted[key] = ring.closed_version
        self.load_stats = {
            "series": len(rings),
            "candles": sum(r.count() for r in rings.values()),
            "corrupt": corrupt,
            "discarded": discarded,
            "seconds": round(time.perf_counter() - started, 3),
        }
        if rings or corrupt:
            log.info(
                "loaded %d candle series (%d candles) from %s in %.2fs",
                len(rings),
                self.load_stats["candles"],
                disk.candles_dir(state_dir),
                self.load_stats["seconds"],
            )

    async def persist(self) -> dict[str, int]:
        """Write every series whose closed candles changed since its last write.

        The series are copied on the event loop (the rings change there) and written in
        a worker thread, :data:`PERSIST_BATCH` at a time: the copies of a whole run
        (every 1m series changes each minute: ~10 MB at 300 markets) would otherwise
        all be alive at once and stay resident after it.
        """
        async with self._persist_lock:
            started = time.perf_counter()
            dirty = [
                key
                for key, ring in self.series.items()
                if self._persisted.get(key) != ring.closed_version
            ]
            if not dirty:
                return {"files": 0, "bytes": 0}
            done: list[tuple[SeriesKey, int]] = []
            errors: list[str] = []
            dirs: set[Path] = set()
            written = 0
            for i in range(0, len(dirty), PERSIST_BATCH):
                jobs = self._persist_jobs(dirty[i : i + PERSIST_BATCH])
                n = await anyio.to_thread.run_sync(
                    self._write_jobs, jobs, done, errors, dirs, abandon_on_cancel=True
                )
                written += n
                del jobs

            def finish() -> None:
                try:
                    disk.sync_dirs(dirs)
                except OSError as exc:
                    errors.append(f"fsync: {exc}")
                malloc.trim()  # the copies and write buffers of the run (see malloc.py)

            await anyio.to_thread.run_sync(finish, abandon_on_cancel=True)
            for key, version in done:
                self._persisted[key] = version
            ps = self.persist_stats
            ps["runs"] += 1
            ps["files"] += len(done)
            ps["bytes"] += written
            ps["last_ts"] = time.time()
            ps["last_seconds"] = round(time.perf_counter() - started, 3)
            if errors:
                ps["errors"] += len(errors)
                ps["last_error"] = errors[-1]
                log.error("could not persist %d candle series, e.g. %s", len(errors), errors[0])
            log.debug("persisted %d candle series (%d bytes)", len(done), written)
            return {"files": len(done), "bytes": written}

    def _persist_jobs(self, keys: list[SeriesKey]) -> list[tuple[SeriesKey, int, Any, Any, Any]]:
        """Copies of the closed-candle state of ``keys`` (those still in the store)."""
        jobs = []
        for key in keys:
            ring = self.series.get(key)
            if ring is not None:
                times, values, closed, valid = ring.window()
                jobs.append((key, ring.closed_version, times[valid], values[valid], closed[valid]))
        return jobs

    def _write_jobs(
        self,
        jobs: list[tuple[SeriesKey, int, Any, Any, Any]],
        done: list[tuple[SeriesKey, int]],
        errors: list[str],
        dirs: set[Path],
    ) -> int:
        """Write ``jobs`` (worker thread); note what was written and what failed."""
        written = 0
        for key, version, times, values, closed in jobs:
            exchange, symbol, tf = key
            path = disk.series_path(self.state_dir, exchange, symbol, tf)
            try:
                written += disk.save_series(
                    path,
                    exchange=exchange,
                    symbol=symbol,
                    timeframe=tf,
                    times=times,
                    values=values,
                    closed=closed,
                    sync_dir=False,
                )
            except OSError as exc:
                errors.append(f"{path}: {exc}")
                continue
            dirs.add(path.parent)
            done.append((key, version))
        return written

    async def _persist_loop(self) -> None:
        while True:
            await anyio.sleep(self.persist_interval)
            await self.persist()

    # --- ingest ------------------------------------------------------------------------

    async def _consume(self, sub: Subscription[Any], handler: Callable[[Any], None]) -> None:
        async for msg in sub:
            handler(msg)

    def _timeframe_ms(self, tf: str) -> int | None:
        if tf not in self._tf_ms:
            try:
                self._tf_ms[tf] = timeframe_ms(tf)
            except ValueError:
                self._tf_ms[tf] = None
        return self._tf_ms[tf]

    def _ring(self, exchange: str, symbol: str, tf: str) -> CandleRing | None:
        key = (exchange, symbol, tf)
        ring = self.series.get(key)
        if ring is None:
            ms = self._timeframe_ms(tf)
            if ms is None:
                self.counters["bad_timeframe"] += 1
                return None
            ring = self.series[key] = CandleRing(self.store_cfg.candles_for(tf), ms)
            self._dirty_views.add("series")
        return ring

    def _on_candles(self, msg: Candle | CandleBatch) -> None:
        if isinstance(msg, Candle):
            ring = self._ring(msg.exchange, msg.symbol, msg.timeframe)
            if ring is not None:
                ring.update(
                    msg.open_time, msg.open, msg.high, msg.low, msg.close, msg.volume, msg.closed
                )
                self.counters["candles"] += 1
        elif isinstance(msg, CandleBatch):
            ring = self._ring(msg.exchange, msg.symbol, msg.timeframe)
            if ring is not None and msg.rows:
                times, values, closed = batch_arrays(msg.rows, ring.tf_ms, int(msg.recv_ts * 1000))
                ring.update_many(times, values, closed)
                self.counters["batches"] += 1
                self.counters["batch_rows"] += len(msg.rows)

    def _on_trade(self, msg: Trade) -> None:
        key = (msg.exchange, msg.symbol)
        window = self.trades.get(key)
        if window is None:
            window = self.trades[key] = TradeWindow(msg.exchange, msg.symbol, self.trades_size)
        window.append(msg)
        self.counters["trades"] += 1

    def _on_book(self, msg: OrderBookTop) -> None:
        key = (msg.exchange, msg.symbol)
        self.books[key] = msg
        hist = self.book_history.get(key)
        if hist is None:
            hist = self.book_history[key] = FloatRing(BOOK_HISTORY, 5)
        hist.append((float(msg.ts), msg.mid, msg.spread, msg.bid_depth, msg.ask_depth))
        self.counters["books"] += 1

    def _on_funding(self, msg: Funding) -> None:
        self.funding[(msg.exchange, msg.symbol)] = msg
        self.counters["funding"] += 1
        self._dirty_views.add("funding")

    def _on_open_interest(self, msg: OpenInterest) -> None:
        if msg.value is None and msg.amount is not None:
            # many exchanges (Binance's openInterest) give only the amount: the notional
            # is amount x mark price (else the newest ticker's last price)
            price = self._price(msg.exchange, msg.symbol)
            if price is not None:
                msg = msgspec.structs.replace(msg, value=round_sig(msg.amount * price))
        self.open_interest[(msg.exchange, msg.symbol)] = msg
        self.counters["open_interest"] += 1
        self._dirty_views.add("open_interest")

    def _price(self, exchange: str, symbol: str) -> float | None:
        funding = self.funding.get((exchange, symbol))
        if funding is not None and funding.mark_price:
            return funding.mark_price
        latest = self.rt.views.value("market.latest")  # the ticker cache's live table
        ticker = latest.get((exchange, symbol)) if latest is not None else None
        last = getattr(ticker, "last", None)
        return last if isinstance(last, float | int) and last > 0 else None

    # --- views ---------------------------------------------------------------------------

    def _publish_views(self, force: bool = False) -> None:
        dirty = {"funding", "open_interest", "series"} if force else self._dirty_views
        views = self.rt.views
        if "funding" in dirty:
            views.publish("market.funding", [self.funding[k] for k in sorted(self.funding)])
        if "open_interest" in dirty:
            views.publish(
                "market.open_interest", [self.open_interest[k] for k in sorted(self.open_interest)]
            )
        if "series" in dirty:
            tree: dict[str, dict[str, list[str]]] = {}
            for exchange, symbol, tf in sorted(self.series):
                tree.setdefault(exchange, {}).setdefault(symbol, []).append(tf)
            views.publish("market.store.series", tree)
        self._dirty_views = set()

    async def _view_loop(self) -> None:
        while True:
            await anyio.sleep(VIEW_INTERVAL)
            if self._dirty_views:
                self._publish_views()

    # --- queries -----------------------------------------------------------------------

    async def _serve_queries(self, sub: Subscription[Request], tg: anyio.abc.TaskGroup) -> None:
        async for req in sub:
            self.counters["queries"] += 1
            if isinstance(req.body, Persist):
                tg.start_soon(self._persist_request, req)
                continue
            try:
                match req.body:
                    case OhlcvRows():
                        req.reply(self._q_ohlcv(req.body))
                    case Closes():
                        req.reply(self._q_closes(req.body))
                    case RecentTrades():
                        req.reply(self._q_trades(req.body))
                    case OrderBook():
                        req.reply(self._q_orderbook(req.body))
                    case Coverage():
                        req.reply(self._q_coverage(req.body))
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

    def _q_ohlcv(self, q: OhlcvRows) -> dict[str, Any]:
        ring = self.series.get((q.exchange, q.symbol, q.timeframe))
        limit = self.store_cfg.candles_for(q.timeframe) if q.limit is None else q.limit
        if ring is None:
            return {
                "known": False,
                "times": np.zeros(0, np.int64),
                "values": np.zeros((0, 5)),
                "closed": np.zeros(0, np.bool_),
            }
        times, values, closed = ring.rows(limit, q.since, q.closed_only)
        return {"known": True, "times": times, "values": values, "closed": closed}

    def _q_closes(self, q: Closes) -> tuple[IntArray, FloatArray]:
        exchange, tf, symbols, n = q.exchange, q.timeframe, q.symbols, q.n
        closed_only = q.closed_only
        tf_ms = self._timeframe_ms(tf)
        if tf_ms is None:
            raise ValueError(f"bad timeframe {tf!r}")  # answered bad_request
        rings = [self.series.get((exchange, s, tf)) for s in symbols]
        end = q.end
        if end is None:
            ends = []
            for ring in rings:
                if ring is None or ring.last is None or ring.phase is None:
                    continue
                open_last = not ring.closed[ring.slot_of(ring.last)]
                ends.append(ring.last - ring.tf_ms if closed_only and open_last else ring.last)
            if not ends:
                return np.zeros(0, np.int64), np.zeros((len(symbols), 0))
            end = max(ends)
        end = int(end)
        times: IntArray = end - tf_ms * np.arange(n - 1, -1, -1, dtype=np.int64)
        out: FloatArray = np.full((len(symbols), n), np.nan)
        for i, ring in enumerate(rings):
            if ring is None:
                continue
            t, values, closed, valid = ring.window(n, end)
            if t.size == 0 or ring.tf_ms != tf_ms:
                continue
            # a ring holds at most its capacity: the window then covers the newest
            # t.size times, i.e. the right end of the row; older times stay NaN
            ok = closed if closed_only else valid
            out[i, n - t.size :][ok] = values[ok, 3]
        return times, out

    def _q_trades(self, q: RecentTrades) -> list[Trade]:
        window = self.trades.get((q.exchange, q.symbol))
        limit = self.trades_size if q.limit is None else q.limit
        return window.last(limit) if window is not None else []

    def _q_orderbook(self, q: OrderBook) -> dict[str, Any]:
        key = (q.exchange, q.symbol)
        hist = self.book_history.get(key)
        return {
            "top": self.books.get(key),
            "history": hist.last(q.history) if hist is not None else np.zeros((0, 5)),
        }

    def _q_coverage(self, q: Coverage) -> dict[str, Any]:
        want = q.exchange
        out: dict[str, dict[str, dict[str, dict[str, int | None]]]] = {}
        for (exchange, symbol, tf), ring in self.series.items():
            if want is not None and exchange != want:
                continue
            times, _, closed, valid = ring.window()
            present = times[valid]
            if not present.size:
                continue
            closed_times = times[closed]
            out.setdefault(exchange, {}).setdefault(symbol, {})[tf] = {
                "first": int(present[0]),
                "last": int(present[-1]),
                "last_closed": int(closed_times[-1]) if closed_times.size else None,
                "count": int(present.size),
            }
        return out

    # --- stats ---------------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        rings = self.series.values()
        return {
            **self.counters,
            "series": len(self.series),
            "dropped_old": sum(r.dropped_old for r in rings),
            "misaligned": sum(r.misaligned for r in rings),
            "symbols_with_trades": len(self.trades),
            "symbols_with_books": len(self.books),
            "persist": dict(self.persist_stats),
            "loaded": dict(self.load_stats),
            "capacity": self.store_cfg.candles,
        }
