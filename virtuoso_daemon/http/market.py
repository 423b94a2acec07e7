"""Market area: the hot ``GET /api/market/tickers`` (HTTP thread); every other market
query is a row of the read layer's catalog (:mod:`.catalog`).

Without parameters the handler writes the ticker cache's pre-encoded snapshot bytes
as they are (no struct, no encoding: the hot path); with parameters it answers
through the catalog's :func:`~virtuoso_daemon.read.catalog.tickers`, as the socket
does. Symbols in paths may be written ``BTC/USDT`` (the slash may be raw or ``%2F``),
``BTC-USDT``, ``BTCUSDT``, ``BTC-USDT-PERP`` ...; see :mod:`..symbols`.
"""

from __future__ import annotations

from aiohttp import web

from virtuoso_daemon.core.errors import QueryError
from virtuoso_daemon.http.errors import ApiError
from virtuoso_daemon.http.openapi import documented
from virtuoso_daemon.http.responses import bytes_response, json_response
from virtuoso_daemon.http.routes import HotRoutes
from virtuoso_daemon.read import catalog
from virtuoso_daemon.read import market as queries
from virtuoso_daemon.read.contract import args_from_strings
from virtuoso_daemon.read.market_answers import Tickers
from virtuoso_daemon.read.model import HotModel

hot = HotRoutes()


@hot.get("/api/market/tickers")
@documented(
    params=catalog.TickersArgs,
    response=Tickers,
    summary="Newest tickers, filtered, sorted, limited.",
)
async def market_tickers(request: web.Request, model: HotModel) -> web.Response:
    if not request.query_string:
        return bytes_response(queries.tickers_body(model))
    try:
        return json_response(
            catalog.tickers(model, args_from_strings(catalog.TickersArgs, request.query))
        )
    except QueryError as exc:
        raise ApiError(exc.status, exc.code, exc.message) from None
