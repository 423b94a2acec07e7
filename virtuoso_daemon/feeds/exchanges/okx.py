"""OKX v5 (ccxt ``okx``).

- Order books by channel, not by number: ccxt maps limit 1 to ``bbo-tbt``, 2-5 to
  ``books5``, 50 to ``books50-l2-tbt`` (needs a VIP account and API keys: an
  ``AuthenticationError`` without them) and anything else to ``books`` (400 levels).
  The public depths are therefore 1, 5 and 400.
- ``handle_trades`` assigns ``self.trades[symbol]`` only when it creates the cache
  (as bybit); a cache put there first is appended to.
- Klines: 300 per request, paged with ``after``/``before`` (exclusive bounds on the
  open time; ccxt turns ``since`` into the window ``[since, since + 300 candles)``),
  so an empty page is an empty window, not the end of history. ``/market/candles``
  reaches back 1,440 candles; ccxt asks ``/market/history-candles`` for a ``since``
  older than that, so the backfill pages forward by ``since`` (never by ``until``).
- Swaps trade in contracts of ``ctVal`` base units (BTC-USDT-SWAP 0.01 BTC, ETH 0.1,
  DOGE 1,000): ccxt's ``contractSize``. Its swap tickers' ``baseVolume``,
  ``bidVolume`` and ``askVolume`` are contract counts (``vol24h``, ``bidSz``,
  ``askSz``; ``volCcy24h`` in base is left in ``info``) and there is no
  ``quoteVolume``; its candles' volume is ``volCcy`` (base).
- Market ids ``BTC-USDT`` (spot) and ``BTC-USDT-SWAP`` (perpetuals); ccxt's
  ``fetchMarkets`` types are ``spot`` and ``swap`` (not ``linear``).
"""

from __future__ import annotations

from virtuoso_daemon.feeds.exchanges.profile import ExchangeProfile

PROFILE = ExchangeProfile(
    ccxt_id="okx",
    book_depths={"spot": (1, 5, 400), "linear": (1, 5, 400)},
    trade_hook=True,
    streams_per_connection={"spot": 100, "linear": 100},
    kline_page={"spot": 300, "linear": 300},
    kline_windowed=True,
    market_types={"spot": "spot", "linear": "swap"},
    ticker_contracts=True,
    id_format={"spot": "BTC-USDT", "linear": "BTC-USDT-SWAP"},
)
