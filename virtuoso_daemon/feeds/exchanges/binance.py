"""Binance spot (ccxt ``binance``).

- Order-book depths 5, 10, 20, 50, 100, 500, 1000 (ccxt passes the limit to the
  REST snapshot and trims the streamed book to it). The snapshot is a REST call
  (``.../depth``), and ccxt buffers the book's deltas until it answers.
- ``handle_trade`` reuses ``self.trades[symbol]`` and stores it back after each
  trade: a cache put there first is appended to (hookable).
- 1024 streams per spot connection; 200 per session keeps subscribe frames small.
- Klines: 1000 per request, paged forward with ``startTime``.
- Tickers: the full 24 h ``@ticker`` stream (bid/ask), not the default mini ticker.
- Market ids: ``BTCUSDT``.
"""

from __future__ import annotations

from virtuoso_daemon.feeds.exchanges.profile import ExchangeProfile

BOOK_DEPTHS = (5, 10, 20, 50, 100, 500, 1000)

PROFILE = ExchangeProfile(
    ccxt_id="binance",
    book_depths={"spot": BOOK_DEPTHS, "linear": BOOK_DEPTHS},
    trade_hook=True,
    streams_per_connection={"spot": 200, "linear": 200},
    kline_page={"spot": 1000, "linear": 1000},
    options={"watchTickers": {"name": "ticker"}, "watchTicker": {"name": "ticker"}},
    id_format={"spot": "BTCUSDT", "linear": "BTCUSDT"},
    book_snapshot_path="/depth",
)
