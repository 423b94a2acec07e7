"""Ticker cache actor: the newest ticker of every symbol, in memory and in memcached.

In memory it keeps the newest :class:`~..messages.Ticker` per (exchange, symbol),
taking tickers from the bus through a tap (:meth:`~..bus.Bus.tap`: inline in the
feed's publish, no queue and no task switch per ticker), and publishes the read side
the API serves:

* view ``market.latest``: a :class:`LiveTickers`, published once: a read-only window
  onto the table itself, for one-symbol lookups (``GET /api/market/ticker/{symbol}``,
  the ``ticker`` socket command). A ticker is there the moment a feed publishes it.
  Each value is an immutable message, so a reader never sees half of an update; what
  it does not give is a consistent picture of many symbols at once: that is the
  snapshot below.

* view ``market.tickers``: a :class:`TickerSnapshot` (all tickers sorted by exchange
  and symbol, an index, which ones are still restored values) whose ``body`` is the
  pre-encoded JSON of ``GET /api/market/tickers``:
  ``{"updated": ts, "count": n, "restored": k, "tickers": [Ticker, ...]}``.
  Republished at most every :data:`VIEW_MIN_INTERVAL` s while tickers arrive (each
  ticker's JSON is encoded once, when it changed), so a value is visible within
  milliseconds of arriving on the bus.
* A ticker that comes without bid and ask (Binance futures' ticker stream) gets them
  from the newest order-book top of its symbol, and follows that top until a ticker
  brings its own quote. A symbol its feed stops watching (``symbols remove``) is
  dropped from every view.
* view ``market.symbols``: ``{exchange: [symbols]}``, republished when a symbol
  appears (symbol resolution uses it).
* view ``cache.state`` and ``runtime.stats["ticker_cache"]``: memcached state
  (``disabled | connecting | up | down``), last error, counters.

memcached (key scheme and value format in :mod:`..cache.memcached` and
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
  :data:`PROBE_INTERVAL` s; when it is gone the cache is re-warmed.
* On shutdown the tickers that changed since the last flush are written once more
  (bounded by :data:`FINAL_FLUSH_TIMEOUT`).
* Warm restart: before reporting ready the actor reads ``<prefix>tickers:<exchange>``
  for every configured exchange (bounded by :data:`WARM_TIMEOUT`) and serves those
  tickers, marked ``restored``, until live ones replace them (or, for a symbol no
  feed delivers any more, until its value is older than the TTL).
* ``memcached.enabled = false``: memory only, state ``disabled``.

Every memcached call runs under a timeout; any failure closes the whole client (its
connections may hold half-read replies) and the next attempt starts afresh.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Any, ClassVar

import anyio
import anyio.abc
import msgspec

from virtuoso_daemon.core.backoff import Backoff
from virtuoso_daemon.core.bus import Topics
from virtuoso_daemon.core.config import Config, MemcachedConfig, memcached_prefix
from virtuoso_daemon.core.exchanges import exchange_configs
from virtuoso_daemon.core.messages import FeedStatus, OrderBookTop, Ticker
from virtuoso_daemon.core.runtime import Runtime
from virtuoso_daemon.core.supervisor import run_with_deadline
from virtuoso_daemon.tickers.memcached import (
    ERRORS,
    SafeClient,
    TickerAggregate,
    aggregate_decoder,
    aggregate_key,
    epoch_key,
    ticker_encoder,
    ticker_key,
)
from virtuoso_daemon.tickers.requests import RewarmCache

log = logging.getLogger("virtuoso.cache")

VIEW_MIN_INTERVAL = 0.01  # s between two publications of market.tickers
PROBE_INTERVAL = 1.0  # s between liveness-key reads (and cache.state publications)
OP_TIMEOUT = 2.0  # s for one memcached operation
WARM_TIMEOUT = 1.5  # s the warm-restart read may delay startup
FINAL_FLUSH_TIMEOUT = 0.5  # s of the shutdown budget for the last flush
MEMCACHED_MAX_RELATIVE_TTL = 30 * 86_400

Key = tuple[str, str]  # exchange, symbol
_json = msgspec.json.Encoder()


@dataclass(frozen=True, eq=False)
class TickerSnapshot:
    """One immutable generation of the ticker table (``market.tickers`` view value)."""

    tickers: tuple[Ticker, ...]  # sorted by (exchange, symbol)
    index: Mapping[Key, Ticker]
    restored: frozenset[Key]  # keys whose value came from memcached, not yet live
    updated: float
    version: int
    # derived answers (filtered lists, overview, movers) computed once per snapshot
    memo: dict[Any, Any] = field(default_factory=dict)


EMPTY_SNAPSHOT = TickerSnapshot((), {}, frozenset(), 0.0, 0)


def ticker_snapshot(rt: Runtime) -> TickerSnapshot:
    """The newest ticker snapshot (empty before the ticker cache has started)."""
    snap = rt.views.value("market.tickers")
    return snap if isinstance(snap, TickerSnapshot) else EMPTY_SNAPSHOT


class LiveTickers:
    """Read-only access to the ticker cache's live table (``market.latest`` view)."""

    __slots__ = ("_latest", "_restored")

    def __init__(self, latest: Mapping[Key, Ticker], restored: AbstractSet[Key]) -> None:
        self._latest = latest
        self._restored = restored

    def get(self, key: Key) -> Ticker | None:
        return self._latest.get(key)

    def is_restored(self, key: Key) -> bool:
        return key in self._restored

    def __contains__(self, key: object) -> bool:
        return key in self._latest

    def __len__(self) -> int:
        return len(self._latest)


