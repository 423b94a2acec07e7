"""Analytics area: ``/api/market/beta``, ``beta/{symbol}``, ``correlation``, ``sentiment``.

Thin handlers over :mod:`..analytics_queries` (shared with the control socket): URL
parameters in, the query's answer out, a :class:`~..queries.QueryError` turned into
an :class:`ApiError` with the same code and status (400/404 for bad input, 503
``not_ready`` before the first computation). Unknown query parameters are 400.

These paths do not overlap :mod:`.market` (exchanges, tickers, ticker/, ohlcv/,
orderbook/, trades/, funding, open-interest, overview, movers, cache).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

import msgspec
from aiohttp import web

from virtuoso_daemon.core.errors import QueryError
from virtuoso_daemon.http.errors import ApiError
from virtuoso_daemon.http.keys import RUNTIME
from virtuoso_daemon.http.openapi import documented
from virtuoso_daemon.http.responses import bytes_response, json_response
from virtuoso_daemon.read import analytics as aq
from virtuoso_daemon.read.contract import NoQueryArgs, QueryArgs

routes = web.RouteTableDef()
T = TypeVar("T")


def _one_of(choices: tuple[str, ...]) -> msgspec.Meta:
    return msgspec.Meta(description="one of " + ", ".join(choices))


# The parameters each handler accepts: their fields are both the allowed names
# (_params) and the parameters in /api/openapi.json.
class _Series(QueryArgs, frozen=True):
    exchange: str | None = None
    timeframe: str | None = None
    window: Annotated[str | None, msgspec.Meta(description="e.g. 30d")] = None


class BetaParams(_Series, frozen=True):
    sort: Annotated[str | None, _one_of(aq.BETA_SORTS)] = None
    order: Annotated[str | None, _one_of(aq.ORDERS)] = None
    limit: int | None = None


class BetaSymbolParams(_Series, frozen=True, kw_only=True):
    symbol: str
    points: int | None = None


class CorrelationParams(_Series, frozen=True):
    symbols: Annotated[str | None, msgspec.Meta(description="comma-separated")] = None
    order: Annotated[str | None, _one_of(aq.CORRELATION_ORDERS)] = None
    top: Annotated[int | None, msgspec.Meta(description="the N largest by volume")] = None


def _names(params: type[QueryArgs]) -> tuple[str, ...]:
    return tuple(f for f in params.__struct_fields__ if f != "symbol")


_BETA_PARAMS = _names(BetaParams)
_SYMBOL_PARAMS = _names(BetaSymbolParams)
_CORRELATION_PARAMS = _names(CorrelationParams)


def _params(request: web.Request, allowed: tuple[str, ...]) -> dict[str, str | None]:
    unknown = sorted(set(request.query) - set(allowed))
    if unknown:
        raise ApiError(
            400,
            "invalid_parameter",
            f"unknown parameter(s): {', '.join(unknown)} (allowed: {', '.join(allowed) or 'none'})",
        )
    return {name: request.query.get(name) for name in allowed}


def _call(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    try:
        return fn(*args, **kwargs)
    except QueryError as exc:
        raise ApiError(exc.status, exc.code, exc.message) from None


async def _acall(fn: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
    try:
        return await fn(*args, **kwargs)
    except QueryError as exc:
        raise ApiError(exc.status, exc.code, exc.message) from None


@routes.get("/api/market/beta")
@documented(params=BetaParams)
async def market_beta(request: web.Request) -> web.Response:
    p = _params(request, _BETA_PARAMS)
    return json_response(_call(aq.beta, request.app[RUNTIME], **p))


@routes.get("/api/market/beta/{symbol:.+}")
@documented(params=BetaSymbolParams)
async def market_beta_symbol(request: web.Request) -> web.Response:
    p = _params(request, _SYMBOL_PARAMS)
    rt = request.app[RUNTIME]
    return json_response(await _acall(aq.beta_symbol, rt, request.match_info["symbol"], **p))


@routes.get("/api/market/correlation")
@documented(params=CorrelationParams)
async def market_correlation(request: web.Request) -> web.Response:
    p = _params(request, _CORRELATION_PARAMS)
    return json_response(_call(aq.correlation, request.app[RUNTIME], **p))


@routes.get("/api/market/sentiment")
@documented(params=NoQueryArgs)
async def market_sentiment(request: web.Request) -> web.Response:
    _params(request, ())
    return bytes_response(_call(aq.sentiment_body, request.app[RUNTIME]))
