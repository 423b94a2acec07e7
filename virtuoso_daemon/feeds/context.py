"""What every loop of one feed shares: config, the REST instance, health, publishing.

The publish helpers are the hot path of the whole daemon. Each takes what ccxt
returned for one wake-up (a dict of tickers, a list of trades, some kline rows),
builds one frozen struct per item and hands it to the lossy bus; the caller then
records the batch in :class:`FeedHealth` once. Paused symbols are a set lookup.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import msgspec

from virtuoso_daemon.core.bus import Topics
from virtuoso_daemon.core.config import ExchangeConfig
from virtuoso_daemon.core.messages import CandleBatch
from virtuoso_daemon.core.runtime import Runtime
from virtuoso_daemon.feeds import normalize
from virtuoso_daemon.feeds import symbols as sym
from virtuoso_daemon.feeds.backoff import RateGate, error_kind, is_rate_limit
from virtuoso_daemon.feeds.ccxt_factory import ExchangeFactory
from virtuoso_daemon.feeds.exchanges import profile_for
from virtuoso_daemon.feeds.status import FeedHealth

if TYPE_CHECKING:
    from virtuoso_daemon.feeds.backfill import Backfiller

log = logging.getLogger("virtuoso.feeds")

#: data kinds with a websocket and a REST path, in start order
DATA_KINDS = ("tickers", "ohlcv", "trades", "orderbook")
#: perps only, REST on a timer (funding changes every few hours, OI slowly)
DERIVATIVE_KINDS = ("funding", "open_interest")


class FeedContext:
    """Shared state of one feed actor's task tree (single event loop: no locks)."""

    def __init__(self, runtime: Runtime, cfg: ExchangeConfig) -> None:
        self.runtime = runtime
        self.cfg = cfg
        self.name = cfg.name
        self.market = cfg.market
        self.profile = profile_for(cfg.ccxt_id)
        self.gate = RateGate()
        self.factory = ExchangeFactory(cfg, self.gate)
        self.health = FeedHealth(cfg.name, cfg.market, cfg.silent_timeout)
        self.tracker = normalize.CandleTracker(cfg.name)
        self.rest: Any = None  # the REST ccxt instance, set by the actor
        self.backfiller: Backfiller | None = None  # set by the actor
        self.symbols: list[str] = []  # what the feed watches now
        self.symbol_set: frozenset[str] = frozenset()
        self.paused_symbols: set[str] = set()
        self.timeframes: list[str] = list(cfg.timeframes)
        # newest book top per symbol (bid, bid size, ask, ask size): the quote of a
        # ticker stream that carries none
        self.tops: dict[str, tuple[float | None, ...]] = {}
        # base units per contract of the watched contract markets where that is not 1
        # (okx BTC-USDT-SWAP: 0.01): ccxt's amounts are contracts, the daemon's base
        self.contract_sizes: dict[str, float] = {}
        self.requests = 0
        self._publish: Callable[[str, Any], int] = runtime.bus.publish_nowait

    # --- symbols -------------------------------------------------------------------

    def set_symbols(self, symbols: Sequence[str]) -> None:
        self.symbols = list(dict.fromkeys(symbols))
        self.symbol_set = frozenset(self.symbols)
        self.paused_symbols &= self.symbol_set
        self.tops = {k: v for k, v in self.tops.items() if k in self.symbol_set}
        markets = getattr(self.rest, "markets", None) or {}
        self.contract_sizes = sym.contract_sizes(markets, self.symbols)

    def timeframe_ms(self, timeframe: str) -> int:
        return int(self.rest.parse_timeframe(timeframe) * 1000)

    # --- REST ----------------------------------------------------------------------

    async def call(self, key: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """One REST call: waits for the rate gate, counts failures against ``key``.

        Raises what ccxt raised (after recording it); cancellation passes through.
        """
        await self.gate.wait()
        self.requests += 1
        try:
            return await fn(*args, **kwargs)
        except Exception as exc:
            self.record_failure(key, exc)
            if is_rate_limit(exc) and self.gate.remaining() <= 0:
                # a 429 without a usable Retry-After still stops every caller briefly
                self.gate.close_for(self.cfg.backoff_initial)
            raise

    def record_failure(self, key: str, exc: BaseException, kind: str | None = None) -> None:
        ek = kind or error_kind(exc)
        text = str(exc) or type(exc).__name__
        self.health.fail(key, ek, text)
        log.debug("%s %s failed (%s): %s", self.name, key, ek, text[:300])

    # --- publishing (hot path) -------------------------------------------------------

    def on_tickers(self, tickers: Mapping[str, Any], recv: float) -> int:
        return sum(self.on_ticker(symbol, raw, recv) for symbol, raw in tickers.items())

    def on_ticker(self, symbol: str, raw: Mapping[str, Any], recv: float) -> int:
        """One ccxt ticker; 1 when it was published."""
        if symbol not in self.symbol_set or symbol in self.paused_symbols:
            return 0
        size = self.contract_sizes.get(symbol, 1.0) if self.profile.ticker_contracts else 1.0
        msg = normalize.ticker(self.name, self.market, raw, recv, size)
        if msg is None:
            return 0
        if msg.bid is None and msg.ask is None and symbol in self.tops:
            # Binance futures' ticker stream has no quote: the book's top is the quote,
            # so every reader (API, socket, TUI, memcached) sees the same bid/ask
            bid, bid_size, ask, ask_size = self.tops[symbol]
            msg = msgspec.structs.replace(
                msg, bid=bid, bid_size=bid_size, ask=ask, ask_size=ask_size
            )
        self._publish(Topics.TICKERS, msg)
        self.health.latency(msg.ts, recv)
        return 1

    def on_ohlcv(self, symbol: str, timeframe: str, raw_rows: Any, recv: float) -> int:
        if symbol in self.paused_symbols or symbol not in self.symbol_set:
            return 0
        candles = self.tracker.update(symbol, timeframe, normalize.rows(raw_rows), recv)
        publish = self._publish
        for c in candles:
            publish(Topics.CANDLES, c)
        return len(candles)

    def on_trades(self, trades: Sequence[Mapping[str, Any]], recv: float) -> int:
        wanted, paused, publish = self.symbol_set, self.paused_symbols, self._publish
        sizes = self.contract_sizes
        n = 0
        last_ts = None
        for raw in trades:
            symbol = raw.get("symbol")
            if symbol not in wanted or symbol in paused:
                continue
            msg = normalize.trade(self.name, raw, recv, sizes.get(symbol, 1.0) if sizes else 1.0)
            if msg is not None:
                publish(Topics.TRADES, msg)
                last_ts = msg.ts
                n += 1
        if last_ts is not None:
            self.health.latency(last_ts, recv)
        return n

    def on_book(self, symbol: str, book: Mapping[str, Any], recv: float) -> int:
        if symbol in self.paused_symbols or symbol not in self.symbol_set:
            return 0
        cfg = self.cfg
        msg = normalize.order_book_top(
            self.name,
            symbol,
            book,
            recv,
            levels=cfg.orderbook_levels,
            depth_pct=cfg.depth_pct,
            size=self.contract_sizes.get(symbol, 1.0),
        )
        if msg is None:
            return 0
        best_bid = msg.bids[0] if msg.bids else (None, None)
        best_ask = msg.asks[0] if msg.asks else (None, None)
        self.tops[symbol] = (best_bid[0], best_bid[1], best_ask[0], best_ask[1])
        self._publish(Topics.ORDERBOOK, msg)
        return 1

    async def on_candle_batch(self, symbol: str, timeframe: str, rows: list[normalize.Row]) -> None:
        """A page of history, on the lossless history topic: waits while the store
        (or beta) still has pages queued, rather than dropping one."""
        if not rows or symbol in self.paused_symbols:
            return
        recv = time.time()
        await self.runtime.bus.publish(
            Topics.CANDLE_HISTORY,
            CandleBatch(
                exchange=self.name, symbol=symbol, timeframe=timeframe, rows=rows, recv_ts=recv
            ),
        )
        self.health.messages["candle_batches"] += 1

    def on_funding(self, rates: Mapping[str, Any], recv: float) -> int:
        n = 0
        for symbol, raw in rates.items():
            if symbol in self.symbol_set and symbol not in self.paused_symbols:
                self._publish(Topics.FUNDING, normalize.funding(self.name, raw, recv))
                n += 1
        return n

    def on_open_interest(self, symbol: str, raw: Mapping[str, Any], recv: float) -> int:
        if symbol in self.paused_symbols or symbol not in self.symbol_set:
            return 0
        size = self.contract_sizes.get(symbol, 1.0)
        msg = normalize.open_interest(self.name, symbol, raw, recv, size)
        self._publish(Topics.OPEN_INTEREST, msg)
        return 1


def chunked(items: Sequence[str], size: int) -> list[list[str]]:
    """Split into ``ceil(len/size)`` nearly equal chunks (never an empty one)."""
    if not items:
        return []
    n = max(1, math.ceil(len(items) / max(1, size)))
    per = math.ceil(len(items) / n)
    return [list(items[i : i + per]) for i in range(0, len(items), per)]
