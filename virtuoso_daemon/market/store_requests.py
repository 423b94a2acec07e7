"""What the market store answers on ``Topics.STORE_QUERIES``: one tagged struct each.

The store dispatches on these with ``match`` and answers with fresh copies (see
:mod:`.actor`); :mod:`.requests` is the client side that readers and actors call.
Ranges are checked when a struct is built, so a bad limit never reaches the store.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from virtuoso_daemon.core.requests import Args

Positive = Annotated[int, msgspec.Meta(ge=1)]


class StoreRequest(Args, frozen=True, tag_field="request"):
    """Base of the market store's requests."""


class OhlcvRows(StoreRequest, frozen=True, tag="ohlcv"):
    """Present candles of one series, oldest first."""

    exchange: str
    symbol: str
    timeframe: str
    limit: Positive | None = None  # None: every candle the store keeps
    since: int | None = None  # open time, epoch ms
    closed_only: bool = False


class Closes(StoreRequest, frozen=True, tag="closes"):
    """Aligned closes of many symbols on one time axis (what the beta actor reads)."""

    exchange: str
    timeframe: str
    symbols: list[str]
    n: Positive
    closed_only: bool = True
    end: int | None = None


class RecentTrades(StoreRequest, frozen=True, tag="trades"):
    """The newest trades of a symbol, newest first."""

    exchange: str
    symbol: str
    limit: Positive | None = None  # None: every trade kept


class OrderBook(StoreRequest, frozen=True, tag="orderbook"):
    """The newest book top and up to ``history`` past summaries."""

    exchange: str
    symbol: str
    history: Annotated[int, msgspec.Meta(ge=0)] = 0


class Coverage(StoreRequest, frozen=True, tag="coverage"):
    """Stored candle ranges per exchange, symbol and timeframe."""

    exchange: str | None = None


class Persist(StoreRequest, frozen=True, tag="persist"):
    """Write dirty series now (backups call this before copying the store)."""


StoreQuery = OhlcvRows | Closes | RecentTrades | OrderBook | Coverage
