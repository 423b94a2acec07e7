"""Binance-style order books: buffer only the depth updates a pending snapshot needs.

A Binance book stream carries deltas only. ccxt subscribes, then fetches each book's
REST snapshot in a task of its own and, until that snapshot arrives, appends every
delta of the book to ``orderbook.cache`` (Binance's documented steps 2 to 5); it then
replays the buffered deltas newer than the snapshot's ``lastUpdateId`` and drops the
rest. The snapshots of a whole chunk wait in the feed's shared rate limiter one after
another (a 500-level futures snapshot costs 10 weight units: 150 books take over a
minute), so a reconnected book chunk buffered tens of thousands of parsed deltas,
almost all of them to be dropped. At 300 markets that peak was +13 MB of RSS which
the allocator kept after it was freed (a +15.5 MB step in a 30-minute soak).

An update received before the snapshot request is sent left the exchange before the
snapshot was taken: its ``u`` is at most the snapshot's ``lastUpdateId``, and ccxt's
replay drops it (spot: ``u <= lastUpdateId``; futures: ``u < lastUpdateId``, and one
with ``u`` equal to it is not needed either, since the next update follows on from
it by ``pu``). So :func:`install` empties a book's buffer at the moment its snapshot
request leaves, and the buffer holds only the updates of one round trip. ccxt's own
replay is unchanged: it still checks every buffered update against the snapshot.

A feed's instance serves one market type (``fetchMarkets`` is limited to it), so a
market id in the request names one book.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit


def install(ex: Any, snapshot_path: str, on_drop: Callable[[int], None]) -> None:
    """Empty a book's delta buffer when ``ex`` sends its REST snapshot request.

    ``snapshot_path``: the path every snapshot URL ends with (Binance: ``/depth``).
    ``on_drop``: told how many buffered updates each emptying dropped (statistics).
    """
    fetch = ex.fetch

    async def fetch_with_fresh_buffer(
        url: str, method: str = "GET", headers: Any = None, body: Any = None
    ) -> Any:
        parts = urlsplit(url)
        if parts.path.endswith(snapshot_path):
            dropped = _empty_buffers(ex, parse_qs(parts.query).get("symbol", ()))
            if dropped:
                on_drop(dropped)
        return await fetch(url, method, headers, body)

    ex.fetch = fetch_with_fresh_buffer


def _empty_buffers(ex: Any, market_ids: Any) -> int:
    """Empty the buffers of the books (still waiting for a snapshot) of these ids."""
    dropped = 0
    books = ex.orderbooks
    for market_id in market_ids:
        for market in (ex.markets_by_id or {}).get(market_id, ()):
            book = books.get(market["symbol"])
            cache = getattr(book, "cache", None)
            if book is not None and book.get("nonce") is None and cache:
                dropped += len(cache)
                cache.clear()
    return dropped
