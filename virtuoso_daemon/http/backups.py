"""Backups over HTTP: ``GET/POST /api/system/backups``, ``POST .../{id}/verify``,
``POST .../prune``.

Reads and writes go through :mod:`virtuoso_daemon.read.backups`, the same functions
the socket's ``backup.*`` commands call. Whatever starts work or deletes files is
guarded (:func:`require_write`): with ``api.token`` set it needs
``Authorization: Bearer <token>``; without a token only loopback clients may.
"""

from __future__ import annotations

import hmac
import ipaddress
from typing import Any

import msgspec
from aiohttp import web

from virtuoso_daemon.backup.requests import PruneBackups, RunBackup, VerifyBackup
from virtuoso_daemon.core.errors import QueryError
from virtuoso_daemon.http.errors import ApiError
from virtuoso_daemon.http.keys import RUNTIME
from virtuoso_daemon.http.queries import query_route
from virtuoso_daemon.http.responses import json_response
from virtuoso_daemon.read import backups as rb
from virtuoso_daemon.read.contract import args_from_strings

routes = web.RouteTableDef()

query_route(routes, "/api/system/backups", rb.list_backups, rb.ListBackupsArgs)


def require_write(request: web.Request) -> None:
    """Refuse a state-changing request without the token (or, with none, off loopback)."""
    token = request.app[RUNTIME].config.api.token
    if token:
        given = request.headers.get("Authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            raise ApiError(401, "unauthorized", "this endpoint needs Authorization: Bearer <token>")
        return
    peer = request.remote or ""
    try:
        loopback = ipaddress.ip_address(peer).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ApiError(403, "forbidden", "set api.token to allow this from other hosts")


async def _body(request: web.Request) -> dict[str, Any]:
    if not request.body_exists:
        return {}
    raw = await request.read()  # read once in the HTTP thread (see .dispatch)
    if not raw.strip():
        return {}
    try:
        value = msgspec.json.decode(raw)
    except msgspec.DecodeError as exc:
        raise ApiError(400, "invalid_json", f"the body is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ApiError(400, "invalid_json", "the body must be a JSON object")
    return value


async def _run(request: web.Request, fn: Any, args: Any, status: int = 200) -> web.Response:
    try:
        result = await fn(request.app[RUNTIME], args)
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
async def run_backup(request: web.Request) -> web.Response:
    """Start a backup: ``kind`` (and ``encrypt``, ``cleanup``, ``wait``) from the query
    string or a JSON body; 202 with its id, or 200 with the result when ``wait``."""
    require_write(request)
    values: dict[str, Any] = dict(request.query)
    values.update(await _body(request))
    args = _convert(RunBackup, values)
    return await _run(request, rb.run_backup, args, 200 if args.wait else 202)


@routes.post("/api/system/backups/prune")
async def prune_backups(request: web.Request) -> web.Response:
    """Apply retention now."""
    require_write(request)
    return await _run(request, rb.prune_backups, PruneBackups())


@routes.post("/api/system/backups/{id}/verify")
async def verify_backup(request: web.Request) -> web.Response:
    """Verify one backup; ``ok`` false names the damaged file (the status stays 200)."""
    require_write(request)
    args = _convert(VerifyBackup, {"id": request.match_info["id"]})
    return await _run(request, rb.verify_backup, args)
