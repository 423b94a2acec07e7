"""The ticker table: the newest ticker of every symbol, and the snapshots readers get.

Its own module because the table is what every reader depends on (the HTTP hot path
reads :class:`LiveTickers` and :class:`TickerSnapshot`; the beta actor's sentiment
reads the snapshot), while the memcached mirror (:mod:`.mirror`) and the actor's loops
(:mod:`.actor`) only feed it or copy it out. Everything here runs on the event loop.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Any

import anyio
import msgspec

from virtuoso_daemon.core.messages import FeedStatus, OrderBookTop, Ticker
from virtuoso_daemon.core.runtime import ReadModel, Runtime

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


def ticker_snapshot(rt: ReadModel) -> TickerSnapshot:
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


class TickerTable:
    """The live table and what changed in it: since the last snapshot (``changed``,
    for the view loop) and since the last memcached flush (``mc_dirty``,
    ``mc_dirty_exchanges``, ``mc_deleted``, drained by :class:`.mirror.MemcachedMirror`).

    ``mirroring`` (``memcached.enabled``) says whether live tickers are queued for
    memcached; when it is off nothing is queued (enabling it later queues everything).
    ``counters`` is the actor's counter dict (``received``).
    """

    def __init__(self, counters: dict[str, int], *, mirroring: bool) -> None:
        self.counters = counters
        self.mirroring = mirroring
        self.latest: dict[Key, Ticker] = {}  # shared with readers: never rebuilt
        # the same table in (exchange, symbol) order, and each ticker's JSON in that
        # order: a snapshot is then C-speed copies of .values() (re-sorted, privately,
        # once after symbols appeared: see sorted_rows)
        self._rows: dict[Key, Ticker] = {}
        self._json: dict[Key, bytes] = {}
        self._unsorted = False
        self.restored: set[Key] = set()
        # order-book tops (bid, bid size, ask, ask size) for tickers that come without a
        # quote, and the keys whose served bid/ask came from there
        self._tops: dict[Key, tuple[float | None, ...]] = {}
        self._from_book: set[Key] = set()
        self._view_dirty: set[Key] = set()
        self.symbols_dirty = True
        self.mc_dirty: set[Key] = set()
        self.mc_dirty_exchanges: set[str] = set()
        self.mc_deleted: set[Key] = set()  # forgotten keys to delete from memcached
        self.changed = anyio.Event()
        self._version = 0

    def live(self) -> LiveTickers:
        """The ``market.latest`` view: a read-only window onto :attr:`latest`."""
        return LiveTickers(self.latest, self.restored)

    # --- ingest --------------------------------------------------------------------------

    def on_ticker(self, msg: Any) -> None:
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
            self.ingest(msg)

    def on_book(self, msg: Any) -> None:
        if not isinstance(msg, OrderBookTop):
            return
        key = (msg.exchange, msg.symbol)
        bid = msg.bids[0] if msg.bids else (None, None)
        ask = msg.asks[0] if msg.asks else (None, None)
        top = (bid[0], bid[1], ask[0], ask[1])
        self._tops[key] = top
        ticker = self.latest.get(key)
        if key in self._from_book and ticker is not None and key not in self.restored:
            self.ingest(_with_top(ticker, top))

    def on_status(self, msg: Any) -> None:
        """A feed's symbol list: forget the tickers of symbols it no longer watches
        (``symbols remove``), so they are not served with an ever-growing age."""
        if not isinstance(msg, FeedStatus) or not msg.symbols:
            return  # "starting" says nothing about the symbols yet
        watched = set(msg.symbols)
        gone = [k for k in self.latest if k[0] == msg.exchange and k[1] not in watched]
        if gone:
            self.forget(gone)

    def forget(self, keys: list[Key]) -> None:
        for key in keys:
            self._tops.pop(key, None)
            self._from_book.discard(key)
            self.restored.discard(key)
            del self.latest[key]
            del self._rows[key]
            self._json.pop(key, None)
            self._view_dirty.discard(key)
            self.mc_dirty.discard(key)
            self.mc_dirty_exchanges.add(key[0])
            if self.mirroring:  # other readers of memcached must not see it either
                self.mc_deleted.add(key)
        self.symbols_dirty = True
        self.changed.set()

    def ingest(self, t: Ticker, restored: bool = False) -> None:
        key = (t.exchange, t.symbol)
        if key not in self._rows:
            self._unsorted = True
            self.symbols_dirty = True
        self._rows[key] = t
        self.latest[key] = t
        self._view_dirty.add(key)
        self.mc_deleted.discard(key)  # back before its delete went out
        if restored:
            self.restored.add(key)
        else:
            self.restored.discard(key)
            if self.mirroring:  # when disabled, enabling it later queues everything
                self.mc_dirty.add(key)
            self.counters["received"] += 1
        self.changed.set()

    def queue_all(self) -> None:
        """Queue every live ticker and every exchange aggregate for the next flush."""
        self.mc_dirty.update(k for k in self.latest if k not in self.restored)
        self.mc_dirty_exchanges.update(k[0] for k in self.latest)

    def expire_restored(self, ttl: float) -> None:
        """Forget restored tickers older than ``ttl`` that no feed has refreshed.

        A restored value is only as good as memcached's copy was: past the TTL it
        would have expired there, so it stops being served here too (symbols that
        left the universe while the daemon was down do not linger).
        """
        if not self.restored or ttl <= 0:
            return
        cutoff = time.time() - ttl
        stale = [k for k in self.restored if self.latest[k].recv_ts < cutoff]
        if stale:
            self.forget(stale)

    # --- snapshots -----------------------------------------------------------------------

    def sorted_rows(self) -> dict[Key, Ticker]:
        """The table in (exchange, symbol) order: sorted once per burst of new symbols
        (a start-up or warm restore brings hundreds at once), not once per symbol."""
        if self._unsorted:
            self._rows = dict(sorted(self._rows.items()))
            self._json = {k: self._json.get(k, b"null") for k in self._rows}
            self._unsorted = False
        return self._rows

    def publish(self, rt: Runtime) -> None:
        """Publish ``market.tickers`` (a new snapshot and its JSON body) and, when a
        symbol appeared or went, ``market.symbols``."""
        rows = self.sorted_rows()
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
        rt.views.publish("market.tickers", snap, body)
        if self.symbols_dirty:
            self.symbols_dirty = False
            tree: dict[str, list[str]] = {}
            for exchange, symbol in rows:
                tree.setdefault(exchange, []).append(symbol)
            rt.views.publish("market.symbols", tree)
