"""Asking the market store for copies of its data over the bus.

The client side of the store's request topic (``store_queries``): the read layer uses
it for OHLCV, trades, books and coverage, the beta actor for aligned closes, the
backfill for coverage, backups for a persist. Each function sends one typed request
(:mod:`.store_requests`); failures become
:class:`~virtuoso_daemon.core.errors.QueryError`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from virtuoso_daemon.core.bus import RequestError
from virtuoso_daemon.core.errors import QueryError
from virtuoso_daemon.core.runtime import Runtime
from virtuoso_daemon.market.actor import STORE_QUERIES
from virtuoso_daemon.market.ringbuffer import FloatArray, IntArray
from virtuoso_daemon.market.store_requests import (
    Closes,
    Coverage,
    OhlcvRows,
    OrderBook,
    Persist,
    RecentTrades,
    StoreRequest,
)

STORE_TIMEOUT = 3.0


async def ask(rt: Runtime, body: StoreRequest, *, timeout: float = STORE_TIMEOUT) -> Any:
    """Send one request to the store; its refusals and silence become QueryError."""
    try:
        return await rt.bus.request(STORE_QUERIES, body, timeout=timeout)
    except RequestError as exc:
        if exc.code == "unavailable":
            raise QueryError("unavailable", "the market store is not running", 503) from None
        raise QueryError(exc.code, exc.message, 400) from None
    except TimeoutError:
        raise QueryError("unavailable", "the market store did not answer in time", 503) from None


async def ohlcv(
    rt: Runtime, exchange: str, symbol: str, timeframe: str, limit: int, since: int | None
) -> dict[str, Any]:
    """Present candles: ``{"known", "times", "values", "closed"}`` (see the actor)."""
    result: dict[str, Any] = await ask(
        rt,
        OhlcvRows(exchange=exchange, symbol=symbol, timeframe=timeframe, limit=limit, since=since),
    )
    return result


async def trades(rt: Runtime, exchange: str, symbol: str, limit: int) -> list[Any]:
    """The newest trades, newest first."""
    result: list[Any] = await ask(rt, RecentTrades(exchange=exchange, symbol=symbol, limit=limit))
    return result


async def orderbook(rt: Runtime, exchange: str, symbol: str, history: int) -> dict[str, Any]:
    """``{"top": OrderBookTop | None, "history": float64[h, 5]}``."""
    result: dict[str, Any] = await ask(
        rt, OrderBook(exchange=exchange, symbol=symbol, history=history)
    )
    return result


async def closes(
    rt: Runtime,
    exchange: str,
    timeframe: str,
    symbols: Sequence[str],
    n: int,
    *,
    closed_only: bool = True,
    end: int | None = None,
) -> tuple[IntArray, FloatArray]:
    """Aligned closes for analytics: ``(open_times int64[n], closes float64[len, n])``.

    Symbols must be unified; missing candles are NaN (see the market store).
    """
    body = Closes(
        exchange=exchange,
        timeframe=timeframe,
        symbols=list(symbols),
        n=n,
        closed_only=closed_only,
        end=end,
    )
    result: tuple[IntArray, FloatArray] = await ask(rt, body)
    return result


async def coverage(rt: Runtime, exchange: str | None = None) -> dict[str, Any]:
    """Stored candle ranges per exchange, symbol and timeframe."""
    result: dict[str, Any] = await ask(rt, Coverage(exchange=exchange))
    return result


async def persist(rt: Runtime, *, timeout: float = 30.0) -> dict[str, Any]:
    """Write dirty series now: ``{"files": n, "bytes": b}``."""
    result: dict[str, Any] = await ask(rt, Persist(), timeout=timeout)
    return result
