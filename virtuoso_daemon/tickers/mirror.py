"""The memcached mirror of the ticker table: warm start, batched flushes, reconnects.

Its own module because keeping memcached in step is a job of its own with its own
state (``disabled | connecting | up | down``, last error, the epoch token) and its own
failure rules, none of which the in-memory table or its readers may wait on: the
daemon serves from memory whatever memcached does. Key scheme and value codec are
:mod:`.memcached`.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable

import anyio
import msgspec

from virtuoso_daemon.core.backoff import Backoff
from virtuoso_daemon.core.config import MemcachedConfig
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
from virtuoso_daemon.tickers.table import TickerTable

log = logging.getLogger("virtuoso.cache")

PROBE_INTERVAL = 1.0  # s between liveness-key reads (and cache.state publications)
OP_TIMEOUT = 2.0  # s for one memcached operation
WARM_TIMEOUT = 1.5  # s the warm-restart read may delay startup
MEMCACHED_MAX_RELATIVE_TTL = 30 * 86_400


class MemcachedMirror:
    """Writes what changed in a :class:`.table.TickerTable` to memcached and keeps the
    connection alive; reads the table back from memcached on a warm start.

    ``counters`` is the actor's counter dict; ``on_state`` is called when the state
    changes (the actor publishes ``cache.state``).
    """

    def __init__(
        self,
        cfg: MemcachedConfig,
        prefix: str,
        table: TickerTable,
        counters: dict[str, int],
        on_state: Callable[[], None],
    ) -> None:
        self.cfg = cfg
        self.prefix = prefix
        self.table = table
        self.counters = counters
        self._on_state = on_state
        self.restart = anyio.Event()
        self._epoch = uuid.uuid4().hex.encode()
        self.state = "disabled" if not cfg.enabled else "connecting"
        self.state_since = time.time()
        self.last_error: str | None = None
        self.last_error_ts: float | None = None

    def reconfigure(self, cfg: MemcachedConfig, prefix: str) -> None:
        """New settings: the connection loop starts afresh with them."""
        self.cfg = cfg
        self.prefix = prefix
        self.restart.set()

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
            self._on_state()

    def note_error(self, exc: BaseException) -> None:
        self.counters["errors"] += 1
        self.last_error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        self.last_error_ts = time.time()

    async def final_flush(self) -> None:
        """Write what changed since the last flush, so a warm restart starts current."""
        client = self._client()
        try:
            await self._flush(client)
        except ERRORS as exc:
            self.note_error(exc)
        finally:
            await self._close(client)

    async def warm_start(self, exchanges: list[str]) -> None:
        """Serve last-known tickers from memcached before the feeds deliver new ones."""
        if not self.cfg.enabled:
            return
        if not exchanges:
            return
        keys = [aggregate_key(self.prefix, n) for n in exchanges]
        client = self._client()
        try:
            with anyio.fail_after(WARM_TIMEOUT):
                values = await client.multi_get(*keys)
        except ERRORS as exc:
            self.note_error(exc)
            log.warning("memcached not reachable for the warm restart: %s", self.last_error)
            return
        finally:
            await self._close(client)
        table = self.table
        for value in values:
            if value is None:
                self.counters["misses"] += 1
                continue
            self.counters["hits"] += 1
            try:
                agg = aggregate_decoder.decode(value)
            except msgspec.DecodeError as exc:
                self.note_error(exc)
                continue
            for t in agg.tickers:
                if (t.exchange, t.symbol) not in table.latest:
                    table.ingest(t, restored=True)
                    self.counters["restored"] += 1
        if table.restored:
            log.info("warm restart: serving %d tickers from memcached", len(table.restored))

    async def run(self) -> None:
        """Runs the connection loop; restarts it when the memcached settings change."""
        while True:
            self.restart = anyio.Event()
            async with anyio.create_task_group() as tg:
                if self.cfg.enabled:
                    tg.start_soon(self._connection_loop)
                else:
                    self._set_state("disabled")
                await self.restart.wait()
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
                self.table.queue_all()
                if not first:
                    self.counters["reconnects"] += 1
                    self.counters["rewarms"] += 1
                first = False
                self._set_state("up")
                log.info("memcached %s:%d up", self.cfg.host, self.cfg.port)
                backoff.reset()
                await self._serve(client)
            except ERRORS as exc:
                self.note_error(exc)
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
                self.table.queue_all()  # routine TTL refresh
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
                    self.table.queue_all()
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
        table = self.table
        if table.mc_deleted:
            await self._delete(client)
        if not table.mc_dirty and not table.mc_dirty_exchanges:
            return
        keys, table.mc_dirty = table.mc_dirty, set()
        exchanges = table.mc_dirty_exchanges | {k[0] for k in keys}
        table.mc_dirty_exchanges = set()
        prefix = self.prefix
        items = [
            (ticker_key(prefix, ex, sym), ticker_encoder.encode(table.latest[(ex, sym)]))
            for ex, sym in keys
        ]
        now = time.time()
        for ex in sorted(exchanges):
            agg = TickerAggregate(
                exchange=ex,
                updated=now,
                tickers=[t for k, t in table.sorted_rows().items() if k[0] == ex],
            )
            items.append((aggregate_key(prefix, ex), ticker_encoder.encode(agg)))
        try:
            await self._write(client, items)
        except BaseException:
            # not written: keep them for the next attempt (after a reconnect)
            table.mc_dirty |= keys
            table.mc_dirty_exchanges |= exchanges
            raise
        self.counters["flushes"] += 1

    async def _delete(self, client: SafeClient) -> None:
        """Delete the keys of tickers the table forgot (a symbol no longer watched)."""
        table = self.table
        keys, table.mc_deleted = table.mc_deleted, set()
        try:
            with anyio.fail_after(OP_TIMEOUT + len(keys) / 5000):
                await client.delete_many([ticker_key(self.prefix, ex, sym) for ex, sym in keys])
        except BaseException:
            table.mc_deleted |= keys - set(table.latest)  # retried after a reconnect
            raise
        self.counters["deletes"] += len(keys)
