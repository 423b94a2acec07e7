"""Serve a read-layer query over HTTP in one line: :func:`query_route`.

The handler builds the query's argument struct from the path parameters and the URL
query (:func:`~virtuoso_daemon.read.contract.args_from_strings`), runs the query and
encodes the answer; a :class:`~virtuoso_daemon.core.errors.QueryError` becomes the
JSON error with its status and code. The route documents itself in
``/api/openapi.json`` (:mod:`.openapi`): the struct's fields are its parameters, the
function's return annotation its answer. ``hot=True`` marks a query that only reads
published views, so it runs in the HTTP thread (see :mod:`.dispatch`); the rest run
on the main loop, where the actors live.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from virtuoso_daemon.core.errors import QueryError
from virtuoso_daemon.http.dispatch import in_http_thread
from virtuoso_daemon.http.errors import ApiError
from virtuoso_daemon.http.keys import RUNTIME
from virtuoso_daemon.http.openapi import describe_query
from virtuoso_daemon.http.responses import json_response
from virtuoso_daemon.read.contract import Query, QueryArgs, args_from_strings, run_query


def query_route(
    routes: web.RouteTableDef,
    path: str,
    fn: Query,
    args: type[QueryArgs],
    *,
    method: str = "GET",
    hot: bool = False,
) -> None:
    """Register ``fn`` at ``method path``, its arguments parsed into ``args``."""

    async def handler(request: web.Request) -> web.Response:
        values: dict[str, Any] = dict(request.query)
        values.update(request.match_info)
        try:
            parsed = args_from_strings(args, values)
            result = await run_query(fn, request.app[RUNTIME], parsed)
        except QueryError as exc:
            raise ApiError(exc.status, exc.code, exc.message) from None
        return json_response(result)

    handler.__name__ = handler.__qualname__ = getattr(fn, "__name__", "query")
    handler.__doc__ = fn.__doc__
    describe_query(handler, fn, args)  # /api/openapi.json: the args and the answer's type
    routes.route(method, path)(in_http_thread(handler) if hot else handler)
