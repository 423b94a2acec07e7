"""A Binance book resync buffers only the deltas its snapshot still needs.

ccxt fetches each streamed book's snapshot over REST and buffers the book's deltas
until it arrives; the snapshots of a chunk wait one after another in the rate
limiter. Here that wait is made long (``rate_limit_ms``) on a real ccxt ``binanceusdm``
instance from the feed's factory, streaming 500-level books from the simulator: each
book's buffer, replayed when its snapshot arrives, must hold only the updates of the
request's round trip, not those of its wait in the queue, and every book must then
follow the stream in sequence (ccxt rejects an update that does not follow on from
the snapshot's ``lastUpdateId``).
"""

from __future__ import annotations

from typing import Any

import anyio

from tests.feeds.env import sim_exchange
from virtuoso_daemon.feeds.backoff import RateGate
from virtuoso_daemon.feeds.ccxt_factory import ExchangeFactory
from virtuoso_daemon.sim import SimConfig, Simulator

DEPTH = 500  # the feed's streamed depth: 10 weight units a futures snapshot
RATE_LIMIT_MS = 60  # 0.6 s a snapshot in ccxt's limiter: the last waits ~4 s


def _record_snapshots(ex: Any) -> tuple[dict[str, int], dict[str, int]]:
    """Record, per symbol, how many buffered updates ccxt holds when its snapshot
    arrives (what it then replays against the snapshot), and the snapshot's nonce."""
    buffered: dict[str, int] = {}
    nonces: dict[str, int] = {}
    fetch_snapshot = ex.fetch_rest_order_book_safe

    async def recording(symbol: str, limit: Any = None, params: Any = None) -> Any:
        snapshot = await fetch_snapshot(symbol, limit, params or {})
        buffered[symbol] = len(ex.orderbooks[symbol].cache)
        nonces[symbol] = snapshot["nonce"]
        return snapshot

    ex.fetch_rest_order_book_safe = recording
    return buffered, nonces


async def test_a_queued_book_snapshot_replays_only_the_updates_of_its_round_trip() -> None:
    sim = Simulator(SimConfig(seed=11, n_alts=5, speed=1.0, tick_interval=0.1))
    async with sim.running() as base_url:
        cfg = sim_exchange(sim, base_url, "perp", "linear", rate_limit_ms=RATE_LIMIT_MS)
        factory = ExchangeFactory(cfg, RateGate())
        ex = factory.create(kind="orderbook")
        try:
            await ex.load_markets()
            symbols = list(cfg.symbols)
            buffered, snapshot_nonce = _record_snapshots(ex)

            def moved_on() -> bool:  # every book snapshotted, then updated in sequence
                books = ex.orderbooks
                return len(snapshot_nonce) == len(symbols) and all(
                    books[s]["nonce"] is not None and books[s]["nonce"] > snapshot_nonce[s]
                    for s in symbols
                )

            with anyio.fail_after(30):
                while not moved_on():
                    # keeps the subscription armed; raises if ccxt rejects a book
                    await ex.watch_order_book_for_symbols(symbols, DEPTH)
        finally:
            await factory.close(ex)
    # a round trip on loopback is well under a tick (0.1 s): at most a few updates
    queued = {s: n for s, n in buffered.items() if n > 3}
    assert not queued, f"updates buffered while the snapshot waited in the limiter: {buffered}"
    assert factory.book_deltas_dropped > 0, "no snapshot waited: the test shows nothing"
