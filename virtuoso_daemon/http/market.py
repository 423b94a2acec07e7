"""Market area: ``/api/market/...`` (exchanges, tickers, candles, books, trades ...).

Handlers are thin: they pass the URL's parameters to :mod:`..queries` and encode
what comes back; a :class:`~..queries.QueryError` becomes an :class:`ApiError` with
the same code and status. ``GET /api/market/tickers`` without parameters -- the hot
path -- writes the ticker cache's pre-encoded snapshot bytes as they are.

Symbols in paths may be written ``BTC/USDT`` (the slash may be raw or ``%2F``),
``BTC-USDT``, ``BTCUSDT``, ``BTC-USDT-PERP`` ...; see :mod:`..symbols`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

import msgspec
from aiohttp import web

from virtuoso_daemon.http.dispatch import in_http_thread
from virtuoso_daemon.http.errors import ApiError
from virtuoso_daemon.http.keys import RUNTIME
from virtuoso_daemon.http.openapi import documented
from virtuoso_daemon.http.responses import bytes_response, json_response
from virtuoso_daemon.read import market as queries
from virtuoso_daemon.read.contract import NoQueryArgs, QueryArgs

routes = web.RouteTableDef()
T = TypeVar("T")


def _one_of(choices: tuple[str, ...]) -> msgspec.Meta:
    return msgspec.Meta(description="one of " + ", ".join(choices))


# The parameters each handler accepts: their fields are both the allowed names
# (_check_params) and the parameters in /api/openapi.json.
class ExchangeParams(QueryArgs, frozen=True):
    exchange: str | None = None


class TickersParams(QueryArgs, frozen=True):
    exchange: str | None = None
    quote: str | None = None
    sort: Annotated[str | None, _one_of(queries.TICKER_SORTS)] = None
    order: Annotated[str | None, _one_of(queries.ORDERS)] = None
    limit: int | None = None


class SymbolParams(QueryArgs, frozen=True):
    symbol: str
    exchange: str | None = None


class OhlcvParams(SymbolParams, frozen=True):
    timeframe: str | None = None
    limit: int | None = None
    since: Annotated[int | None, msgspec.Meta(description="ms since the epoch")] = None


class BookParams(SymbolParams, frozen=True):
    history: int | None = None


class TradesParams(SymbolParams, frozen=True):
    limit: int | None = None


class LatestParams(QueryArgs, frozen=True):
    exchange: str | None = None
    symbol: str | None = None


class MoversParams(QueryArgs, frozen=True):
    exchange: str | None = None
    quote: str | None = None
    limit: int | None = None


def _names(params: type[QueryArgs]) -> tuple[str, ...]:
    """The query-string names of ``params`` (path parameters are not in the query)."""
    return tuple(f for f in params.__struct_fields__ if f != "symbol")


_TICKER_PARAMS = _names(TickersParams)


def _q(request: web.Request, name: str) -> str | None:
    return request.query.get(name)


def _call(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    try:
        return fn(*args, **kwargs)
    except queries.QueryError as exc:
        raise ApiError(exc.status, exc.code, exc.message) from None


async def _acall(fn: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
    try:
        return await fn(*args, **kwargs)
    except queries.QueryError as exc:
        raise ApiError(exc.status, exc.code, exc.message) from None


def _check_params(request: web.Request, allowed: tuple[str, ...]) -> None:
    unknown = sorted(set(request.query) - set(allowed))
    if unknown:
        raise ApiError(
            400,
            "invalid_parameter",
            f"unknown parameter(s): {', '.join(unknown)} (allowed: {', '.join(allowed) or 'none'})",
        )


@routes.get("/api/market/exchanges")
@documented(params=NoQueryArgs)
async def market_exchanges(request: web.Request) -> web.Response:
    _check_params(request, ())
    return json_response(queries.exchanges(request.app[RUNTIME]))


@routes.get("/api/market/tickers")
@in_http_thread
@documented(params=TickersParams)
async def market_tickers(request: web.Request) -> web.Response:
    rt = request.app[RUNTIME]
    if not request.query_string:
        return bytes_response(queries.tickers_body(rt))
    _check_params(request, _TICKER_PARAMS)
    return json_response(_call(queries.tickers, rt, **{k: _q(request, k) for k in _TICKER_PARAMS}))


@routes.get("/api/market/ticker/{symbol:.+}")
@in_http_thread
@documented(params=SymbolParams)
async def market_ticker(request: web.Request) -> web.Response:
    _check_params(request, _names(SymbolParams))
    rt = request.app[RUNTIME]
    return json_response(
        _call(queries.ticker, rt, request.match_info["symbol"], _q(request, "exchange"))
    )


@routes.get("/api/market/ohlcv/{symbol:.+}")
@documented(params=OhlcvParams)
async def market_ohlcv(request: web.Request) -> web.Response:
    _check_params(request, _names(OhlcvParams))
    rt = request.app[RUNTIME]
    result = await _acall(
        queries.ohlcv,
        rt,
        request.match_info["symbol"],
        timeframe=_q(request, "timeframe"),
        limit=_q(request, "limit"),
        since=_q(request, "since"),
        exchange=_q(request, "exchange"),
    )
    return json_response(result)


@routes.get("/api/market/orderbook/{symbol:.+}")
@documented(params=BookParams)
async def market_orderbook(request: web.Request) -> web.Response:
    _check_params(request, _names(BookParams))
    rt = request.app[RUNTIME]
    result = await _acall(
        queries.orderbook,
        rt,
        request.match_info["symbol"],
        exchange=_q(request, "exchange"),
        history=_q(request, "history"),
    )
    return json_response(result)


@routes.get("/api/market/trades/{symbol:.+}")
@documented(params=TradesParams)
async def market_trades(request: web.Request) -> web.Response:
    _check_params(request, _names(TradesParams))
    rt = request.app[RUNTIME]
    result = await _acall(
        queries.trades,
        rt,
        request.match_info["symbol"],
        exchange=_q(request, "exchange"),
        limit=_q(request, "limit"),
    )
    return json_response(result)


@routes.get("/api/market/funding")
@documented(params=LatestParams)
async def market_funding(request: web.Request) -> web.Response:
    _check_params(request, LatestParams.__struct_fields__)
    rt = request.app[RUNTIME]
    return json_response(_call(queries.funding, rt, _q(request, "exchange"), _q(request, "symbol")))


@routes.get("/api/market/open-interest")
@documented(params=LatestParams)
async def market_open_interest(request: web.Request) -> web.Response:
    _check_params(request, LatestParams.__struct_fields__)
    rt = request.app[RUNTIME]
    return json_response(
        _call(queries.open_interest, rt, _q(request, "exchange"), _q(request, "symbol"))
    )


@routes.get("/api/market/overview")
@in_http_thread
@documented(params=ExchangeParams)
async def market_overview(request: web.Request) -> web.Response:
    _check_params(request, _names(ExchangeParams))
    rt = request.app[RUNTIME]
    return json_response(_call(queries.overview, rt, exchange=_q(request, "exchange")))


@routes.get("/api/market/movers")
@in_http_thread
@documented(params=MoversParams)
async def market_movers(request: web.Request) -> web.Response:
    _check_params(request, _names(MoversParams))
    rt = request.app[RUNTIME]
    return json_response(
        _call(
            queries.movers,
            rt,
            exchange=_q(request, "exchange"),
            quote=_q(request, "quote"),
            limit=_q(request, "limit"),
        )
    )


@routes.get("/api/market/cache")
@documented(params=NoQueryArgs)
async def market_cache(request: web.Request) -> web.Response:
    _check_params(request, ())
    return json_response(queries.cache_state(request.app[RUNTIME]))
