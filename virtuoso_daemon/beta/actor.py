"""Beta calculator actor: beta, correlation, sentiment and regime, kept current.

What it computes, per exchange and per configured timeframe (``[beta.windows]``,
default 1h: 7d/30d/90d, 4h: 30d/90d, 1d: 90d):

* a :class:`~..messages.BetaSnapshot` per window: every symbol of the exchange against
  that exchange's benchmark (:func:`.compute.pick_benchmark`: ``beta.benchmark``
  = ``BTC/USDT`` on a spot exchange, ``BTC/USDT:USDT`` on a perpetuals one), with
  risk buckets;
* a :class:`~..messages.CorrelationSnapshot` per window (pairwise-complete matrix over
  the same rows, plus the average-linkage clustering order);
* a bounded beta history (``beta.history`` points per symbol/timeframe/window, one
  point per candle close) in memory and in SQLite (:mod:`.history_keeper`,
  :mod:`.history`), reloaded on start;
* sentiment and regime (:mod:`.sentiment`, :mod:`.sentiment_update`), every
  :data:`SENTIMENT_INTERVAL` s and after each recompute.

The numbers are :mod:`..analytics` (pure numpy, one pass over all symbols); the
closes come from the market store (``market.requests.closes``: one aligned matrix per
exchange and timeframe, ending at the newest closed candle, spanning the longest
window plus the shortest so that rolling series cover the longest window). A window
needs ``candles + 1`` closes (90d of 1h: 2161), capped at ``store.candles`` of the
timeframe; with less history the statistics use what exists and report ``n_obs`` -- a
symbol with fewer than ``beta.min_obs`` pairs gets no beta (None), never a made-up 1.0.
While the benchmark itself has fewer than ``min_obs`` returns nothing is published for that
exchange and timeframe (the API answers 503 ``not_ready`` with the reason).

When it recomputes (:class:`.compute.Coalescer`): the closes of all symbols of a
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

Where results go (:mod:`.publish`):

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

Requests on :data:`.queries.BETA_QUERIES` (lossless; :mod:`.queries`): ``symbol``
{exchange, symbol, timeframe, window, points} -> ``{"history": [...], "rolling":
{...}}``: the stored history of every timeframe/window and a rolling beta series
(:func:`..analytics.rolling_beta`) over the last computed returns.
:mod:`virtuoso_daemon.read.analytics` wraps it.

Timing: the numpy work runs in a worker thread (``anyio.to_thread``,
:mod:`.recompute`); each recompute logs its duration, and ``runtime.stats["beta"]``
counts computes, compute times, skips, errors and history writes.
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any, ClassVar

import anyio
import anyio.abc

from virtuoso_daemon.beta import sentiment as beta_sentiment
from virtuoso_daemon.beta.compute import Coalescer
from virtuoso_daemon.beta.history_keeper import HistoryKeeper
from virtuoso_daemon.beta.publish import STATUS_VIEW, publish_sentiment
from virtuoso_daemon.beta.queries import BETA_QUERIES, symbol_detail
from virtuoso_daemon.beta.recompute import Recomputer, StoreUnavailable
from virtuoso_daemon.beta.requests import SymbolDetail
from virtuoso_daemon.beta.sentiment_update import build_sentiment
from virtuoso_daemon.beta.settings import BetaSettings
from virtuoso_daemon.core.bus import Request, Subscription, Topics
from virtuoso_daemon.core.config import Config, ConfigError
from virtuoso_daemon.core.exchanges import exchange_configs
from virtuoso_daemon.core.messages import Candle, CandleBatch, OpenInterest, Trade
from virtuoso_daemon.core.runtime import Runtime

log = logging.getLogger("virtuoso.beta")

RETRY = 5.0  # s before retrying when the market store did not answer
SENTIMENT_INTERVAL = 30.0  # s between sentiment updates without a recompute
SENTIMENT_MIN_GAP = 1.0  # s: recomputes in a row trigger one sentiment update
CANDLE_QUEUE = 8192  # live candles: a scan of a large chunk publishes hundreds at once
HISTORY_QUEUE = 16  # history pages (lossless topic: the backfill waits for room)


class BetaActor:
    """Keeps beta, correlation, sentiment and regime current; see the module docstring.

    The actor holds the loops (inputs, scheduler, sentiment, requests) and the wiring;
    the recompute (:class:`.recompute.Recomputer`), the history
    (:class:`.history_keeper.HistoryKeeper`), publishing and query answers live in
    their own modules.
    """

    name = "beta"
    config_sections: ClassVar[tuple[str, ...]] = ("beta",)

    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime
        self.cfg = BetaSettings.from_config(runtime.config.beta)
        self.coalescer: Coalescer[tuple[str, str]] = Coalescer()
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
        self.history = HistoryKeeper(runtime.state_dir, self.counters)
        self.recompute = Recomputer(runtime, self.counters)
        self.flow = beta_sentiment.TradeFlow()
        self.oi = beta_sentiment.OpenInterestHistory()
        self.sentiment_at: float | None = None
        self._wake = anyio.Event()
        self._kick = anyio.Event()

    @property
    def last_computed_at(self) -> float | None:
        return self.recompute.last_computed_at

    # --- lifecycle ---------------------------------------------------------------------

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        for problem in self.cfg.problems:
            log.error("ignoring invalid beta window: %s", problem)
        await self.history.open(self.cfg.history)
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
            self.history.close()

    def check_config(self, config: Config) -> None:
        """Before a reload is applied: refuse windows that cannot be computed (at
        start-up they are logged and skipped; on a reload the operator is told)."""
        problems = BetaSettings.from_config(config.beta).problems
        if problems:
            raise ConfigError("; ".join(problems))

    async def reconfigure(self, config: Config) -> None:
        old = self.cfg
        self.cfg = BetaSettings.from_config(config.beta)
        for problem in self.cfg.problems:
            log.error("ignoring invalid beta window: %s", problem)
        if self.cfg.history != old.history:
            self.history.resize(self.cfg.history)
        self._schedule_all()
        log.info("beta reconfigured: windows %s", self.cfg.windows_text())

    def _schedule_all(self) -> None:
        now = anyio.current_time()
        for ex in exchange_configs(self.rt):
            for tf in self.cfg.windows:
                self.coalescer.schedule((ex.name, tf), now)
        self._wake.set()

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
                ready = msg.symbol == self.recompute.benchmarks.get(msg.exchange)
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

    async def _compute(self, exchange: str, tf: str) -> None:
        ex = next((e for e in exchange_configs(self.rt) if e.name == exchange), None)
        wins = self.cfg.windows.get(tf)
        if ex is None or not wins:
            return
        try:
            comp = await self.recompute.run(ex, tf, wins, self.cfg)
        except StoreUnavailable:
            self.coalescer.schedule((exchange, tf), anyio.current_time() + RETRY)
            comp = None
        self._publish_status()
        if comp is None:
            return
        self._kick.set()
        await self.history.record(comp, self.cfg.history)

    def _publish_status(self) -> None:
        exchanges: dict[str, Any] = {}
        for ex in exchange_configs(self.rt):
            exchanges[ex.name] = {
                "market": ex.market,
                "benchmark": self.recompute.benchmarks.get(ex.name),
                "timeframes": {
                    tf: vars(self.recompute.state(ex.name, tf)).copy() for tf in self.cfg.windows
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
                "history": self.history.state,
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

    def update_sentiment(self) -> bool:
        """Recompute sentiment and regime; False while there is no input at all."""
        now = time.time()
        sentiment, regime, document = build_sentiment(
            self.rt,
            self.cfg,
            self.recompute.results,
            self.recompute.benchmarks,
            self.flow,
            self.oi,
            now,
        )
        if sentiment.score is None and regime.label == "unknown":
            return False  # nothing to say yet: the API keeps answering not_ready
        publish_sentiment(self.rt, sentiment, regime, document)
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
                    await symbol_detail(
                        self.rt,
                        self.cfg,
                        self.history,
                        self.recompute.results,
                        q.exchange,
                        q.symbol,
                        q.timeframe,
                        q.window,
                        q.points,
                    )
                )
            except Exception as exc:  # a bad request must never take the actor down
                log.debug("beta query failed", exc_info=True)
                req.fail("bad_request", f"{type(exc).__name__}: {exc}")

    # --- stats ---------------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        rc = self.recompute
        return {
            **self.counters,
            "compute_ms": rc.timing.as_dict(),
            "last_computed_at": rc.last_computed_at,
            "sentiment_at": self.sentiment_at,
            "pending": [f"{ex}/{tf}" for ex, tf in self.coalescer.pending()],
            "benchmarks": dict(rc.benchmarks),
            "series": {f"{ex}/{tf}": st.state for (ex, tf), st in rc.series.items()},
            "history": self.history.stats(),
            "trades_seen": self.flow.seen,
            "oi_samples": len(self.oi),
            "config_problems": list(self.cfg.problems),
        }
