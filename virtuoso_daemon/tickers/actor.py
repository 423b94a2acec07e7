"""Ticker cache actor: the newest ticker of every symbol, in memory and in memcached.

In memory (:mod:`.table`) it keeps the newest :class:`~..messages.Ticker` per
(exchange, symbol), taking tickers from the bus through a tap
(:meth:`~..bus.Bus.tap`: inline in the feed's publish, no queue and no task switch
per ticker), and publishes the read side the API serves:

* view ``market.latest``: a :class:`.table.LiveTickers`, published once: a read-only
  window onto the table itself, for one-symbol lookups (``GET
  /api/market/ticker/{symbol}``, the ``ticker`` socket command). A ticker is there the
  moment a feed publishes it. Each value is an immutable message, so a reader never
  sees half of an update; what it does not give is a consistent picture of many
  symbols at once: that is the snapshot below.

* view ``market.tickers``: a :class:`.table.TickerSnapshot` (all tickers sorted by
  exchange and symbol, an index, which ones are still restored values) whose ``body`` is the
  pre-encoded JSON of ``GET /api/market/tickers``:
  ``{"updated": ts, "count": n, "restored": k, "tickers": [Ticker, ...]}``.
  Republished at most every :data:`VIEW_MIN_INTERVAL` s while tickers arrive (each
  ticker's JSON is encoded once, when it changed), so a value is visible within
  milliseconds of arriving on the bus.
* A ticker that comes without bid and ask (Binance futures' ticker stream) gets them
  from the newest order-book top of its symbol, and follows that top until a ticker
  brings its own quote. A symbol its feed stops watching (``symbols remove``) is
  dropped from every view, and its memcached key deleted at the next flush.
* view ``market.symbols``: ``{exchange: [symbols]}``, republished when a symbol
  appears (symbol resolution uses it).
* view ``cache.state`` and ``runtime.stats["ticker_cache"]``: memcached state
  (``disabled | connecting | up | down``), last error, counters.

memcached (:mod:`.mirror`; key scheme and value format in :mod:`.memcached` and
``docs/market.md``) is a mirror for other processes and for warm restarts:

* Writes are batched: every ``memcached.flush_interval`` the tickers that changed
  since the last flush (one write per symbol however many ticks it got) and the
  aggregate of each exchange that changed go out in one pipelined round trip.
  Every live ticker is rewritten at least every ``ttl / 3`` so quiet symbols do not
  expire while the daemon runs; the TTL makes values vanish once it stops.
* When memcached is down or restarts the daemon keeps serving from memory: an
  error marks the cache ``down`` (visible in ``cache.state``, ``/api/system/status``),
  the actor reconnects with exponential backoff (``reconnect_initial`` doubling up to
  ``reconnect_max``, +-20 % jitter) and re-warms memcached with every ticker it
  holds. A memcached restart that loses data without breaking our connection is
  caught by a liveness key (``<prefix>cache:epoch``) read every
  :data:`.mirror.PROBE_INTERVAL` s; when it is gone the cache is re-warmed.
* On shutdown the tickers that changed since the last flush are written once more
  (bounded by :data:`FINAL_FLUSH_TIMEOUT`).
* Warm restart: before reporting ready the actor reads ``<prefix>tickers:<exchange>``
  for every configured exchange (bounded by :data:`.mirror.WARM_TIMEOUT`) and serves
  those tickers, marked ``restored``, until live ones replace them (or, for a symbol no
  feed delivers any more, until its value is older than the TTL).
* ``memcached.enabled = false``: memory only, state ``disabled``.

Every memcached call runs under a timeout; any failure closes the whole client (its
connections may hold half-read replies) and the next attempt starts afresh.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

import anyio
import anyio.abc

from virtuoso_daemon.core.bus import Topics
from virtuoso_daemon.core.config import Config, memcached_prefix
from virtuoso_daemon.core.exchanges import exchange_configs
from virtuoso_daemon.core.runtime import Runtime
from virtuoso_daemon.core.supervisor import run_with_deadline
from virtuoso_daemon.tickers.mirror import PROBE_INTERVAL, MemcachedMirror
from virtuoso_daemon.tickers.requests import RewarmCache
from virtuoso_daemon.tickers.table import TickerTable

log = logging.getLogger("virtuoso.cache")

VIEW_MIN_INTERVAL = 0.01  # s between two publications of market.tickers
FINAL_FLUSH_TIMEOUT = 0.5  # s of the shutdown budget for the last flush


class TickerCacheActor:
    """Newest tickers in memory (views) and memcached; see the module docstring.

    The actor holds the loops (views, state, commands) and the wiring; the table is
    :class:`.table.TickerTable`, the memcached side :class:`.mirror.MemcachedMirror`.
    """

    name = "ticker_cache"
    config_sections: ClassVar[tuple[str, ...]] = ("memcached",)

    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime
        cfg = runtime.config.memcached
        # served by /api/market/cache as read.market_answers.CacheState, which refuses a
        # key it does not declare: a new counter needs a field there too
        self.counters: dict[str, int] = {
            "received": 0,
            "hits": 0,
            "misses": 0,
            "errors": 0,
            "writes": 0,
            "deletes": 0,
            "bytes_written": 0,
            "flushes": 0,
            "reconnects": 0,
            "rewarms": 0,
            "restored": 0,
        }
        self.table = TickerTable(self.counters, mirroring=cfg.enabled)
        self.mirror = MemcachedMirror(
            cfg, memcached_prefix(runtime.config), self.table, self.counters, self._publish_state
        )

    @property
    def state(self) -> str:
        """memcached's state: ``disabled | connecting | up | down``."""
        return self.mirror.state

    # --- lifecycle ---------------------------------------------------------------------

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        self.rt.stats[self.name] = self.stats
        table = self.table
        self.rt.views.publish("market.latest", table.live(), b"null")
        tap = None
        try:
            await self.mirror.warm_start([ex.name for ex in exchange_configs(self.rt)])
            tap = self.rt.bus.tap(Topics.TICKERS, table.on_ticker, name=self.name)
            status_tap = self.rt.bus.tap(Topics.FEED_STATUS, table.on_status, name=self.name)
            book_tap = self.rt.bus.tap(Topics.ORDERBOOK, table.on_book, name=self.name)
            table.publish(self.rt)
            self._publish_state()
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._view_loop)
                tg.start_soon(self.mirror.run)
                tg.start_soon(self._state_loop)
                tg.start_soon(self._commands)
                task_status.started()
        finally:
            if tap is not None:
                tap.close()
                status_tap.close()
                book_tap.close()
            if self.state == "up":
                await run_with_deadline(self.mirror.final_flush, FINAL_FLUSH_TIMEOUT)

    async def _commands(self) -> None:
        with self.rt.bus.subscribe(Topics.CACHE_COMMANDS, name=self.name) as sub:
            async for req in sub:
                match req.body:
                    case RewarmCache(views_only=views_only):
                        req.reply(self.rewarm(views_only=views_only))
                    case _:
                        req.fail("unknown_command", f"unknown cache command {req.command!r}")

    def rewarm(self, *, views_only: bool = False) -> dict[str, Any]:
        """What ``RewarmCache`` does (its docstring); says what it did."""
        table, mirror = self.table, self.mirror
        table.symbols_dirty = True
        table.publish(self.rt)
        if views_only:
            return {"tickers": len(table.latest), "view": "market.tickers", "rebuilt": True}
        table.queue_all()
        reconnect = mirror.cfg.enabled and self.state != "up"
        if reconnect:
            mirror.restart.set()  # a fresh connection loop: no backoff wait
        self.counters["rewarms"] += 1
        log.warning("cache re-warmed by operator (memcached %s)", self.state)
        return {
            "tickers": len(table.latest),
            "queued_for_memcached": len(table.mc_dirty) if mirror.cfg.enabled else 0,
            "memcached": self.state,
            "reconnecting": reconnect,
        }

    async def reconfigure(self, config: Config) -> None:
        self.table.mirroring = config.memcached.enabled
        self.mirror.reconfigure(config.memcached, memcached_prefix(config))
        log.info("memcached settings changed; reconnecting")

    # --- loops ---------------------------------------------------------------------------

    async def _view_loop(self) -> None:
        table = self.table
        while True:
            await table.changed.wait()
            table.changed = anyio.Event()
            table.publish(self.rt)
            await anyio.sleep(VIEW_MIN_INTERVAL)  # coalesce bursts into one snapshot

    async def _state_loop(self) -> None:
        while True:
            await anyio.sleep(PROBE_INTERVAL)
            self.table.expire_restored(self.mirror.cfg.ttl)
            self._publish_state()

    # --- state ---------------------------------------------------------------------------

    def state_doc(self) -> dict[str, Any]:
        mirror = self.mirror
        cfg = mirror.cfg
        return {
            "backend": "memcached",
            "enabled": cfg.enabled,
            "address": f"{cfg.host}:{cfg.port}",
            "key_prefix": mirror.prefix,
            "state": mirror.state,
            "since": mirror.state_since,
            "last_error": mirror.last_error,
            "last_error_ts": mirror.last_error_ts,
            "tickers": len(self.table.latest),
            "restored": len(self.table.restored),
            "pending_writes": len(self.table.mc_dirty),
            **self.counters,
        }

    def stats(self) -> dict[str, Any]:
        return self.state_doc()

    def _publish_state(self) -> None:
        self.rt.views.publish("cache.state", self.state_doc())
