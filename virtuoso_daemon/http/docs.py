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

from virtuoso_daemon.http.openapi import OpenApiDocument, build_spec, documented
from virtuoso_daemon.http.routes import HotRoutes
from virtuoso_daemon.read.model import HotModel

hot = HotRoutes()

SPEC_CACHE = web.AppKey("openapi_cache", dict)
_PAGE = Path(__file__).with_name("docs.html")


def spec_of(app: web.Application, model: HotModel) -> bytes:
    """The encoded spec of ``app``, built on first use (the routes are final then)."""
    cache: dict[str, bytes] = app[SPEC_CACHE]
    body = cache.get("json")
    if body is None:
        doc: dict[str, Any] = build_spec(
            app,
            title="Virtuoso API",
            version=model.version,
            read_token=bool(model.config.api.read_token),
        )
        body = cache["json"] = msgspec.json.encode(doc)
    return body


@hot.get("/api/openapi.json")
@documented(
    summary="This API's OpenAPI 3.1 description (generated from the code)",
    response=OpenApiDocument,
    tag="docs",
)
async def openapi_json(request: web.Request, model: HotModel) -> web.Response:
    return web.Response(body=spec_of(request.app, model), content_type="application/json")


@hot.get("/api/docs")
@documented(
    summary="A page listing every endpoint (reads /api/openapi.json)",
    content_type="text/html",
    tag="docs",
)
async def api_docs(request: web.Request, model: HotModel) -> web.Response:
    return web.Response(body=_PAGE.read_bytes(), content_type="text/html")
