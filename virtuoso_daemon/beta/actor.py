"""Beta calculator actor: beta, correlation, sentiment and regime, kept current.

What it computes, per exchange and per configured timeframe (``[beta.windows]``,
default 1h: 7d/30d/90d, 4h: 30d/90d, 1d: 90d):

* a :class:`~..messages.BetaSnapshot` per window: every symbol of the exchange against
  that exchange's benchmark (:func:`.beta_compute.pick_benchmark`: ``beta.benchmark``
  = ``BTC/USDT`` on a spot exchange, ``BTC/USDT:USDT`` on a perpetuals one), with
  risk buckets;
* a :class:`~..messages.CorrelationSnapshot` per window (pairwise-complete matrix over
  the same rows, plus the average-linkage clustering order);
* a bounded beta history (``beta.history`` points per symbol/timeframe/window, one
  point per candle close) in memory and in SQLite (:mod:`..storage.beta_history`),
  reloaded on start;
* sentiment and regime (:mod:`.beta_sentiment`), every :data:`SENTIMENT_INTERVAL` s
  and after each recompute.

The numbers are :mod:`..analytics` (pure numpy, one pass over all symbols); the
closes come from the market store (``market.requests.closes``: one aligned matrix per
exchange and timeframe, ending at the newest closed candle, spanning the longest
window plus the shortest so that rolling series cover the longest window). A window
needs ``candles + 1`` closes (90d of 1h: 2161), capped at ``store.candles`` of the
timeframe; with less history the statistics use what exists and report ``n_obs`` -- a
symbol with fewer than ``beta.min_obs`` pairs gets no beta (None), never a made-up 1.0.
While the benchmark itself has fewer than ``min_obs`` returns nothing is published for that
exchange and timeframe (the API answers 503 ``not_ready`` with the reason).

When it recomputes (:class:`.beta_compute.Coalescer`): the closes of all symbols of a
timeframe arrive within moments of each other, so each (exchange, timeframe)
recomputes once per close: a closed candle opens a burst; once the benchmark's closed
candle is in, the burst is due ``SETTLE`` (0.3 s) after its last candle, and at the
latest ``MAX_WAIT`` (1 s) after its first, benchmark or not. History pages
(``CandleBatch``: backfill, catch-up after a gap) need no benchmark candle but settle
longer: a burst of pages only is due ``HISTORY_SETTLE`` (2 s) after its last page and
at the latest ``HISTORY_MAX_WAIT`` (15 s) after its first, so the first computation
follows the backfill by about two seconds without waiting for the next close, and a
long backfill shows progress every 15 s instead of recomputing every second. On
start every (exchange, timeframe) is computed at once from what the store reloaded
from disk.

Where results go:

============================================  ==========================================
view key                                      value
============================================  ==========================================
``beta.<exchange>.<timeframe>.<window>``      BetaSnapshot of that exchange
``beta.<timeframe>.<window>``                 alias: the first exchange (config order)
                                              that has one; also published on
                                              ``Topics.BETA``
``correlation.<exchange>.<tf>.<window>``      CorrelationSnapshot (matrix in symbol
``correlation.<tf>.<window>``                 order, ``order`` = clustering); alias
                                              likewise, also on ``Topics.CORRELATION``
``sentiment`` / ``regime``                    SentimentSnapshot / RegimeSnapshot, also
                                              on ``Topics.SENTIMENT``
``sentiment.overview``                        the explained document of
                                              ``GET /api/market/sentiment``
``analytics.status``                          per exchange and timeframe: state
                                              (pending/waiting/ok/no_benchmark/error),
                                              benchmark, as-of candle, compute time
============================================  ==========================================

Only the alias exchange's snapshots go on the bus: the snapshot messages carry no
exchange, and subscribers (TUI, control socket) key them by timeframe and window.

Requests on :data:`BETA_QUERIES` (lossless): ``symbol`` {exchange, symbol, timeframe,
window, points} -> ``{"history": [...], "rolling": {...}}``: the stored history of
every timeframe/window and a rolling beta series (:func:`..analytics.rolling_beta`) over
the last computed returns. :mod:`virtuoso_daemon.read.analytics` wraps it.

Timing: the numpy work runs in a worker thread (``anyio.to_thread``); each recompute
logs its duration, and ``runtime.stats["beta"]`` counts computes, compute times,
skips, errors and history writes.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import anyio
import anyio.abc
import numpy as np

from virtuoso_daemon import analytics
from virtuoso_daemon.beta import sentiment as beta_sentiment
from virtuoso_daemon.beta.compute import (
    Coalescer,
    Computation,
    CorrelationView,
    Universe,
    compute,
    correlation_body,
    history_points,
    parse_windows,
    pick_benchmark,
    slim_correlation,
    view_key,
)
from virtuoso_daemon.beta.history import (
    HISTORY_COLUMNS,
    BetaHistoryStore,
    HistoryError,
    HistoryKey,
    HistoryPoint,
)
from virtuoso_daemon.beta.point_ring import PointRing
from virtuoso_daemon.beta.requests import SymbolDetail
from virtuoso_daemon.core import malloc
from virtuoso_daemon.core.bus import Request, Subscription, Topics
from virtuoso_daemon.core.config import BetaConfig, Config, ConfigError, ExchangeConfig
from virtuoso_daemon.core.errors import QueryError
from virtuoso_daemon.core.exchanges import exchange_configs
from virtuoso_daemon.core.messages import Candle, CandleBatch, FeedStatus, OpenInterest, Trade
from virtuoso_daemon.core.runtime import Runtime
from virtuoso_daemon.core.symbols import split_unified
from virtuoso_daemon.market import requests
from virtuoso_daemon.tickers.actor import ticker_snapshot

log = logging.getLogger("virtuoso.beta")

BETA_QUERIES = "beta_queries"  # request topic of this actor (lossless)
STATUS_VIEW = "analytics.status"
SENTIMENT_VIEW = "sentiment"
REGIME_VIEW = "regime"
SENTIMENT_DOC_VIEW = "sentiment.overview"

RETRY = 5.0  # s before retrying when the market store did not answer
SENTIMENT_INTERVAL = 30.0  # s between sentiment updates without a recompute
SENTIMENT_MIN_GAP = 1.0  # s: recomputes in a row trigger one sentiment update
CANDLE_QUEUE = 8192  # live candles: a scan of a large chunk publishes hundreds at once
HISTORY_QUEUE = 16  # history pages (lossless topic: the backfill waits for room)
ROLLING_COLUMNS = ("open_time", "beta", "correlation", "n_obs")


def _fmt_ms(ms: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.gmtime(ms / 1000))


def _opt(v: float) -> float | None:
    return v if math.isfinite(v) else None


# --- the actor -----------------------------------------------------------------------


@dataclass
class _SeriesState:
    state: str = "pending"  # pending | waiting | ok | no_benchmark | error
    detail: str = "not computed yet"
    as_of: int | None = None
    computed_at: float | None = None
    compute_ms: float | None = None
    symbols: int = 0


@dataclass
class _Timing:
    count: int = 0
    last_ms: float | None = None
    max_ms: float = 0.0
    total_ms: float = 0.0
    last_numpy_ms: float | None = None

    def add(self, total_ms: float, numpy_ms: float) -> None:
        self.count += 1
        self.last_ms = total_ms
        self.last_numpy_ms = numpy_ms
        self.max_ms = max(self.max_ms, total_ms)
        self.total_ms += total_ms

    def as_dict(self) -> dict[str, float | None]:
        mean = self.total_ms / self.count if self.count else None
        return {
            "last": self.last_ms,
            "last_numpy": self.last_numpy_ms,
            "max": self.max_ms if self.count else None,
            "mean": mean,
        }


@dataclass
class _Config:
    benchmark: str
    min_obs: int
    history: int
    windows: dict[str, tuple[tuple[str, int], ...]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @classmethod
    def from_config(cls, cfg: BetaConfig) -> _Config:
        windows, problems = parse_windows(cfg.windows)
        return cls(
            benchmark=cfg.benchmark,
            min_obs=max(3, cfg.min_obs),
            history=max(1, cfg.history),
            windows=windows,
            problems=problems,
        )

    def regime_window(self) -> tuple[str, str] | None:
        """First configured timeframe, its shortest window (sentiment volatility, regime)."""
        for tf, wins in self.windows.items():
            label, _ = min(wins, key=lambda w: w[1])
            return tf, label
        return None


def _compute_and_trim(*args: Any, **kwargs: Any) -> Computation:
    """:func:`compute`, then give its temporaries' memory back to the system.

    A recompute of a few hundred symbols builds tens of MB of numpy temporaries in
    the worker thread; without the trim that peak stays resident (see malloc.py).
    """
    try:
        return compute(*args, **kwargs)
    finally:
        malloc.trim()


class BetaActor:
    """Keeps beta, correlation, sentiment and regime current; see the module docstring."""

    name = "beta"
    config_sections: ClassVar[tuple[str, ...]] = ("beta",)

    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime
        self.cfg = _Config.from_config(runtime.config.beta)
        self.coalescer: Coalescer[tuple[str, str]] = Coalescer()
        self.store = BetaHistoryStore.in_state_dir(runtime.state_dir)
        self.history: dict[HistoryKey, PointRing] = {}
        self.history_state = "not opened"
        self.results: dict[tuple[str, str], Computation] = {}
        self.benchmarks: dict[str, str] = {}
        self.series: dict[tuple[str, str], _SeriesState] = {}
        self.flow = beta_sentiment.TradeFlow()
        self.oi = beta_sentiment.OpenInterestHistory()
        self.timing = _Timing()
        self.counters: dict[str, int] = {
            "computes": 0,
            "waiting": 0,
            "errors": 0,
            "candle_triggers": 0,
            "batch_triggers": 0,
            "history_writes": 0,
            "history_errors": 0,
            "sentiments": 0,
            "queries": 0,
        }
        self.last_computed_at: float | None = None
        self.sentiment_at: float | None = None
        self._wake = anyio.Event()
        self._kick = anyio.Event()
        self._capped: set[str] = set()

    # --- lifecycle ---------------------------------------------------------------------

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        for problem in self.cfg.problems:
            log.error("ignoring invalid beta window: %s", problem)
        await self._open_history()
        bus = self.rt.bus
        candles = bus.subscribe(Topics.CANDLES, name=self.name, maxsize=CANDLE_QUEUE)
        history = bus.subscribe(Topics.CANDLE_HISTORY, name=self.name, maxsize=HISTORY_QUEUE)
        trades = bus.subscribe(Topics.TRADES, name=self.name)
        oi = bus.subscribe(Topics.OPEN_INTEREST, name=self.name)
        requests: Subscription[Request] = bus.subscribe(BETA_QUERIES, name=self.name, lossy=False)
        self.rt.stats[self.name] = self.stats
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._consume_candles, candles)
                tg.start_soon(self._consume_candles, history)
                tg.start_soon(self._consume_trades, trades)
                tg.start_soon(self._consume_open_interest, oi)
                tg.start_soon(self._serve, requests)
                tg.start_soon(self._scheduler)
                tg.start_soon(self._sentiment_loop)
                self._schedule_all()  # from what the store reloaded from disk
                self._publish_status()
                task_status.started()
        finally:
            for sub in (candles, history, trades, oi, requests):
                sub.close()
            self.store.close()

    def check_config(self, config: Config) -> None:
        """Before a reload is applied: refuse windows that cannot be computed (at
        start-up they are logged and skipped; on a reload the operator is told)."""
        problems = _Config.from_config(config.beta).problems
        if problems:
            raise ConfigError("; ".join(problems))

    async def reconfigure(self, config: Config) -> None:
        old = self.cfg
        self.cfg = _Config.from_config(config.beta)
        for problem in self.cfg.problems:
            log.error("ignoring invalid beta window: %s", problem)
        if self.cfg.history != old.history:
            for key, ring in self.history.items():
                self.history[key] = ring.resized(self.cfg.history)
        self._schedule_all()
        log.info("beta reconfigured: windows %s", self._windows_text())

    def _windows_text(self) -> str:
        return ", ".join(
            f"{tf}: {'/'.join(w for w, _ in wins)}" for tf, wins in self.cfg.windows.items()
        )

    def _schedule_all(self) -> None:
        now = anyio.current_time()
        for ex in exchange_configs(self.rt):
            for tf in self.cfg.windows:
                self.coalescer.schedule((ex.name, tf), now)
        self._wake.set()

    # --- history -------------------------------------------------------------------------

    async def _open_history(self) -> None:
        limit = self.cfg.history

        def open_and_load() -> dict[HistoryKey, list[HistoryPoint]]:
            self.store.open()
            return self.store.load(limit)

        try:
            loaded = await anyio.to_thread.run_sync(open_and_load)
        except HistoryError as exc:
            # memory-only is better than no beta at all; status shows why
            self.history_state = f"error: {exc}"
            self.store.close()
            log.error("beta history not persisted: %s", exc)
            return
        for key, points in loaded.items():
            self.history[key] = PointRing(limit, points)
        self.history_state = "ok"
        if loaded:
            log.info(
                "loaded beta history: %d series, %d points from %s",
                len(loaded),
                sum(len(p) for p in loaded.values()),
                self.store.path,
            )

    async def _record_history(self, comp: Computation) -> None:
        points = history_points(comp)
        keep_from: dict[HistoryKey, int] = {}
        for key, point in points:
            ring = self.history.get(key)
            if ring is None:
                ring = self.history[key] = PointRing(self.cfg.history)
            last = ring.last_ts()
            if last == point.ts:
                ring.replace_last(point)  # the same candle close recomputed: replace
            elif last is not None and last > point.ts:
                continue  # never rewrite the past
            else:
                ring.append(point)
            first = ring.first_ts()
            if ring.full and first is not None:
                keep_from[key] = first
        if not self.store.is_open or not points:
            return
        try:
            await anyio.to_thread.run_sync(self.store.write, points, keep_from)
        except HistoryError as exc:
            self.counters["history_errors"] += 1
            self.history_state = f"error: {exc}"
            log.error("could not persist beta history: %s", exc)
            return
        self.counters["history_writes"] += 1
        self.history_state = "ok"

    # --- inputs --------------------------------------------------------------------------

    async def _consume_candles(self, sub: Subscription[Any]) -> None:
        known: tuple[object, set[str]] = (None, set())
        async for msg in sub:
            if known[0] is not self.rt.config:  # a reload may change the exchanges
                known = (self.rt.config, {ex.name for ex in exchange_configs(self.rt)})
            if msg.timeframe not in self.cfg.windows or msg.exchange not in known[1]:
                continue
            if isinstance(msg, Candle):
                if not msg.closed:
                    continue
                ready = msg.symbol == self.benchmarks.get(msg.exchange)
                self.coalescer.mark(
                    (msg.exchange, msg.timeframe), anyio.current_time(), ready=ready
                )
                self.counters["candle_triggers"] += 1
            elif isinstance(msg, CandleBatch):
                self.coalescer.mark(
                    (msg.exchange, msg.timeframe), anyio.current_time(), history=True
                )
                self.counters["batch_triggers"] += 1
            else:
                continue
            self._wake.set()

    async def _consume_trades(self, sub: Subscription[Any]) -> None:
        async for msg in sub:
            if isinstance(msg, Trade):
                self.flow.add(msg)

    async def _consume_open_interest(self, sub: Subscription[Any]) -> None:
        async for msg in sub:
            if isinstance(msg, OpenInterest):
                self.oi.add(msg)

    # --- recomputing ---------------------------------------------------------------------

    async def _scheduler(self) -> None:
        while True:
            for exchange, tf in self.coalescer.due(anyio.current_time()):
                await self._compute(exchange, tf)
            deadline = self.coalescer.next_deadline()
            wait = math.inf if deadline is None else max(0.0, deadline - anyio.current_time())
            with anyio.move_on_after(wait):
                await self._wake.wait()
            # the coalescer holds the state; the event only wakes us up
            self._wake = anyio.Event()

    def universe(self, ex: ExchangeConfig) -> Universe:
        """The exchange's symbols (feed's current list, else configured, else stored)."""
        feeds = self.rt.views.value("feeds.status")
        status = feeds.get(ex.name) if isinstance(feeds, dict) else None
        if isinstance(status, FeedStatus) and status.symbols:
            symbols = list(status.symbols)
        elif ex.symbols:
            symbols = list(ex.symbols)
        else:
            stored = self.rt.views.value("market.store.series") or {}
            symbols = sorted(stored.get(ex.name, {}))
        symbols = list(dict.fromkeys(symbols))
        return Universe(
            ex.name,
            ex.market,
            tuple(symbols),
            pick_benchmark(self.cfg.benchmark, ex.market, symbols),
        )

    def _state(self, exchange: str, tf: str) -> _SeriesState:
        key = (exchange, tf)
        st = self.series.get(key)
        if st is None:
            st = self.series[key] = _SeriesState()
        return st

    async def _compute(self, exchange: str, tf: str) -> None:
        ex = next((e for e in exchange_configs(self.rt) if e.name == exchange), None)
        wins = self.cfg.windows.get(tf)
        if ex is None or not wins:
            return
        st = self._state(exchange, tf)
        uni = self.universe(ex)
        st.symbols = len(uni.symbols)
        if uni.benchmark is None:
            st.state = "no_benchmark"
            st.detail = (
                f"{exchange} lists no {split_unified(self.cfg.benchmark)[0]} symbol to measure "
                f"against (beta.benchmark = {self.cfg.benchmark!r})"
            )
            self._publish_status()
            return
        self.benchmarks[exchange] = uni.benchmark
        started = time.perf_counter()
        capacity = self.rt.config.store.candles_for(tf)
        need = max(c for _, c in wins) + 1
        if need > capacity and f"{exchange}/{tf}" not in self._capped:
            self._capped.add(f"{exchange}/{tf}")
            log.warning(
                "%s %s: the longest window needs %d closes but store.candles keeps %d; "
                "n_obs will show the shortfall",
                exchange,
                tf,
                need,
                capacity,
            )
        # one shortest window more than the longest: the rolling series then spans
        # the longest window (the tables only read the tail they need)
        rows = min(capacity, need + min(c for _, c in wins))
        try:
            times, closes = await requests.closes(self.rt, exchange, tf, uni.symbols, rows)
        except QueryError as exc:
            self.counters["errors"] += 1
            st.state, st.detail = "error", f"market store: {exc.message}"
            self.coalescer.schedule((exchange, tf), anyio.current_time() + RETRY)
            self._publish_status()
            return
        bench = closes[uni.symbols.index(uni.benchmark)] if times.size else np.empty(0)
        bench_obs = int(np.count_nonzero(np.isfinite(bench[1:]) & np.isfinite(bench[:-1])))
        if bench_obs < self.cfg.min_obs:
            self.counters["waiting"] += 1
            st.state = "waiting"
            st.detail = (
                f"waiting for candle history: {uni.benchmark} has {bench_obs} {tf} returns "
                f"on {exchange}, {self.cfg.min_obs} needed (beta.min_obs)"
            )
            self._publish_status()
            return
        labels = [w for w, _ in wins]
        job = functools.partial(
            _compute_and_trim,
            uni,
            tf,
            labels,
            times,
            closes,
            min_obs=self.cfg.min_obs,
            computed_at=time.time(),
        )
        numpy_started = time.perf_counter()
        try:
            comp = await anyio.to_thread.run_sync(job, abandon_on_cancel=True)
        except Exception as exc:  # a numerical surprise must not stop the other series
            self.counters["errors"] += 1
            st.state, st.detail = "error", f"{type(exc).__name__}: {exc}"
            log.exception("beta computation failed for %s %s", exchange, tf)
            self._publish_status()
            return
        numpy_ms = (time.perf_counter() - numpy_started) * 1000
        self._publish(comp)
        # kept for the sentiment and for on-demand queries, without what only the bus
        # publication needed (the correlation matrices as Python floats) and without
        # the returns of every symbol (7.5 MB at 300 markets; a rolling beta query
        # reads its two series back from the store)
        self.results[(exchange, tf)] = dataclasses.replace(
            comp,
            correlations=tuple(slim_correlation(c) for c in comp.correlations),
            matrix=dataclasses.replace(
                comp.matrix, returns=np.empty((comp.matrix.times.size, 0), dtype=np.float64)
            ),
        )
        total_ms = (time.perf_counter() - started) * 1000
        self.timing.add(total_ms, numpy_ms)
        self.counters["computes"] += 1
        self.last_computed_at = comp.computed_at
        st.state, st.as_of, st.computed_at = "ok", comp.as_of, comp.computed_at
        st.compute_ms = round(total_ms, 3)
        st.detail = f"{len(uni.symbols)} symbols against {uni.benchmark}"
        log.info(
            "beta %s %s: %d symbols x %s as of %s in %.1f ms (numpy %.1f ms; most obs %s)",
            exchange,
            tf,
            len(uni.symbols),
            "/".join(labels),
            _fmt_ms(comp.as_of),
            total_ms,
            numpy_ms,
            "/".join(str(int(t.n_obs.max(initial=0))) for t in comp.tables),
        )
        self._publish_status()
        self._kick.set()
        await self._record_history(comp)

    # --- publishing ----------------------------------------------------------------------

    def _is_default(self, kind: str, exchange: str, tf: str, window: str) -> bool:
        """True when no exchange before ``exchange`` (config order) has this snapshot."""
        for ex in exchange_configs(self.rt):
            if ex.name == exchange:
                return True
            if self.rt.views.get(view_key(kind, tf, window, ex.name)) is not None:
                return False
        return False

    def _publish(self, comp: Computation) -> None:
        views, bus = self.rt.views, self.rt.bus
        ex, tf = comp.exchange, comp.timeframe
        pairs: list[tuple[str, str, Any, Any, bytes | Callable[[], bytes]]] = [
            *(
                ("beta", s.window, s, s, b)
                for s, b in zip(comp.betas, comp.beta_bodies, strict=True)
            ),
        ]
        for snap, values in zip(comp.correlations, comp.correlation_values, strict=True):
            view = CorrelationView(slim_correlation(snap), values)
            encoder = functools.partial(correlation_body, view)
            pairs.append(("correlation", snap.window, snap, view, encoder))
        for kind, window, snap, value, body in pairs:
            views.publish(view_key(kind, tf, window, ex), value, body=body)
            if self._is_default(kind, ex, tf, window):
                views.publish(view_key(kind, tf, window), value, body=body)
                bus.publish_nowait(Topics.BETA if kind == "beta" else Topics.CORRELATION, snap)

    def _publish_status(self) -> None:
        exchanges: dict[str, Any] = {}
        for ex in exchange_configs(self.rt):
            exchanges[ex.name] = {
                "market": ex.market,
                "benchmark": self.benchmarks.get(ex.name),
                "timeframes": {
                    tf: vars(self._state(ex.name, tf)).copy() for tf in self.cfg.windows
                },
            }
        self.rt.views.publish(
            STATUS_VIEW,
            {
                "windows": {tf: [w for w, _ in wins] for tf, wins in self.cfg.windows.items()},
                "min_obs": self.cfg.min_obs,
                "exchanges": exchanges,
                "last_computed_at": self.last_computed_at,
                "sentiment_at": self.sentiment_at,
                "history": self.history_state,
            },
        )

    # --- sentiment and regime ------------------------------------------------------------

    async def _sentiment_loop(self) -> None:
        while True:
            with anyio.move_on_after(SENTIMENT_INTERVAL):
                await self._kick.wait()
            self._kick = anyio.Event()
            try:
                self.update_sentiment()
            except Exception:  # a bug here must not take the betas down with it
                self.counters["errors"] += 1
                log.exception("sentiment update failed")
            await anyio.sleep(SENTIMENT_MIN_GAP)  # a burst of recomputes: one update

    def _regime_window(self, primary: str | None) -> beta_sentiment.RegimeWindow | None:
        rw = self.cfg.regime_window()
        if primary is None or rw is None:
            return None
        tf, window = rw
        comp = self.results.get((primary, tf))
        if comp is None:
            return None
        table = next((t for t in comp.tables if t.label == window), None)
        if table is None:
            return None
        vol = table.volatility[table.symbols.index(comp.benchmark)]
        return beta_sentiment.RegimeWindow(
            exchange=primary,
            timeframe=tf,
            window=window,
            benchmark=comp.benchmark,
            benchmark_volatility=_opt(float(vol)),
            correlations=comp.correlation_rows.get(window, {}),
        )

    def update_sentiment(self) -> bool:
        """Recompute sentiment and regime; False while there is no input at all."""
        snap = ticker_snapshot(self.rt)
        with_tickers = {t.exchange for t in snap.tickers}
        names = [ex.name for ex in exchange_configs(self.rt)]
        primary = next((n for n in names if n in with_tickers), None)
        if primary is None:  # no tickers yet: the exchange whose betas we have
            primary = next((n for n in names if any(k[0] == n for k in self.results)), None)
        tickers = [t for t in snap.tickers if t.exchange == primary]
        now = time.time()
        sentiment, regime, document = beta_sentiment.build(
            exchange=primary,
            tickers=tickers,
            benchmark=self.benchmarks.get(primary or "", self.cfg.benchmark),
            funding=self.rt.views.value("market.funding") or [],
            open_interest=self.rt.views.value("market.open_interest") or [],
            oi_change=self.oi.change(),
            flow=self.flow.totals(now),
            regime_window=self._regime_window(primary),
            now=now,
        )
        if sentiment.score is None and regime.label == "unknown":
            return False  # nothing to say yet: the API keeps answering not_ready
        views, bus = self.rt.views, self.rt.bus
        views.publish(SENTIMENT_VIEW, sentiment)
        views.publish(REGIME_VIEW, regime)
        views.publish(SENTIMENT_DOC_VIEW, document)
        bus.publish_nowait(Topics.SENTIMENT, sentiment)
        bus.publish_nowait(Topics.SENTIMENT, regime)
        self.counters["sentiments"] += 1
        self.sentiment_at = now
        return True

    # --- requests ------------------------------------------------------------------------

    async def _serve(self, sub: Subscription[Request]) -> None:
        async for req in sub:
            self.counters["queries"] += 1
            q = req.body
            if not isinstance(q, SymbolDetail):  # the one request this actor serves
                req.fail("unknown_command", f"beta actor has no command {req.command!r}")
                continue
            try:
                req.reply(
                    await self.symbol_detail(q.exchange, q.symbol, q.timeframe, q.window, q.points)
                )
            except Exception as exc:  # a bad request must never take the actor down
                log.debug("beta query failed", exc_info=True)
                req.fail("bad_request", f"{type(exc).__name__}: {exc}")

    async def symbol_detail(
        self,
        exchange: str,
        symbol: str,
        timeframe: str | None = None,
        window: str | None = None,
        points: int = 500,
    ) -> dict[str, Any]:
        """History of every timeframe/window and a rolling beta series for one symbol."""
        history = []
        for tf, wins in self.cfg.windows.items():
            for label, _ in wins:
                ring = self.history.get(HistoryKey(exchange, symbol, tf, label))
                rows = ring.tail(points) if ring is not None else []
                history.append({"timeframe": tf, "window": label, "rows": rows})
        return {
            "history_columns": list(HISTORY_COLUMNS),
            "history": history,
            "rolling": await self._rolling(exchange, symbol, timeframe, window, points),
        }

    async def _rolling(
        self, exchange: str, symbol: str, tf: str | None, window: str | None, points: int
    ) -> dict[str, Any] | None:
        if tf is None or window is None:
            return None
        out: dict[str, Any] = {
            "timeframe": tf,
            "window": window,
            "columns": list(ROLLING_COLUMNS),
            "rows": [],
        }
        comp = self.results.get((exchange, tf))
        if comp is None or symbol not in comp.matrix.symbols:
            out["note"] = f"no {tf} returns of {symbol} on {exchange} computed yet"
            return out
        # the closes the computation used (same rows, same newest candle), read back
        # from the store: the returns matrix of every symbol is not kept for this
        rows = comp.matrix.times.size + 1
        try:
            times, closes = await requests.closes(
                self.rt, exchange, tf, [symbol, comp.benchmark], rows, end=comp.as_of
            )
        except QueryError as exc:
            out["note"] = f"market store: {exc.message}"
            return out
        returns = analytics.log_returns(closes.T)
        size = analytics.window_candles(window, tf)
        rb = analytics.rolling_beta(returns[:, 0], returns[:, 1], size, min_obs=self.cfg.min_obs)
        return_times = times[1:]
        idx = np.flatnonzero(rb.n_obs > 0)[-points:]
        out["rows"] = [
            [
                int(return_times[i]),
                _opt(float(rb.beta[i])),
                _opt(float(rb.correlation[i])),
                int(rb.n_obs[i]),
            ]
            for i in idx.tolist()
        ]
        if not out["rows"]:
            out["note"] = f"{return_times.size} {tf} returns, fewer than one {window} window"
        return out

    # --- stats ---------------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        return {
            **self.counters,
            "compute_ms": self.timing.as_dict(),
            "last_computed_at": self.last_computed_at,
            "sentiment_at": self.sentiment_at,
            "pending": [f"{ex}/{tf}" for ex, tf in self.coalescer.pending()],
            "benchmarks": dict(self.benchmarks),
            "series": {f"{ex}/{tf}": st.state for (ex, tf), st in self.series.items()},
            "history": {
                "state": self.history_state,
                "file": str(self.store.path),
                "series": len(self.history),
                "points": sum(len(d) for d in self.history.values()),
            },
            "trades_seen": self.flow.seen,
            "oi_samples": len(self.oi),
            "config_problems": list(self.cfg.problems),
        }
