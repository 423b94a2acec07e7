"""What the market store holds in memory, and how each bus message updates it.

Its own module because the data and its update rules are the store's core, separate
from when they are persisted (:mod:`.persister`), how requests read them
(:mod:`.answers`) and the actor's loops (:mod:`.actor`). Everything here runs on the
event loop, one message at a time, so no reader ever sees a half-applied update.
"""

from __future__ import annotations

from typing import Any

import msgspec

from virtuoso_daemon.analytics.timeframes import timeframe_ms
from virtuoso_daemon.core.config import StoreConfig
from virtuoso_daemon.core.messages import (
    Candle,
    CandleBatch,
    Funding,
    OpenInterest,
    OrderBookTop,
    Trade,
)
from virtuoso_daemon.core.numbers import round_sig
from virtuoso_daemon.core.runtime import Runtime
from virtuoso_daemon.market.ringbuffer import CandleRing, FloatRing, batch_arrays
from virtuoso_daemon.market.trades import TradeWindow

BOOK_HISTORY = 300  # order-book summaries kept per symbol

SeriesKey = tuple[str, str, str]  # exchange, symbol, timeframe
SymbolKey = tuple[str, str]  # exchange, symbol


class MarketData:
    """Candle rings, recent trades, order-book tops and their history, funding and OI.

    ``dirty_views`` names the views (``funding``, ``open_interest``, ``series``) whose
    content changed since the actor last published them.
    """

    def __init__(self, runtime: Runtime, cfg: StoreConfig) -> None:
        self.rt = runtime
        self.store_cfg = cfg
        self.trades_size = cfg.trades
        self.series: dict[SeriesKey, CandleRing] = {}
        self.trades: dict[SymbolKey, TradeWindow] = {}
        self.books: dict[SymbolKey, OrderBookTop] = {}
        self.book_history: dict[SymbolKey, FloatRing] = {}
        self.funding: dict[SymbolKey, Funding] = {}
        self.open_interest: dict[SymbolKey, OpenInterest] = {}
        self.dirty_views: set[str] = set()
        self._tf_ms: dict[str, int | None] = {}
        self.counters: dict[str, int] = {
            "candles": 0,
            "batches": 0,
            "batch_rows": 0,
            "bad_timeframe": 0,
            "trades": 0,
            "books": 0,
            "funding": 0,
            "open_interest": 0,
        }

    def timeframe_ms(self, tf: str) -> int | None:
        """Milliseconds of a timeframe, None when it is not one (cached)."""
        if tf not in self._tf_ms:
            try:
                self._tf_ms[tf] = timeframe_ms(tf)
            except ValueError:
                self._tf_ms[tf] = None
        return self._tf_ms[tf]

    def resize(self, cfg: StoreConfig) -> list[SeriesKey]:
        """Apply new ``[store]`` sizes; returns the series whose ring was rebuilt."""
        if cfg.trades != self.trades_size:
            self.trades_size = cfg.trades
            for sym_key, window in self.trades.items():
                self.trades[sym_key] = window.resized(cfg.trades)
        self.store_cfg = cfg
        rebuilt: list[SeriesKey] = []
        for key, ring in self.series.items():
            capacity = cfg.candles_for(key[2])
            if capacity != ring.capacity:
                times, values, closed, valid = ring.window()
                new = CandleRing(capacity, ring.tf_ms)
                new.update_many(times[valid], values[valid], closed[valid])
                self.series[key] = new
                rebuilt.append(key)
        return rebuilt

    # --- ingest ------------------------------------------------------------------------

    def _ring(self, exchange: str, symbol: str, tf: str) -> CandleRing | None:
        key = (exchange, symbol, tf)
        ring = self.series.get(key)
        if ring is None:
            ms = self.timeframe_ms(tf)
            if ms is None:
                self.counters["bad_timeframe"] += 1
                return None
            ring = self.series[key] = CandleRing(self.store_cfg.candles_for(tf), ms)
            self.dirty_views.add("series")
        return ring

    def on_candles(self, msg: Candle | CandleBatch) -> None:
        if isinstance(msg, Candle):
            ring = self._ring(msg.exchange, msg.symbol, msg.timeframe)
            if ring is not None:
                ring.update(
                    msg.open_time, msg.open, msg.high, msg.low, msg.close, msg.volume, msg.closed
                )
                self.counters["candles"] += 1
        elif isinstance(msg, CandleBatch):
            ring = self._ring(msg.exchange, msg.symbol, msg.timeframe)
            if ring is not None and msg.rows:
                times, values, closed = batch_arrays(msg.rows, ring.tf_ms, int(msg.recv_ts * 1000))
                ring.update_many(times, values, closed)
                self.counters["batches"] += 1
                self.counters["batch_rows"] += len(msg.rows)

    def on_trade(self, msg: Trade) -> None:
        key = (msg.exchange, msg.symbol)
        window = self.trades.get(key)
        if window is None:
            window = self.trades[key] = TradeWindow(msg.exchange, msg.symbol, self.trades_size)
        window.append(msg)
        self.counters["trades"] += 1

    def on_book(self, msg: OrderBookTop) -> None:
        key = (msg.exchange, msg.symbol)
        self.books[key] = msg
        hist = self.book_history.get(key)
        if hist is None:
            hist = self.book_history[key] = FloatRing(BOOK_HISTORY, 5)
        hist.append((float(msg.ts), msg.mid, msg.spread, msg.bid_depth, msg.ask_depth))
        self.counters["books"] += 1

    def on_funding(self, msg: Funding) -> None:
        self.funding[(msg.exchange, msg.symbol)] = msg
        self.counters["funding"] += 1
        self.dirty_views.add("funding")

    def on_open_interest(self, msg: OpenInterest) -> None:
        if msg.value is None and msg.amount is not None:
            # many exchanges (Binance's openInterest) give only the amount: the notional
            # is amount x mark price (else the newest ticker's last price)
            price = self._price(msg.exchange, msg.symbol)
            if price is not None:
                msg = msgspec.structs.replace(msg, value=round_sig(msg.amount * price))
        self.open_interest[(msg.exchange, msg.symbol)] = msg
        self.counters["open_interest"] += 1
        self.dirty_views.add("open_interest")

    def _price(self, exchange: str, symbol: str) -> float | None:
        funding = self.funding.get((exchange, symbol))
        if funding is not None and funding.mark_price:
            return funding.mark_price
        latest = self.rt.views.value("market.latest")  # the ticker cache's live table
        ticker = latest.get((exchange, symbol)) if latest is not None else None
        last = getattr(ticker, "last", None)
        return last if isinstance(last, float | int) and last > 0 else None

    # --- views ---------------------------------------------------------------------------

    def view_values(self, dirty: set[str]) -> dict[str, Any]:
        """The view key and value of each dirty view (``market.funding`` ...)."""
        out: dict[str, Any] = {}
        if "funding" in dirty:
            out["market.funding"] = [self.funding[k] for k in sorted(self.funding)]
        if "open_interest" in dirty:
            out["market.open_interest"] = [
                self.open_interest[k] for k in sorted(self.open_interest)
            ]
        if "series" in dirty:
            tree: dict[str, dict[str, list[str]]] = {}
            for exchange, symbol, tf in sorted(self.series):
                tree.setdefault(exchange, {}).setdefault(symbol, []).append(tf)
            out["market.store.series"] = tree
        return out

    def stats(self) -> dict[str, Any]:
        rings = self.series.values()
        return {
            "series": len(self.series),
            "dropped_old": sum(r.dropped_old for r in rings),
            "misaligned": sum(r.misaligned for r in rings),
            "symbols_with_trades": len(self.trades),
            "symbols_with_books": len(self.books),
        }
