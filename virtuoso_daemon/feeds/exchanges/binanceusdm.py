"""Binance USD-M futures (ccxt ``binanceusdm``): binance's websocket code, futures limits.

- 200 streams per futures connection.
- Klines: up to 1500 per request (the feeds cap pages at 1000).
- Market ids ``BTCUSDT``; unified ``BTC/USDT:USDT``.
"""

from __future__ import annotations

from dataclasses import replace

from virtuoso_daemon.feeds.exchanges import binance

PROFILE = replace(
    binance.PROFILE,
    ccxt_id="binanceusdm",
    kline_page={"spot": 1000, "linear": 1500},
)
