"""Socket commands with a hot path of their own: tickers, and the beta and correlation
snapshots live displays (the TUI) read.

Every other market and analytics query is a catalog row (:mod:`.catalog`), answered
the same on HTTP. ``tickers`` without arguments is the ticker cache's pre-encoded
list; with arguments it is the catalog's query, as on HTTP. ``beta`` and
``correlation`` return the published snapshot (``beta`` with ``symbol``: that
symbol's row); they check their arguments with the read layer's own functions, so a
bad timeframe, a window not computed yet or an unknown symbol get the codes HTTP
gives (``invalid_timeframe``, ``not_ready``, ``unknown_symbol``).
"""

from __future__ import annotations

from typing import Any

import msgspec

from virtuoso_daemon.beta.compute import view_key
from virtuoso_daemon.control.registry import Args, CommandFailed, Context, command
from virtuoso_daemon.core.errors import QueryError
from virtuoso_daemon.read import analytics, catalog
from virtuoso_daemon.read import market as queries

_ALL_TICKERS = catalog.TickersArgs()


class CorrelationArgs(Args, frozen=True):
    timeframe: str | None = None  # default: the first configured beta timeframe
    window: str | None = None  # default: its first window that has been computed
    exchange: str | None = None  # default: the first exchange that has it


class BetaArgs(CorrelationArgs, frozen=True):
    symbol: str | None = None


@command("tickers", args=catalog.TickersArgs)
async def tickers(ctx: Context, args: catalog.TickersArgs) -> Any:
    """Newest tickers, filtered by exchange/quote, sorted, limited."""
    if args == _ALL_TICKERS:
        return msgspec.Raw(queries.tickers_body(ctx.runtime))
    try:
        return catalog.tickers(ctx.runtime, args)
    except QueryError as exc:
        raise CommandFailed(exc.code, exc.message) from None


def _snapshot_body(ctx: Context, kind: str, args: CorrelationArgs) -> tuple[Any, bytes]:
    """The snapshot ``kind`` for the arguments: (value, encoded body)."""
    rt = ctx.runtime
    exchange = queries.check_exchange(rt, args.exchange)
    tf = analytics.check_timeframe(rt, args.timeframe)
    w = analytics.check_window(rt, tf, args.window, kind)
    for key in (
        [view_key(kind, tf, w, exchange)]
        if exchange
        else [view_key(kind, tf, w)]
        + [view_key(kind, tf, w, ex) for ex in queries.exchange_names(rt)]
    ):
        view = rt.views.get(key)
        if view is not None:
            return view.value, view.body
    raise analytics.not_ready(rt, f"{kind} for {tf}/{w}", tf, exchange)


def _field(value: Any, name: str) -> Any:
    return value.get(name) if isinstance(value, dict) else getattr(value, name, None)


@command("beta", args=BetaArgs)
async def beta(ctx: Context, args: BetaArgs) -> Any:
    """The beta snapshot (every symbol) for a timeframe and window, or one symbol's row."""
    try:
        value, body = _snapshot_body(ctx, "beta", args)
        if args.symbol is None:
            return msgspec.Raw(body)
    except QueryError as exc:
        raise CommandFailed(exc.code, exc.message) from None
    try:  # BTC-USDT, BTCUSDT ... as on HTTP; a symbol no feed lists is matched as written
        _, symbol = queries.resolve(ctx.runtime, args.symbol, args.exchange)
    except QueryError:
        symbol = args.symbol
    for row in _field(value, "rows") or []:
        if _field(row, "symbol") == symbol:
            return {
                "timeframe": _field(value, "timeframe"),
                "window": _field(value, "window"),
                "benchmark": _field(value, "benchmark"),
                "computed_at": _field(value, "computed_at"),
                "row": row,
            }
    raise CommandFailed("unknown_symbol", f"{symbol} is not in the beta snapshot")


@command("correlation", args=CorrelationArgs)
async def correlation(ctx: Context, args: CorrelationArgs) -> Any:
    """The correlation snapshot for a timeframe and window."""
    try:
        return msgspec.Raw(_snapshot_body(ctx, "correlation", args)[1])
    except QueryError as exc:
        raise CommandFailed(exc.code, exc.message) from None
