"""How the market store answers each read request of :mod:`.store_requests`.

Its own module because the answers are the store's read contract, separate from how
the data is kept: each function reads :class:`.state.MarketData` in one synchronous
step and returns freshly copied arrays, so a reply never contains a half-written
buffer and the caller owns what it gets. A bad argument raises (the actor answers
``bad_request``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from virtuoso_daemon.core.messages import Trade
from virtuoso_daemon.market.ringbuffer import FloatArray, IntArray
from virtuoso_daemon.market.state import MarketData
from virtuoso_daemon.market.store_requests import (
    Closes,
    Coverage,
    OhlcvRows,
    OrderBook,
    RecentTrades,
)


def ohlcv(data: MarketData, q: OhlcvRows) -> dict[str, Any]:
    ring = data.series.get((q.exchange, q.symbol, q.timeframe))
    limit = data.store_cfg.candles_for(q.timeframe) if q.limit is None else q.limit
    if ring is None:
        return {
            "known": False,
            "times": np.zeros(0, np.int64),
            "values": np.zeros((0, 5)),
            "closed": np.zeros(0, np.bool_),
        }
    times, values, closed = ring.rows(limit, q.since, q.closed_only)
    return {"known": True, "times": times, "values": values, "closed": closed}


def closes(data: MarketData, q: Closes) -> tuple[IntArray, FloatArray]:
    exchange, tf, symbols, n = q.exchange, q.timeframe, q.symbols, q.n
    closed_only = q.closed_only
    tf_ms = data.timeframe_ms(tf)
    if tf_ms is None:
        raise ValueError(f"bad timeframe {tf!r}")  # answered bad_request
    rings = [data.series.get((exchange, s, tf)) for s in symbols]
    end = q.end
    if end is None:
        ends = []
        for ring in rings:
            if ring is None or ring.last is None or ring.phase is None:
                continue
            open_last = not ring.closed[ring.slot_of(ring.last)]
            ends.append(ring.last - ring.tf_ms if closed_only and open_last else ring.last)
        if not ends:
            return np.zeros(0, np.int64), np.zeros((len(symbols), 0))
        end = max(ends)
    end = int(end)
    times: IntArray = end - tf_ms * np.arange(n - 1, -1, -1, dtype=np.int64)
    out: FloatArray = np.full((len(symbols), n), np.nan)
    for i, ring in enumerate(rings):
        if ring is None:
            continue
        t, values, closed, valid = ring.window(n, end)
        if t.size == 0 or ring.tf_ms != tf_ms:
            continue
        # a ring holds at most its capacity: the window then covers the newest
        # t.size times, i.e. the right end of the row; older times stay NaN
        ok = closed if closed_only else valid
        out[i, n - t.size :][ok] = values[ok, 3]
    return times, out


def recent_trades(data: MarketData, q: RecentTrades) -> list[Trade]:
    window = data.trades.get((q.exchange, q.symbol))
    limit = data.trades_size if q.limit is None else q.limit
    return window.last(limit) if window is not None else []


def orderbook(data: MarketData, q: OrderBook) -> dict[str, Any]:
    key = (q.exchange, q.symbol)
    hist = data.book_history.get(key)
    return {
        "top": data.books.get(key),
        "history": hist.last(q.history) if hist is not None else np.zeros((0, 5)),
    }


def coverage(data: MarketData, q: Coverage) -> dict[str, Any]:
    want = q.exchange
    out: dict[str, dict[str, dict[str, dict[str, int | None]]]] = {}
    for (exchange, symbol, tf), ring in data.series.items():
        if want is not None and exchange != want:
            continue
        times, _, closed, valid = ring.window()
        present = times[valid]
        if not present.size:
            continue
        closed_times = times[closed]
        out.setdefault(exchange, {}).setdefault(symbol, {})[tf] = {
            "first": int(present[0]),
            "last": int(present[-1]),
            "last_closed": int(closed_times[-1]) if closed_times.size else None,
            "count": int(present.size),
        }
    return out
