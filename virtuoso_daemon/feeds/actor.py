"""The feed actor: one per configured exchange, named ``feeds:<name>``.

It owns everything about talking to that exchange: the ccxt instances, the loaded
markets, which symbols are watched, the per-kind stream/REST runners, backfill, and
the feed's health. Other actors only see what it publishes: normalised market data
on the lossy topics, :class:`~virtuoso_daemon.core.messages.FeedStatus` on
``Topics.FEED_STATUS`` and in the ``feeds.status`` view. Operators reach it through
``feed_commands:<name>`` (routed there by the ``feeds`` registry actor).

Lifecycle: the actor reports ready at once (a down exchange must not hold up the
daemon's start) and connects in the background: markets (retried with backoff,
refreshed every ``markets_refresh``), symbols (explicit, or top N by quote volume
refreshed every ``top_refresh``), then the data runners, which are rebuilt whenever
the symbol set, pause state or config changes. Every ccxt instance is closed on the
way out, shielded and bounded.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, ClassVar

import anyio
import anyio.abc
import msgspec

from virtuoso_daemon.beta.compute import pick_benchmark
from virtuoso_daemon.core.bus import Request, Subscription, Topics
from virtuoso_daemon.core.config import Config, ExchangeConfig
from virtuoso_daemon.core.messages import FeedStatus
from virtuoso_daemon.core.runtime import Runtime
from virtuoso_daemon.feeds import symbols as sym
from virtuoso_daemon.feeds.backfill import Backfiller, derivatives_loop
from virtuoso_daemon.feeds.backoff import Backoff
from virtuoso_daemon.feeds.context import DATA_KINDS, FeedContext, chunked
from virtuoso_daemon.feeds.requests import (
    AddSymbols,
    FeedStatusQuery,
    ListFeeds,
    PauseFeed,
    ReconnectFeed,
    RemoveSymbols,
    ResetBackoff,
    ResumeFeed,
)
from virtuoso_daemon.feeds.status import HEARTBEAT, significant
from virtuoso_daemon.feeds.streams import REST_CHUNK, ChunkRunner, stream_plan

log = logging.getLogger("virtuoso.feeds")

STATUS_VIEW = "feeds.status"
STATUS_TICK = 0.25  # seconds between health evaluations


def command_topic(name: str) -> str:
    """The request topic one feed actor serves (the registry routes to it)."""
    return f"{Topics.FEED_COMMANDS}:{name}"


def exchange_config(runtime: Runtime, name: str) -> ExchangeConfig:
    """This feed's exchange config (the effective config's: demo mode is resolved
    before the supervisor starts)."""
    for ex in runtime.config.exchanges:
        if ex.name == name:
            return ex
    raise LookupError(f"no exchange feed named {name!r} is configured")


def publish_status(runtime: Runtime, status: FeedStatus) -> None:
    """Publish on the bus and merge into the ``feeds.status`` view (name -> status)."""
    runtime.bus.publish_nowait(Topics.FEED_STATUS, status)
    current = dict(runtime.views.value(STATUS_VIEW) or {})
    current[status.exchange] = status
    runtime.views.publish(STATUS_VIEW, current)


class FeedActor:
    """Market data from one exchange onto the bus; see the module docstring."""

    config_sections: ClassVar[tuple[str, ...]] = ("exchanges",)

    def __init__(self, runtime: Runtime, exchange: str) -> None:
        self.runtime = runtime
        self.exchange = exchange
        self.name = f"feeds:{exchange}"
        self.cfg: ExchangeConfig | None = None
        self.ctx: FeedContext | None = None
        # operator state survives config reloads and runner restarts
        self.paused = False
        self.paused_symbols: set[str] = set()
        self.added: list[str] = []
        self.removed: set[str] = set()
        self._base: list[str] = []  # explicit or top-N symbols before operator edits
        self.delisted: set[str] = set()  # watched symbols a markets refresh no longer lists
        self._changed = anyio.Event()
        self._reload = anyio.Event()
        self._markets_ready = False
        self._last_sig: tuple[object, ...] | None = None
        self._last_pub = 0.0
        self.markets_loads = 0
        self.top_refreshes = 0

    @classmethod
    def factory(cls, exchange: str) -> Callable[[Runtime], FeedActor]:
        return lambda runtime: cls(runtime, exchange)

    async def reconfigure(self, config: Config) -> None:
        try:
            new = exchange_config(self.runtime, self.exchange)
        except LookupError:
            log.warning("%s: removed from the config; it stops at the next restart", self.name)
            return
        if new != self.cfg:
            log.info("%s: config changed, reconnecting with the new settings", self.name)
            self.cfg = new
            self._reload.set()

    # --- lifecycle -------------------------------------------------------------------

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        self.cfg = exchange_config(self.runtime, self.exchange)
        self.runtime.stats[self.name] = self.stats
        with self.runtime.bus.subscribe(command_topic(self.exchange), name=self.name) as cmds:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._lifecycle)
                tg.start_soon(self._commands, cmds)
                tg.start_soon(self._status_loop)
                task_status.started()

    async def _lifecycle(self) -> None:
        while True:
            assert self.cfg is not None
            self._reload = anyio.Event()
            previous, ctx = self.ctx, FeedContext(self.runtime, self.cfg)
            ctx.paused_symbols = self.paused_symbols
            ctx.health.paused = self.paused
            if previous is not None:
                # a reconnect does not make the newest data newer: the data ages (and
                # the health monitor grades it) from the last message, not from zero
                ctx.health.last_by_kind = dict(previous.health.last_by_kind)
            # not held through this connection's life: it would keep the replaced
            # context and its ccxt instances (tens of MB at 300 markets) until the next
            del previous
            self.ctx = ctx
            self._markets_ready = False
            try:
                async with anyio.create_task_group() as tg:
                    tg.start_soon(self._feed, ctx)
                    await self._reload.wait()
                    tg.cancel_scope.cancel()
            finally:
                await ctx.factory.close_all()

    async def _feed(self, ctx: FeedContext) -> None:
        ctx.rest = ctx.factory.create()
        ctx.factory.share_throttler(ctx.rest)
        await self._load_markets(ctx)
        unknown_kinds = set(ctx.cfg.kinds) - set(DATA_KINDS)
        if unknown_kinds:
            log.warning("%s: unknown data kinds ignored: %s", self.name, sorted(unknown_kinds))
        ctx.timeframes = [tf for tf in ctx.cfg.timeframes if tf in (ctx.rest.timeframes or {})]
        dropped = set(ctx.cfg.timeframes) - set(ctx.timeframes)
        if dropped:
            log.warning("%s: %s has no timeframe(s) %s", self.name, ctx.cfg.ccxt_id, dropped)
        self._base = await self._initial_symbols(ctx)
        self._apply_symbols(ctx)
        backfiller = ctx.backfiller = Backfiller(ctx)
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._markets_refresh, ctx)
            if not ctx.cfg.symbols and ctx.cfg.top_n > 0:
                tg.start_soon(self._top_refresh, ctx)
            while True:
                self._changed = anyio.Event()
                if self.paused or not ctx.symbols:
                    await self._changed.wait()
                    continue
                async with anyio.create_task_group() as data:
                    self._start_runners(ctx, data, backfiller)
                    await self._changed.wait()
                    data.cancel_scope.cancel()

    def _start_runners(
        self, ctx: FeedContext, tg: anyio.abc.TaskGroup, backfiller: Backfiller
    ) -> None:
        cfg = ctx.cfg
        for kind in DATA_KINDS:
            if kind not in cfg.kinds or (kind == "ohlcv" and not ctx.timeframes):
                continue
            streams = ctx.profile.streams(cfg.market)
            plan = (
                stream_plan(ctx.rest, kind, len(ctx.timeframes), streams) if cfg.streaming else None
            )
            chunks = chunked(ctx.symbols, plan[1] if plan else REST_CHUNK)
            for i, chunk in enumerate(chunks):
                key = kind if len(chunks) == 1 else f"{kind}#{i}"
                runner = ChunkRunner(ctx, kind, key, chunk, plan[0] if plan else None)
                tg.start_soon(runner.run, name=f"{self.name}:{key}")
        if "ohlcv" in cfg.kinds and ctx.timeframes:
            tg.start_soon(backfiller.run, list(ctx.symbols))
        if cfg.market == "linear":
            tg.start_soon(derivatives_loop, ctx)

    # --- markets and symbols ---------------------------------------------------------

    async def _load_markets(self, ctx: FeedContext) -> None:
        backoff = Backoff(ctx.cfg.backoff_initial, ctx.cfg.backoff_max)
        ctx.health.note = "loading markets"
        while True:
            try:
                await ctx.call("markets", ctx.rest.load_markets)
                break
            except Exception as exc:
                delay = backoff.next()
                log.warning(
                    "%s: loading markets failed (%s); retry in %.1fs", self.name, exc, delay
                )
                await anyio.sleep(delay)
        ctx.health.clear("markets")
        ctx.health.note = ""
        self._markets_ready = True
        self.markets_loads += 1
        log.info("%s: %d markets loaded", self.name, len(ctx.rest.markets))

    async def _markets_refresh(self, ctx: FeedContext) -> None:
        while True:
            await anyio.sleep(ctx.cfg.markets_refresh)
            try:
                await ctx.call("markets", ctx.rest.load_markets, True)
                ctx.health.clear("markets")
                self.markets_loads += 1
            except Exception as exc:  # keep the markets we have
                log.warning("%s: refreshing markets failed: %s", self.name, exc)
                continue
            markets = ctx.rest.markets
            delisted = {
                s
                for s in ctx.symbols
                if s not in markets or not sym.market_matches(markets[s], ctx.cfg)
            }
            if delisted != self.delisted:
                if delisted - self.delisted:
                    log.warning("%s: no longer listed: %s", self.name, sorted(delisted))
                self.delisted = delisted
                self._apply_symbols(ctx)

    async def _initial_symbols(self, ctx: FeedContext) -> list[str]:
        cfg = ctx.cfg
        if cfg.symbols:
            found, unknown = sym.resolve_all(ctx.rest.markets, cfg, cfg.symbols)
            ctx.health.unknown_symbols = unknown  # in the status: queries answer 404
            if unknown:
                log.warning("%s: unknown symbols ignored: %s", self.name, ", ".join(unknown))
            return found
        backoff = Backoff(cfg.backoff_initial, cfg.backoff_max)
        while True:
            try:
                return await self._top(ctx)
            except Exception:
                await anyio.sleep(backoff.next())

    async def _top(self, ctx: FeedContext) -> list[str]:
        tickers = await ctx.call("top_n", ctx.rest.fetch_tickers)
        ctx.health.clear("top_n")
        return sym.top_by_volume(ctx.rest.markets, tickers, ctx.cfg, ctx.profile.ticker_contracts)

    async def _top_refresh(self, ctx: FeedContext) -> None:
        while True:
            await anyio.sleep(ctx.cfg.top_refresh)
            try:
                top = await self._top(ctx)
            except Exception as exc:
                log.warning("%s: refreshing the top %d failed: %s", self.name, ctx.cfg.top_n, exc)
                continue
            self.top_refreshes += 1
            if top != self._base:
                log.info("%s: top %d changed", self.name, ctx.cfg.top_n)
                self._base = top
                self._apply_symbols(ctx)

    def _apply_symbols(self, ctx: FeedContext) -> None:
        """Recompute the watched set from base + operator edits; restart runners if new."""
        symbols = [s for s in self._base if s not in self.removed]
        symbols += [s for s in self.added if s not in symbols]
        symbols = [s for s in symbols if s not in self.delisted]
        if symbols != ctx.symbols:
            gone = set(ctx.symbols) - set(symbols)
            for s in gone:
                ctx.tracker.forget(s)
                if ctx.backfiller is not None:
                    ctx.backfiller.forget(s)
            ctx.set_symbols(symbols)
            self._changed.set()

    # --- commands --------------------------------------------------------------------

    async def _commands(self, sub: Subscription[Request]) -> None:
        async for req in sub:
            exchange = getattr(req.body, "exchange", None)
            if exchange is not None and exchange != self.exchange:
                continue  # not ours: the owner answers
            try:
                self._command(req)
            except Exception as exc:
                log.exception("%s: command %s failed", self.name, req.command)
                req.fail("internal", f"{type(exc).__name__}: {exc}")

    def _command(self, req: Request) -> None:
        ctx = self.ctx
        if ctx is None:
            req.fail("unavailable", f"feed {self.exchange!r} is not running")
            return
        match req.body:
            case ListFeeds():
                req.reply([msgspec.to_builtins(self.status())])
            case FeedStatusQuery():
                req.reply(msgspec.to_builtins(self.status()))
            case PauseFeed(symbol=symbol):
                self._pause(req, ctx, symbol, pause=True)
            case ResumeFeed(symbol=symbol):
                self._pause(req, ctx, symbol, pause=False)
            case AddSymbols(symbols=symbols):
                self._edit_symbols(req, ctx, symbols, add=True)
            case RemoveSymbols(symbols=symbols):
                self._edit_symbols(req, ctx, symbols, add=False)
            case ReconnectFeed():
                before = ctx.health.state()
                log.warning("%s: reconnecting by operator (was %s)", self.name, before)
                self._reload.set()  # _lifecycle closes every connection and starts afresh
                req.reply({"exchange": self.exchange, "reconnecting": True, "was": before})
            case ResetBackoff():
                closed_for = ctx.gate.reopen()
                log.warning(
                    "%s: rate gate reopened by operator (%.1fs left)", self.name, closed_for
                )
                req.reply({"exchange": self.exchange, "gate_was_closed_for": round(closed_for, 3)})
            case _:
                req.fail("unknown_command", f"unknown feed command {req.command!r}")

    def _pause(self, req: Request, ctx: FeedContext, symbol: str | None, *, pause: bool) -> None:
        if symbol:
            unified = self._watched(ctx, symbol)
            if unified is None:
                req.fail("unknown_symbol", f"{symbol!r} is not watched on {self.exchange}")
                return
            if pause:
                self.paused_symbols.add(unified)
            else:
                self.paused_symbols.discard(unified)
            log.info("%s: %s %s", self.name, "paused" if pause else "resumed", unified)
        elif pause != self.paused:
            self.paused = pause
            ctx.health.paused = pause
            log.info("%s: %s by operator", self.name, "paused" if pause else "resumed")
            self._changed.set()
        req.reply(self._publish_now())

    def _watched(self, ctx: FeedContext, symbol: str) -> str | None:
        if symbol in ctx.symbol_set:
            return symbol
        markets = ctx.rest.markets if ctx.rest is not None and ctx.rest.markets else {}
        unified = sym.resolve(markets, ctx.cfg, symbol)
        return unified if unified in ctx.symbol_set else None

    def _edit_symbols(self, req: Request, ctx: FeedContext, raw: list[str], *, add: bool) -> None:
        if not raw or not all(raw):
            req.fail("bad_args", "symbols must be a non-empty list of non-empty strings")
            return
        if not self._markets_ready:
            req.fail("unavailable", f"markets of {self.exchange} are not loaded yet")
            return
        found, unknown = sym.resolve_all(ctx.rest.markets, ctx.cfg, raw)
        if not add:
            unknown += [s for s in found if s not in ctx.symbol_set]
        if unknown:
            req.fail(
                "unknown_symbol", f"unknown symbol(s) on {self.exchange}: {', '.join(unknown)}"
            )
            return
        bench = pick_benchmark(self.runtime.config.beta.benchmark, ctx.cfg.market, ctx.symbols)
        if not add and bench in found:
            # without it every beta of this exchange stops: refuse, and say what to do
            req.fail(
                "benchmark_symbol",
                f"{bench} is the beta benchmark of {self.exchange} (beta.benchmark = "
                f"{self.runtime.config.beta.benchmark!r}); every beta of this exchange "
                "needs it. Change beta.benchmark first to remove it.",
            )
            return
        if add:
            changed = [s for s in found if s not in ctx.symbol_set]
            self.removed -= set(found)
            self.added += [s for s in found if s not in self.added]
        else:
            changed = found
            self.removed |= set(found)
            self.added = [s for s in self.added if s not in found]
        self._apply_symbols(ctx)
        log.info("%s: symbols %s: %s", self.name, "added" if add else "removed", changed)
        req.reply(
            {
                "exchange": self.exchange,
                "added" if add else "removed": changed,
                "symbols": list(ctx.symbols),
            }
        )

    # --- status ----------------------------------------------------------------------

    def status(self) -> FeedStatus:
        ctx = self.ctx
        if ctx is None:
            return FeedStatus(exchange=self.exchange, state="starting", ts=time.time())
        candles = list(ctx.timeframes) if "ohlcv" in ctx.cfg.kinds else []
        return ctx.health.snapshot(list(ctx.symbols), sorted(self.paused_symbols), candles)

    def _publish_now(self) -> dict[str, Any]:
        status = self.status()
        publish_status(self.runtime, status)
        self._last_sig = significant(status)
        self._last_pub = anyio.current_time()
        out: dict[str, Any] = msgspec.to_builtins(status)
        return out

    async def _status_loop(self) -> None:
        try:
            while True:
                status = self.status()
                sig = significant(status)
                if sig != self._last_sig or anyio.current_time() - self._last_pub >= HEARTBEAT:
                    publish_status(self.runtime, status)
                    self._last_sig = sig
                    self._last_pub = anyio.current_time()
                await anyio.sleep(STATUS_TICK)
        finally:
            final = msgspec.structs.replace(self.status(), state="down", detail="feed stopped")
            publish_status(self.runtime, final)

    def stats(self) -> dict[str, Any]:
        ctx = self.ctx
        if ctx is None:
            return {"state": "starting"}
        h = ctx.health
        return {
            "state": h.state(),
            "symbols": len(ctx.symbols),
            "paused": self.paused,
            "paused_symbols": len(self.paused_symbols),
            "modes": h.kind_modes(),
            "messages": dict(h.messages),
            # newest message per kind, now (the published FeedStatus may be a heartbeat
            # old): what the health monitor's data-age check reads
            "last_by_kind": dict(h.last_by_kind),
            "errors": dict(h.errors),
            "reconnects": h.reconnects,
            "backfill": {
                "series_done": len(ctx.backfiller.done),
                "series_total": ctx.backfiller.total,
                "pages": ctx.backfiller.pages,
                "candles": ctx.backfiller.rows,
                "catch_ups": ctx.backfiller.catch_ups,
                "resumed": ctx.backfiller.resumed,
            }
            if ctx.backfiller
            else None,
            "markets_loads": self.markets_loads,
            "top_refreshes": self.top_refreshes,
            "requests": ctx.requests,
            "http_responses": dict(ctx.factory.responses),
            "ccxt_instances": {
                "open": len(ctx.factory.live),
                "created": ctx.factory.created,
                "closed": ctx.factory.closed,
            },
            "book_deltas_dropped": ctx.factory.book_deltas_dropped,
            "rate_gate_closures": ctx.gate.closures,
            "latency_ms": h.latency_ms,
        }
