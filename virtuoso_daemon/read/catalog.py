"""The queries both surfaces answer from one table: name, path, argument struct, function.

Each :class:`QuerySpec` is served twice from the same row: over HTTP at ``path``
(:mod:`virtuoso_daemon.http.catalog`) and over the control socket as the command
``command`` (:mod:`virtuoso_daemon.control.commands.catalog`). Both build the same
argument struct (HTTP from the path and query strings, the socket from the frame's
``args``), call the same function and map its ``QueryError`` to the same code, so the
same question gets the same answer on both -- ``tests/foundation/test_parity.py``
asks every row on both surfaces and compares.

The rows are in two tables. :data:`HOT_QUERIES` read only what actors published
(views and the effective config: a :class:`~virtuoso_daemon.core.runtime.ReadModel`),
so HTTP answers them in its own thread, handing them the read-only
:class:`~virtuoso_daemon.read.model.HotModel`; a function there that asks for the
``Runtime`` does not type-check. :data:`LOOP_QUERIES` may ask actors and run on the
main loop. The socket answers both on the main loop.

The unfiltered ticker list, served as pre-encoded bytes, keeps a thin handler of its
own on each surface (``tickers`` below is what both answer with arguments).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, Generic, TypeVar

import msgspec

from virtuoso_daemon.core.errors import QueryError
from virtuoso_daemon.core.runtime import ReadModel, Runtime
from virtuoso_daemon.read import analytics, market
from virtuoso_daemon.read import analytics_answers as aa
from virtuoso_daemon.read import market_answers as ma
from virtuoso_daemon.read.contract import NoQueryArgs, QueryArgs

# Numbers are typed: HTTP's strings are converted (``"5"`` -> 5; ``"ten"`` is a 400
# naming the parameter), the socket's frame must carry a number (else the same
# ``invalid_parameter``, see ``contract.args_from_values``); ranges are checked by the
# query itself (``parse_int``), one message for both.
Num = int | None


def _one_of(choices: tuple[str, ...]) -> msgspec.Meta:
    return msgspec.Meta(description="one of " + ", ".join(choices))


Window = Annotated[str | None, msgspec.Meta(description="e.g. 30d")]
Order = Annotated[str | None, _one_of(market.ORDERS)]


class ExchangeArgs(QueryArgs, frozen=True):
    exchange: str | None = None


class TickersArgs(QueryArgs, frozen=True):
    exchange: str | None = None
    quote: str | None = None
    sort: Annotated[str | None, _one_of(market.TICKER_SORTS)] = None
    order: Order = None
    limit: Num = None


def tickers(rt: ReadModel, a: TickersArgs) -> ma.Tickers:
    """Filtered tickers. Both surfaces answer the unfiltered list with the cache's
    pre-encoded bytes instead (the hot path), which is the same JSON."""
    return market.tickers(
        rt, exchange=a.exchange, quote=a.quote, sort=a.sort, order=a.order, limit=a.limit
    )


class SymbolArgs(QueryArgs, frozen=True):
    symbol: str
    exchange: str | None = None


class OhlcvArgs(SymbolArgs, frozen=True):
    timeframe: str | None = None
    limit: Num = None
    since: Annotated[Num, msgspec.Meta(description="ms since the epoch")] = None


class TradesArgs(SymbolArgs, frozen=True):
    limit: Num = None


class OrderbookArgs(SymbolArgs, frozen=True):
    history: Num = None


class PerpArgs(QueryArgs, frozen=True):
    exchange: str | None = None
    symbol: str | None = None


class MoversArgs(QueryArgs, frozen=True):
    exchange: str | None = None
    quote: str | None = None
    limit: Num = None


class BetaArgs(QueryArgs, frozen=True):
    exchange: str | None = None
    timeframe: str | None = None
    window: Window = None
    sort: Annotated[str | None, _one_of(analytics.BETA_SORTS)] = None
    order: Order = None
    limit: Num = None
    symbol: str | None = None  # that symbol's row only


class BetaSymbolArgs(SymbolArgs, frozen=True):
    timeframe: str | None = None
    window: Window = None
    points: Num = None


class CorrelationArgs(QueryArgs, frozen=True):
    exchange: str | None = None
    timeframe: str | None = None
    window: Window = None
    symbols: Annotated[
        str | list[str] | None, msgspec.Meta(description="a subset: comma-separated (or a list)")
    ] = None
    top: Annotated[Num, msgspec.Meta(description="the N largest by volume")] = None
    order: Annotated[str | None, _one_of(analytics.CORRELATION_ORDERS)] = None


M = TypeVar("M")


@dataclass(frozen=True, slots=True)
class QuerySpec(Generic[M]):
    """One query: its socket command, its HTTP path, its arguments and function
    ``fn(model, args)``; ``M`` is what it reads: the ``Runtime`` or a ``ReadModel``."""

    command: str
    path: str
    args: type[QueryArgs]
    fn: Callable[[M, Any], Any | Awaitable[Any]]


F = TypeVar("F", bound=Callable[..., Any])


def _doc(source: Callable[..., Any]) -> Callable[[F], F]:
    """Give a catalog function the docstring of the read function it calls (the
    OpenAPI summary and the socket's help come from it)."""

    def mark(fn: F) -> F:
        fn.__doc__ = source.__doc__
        return fn

    return mark


@_doc(market.exchanges)
def _exchanges(rt: Runtime, a: NoQueryArgs) -> ma.Exchanges:
    return market.exchanges(rt)


@_doc(market.ticker)
def _ticker(rt: ReadModel, a: SymbolArgs) -> ma.TickerAnswer:
    return market.ticker(rt, a.symbol, a.exchange)


@_doc(market.ohlcv)
async def _ohlcv(rt: Runtime, a: OhlcvArgs) -> ma.Ohlcv:
    return await market.ohlcv(rt, a.symbol, a.timeframe, a.limit, a.since, exchange=a.exchange)


@_doc(market.orderbook)
async def _orderbook(rt: Runtime, a: OrderbookArgs) -> ma.OrderBook:
    return await market.orderbook(rt, a.symbol, exchange=a.exchange, history=a.history)


@_doc(market.trades)
async def _trades(rt: Runtime, a: TradesArgs) -> ma.Trades:
    return await market.trades(rt, a.symbol, exchange=a.exchange, limit=a.limit)


@_doc(market.funding)
def _funding(rt: Runtime, a: PerpArgs) -> ma.FundingList:
    return market.funding(rt, a.exchange, a.symbol)


@_doc(market.open_interest)
def _open_interest(rt: Runtime, a: PerpArgs) -> ma.OpenInterestList:
    return market.open_interest(rt, a.exchange, a.symbol)


@_doc(market.overview)
def _overview(rt: ReadModel, a: ExchangeArgs) -> ma.Overview:
    return market.overview(rt, exchange=a.exchange)


@_doc(market.movers)
def _movers(rt: ReadModel, a: MoversArgs) -> ma.Movers:
    return market.movers(rt, exchange=a.exchange, quote=a.quote, limit=a.limit)


@_doc(market.cache_state)
def _cache(rt: Runtime, a: NoQueryArgs) -> ma.CacheState:
    return market.cache_state(rt)


@_doc(analytics.sentiment)
def _sentiment(rt: Runtime, a: NoQueryArgs) -> aa.Sentiment:
    return analytics.sentiment(rt)


@_doc(analytics.beta)
def _beta(rt: Runtime, a: BetaArgs) -> aa.Beta:
    table = analytics.beta(
        rt, a.timeframe, a.window, a.sort, a.limit, exchange=a.exchange, order=a.order
    )
    if a.symbol is None:
        return table
    _, wanted = market.resolve(rt, a.symbol, table.exchange)
    rows = table.rows if isinstance(table.rows, list) else []
    row = next((r for r in rows if r.symbol == wanted), None)
    if row is None:
        raise QueryError(
            "unknown_symbol",
            f"no beta for {wanted} on {table.exchange} ({table.timeframe}, {table.window})",
            404,
        )
    return aa.Beta(
        exchange=table.exchange,
        timeframe=table.timeframe,
        window=table.window,
        benchmark=table.benchmark,
        computed_at=table.computed_at,
        as_of=table.as_of,
        row=row,
    )


@_doc(analytics.beta_symbol)
async def _beta_symbol(rt: Runtime, a: BetaSymbolArgs) -> aa.BetaSymbol:
    return await analytics.beta_symbol(
        rt,
        a.symbol,
        exchange=a.exchange,
        timeframe=a.timeframe,
        window=a.window,
        points=a.points,
    )


@_doc(analytics.correlation)
def _correlation(rt: Runtime, a: CorrelationArgs) -> aa.Correlation:
    return analytics.correlation(
        rt, a.timeframe, a.window, a.symbols, exchange=a.exchange, order=a.order, top=a.top
    )


#: answered on the main loop (they may ask actors)
LOOP_QUERIES: tuple[QuerySpec[Runtime], ...] = (
    QuerySpec("exchanges", "/api/market/exchanges", NoQueryArgs, _exchanges),
    QuerySpec("ohlcv", "/api/market/ohlcv/{symbol}", OhlcvArgs, _ohlcv),
    QuerySpec("orderbook", "/api/market/orderbook/{symbol}", OrderbookArgs, _orderbook),
    QuerySpec("trades", "/api/market/trades/{symbol}", TradesArgs, _trades),
    QuerySpec("funding", "/api/market/funding", PerpArgs, _funding),
    QuerySpec("open_interest", "/api/market/open-interest", PerpArgs, _open_interest),
    QuerySpec("cache", "/api/market/cache", NoQueryArgs, _cache),
    QuerySpec("sentiment", "/api/market/sentiment", NoQueryArgs, _sentiment),
    QuerySpec("beta", "/api/market/beta", BetaArgs, _beta),
    QuerySpec("beta.symbol", "/api/market/beta/{symbol}", BetaSymbolArgs, _beta_symbol),
    QuerySpec("correlation", "/api/market/correlation", CorrelationArgs, _correlation),
)

#: answered over HTTP in the HTTP thread, from the read-only model (published views)
HOT_QUERIES: tuple[QuerySpec[ReadModel], ...] = (
    QuerySpec("ticker", "/api/market/ticker/{symbol}", SymbolArgs, _ticker),
    QuerySpec("overview", "/api/market/overview", ExchangeArgs, _overview),
    QuerySpec("movers", "/api/market/movers", MoversArgs, _movers),
)

#: every row (what the socket serves and the parity test asks)
CATALOG: tuple[QuerySpec[Any], ...] = (*LOOP_QUERIES, *HOT_QUERIES)
