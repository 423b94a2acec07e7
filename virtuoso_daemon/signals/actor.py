"""Signals actor: subscribes to market data and analytics snapshots, runs the
detectors (:class:`.engine.SignalEngine`), publishes Conditions and keeps views.

Subscriptions: ``trades`` (drained in batches, so the whale and burst detectors run
vectorised over every trade that arrived since the last pass), ``orderbook``,
``candles`` and ``candle_history`` (1m only), ``open_interest``, ``funding``,
``beta`` and ``sentiment`` (regime). Market-data topics are lossy: under overload the
bus drops and counts, and the detectors see fewer trades rather than stalling a feed.

Conditions go out on ``Topics.CONDITIONS`` (lossless: the alert manager never misses
one; if it falls behind, this actor waits, which is the backpressure the design asks
for). Views, republished at most once a second when something changed:

=========================  ===========================================================
``signals.whales``         ``{"whales": [...]}`` newest first: single whale trades
                           and same-side bursts (side, USD value, sigmas)
``signals.walls``          ``{"active": [...], "recent": [...]}`` walls in the books
                           now, and ended ones with their outcome
``signals.manipulation``   ``{"symbols": [...]}`` score, window and components
                           (value, score, weight) per symbol, highest first
=========================  ===========================================================

``runtime.stats["signals"]`` counts messages seen, whales, bursts, walls by outcome
and Conditions published per kind (for ``/metrics``).
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

import anyio
import anyio.abc

from virtuoso_daemon.core.bus import Subscription, Topics
from virtuoso_daemon.core.config import Config
from virtuoso_daemon.core.messages import (
    BetaSnapshot,
    Candle,
    CandleBatch,
    Condition,
    Funding,
    OpenInterest,
    OrderBookTop,
    RegimeSnapshot,
    Trade,
)
from virtuoso_daemon.core.runtime import Runtime
from virtuoso_daemon.signals.engine import SignalEngine

log = logging.getLogger("virtuoso.signals")

WHALES_VIEW = "signals.whales"
WALLS_VIEW = "signals.walls"
MANIPULATION_VIEW = "signals.manipulation"
VIEW_INTERVAL = 1.0  # s between view refreshes (when something changed)
TRADE_QUEUE = 8192  # trades arrive in bursts of hundreds (a scan of a chunk)
TRADE_BATCH = 2000  # at most this many trades per detector pass
CANDLE_QUEUE = 8192


class SignalsActor:
    """Feeds the detectors; owns their windows, the active conditions and the views."""

    name = "signals"
    config_sections: ClassVar[tuple[str, ...]] = ("signals",)

    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime
        self.engine = SignalEngine(runtime.config.signals)
        self.published = 0
        self.errors = 0

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        bus = self.rt.bus
        self.rt.stats[self.name] = self.stats
        self._publish_views(set(("whales", "walls", "manipulation")))
        if not self.rt.config.signals.enabled:
            log.info("signals disabled ([signals] enabled = false)")
            task_status.started()
            await anyio.sleep_forever()
        subs: list[Subscription[Any]] = [
            bus.subscribe(Topics.TRADES, name=self.name, maxsize=TRADE_QUEUE),
            bus.subscribe(Topics.ORDERBOOK, name=self.name),
            bus.subscribe(Topics.CANDLES, name=self.name, maxsize=CANDLE_QUEUE),
            bus.subscribe(Topics.CANDLE_HISTORY, name=self.name, maxsize=16),
            bus.subscribe(Topics.OPEN_INTEREST, name=self.name),
            bus.subscribe(Topics.FUNDING, name=self.name),
            bus.subscribe(Topics.BETA, name=self.name),
            bus.subscribe(Topics.SENTIMENT, name=self.name),
        ]
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._consume_trades, subs[0])
                for sub in subs[1:]:
                    tg.start_soon(self._consume, sub)
                tg.start_soon(self._views_loop)
                task_status.started()
        finally:
            for sub in subs:
                sub.close()

    async def reconfigure(self, config: Config) -> None:
        self.engine.reconfigure(config.signals)
        self._publish_views({"manipulation"})
        log.info("signals reconfigured: detectors %s", ", ".join(config.signals.detectors))

    # -- consuming -------------------------------------------------------------------------

    async def _consume_trades(self, sub: Subscription[Any]) -> None:
        async for first in sub:
            batch: list[Trade] = [first] if isinstance(first, Trade) else []
            while len(batch) < TRADE_BATCH:
                try:
                    msg = sub.receive_nowait()
                except anyio.WouldBlock:
                    break
                if isinstance(msg, Trade):
                    batch.append(msg)
            await self._emit(self._run(self.engine.on_trades, batch))

    async def _consume(self, sub: Subscription[Any]) -> None:
        engine = self.engine
        async for msg in sub:
            match msg:
                case OrderBookTop():
                    out = self._run(engine.on_book, msg)
                case Candle():
                    out = self._run(engine.on_candle, msg)
                case CandleBatch():
                    out = self._run(engine.on_candle_batch, msg)
                case OpenInterest():
                    out = self._run(engine.on_open_interest, msg)
                case Funding():
                    out = self._run(engine.on_funding, msg)
                case BetaSnapshot():
                    out = self._run(engine.on_beta, msg)
                case RegimeSnapshot():
                    out = self._run(engine.on_regime, msg)
                case _:
                    continue
            await self._emit(out)

    def _run(self, fn: Any, msg: Any) -> list[Condition]:
        """One detector pass; a failure is logged and counted, never fatal to the
        actor (one bad message must not stop every detector)."""
        try:
            out: list[Condition] = fn(msg)
        except Exception:
            self.errors += 1
            log.exception("signals: detector failed on %s", type(msg).__name__)
            return []
        return out

    async def _emit(self, out: list[Condition]) -> None:
        for cond in out:
            await self.rt.bus.publish(Topics.CONDITIONS, cond)
            self.published += 1

    # -- views -----------------------------------------------------------------------------

    async def _views_loop(self) -> None:
        while True:
            await anyio.sleep(VIEW_INTERVAL)
            dirty = self.engine.dirty
            if dirty:
                self.engine.dirty = set()
                self._publish_views(dirty)

    def _publish_views(self, which: set[str]) -> None:
        views, engine = self.rt.views, self.engine
        if "whales" in which:
            views.publish(WHALES_VIEW, engine.whales_view())
        if "walls" in which:
            views.publish(WALLS_VIEW, engine.walls_view())
        if "manipulation" in which:
            views.publish(MANIPULATION_VIEW, engine.manipulation_view())

    def stats(self) -> dict[str, Any]:
        engine = self.engine
        return {
            **engine.counters,
            "conditions_published": self.published,
            "conditions_by_kind": dict(engine.by_kind),
            "active_conditions": len(engine.book.active),
            "symbols": len(engine.symbols),
            "walls_active": sum(len(st.walls) for st in engine.symbols.values()),
            "errors": self.errors,
        }
