"""Bybit v5 (ccxt ``bybit``).

- ``watch_order_book`` accepts only depths 1, 50, 200 and 1000 (ccxt raises
  ``BadRequest`` before connecting for any other): the feeds' 100 becomes 200.
- ``handle_trades`` assigns ``self.trades[symbol]`` only when it creates the cache,
  so a hook on the assignment sees the first trade and nothing after; a cache put
  there first is appended to (hookable that way only).
- Spot subscribe requests take at most 10 topics: 10 symbols per spot session.
- Klines: 1000 per request (``start``/``end``, newest first; ccxt reverses).
- Market ids ``BTCUSDT`` for spot and linear.
"""

from __future__ import annotations

from virtuoso_daemon.feeds.exchanges.profile import ExchangeProfile

PROFILE = ExchangeProfile(
    ccxt_id="bybit",
    book_depths={"spot": (1, 50, 200, 1000), "linear": (1, 50, 200, 1000)},
    trade_hook=True,
    streams_per_connection={"spot": 10, "linear": 200},
    kline_page={"spot": 1000, "linear": 1000},
    id_format={"spot": "BTCUSDT", "linear": "BTCUSDT"},
)
