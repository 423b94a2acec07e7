"""``/api/openapi.json`` (the generated description) and ``/api/docs`` (a page for it).

The page is one small HTML file with no external assets (servers often have no
internet access): it fetches the spec and lists every operation with its parameters,
its summary and, for GETs, a link that tries it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
from aiohttp import web

from virtuoso_daemon.http.dispatch import in_http_thread
from virtuoso_daemon.http.keys import RUNTIME
from virtuoso_daemon.http.openapi import build_spec, documented

routes = web.RouteTableDef()

SPEC_CACHE = web.AppKey("openapi_cache", dict)
_PAGE = Path(__file__).with_name("docs.html")


def spec_of(app: web.Application) -> bytes:
    """The encoded spec of ``app``, built on first use (the routes are final then)."""
    cache: dict[str, bytes] = app[SPEC_CACHE]
    body = cache.get("json")
    if body is None:
        rt = app[RUNTIME]
        doc: dict[str, Any] = build_spec(
            app,
            title="Virtuoso API",
            version=rt.version,
            read_token=bool(rt.config.api.read_token),
        )
        body = cache["json"] = msgspec.json.encode(doc)
    return body


@routes.get("/api/openapi.json")
@documented(summary="This API's OpenAPI 3.1 description (generated from the code)", tag="docs")
@in_http_thread
async def openapi_json(request: web.Request) -> web.Response:
    return web.Response(body=spec_of(request.app), content_type="application/json")


@routes.get("/api/docs")
@documented(
    summary="A page listing every endpoint (reads /api/openapi.json)",
    content_type="text/html",
    tag="docs",
)
@in_http_thread
async def api_docs(request: web.Request) -> web.Response:
    return web.Response(body=_PAGE.read_bytes(), content_type="text/html")
