"""Market queries: tickers, ohlcv (via :mod:`virtuoso_daemon.read.market`), beta, correlation.

Tickers and candles come from :mod:`virtuoso_daemon.read.market`, the functions the HTTP
API uses too, so both surfaces answer the same way (and with the same error codes).
Beta and correlation are read from the snapshots the beta actor publishes as views
(``beta.<timeframe>.<window>``). Unfiltered tickers, beta and correlation are served
as the view's already-encoded JSON, so the hot reads cost no encoding.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Annotated, Any, Literal

import msgspec

from virtuoso_daemon.control.registry import Args, CommandFailed, Context, command
from virtuoso_daemon.core.runtime import View
from virtuoso_daemon.protocol import ErrorCode
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


class BetaArgs(CorrelationArgs, frozen=True):
    symbol: str | None = None


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


def _snapshot(ctx: Context, kind: str, args: CorrelationArgs) -> tuple[str, str, View]:
    windows = ctx.runtime.config.beta.windows
    timeframe = args.timeframe or next(iter(windows), "1h")
    if args.window is not None:
        window = args.window
    else:
        configured = windows.get(timeframe, [])
        window = next(
            (w for w in configured if ctx.runtime.views.get(f"{kind}.{timeframe}.{w}")),
            configured[0] if configured else "30d",
        )
    view = ctx.runtime.views.get(f"{kind}.{timeframe}.{window}")
    if view is None:
        have = sorted(k.removeprefix(f"{kind}.") for k in ctx.runtime.views.keys(f"{kind}."))
        hint = f"; available: {', '.join(have)}" if have else "; none has been computed yet"
        raise CommandFailed(
            ErrorCode.NOT_AVAILABLE, f"no {kind} for timeframe {timeframe} window {window}{hint}"
        )
    return timeframe, window, view


def _field(value: Any, name: str) -> Any:
    return value.get(name) if isinstance(value, dict) else getattr(value, name, None)


@command("beta", args=BetaArgs)
async def beta(ctx: Context, args: BetaArgs) -> Any:
    """Beta vs the benchmark for every symbol (or one) for a timeframe and window."""
    timeframe, window, view = _snapshot(ctx, "beta", args)
    if args.symbol is None:
        return msgspec.Raw(view.body)
    for row in _field(view.value, "rows") or []:
        if _field(row, "symbol") == args.symbol:
            return {
                "timeframe": timeframe,
                "window": window,
                "benchmark": _field(view.value, "benchmark"),
                "computed_at": _field(view.value, "computed_at"),
                "row": row,
            }
    raise CommandFailed("not_found", f"no beta for {args.symbol} ({timeframe}, {window})")


@command("correlation", args=CorrelationArgs)
async def correlation(ctx: Context, args: CorrelationArgs) -> Any:
    """The correlation matrix for a timeframe and window."""
    return msgspec.Raw(_snapshot(ctx, "correlation", args)[2].body)