def _with_top(t: Ticker, top: tuple[float | None, ...]) -> Ticker:
    bid, bid_size, ask, ask_size = top
    return msgspec.structs.replace(t, bid=bid, bid_size=bid_size, ask=ask, ask_size=ask_size)


class TickerCacheActor:
    """Newest tickers in memory (views) and memcached; see the module docstring."""

    name = "ticker_cache"
    config_sections: ClassVar[tuple[str, ...]] = ("memcached",)

    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime
        self.cfg: MemcachedConfig = runtime.config.memcached
        self.prefix = memcached_prefix(runtime.config)
        self.latest: dict[Key, Ticker] = {}  # shared with readers: never rebuilt
        # the same table in (exchange, symbol) order, and each ticker's JSON in that
        # order: a snapshot is then C-speed copies of .values() (re-sorted, privately,
        # once after symbols appeared: see _sorted_rows)
        self._rows: dict[Key, Ticker] = {}
        self._json: dict[Key, bytes] = {}
        self._unsorted = False
        self.restored: set[Key] = set()
        # order-book tops (bid, bid size, ask, ask size) for tickers that come without a
        # quote, and the keys whose served bid/ask came from there
        self._tops: dict[Key, tuple[float | None, ...]] = {}
        self._from_book: set[Key] = set()
        self._view_dirty: set[Key] = set()
        self._symbols_dirty = True
        self._mc_dirty: set[Key] = set()
        self._mc_dirty_exchanges: set[str] = set()
        self._changed = anyio.Event()
        self._restart = anyio.Event()
        self._version = 0
        self._epoch = uuid.uuid4().hex.encode()
        self.state = "disabled" if not self.cfg.enabled else "connecting"
        self.state_since = time.time()
        self.last_error: str | None = None
        self.last_error_ts: float | None = None
        self.counters: dict[str, int] = {
            "received": 0,
            "hits": 0,
            "misses": 0,
            "errors": 0,
            "writes": 0,
            "bytes_written": 0,
            "flushes": 0,
            "reconnects": 0,
            "rewarms": 0,
            "restored": 0,
        }

    # --- lifecycle ---------------------------------------------------------------------

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        self.rt.stats[self.name] = self.stats
        self.rt.views.publish("market.latest", LiveTickers(self.latest, self.restored), b"null")
        tap = None
        try:
            await self._warm_start()
            tap = self.rt.bus.tap(Topics.TICKERS, self._on_message, name=self.name)
            status_tap = self.rt.bus.tap(Topics.FEED_STATUS, self._on_status, name=self.name)
            book_tap = self.rt.bus.tap(Topics.ORDERBOOK, self._on_book, name=self.name)
            self._publish_tickers()
            self._publish_state()
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._view_loop)
                tg.start_soon(self._memcached_task)
                tg.start_soon(self._state_loop)
                tg.start_soon(self._commands)
                task_status.started()
        finally:
            if tap is not None:
                tap.close()
                status_tap.close()
                book_tap.close()
            if self.state == "up":
                await run_with_deadline(self._final_flush, FINAL_FLUSH_TIMEOUT)

    async def _final_flush(self) -> None:
        """Write what changed since the last flush, so a warm restart starts current."""
        client = self._client()
        try:
            await self._flush(client)
        except ERRORS as exc:
            self._note_error(exc)
        finally:
            await self._close(client)

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
        self._symbols_dirty = True
        self._publish_tickers()
        if views_only:
            return {"tickers": len(self.latest), "view": "market.tickers", "rebuilt": True}
        self._queue_all()
        reconnect = self.cfg.enabled and self.state != "up"
        if reconnect:
            self._restart.set()  # a fresh connection loop: no backoff wait
        self.counters["rewarms"] += 1
        log.warning("cache re-warmed by operator (memcached %s)", self.state)
        return {
            "tickers": len(self.latest),
            "queued_for_memcached": len(self._mc_dirty) if self.cfg.enabled else 0,
            "memcached": self.state,
            "reconnecting": reconnect,
        }

    async def reconfigure(self, config: Config) -> None:
        self.cfg = config.memcached
        self.prefix = memcached_prefix(config)
        self._restart.set()
        log.info("memcached settings changed; reconnecting")

    # --- ingest and views --------------------------------------------------------------

    def _on_message(self, msg: Any) -> None:
        if isinstance(msg, Ticker):
            key = (msg.exchange, msg.symbol)
            top = self._tops.get(key)
            if msg.bid is None and msg.ask is None and top is not None:
                # a ticker stream without bid/ask (Binance futures): the book's top is the
                # quote, so tickers and the order book never disagree
                msg = _with_top(msg, top)
                self._from_book.add(key)
            else:
                self._from_book.discard(key)
            self._ingest(msg)

    def _on_book(self, msg: Any) -> None:
        if not isinstance(msg, OrderBookTop):
            return
        key = (msg.exchange, msg.symbol)
        bid = msg.bids[0] if msg.bids else (None, None)
        ask = msg.asks[0] if msg.asks else (None, None)
        top = (bid[0], bid[1], ask[0], ask[1])
        self._tops[key] = top
        ticker = self.latest.get(key)
        if key in self._from_book and ticker is not None and key not in self.restored:
            self._ingest(_with_top(ticker, top))

    def _on_status(self, msg: Any) -> None:
        """A feed's symbol list: forget the tickers of symbols it no longer watches
        (``symbols remove``), so they are not served with an ever-growing age."""
        if not isinstance(msg, FeedStatus) or not msg.symbols:
            return  # "starting" says nothing about the symbols yet
        watched = set(msg.symbols)
        gone = [k for k in self.latest if k[0] == msg.exchange and k[1] not in watched]
        if gone:
            self._forget(gone)

    def _forget(self, keys: list[Key]) -> None:
        for key in keys:
            self._tops.pop(key, None)
            self._from_book.discard(key)
            self.restored.discard(key)
            del self.latest[key]
            del self._rows[key]
            self._json.pop(key, None)
            self._view_dirty.discard(key)
            self._mc_dirty.discard(key)
            self._mc_dirty_exchanges.add(key[0])
        self._symbols_dirty = True
        self._changed.set()

    def _ingest(self, t: Ticker, restored: bool = False) -> None:
        key = (t.exchange, t.symbol)
        if key not in self._rows:
            self._unsorted = True
            self._symbols_dirty = True
        self._rows[key] = t
        self.latest[key] = t
        self._view_dirty.add(key)
        if restored:
            self.restored.add(key)
        else:
            self.restored.discard(key)
            if self.cfg.enabled:  # when disabled, enabling it later queues everything
                self._mc_dirty.add(key)
            self.counters["received"] += 1
        self._changed.set()

    def _sorted_rows(self) -> dict[Key, Ticker]:
        """The table in (exchange, symbol) order: sorted once per burst of new symbols
        (a start-up or warm restore brings hundreds at once), not once per symbol."""
        if self._unsorted:
            self._rows = dict(sorted(self._rows.items()))
            self._json = {k: self._json.get(k, b"null") for k in self._rows}
            self._unsorted = False
        return self._rows

    def _publish_tickers(self) -> None:
        rows = self._sorted_rows()
        for key in self._view_dirty:
            self._json[key] = _json.encode(rows[key])
        self._view_dirty.clear()
        now = time.time()
        self._version += 1
        head = b'{"updated":%s,"count":%d,"restored":%d,"tickers":[' % (
            _json.encode(now),
            len(rows),
            len(self.restored),
        )
        # one copy of the ~90 kB body, not three (head + join + tail)
        parts = list(self._json.values())
        if parts:
            parts[0] = head + parts[0]
            parts[-1] += b"]}"
            body = b",".join(parts)
        else:
            body = head + b"]}"
        snap = TickerSnapshot(
            tickers=tuple(rows.values()),
            index=dict(self.latest),
            restored=frozenset(self.restored),
            updated=now,
            version=self._version,
        )
        self.rt.views.publish("market.tickers", snap, body)
        if self._symbols_dirty:
            self._symbols_dirty = False
            tree: dict[str, list[str]] = {}
            for exchange, symbol in rows:
                tree.setdefault(exchange, []).append(symbol)
            self.rt.views.publish("market.symbols", tree)

    async def _view_loop(self) -> None:
        while True:
            await self._changed.wait()
            self._changed = anyio.Event()
            self._publish_tickers()
            await anyio.sleep(VIEW_MIN_INTERVAL)  # coalesce bursts into one snapshot

    # --- memcached ---------------------------------------------------------------------

    def _client(self) -> SafeClient:
        return SafeClient(self.cfg.host, self.cfg.port, pool_size=max(1, self.cfg.pool_size))

    @staticmethod
    async def _close(client: SafeClient) -> None:
        with anyio.move_on_after(1.0, shield=True):
            await client.close()

    def _set_state(self, state: str) -> None:
        if state != self.state:
            self.state = state
            self.state_since = time.time()
            self._publish_state()

    def _note_error(self, exc: BaseException) -> None:
        self.counters["errors"] += 1
        self.last_error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        self.last_error_ts = time.time()

    async def _warm_start(self) -> None:
        """Serve last-known tickers from memcached before the feeds deliver new ones."""
        if not self.cfg.enabled:
            return
        names = [ex.name for ex in exchange_configs(self.rt)]
        if not names:
            return
        keys = [aggregate_key(self.prefix, n) for n in names]
        client = self._client()
        try:
            with anyio.fail_after(WARM_TIMEOUT):
                values = await client.multi_get(*keys)
        except ERRORS as exc:
            self._note_error(exc)
            log.warning("memcached not reachable for the warm restart: %s", self.last_error)
            return
        finally:
            await self._close(client)
        for value in values:
            if value is None:
                self.counters["misses"] += 1
                continue
            self.counters["hits"] += 1
            try:
                agg = aggregate_decoder.decode(value)
            except msgspec.DecodeError as exc:
                self._note_error(exc)
                continue
            for t in agg.tickers:
                if (t.exchange, t.symbol) not in self.latest:
                    self._ingest(t, restored=True)
                    self.counters["restored"] += 1
        if self.restored:
            log.info("warm restart: serving %d tickers from memcached", len(self.restored))

    async def _memcached_task(self) -> None:
        """Runs the connection loop; restarts it when the memcached settings change."""
        while True:
            self._restart = anyio.Event()
            async with anyio.create_task_group() as tg:
                if self.cfg.enabled:
                    tg.start_soon(self._connection_loop)
                else:
                    self._set_state("disabled")
                await self._restart.wait()
                tg.cancel_scope.cancel()

    async def _connection_loop(self) -> None:
        backoff = Backoff(
            self.cfg.reconnect_initial,
            max(self.cfg.reconnect_max, self.cfg.reconnect_initial),
            jitter=0.2,
        )
        first = True
        while True:
            client = self._client()
            try:
                with anyio.fail_after(OP_TIMEOUT):
                    await client.version()
                self._queue_all()
                if not first:
                    self.counters["reconnects"] += 1
                    self.counters["rewarms"] += 1
                first = False
                self._set_state("up")
                log.info("memcached %s:%d up", self.cfg.host, self.cfg.port)
                backoff.reset()
                await self._serve(client)
            except ERRORS as exc:
                self._note_error(exc)
                if self.state != "down":
                    log.warning(
                        "memcached %s:%d down (%s); serving from memory, reconnecting",
                        self.cfg.host,
                        self.cfg.port,
                        self.last_error,
                    )
                self._set_state("down")
            finally:
                await self._close(client)
            await anyio.sleep(backoff.next())

    def _queue_all(self) -> None:
        """Queue every live ticker and every exchange aggregate for the next flush."""
        self._mc_dirty.update(k for k in self.latest if k not in self.restored)
        self._mc_dirty_exchanges.update(k[0] for k in self.latest)

    async def _serve(self, client: SafeClient) -> None:
        cfg = self.cfg
        await self._write(client, [(epoch_key(self.prefix), self._epoch)])
        refresh_every = max(cfg.flush_interval, cfg.ttl / 3) if cfg.ttl > 0 else float("inf")
        next_probe = time.monotonic() + PROBE_INTERVAL
        next_refresh = time.monotonic() + refresh_every
        while True:
            await anyio.sleep(cfg.flush_interval)
            now = time.monotonic()
            if now >= next_refresh:
                next_refresh = now + refresh_every
                self._queue_all()  # routine TTL refresh
                # the liveness key expires with the TTL too: without this rewrite every
                # ``ttl`` seconds would read as "memcached lost our keys"
                await self._write(client, [(epoch_key(self.prefix), self._epoch)])
            await self._flush(client)
            if now >= next_probe:
                next_probe = now + PROBE_INTERVAL
                with anyio.fail_after(OP_TIMEOUT):
                    epoch = await client.get(epoch_key(self.prefix))
                if epoch is None:
                    self.counters["misses"] += 1
                    log.warning("memcached lost our keys (restarted or flushed); re-warming")
                    self.counters["rewarms"] += 1
                    self._queue_all()
                    await self._write(client, [(epoch_key(self.prefix), self._epoch)])
                    await self._flush(client)
                else:
                    self.counters["hits"] += 1

    def _exptime(self) -> int:
        # memcached reads an expiry above 30 days as an absolute Unix time
        ttl = max(0, self.cfg.ttl)
        return ttl if ttl <= MEMCACHED_MAX_RELATIVE_TTL else int(time.time()) + ttl

    async def _write(self, client: SafeClient, items: list[tuple[bytes, bytes]]) -> None:
        with anyio.fail_after(OP_TIMEOUT + len(items) / 5000):
            await client.set_many(items, self._exptime())
        self.counters["writes"] += len(items)
        self.counters["bytes_written"] += sum(len(v) for _, v in items)

    async def _flush(self, client: SafeClient) -> None:
        if not self._mc_dirty and not self._mc_dirty_exchanges:
            return
        keys, self._mc_dirty = self._mc_dirty, set()
        exchanges = self._mc_dirty_exchanges | {k[0] for k in keys}
        self._mc_dirty_exchanges = set()
        prefix = self.prefix
        items = [
            (ticker_key(prefix, ex, sym), ticker_encoder.encode(self.latest[(ex, sym)]))
            for ex, sym in keys
        ]
        now = time.time()
        for ex in sorted(exchanges):
            agg = TickerAggregate(
                exchange=ex,
                updated=now,
                tickers=[t for k, t in self._sorted_rows().items() if k[0] == ex],
            )
            items.append((aggregate_key(prefix, ex), ticker_encoder.encode(agg)))
        try:
            await self._write(client, items)
        except BaseException:
            # not written: keep them for the next attempt (after a reconnect)
            self._mc_dirty |= keys
            self._mc_dirty_exchanges |= exchanges
            raise
        self.counters["flushes"] += 1

    # --- state ---------------------------------------------------------------------------

    def state_doc(self) -> dict[str, Any]:
        cfg = self.cfg
        return {
            "backend": "memcached",
            "enabled": cfg.enabled,
            "address": f"{cfg.host}:{cfg.port}",
            "key_prefix": self.prefix,
            "state": self.state,
            "since": self.state_since,
            "last_error": self.last_error,
            "last_error_ts": self.last_error_ts,
            "tickers": len(self.latest),
            "restored": len(self.restored),
            "pending_writes": len(self._mc_dirty),
            **self.counters,
        }

    def stats(self) -> dict[str, Any]:
        return self.state_doc()

    def _publish_state(self) -> None:
        self.rt.views.publish("cache.state", self.state_doc())

    def _expire_restored(self) -> None:
        """Forget restored tickers older than the TTL that no feed has refreshed.

        A restored value is only as good as memcached's copy was: past the TTL it
        would have expired there, so it stops being served here too (symbols that
        left the universe while the daemon was down do not linger).
        """
        if not self.restored or self.cfg.ttl <= 0:
            return
        cutoff = time.time() - self.cfg.ttl
        stale = [k for k in self.restored if self.latest[k].recv_ts < cutoff]
        if stale:
            self._forget(stale)

    async def _state_loop(self) -> None:
        while True:
            await anyio.sleep(PROBE_INTERVAL)
            self._expire_restored()
            self._publish_state()
