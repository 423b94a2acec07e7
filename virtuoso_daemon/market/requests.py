"""Asking the market store for copies of its data over the bus.

The client side of the store's request topic (``store_queries``): the read layer uses
it for OHLCV, trades, books and coverage, the beta actor for aligned closes, the
backfill for coverage. Failures become :class:`~virtuoso_daemon.core.errors.QueryError`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from virtuoso_daemon.core.bus import RequestError
from virtuoso_daemon.core.errors import QueryError
from virtuoso_daemon.core.runtime import Runtime
from virtuoso_daemon.market.actor import STORE_QUERIES
from virtuoso_daemon.market.ringbuffer import FloatArray, IntArray

STORE_TIMEOUT = 3.0


async def store(rt: Runtime, command: str, args: dict[str, Any]) -> Any:
    try:
        return await rt.bus.request(STORE_QUERIES, command, args, timeout=STORE_TIMEOUT)
    except RequestError as exc:
        if exc.code == "unavailable":
            raise QueryError("unavailable", "the market store is not running", 503) from None
        raise QueryError(exc.code, exc.message, 400) from None
    except TimeoutError:
        raise QueryError("unavailable", "the market store did not answer in time", 503) from None


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

    Symbols must be unified; missing candles are NaN (see ``market_store``).
    """
    args = {
        "exchange": exchange,
        "timeframe": timeframe,
        "symbols": list(symbols),
        "n": n,
        "closed_only": closed_only,
        "end": end,
    }
    result: tuple[IntArray, FloatArray] = await store(rt, "closes", args)
    return result


async def coverage(rt: Runtime, exchange: str | None = None) -> dict[str, Any]:
    """Stored candle ranges per exchange, symbol and timeframe."""
    result: dict[str, Any] = await store(rt, "coverage", {"exchange": exchange})
    return result
