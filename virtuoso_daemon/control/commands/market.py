"""Market queries: tickers, ohlcv (via :mod:`virtuoso_daemon.read.market`), beta, correlation.

Tickers and candles come from :mod:`virtuoso_daemon.read.market`, the functions the HTTP
API uses too, so both surfaces answer the same way (and with the same error codes).
Beta and correlation are :mod:`virtuoso_daemon.read.analytics`, the answers (and error
codes) of ``/api/market/beta`` and ``/api/market/correlation``. Unfiltered tickers are
served as the view's already-encoded JSON, so the hot read costs no encoding.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Annotated, Any, Literal

import msgspec

from virtuoso_daemon.control.registry import Args, CommandFailed, Context, command
from virtuoso_daemon.read import analytics
from virtuoso_daemon.read import market as queries


class TickersArgs(Args, frozen=True):
    exchange: str | None = None
    quote: str | None = None
    sort: Literal["symbol", "change", "volume", "price"] | None = None
    order: Literal["asc", "desc"] | None = None
    limit: Annotated[int, msgspec.Meta(ge=1)] | None = None


_ALL_TICKERS = TickersArgs()


class TickerArgs(Args, frozen=True):
    symbol: str
    exchange: str | None = None


class OhlcvArgs(Args, frozen=True):
    symbol: str
    timeframe: str | None = None  # default 1h if kept, else the first kept
    limit: Annotated[int, msgspec.Meta(ge=1)] | None = None  # default 100
    since: Annotated[int, msgspec.Meta(ge=0)] | None = None  # epoch ms
    exchange: str | None = None


class CorrelationArgs(Args, frozen=True):
    timeframe: str | None = None  # default: the first configured beta timeframe
    window: str | None = None  # default: its first window that has been computed
    exchange: str | None = None  # default: the first exchange with a result
    symbols: list[str] | str | None = None  # a subset (list, or comma-separated)
    top: Annotated[int, msgspec.Meta(ge=1)] | None = None  # the N largest by volume
    order: Literal["cluster", "input"] | None = None


class BetaArgs(Args, frozen=True):
    timeframe: str | None = None
    window: str | None = None
    exchange: str | None = None
    symbol: str | None = None  # one symbol's row only
    sort: str | None = None
    order: Literal["asc", "desc"] | None = None
    limit: Annotated[int, msgspec.Meta(ge=1)] | None = None


async def _query(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call a query; its ``QueryError`` becomes an error reply with the same code."""
    try:
        result = fn(*args, **kwargs)
        if inspect.isawaitable(result):
            result = await result
    except queries.QueryError as exc:
        raise CommandFailed(exc.code, exc.message) from None
    return result


@command("tickers", args=TickersArgs)
async def tickers(ctx: Context, args: TickersArgs) -> Any:
    """Newest tickers, filtered by exchange/quote, sorted, limited."""
    if args == _ALL_TICKERS:
        return msgspec.Raw(queries.tickers_body(ctx.runtime))
    return await _query(
        queries.tickers,
        ctx.runtime,
        exchange=args.exchange,
        quote=args.quote,
        sort=args.sort,
        order=args.order,
        limit=args.limit,
    )


@command("ticker", args=TickerArgs)
async def ticker(ctx: Context, args: TickerArgs) -> Any:
    """The newest ticker of one symbol."""
    return await _query(queries.ticker, ctx.runtime, args.symbol, exchange=args.exchange)


@command("ohlcv", args=OhlcvArgs)
async def ohlcv(ctx: Context, args: OhlcvArgs) -> Any:
    """Candles of one symbol and timeframe (newest last)."""
    return await _query(
        queries.ohlcv,
        ctx.runtime,
        args.symbol,
        args.timeframe,
        args.limit,
        args.since,
        exchange=args.exchange,
    )


@command("beta", args=BetaArgs)
async def beta(ctx: Context, args: BetaArgs) -> Any:
    """Beta vs the benchmark for every symbol (or one) for a timeframe and window
    (the answer of ``/api/market/beta``; with ``symbol``, that symbol's row)."""
    result: dict[str, Any] = await _query(
        analytics.beta,
        ctx.runtime,
        args.timeframe,
        args.window,
        args.sort,
        args.limit,
        exchange=args.exchange,
        order=args.order,
    )
    if args.symbol is None:
        return result
    _, wanted = await _query(queries.resolve, ctx.runtime, args.symbol, result["exchange"])
    row = next((r for r in result["rows"] if r.symbol == wanted), None)
    if row is None:
        raise CommandFailed(
            "unknown_symbol",
            f"no beta for {wanted} on {result['exchange']} ({result['timeframe']}, "
            f"{result['window']})",
        )
    keep = ("exchange", "timeframe", "window", "benchmark", "computed_at", "as_of")
    return {**{k: result[k] for k in keep}, "row": row}


@command("correlation", args=CorrelationArgs)
async def correlation(ctx: Context, args: CorrelationArgs) -> Any:
    """The correlation matrix for a timeframe and window (``/api/market/correlation``)."""
    return await _query(
        analytics.correlation,
        ctx.runtime,
        args.timeframe,
        args.window,
        args.symbols,
        exchange=args.exchange,
        order=args.order,
        top=args.top,
    )
