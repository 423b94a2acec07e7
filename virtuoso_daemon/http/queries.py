"""Serve a read-layer query over HTTP in one line: :func:`query_route`.

The handler builds the query's argument struct from the path parameters and the URL
query (:func:`~virtuoso_daemon.read.contract.args_from_strings`), runs the query and
encodes the answer; a :class:`~virtuoso_daemon.core.errors.QueryError` becomes the
JSON error with its status and code. The route documents itself in
``/api/openapi.json`` (:mod:`.openapi`): the struct's fields are its parameters, the
function's return annotation its answer.

The table decides where it runs (:mod:`.routes`): in a ``HotRoutes`` table the query
is answered in the HTTP thread from the read-only model, so it must be a plain
function of a :class:`~virtuoso_daemon.core.runtime.ReadModel` (mypy rejects one that
takes the ``Runtime``; a coroutine function is refused when the route is added); in a
``LoopRoutes`` table it runs on the main loop with the runtime and may be ``async``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, overload

from aiohttp import web

from virtuoso_daemon.core.errors import QueryError
from virtuoso_daemon.core.runtime import ReadModel, Runtime
from virtuoso_daemon.http.errors import ApiError
from virtuoso_daemon.http.openapi import describe_query
from virtuoso_daemon.http.responses import json_response
from virtuoso_daemon.http.routes import HotRoutes, LoopRoutes, RouteTable
from virtuoso_daemon.read.contract import Query, QueryArgs, args_from_strings, run_query
from virtuoso_daemon.read.model import HotModel

#: a query answered in the HTTP thread: synchronous, reads only the model
HotQuery = Callable[[ReadModel, Any], Any]


def _args(request: web.Request, args: type[QueryArgs]) -> QueryArgs:
    values: dict[str, Any] = dict(request.query)
    values.update(request.match_info)
    return args_from_strings(args, values)


@overload
def query_route(
    routes: HotRoutes,
    path: str,
    fn: HotQuery,
    args: type[QueryArgs],
    *,
    method: str = "GET",
    response: Any = None,
) -> None: ...
@overload
def query_route(
    routes: LoopRoutes,
    path: str,
    fn: Query,
    args: type[QueryArgs],
    *,
    method: str = "GET",
    response: Any = None,
) -> None: ...
def query_route(
    routes: RouteTable,
    path: str,
    fn: Any,
    args: type[QueryArgs],
    *,
    method: str = "GET",
    response: Any = None,
) -> None:
    """Register ``fn`` at ``method path`` in ``routes``, its arguments parsed into ``args``;
    ``response`` describes the answer when ``fn``'s return annotation cannot
    (an :class:`~.openapi.ObjectOf`)."""
    if isinstance(routes, HotRoutes):
        if inspect.iscoroutinefunction(fn):
            raise TypeError(f"{path}: a query served in the HTTP thread cannot be async")

        async def hot(request: web.Request, model: HotModel) -> web.Response:
            try:
                return json_response(fn(model, _args(request, args)))
            except QueryError as exc:
                raise ApiError(exc.status, exc.code, exc.message) from None

        _describe(hot, fn, args, response)
        routes.add(method, path, hot)
        return

    async def handler(request: web.Request, rt: Runtime) -> web.Response:
        try:
            result = await run_query(fn, rt, _args(request, args))
        except QueryError as exc:
            raise ApiError(exc.status, exc.code, exc.message) from None
        return json_response(result)

    _describe(handler, fn, args, response)
    routes.add(method, path, handler)


def _describe(
    handler: Callable[..., Any], fn: Callable[..., Any], args: type[QueryArgs], response: Any
) -> None:
    handler.__name__ = handler.__qualname__ = getattr(fn, "__name__", "query")
    handler.__doc__ = fn.__doc__
    # /api/openapi.json: the args and the answer's type
    describe_query(handler, fn, args, response=response)
