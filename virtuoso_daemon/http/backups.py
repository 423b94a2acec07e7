"""Backups over HTTP: ``GET/POST /api/system/backups``, ``POST .../{id}/verify``,
``POST .../prune``.

Reads and writes go through :mod:`virtuoso_daemon.read.backups`, the same functions
the socket's ``backup.*`` commands call. The POST routes start work or delete files:
:mod:`.auth` guards them like every write (``Authorization: Bearer <api.token>``;
with no token configured, loopback clients only).
"""

from __future__ import annotations

from typing import Any

import msgspec
from aiohttp import web

from virtuoso_daemon.backup.requests import PruneBackups, RunBackup, VerifyBackup
from virtuoso_daemon.core.errors import QueryError
from virtuoso_daemon.core.runtime import Runtime
from virtuoso_daemon.http.errors import ApiError
from virtuoso_daemon.http.openapi import documented
from virtuoso_daemon.http.queries import query_route
from virtuoso_daemon.http.responses import json_response
from virtuoso_daemon.http.routes import LoopRoutes
from virtuoso_daemon.read import backups as rb
from virtuoso_daemon.read.contract import args_from_strings

routes = LoopRoutes()

query_route(routes, "/api/system/backups", rb.list_backups, rb.ListBackupsArgs)


async def _body(request: web.Request) -> dict[str, Any]:
    if not request.body_exists:
        return {}
    raw = await request.read()  # read once in the HTTP thread (see .routes)
    if not raw.strip():
        return {}
    try:
        value = msgspec.json.decode(raw)
    except msgspec.DecodeError as exc:
        raise ApiError(400, "invalid_json", f"the body is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ApiError(400, "invalid_json", "the body must be a JSON object")
    return value


async def _run(rt: Runtime, fn: Any, args: Any, status: int = 200) -> web.Response:
    try:
        result = await fn(rt, args)
    except QueryError as exc:
        raise ApiError(exc.status, exc.code, exc.message) from None
    return json_response(result, status)


def _convert(cls: type[Any], values: dict[str, Any]) -> Any:
    try:
        return msgspec.convert(values, cls, strict=False)
    except msgspec.ValidationError as exc:
        # the same wording as query strings get (read.contract)
        try:
            args_from_strings(cls, {k: str(v) for k, v in values.items()})
        except QueryError as qe:
            raise ApiError(400, qe.code, qe.message) from None
        raise ApiError(400, "invalid_parameter", str(exc)) from None


@routes.post("/api/system/backups")
@documented(
    params=RunBackup,
    body_params=True,
    response=rb.BackupRecord,
    other=((202, rb.BackupStarted),),
)
async def run_backup(request: web.Request, rt: Runtime) -> web.Response:
    """Start a backup: ``kind`` (and ``encrypt``, ``cleanup``, ``wait``) from the query
    string or a JSON body; 202 with its id, or 200 with the result when ``wait``."""
    values: dict[str, Any] = dict(request.query)
    values.update(await _body(request))
    args = _convert(RunBackup, values)
    return await _run(rt, rb.run_backup, args, 200 if args.wait else 202)


@routes.post("/api/system/backups/prune")
@documented(response=rb.PruneReport)
async def prune_backups(request: web.Request, rt: Runtime) -> web.Response:
    """Apply retention now."""
    return await _run(rt, rb.prune_backups, PruneBackups())


@routes.post("/api/system/backups/{id}/verify")
@documented(params=VerifyBackup, response=rb.VerifyReport)
async def verify_backup(request: web.Request, rt: Runtime) -> web.Response:
    """Verify one backup; ``ok`` false names the damaged file (the status stays 200)."""
    args = _convert(VerifyBackup, {"id": request.match_info["id"]})
    return await _run(rt, rb.verify_backup, args)
