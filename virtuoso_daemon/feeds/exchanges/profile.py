"""The :class:`ExchangeProfile` record (what one ccxt exchange does differently)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

#: symbols per websocket session when a profile does not say (binance futures: 200
#: streams per connection; most exchanges allow at least that)
DEFAULT_STREAMS = 200
#: candles per kline request when neither the profile nor ccxt's ``features`` say
DEFAULT_KLINE_PAGE = 500


@dataclass(frozen=True)
class ExchangeProfile:
    """What the feeds must know about one ccxt exchange beyond its ``has`` flags.

    ``book_depths``: market ("spot" | "linear") -> the order-book depths ccxt's
    ``watch_order_book`` accepts there (empty: any). :meth:`book_depth` picks one.

    ``trade_hook``: ccxt's websocket trade handler appends every trade to the cache
    it finds in ``self.trades[symbol]`` (creating one only when there is none), so a
    cache the feed puts there first sees each trade as ccxt parses it. Verified per
    exchange against its handler; exchanges without a profile are scanned instead,
    with a trade cache of ``scan_trades_limit`` rows between two scans.

    ``streams_per_connection``: market -> symbols one websocket session may carry.

    ``kline_page``: market -> candles per ``fetch_ohlcv`` request (0: ccxt's
    ``features``, else :data:`DEFAULT_KLINE_PAGE`).

    ``kline_windowed``: a kline request with ``since`` covers the time window
    ``[since, since + page * timeframe)`` (okx's ``after``/``before``), so an empty
    answer is an empty window, not the end of history (binance: "the first ``page``
    candles from ``since`` on", where empty means nothing later).

    ``market_types``: market -> the type ccxt's ``fetchMarkets`` option takes for it
    (binance and bybit: "spot" / "linear"; okx: "spot" / "swap").

    ``ticker_contracts``: ccxt's ticker for a contract market passes the exchange's
    contract counts through as ``baseVolume``, ``bidVolume`` and ``askVolume`` (okx:
    ``vol24h``, ``bidSz``, ``askSz``), so the feed multiplies them by the contract
    size. Trades, books and open interest are contracts on every exchange (ccxt's
    convention) and always converted.

    ``options``: ccxt options this exchange needs (the operator's override them).

    ``id_format``: market -> how the exchange spells a market id (documentation,
    and the error message for a symbol that matches nothing).

    ``book_snapshot_path``: ccxt fetches each streamed book's snapshot over REST at this
    path and buffers the book's deltas until it arrives (Binance); the buffer is then
    emptied when the request is sent (:mod:`..book_buffer`). Empty: the exchange
    sends its snapshots on the stream.
    """

    ccxt_id: str
    book_depths: Mapping[str, Sequence[int]] = field(default_factory=dict)
    trade_hook: bool = False
    scan_trades_limit: int = 1000
    streams_per_connection: Mapping[str, int] = field(default_factory=dict)
    kline_page: Mapping[str, int] = field(default_factory=dict)
    kline_windowed: bool = False
    market_types: Mapping[str, str] = field(default_factory=dict)
    ticker_contracts: bool = False
    options: Mapping[str, Any] = field(default_factory=dict)
    id_format: Mapping[str, str] = field(default_factory=dict)
    book_snapshot_path: str = ""

    def book_depth(self, market: str, wanted: int) -> int:
        """The smallest accepted depth that covers ``wanted`` levels, else the deepest."""
        allowed = sorted(self.book_depths.get(market, ()))
        if not allowed:
            return wanted
        for depth in allowed:
            if depth >= wanted:
                return depth
        return allowed[-1]

    def market_type(self, market: str) -> str:
        return self.market_types.get(market, market)

    def streams(self, market: str) -> int:
        return self.streams_per_connection.get(market, DEFAULT_STREAMS)

    def page(self, rest: Any, market: str, cap: int) -> int:
        """Candles per kline request: the profile's, else ccxt's ``features``, capped."""
        limit = self.kline_page.get(market, 0)
        if not limit:
            try:
                feats = (
                    rest.features["spot"] if market == "spot" else rest.features["swap"]["linear"]
                )
                limit = int(feats["fetchOHLCV"]["limit"])
            except (KeyError, TypeError, ValueError, AttributeError):
                limit = DEFAULT_KLINE_PAGE
        return max(1, min(limit, cap))
