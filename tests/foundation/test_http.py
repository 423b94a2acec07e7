"""HTTP server: liveness, status, and JSON errors for every failure."""

from __future__ import annotations

import io
import logging
from collections.abc import Callable

import aiohttp
import pytest
from aiohttp import web

from tests.harness import running_daemon, test_config
from virtuoso_daemon.core.runtime import Runtime
from virtuoso_daemon.http import app as app_module
from virtuoso_daemon.http.routes import LoopRoutes


async def test_health_quick_reports_uptime_and_version() -> None:
    async with running_daemon(test_config()) as d, aiohttp.ClientSession() as http:
        async with http.get(f"{d.base_url}/health/quick") as resp:
            assert resp.status == 200
            assert resp.content_type == "application/json"
            body = await resp.json()
    assert body["status"] == "ok" and body["version"] == "0.1.0" and body["uptime"] >= 0


async def test_system_status_lists_actors_and_bus_drops() -> None:
    async with running_daemon(test_config()) as d, aiohttp.ClientSession() as http:
        async with http.get(f"{d.base_url}/api/system/status") as resp:
            body = await resp.json()
    names = {a["name"]: a for a in body["actors"]}
    assert names["http_api"]["state"] == "running" and names["http_api"]["restarts"] == 0
    assert body["bus"]["total_drops"] == 0


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("GET", "/no/such/thing", 404, "not_found"),
        ("DELETE", "/health/quick", 405, "method_not_allowed"),
        ("POST", "/no/such/thing", 404, "not_found"),
        ("GET", "/api/market/ticker/", 404, "not_found"),
    ],
)
async def test_errors_are_json(method: str, path: str, status: int, code: str) -> None:
    async with running_daemon(test_config()) as d, aiohttp.ClientSession() as http:
        async with http.request(method, f"{d.base_url}{path}") as resp:
            assert resp.status == status
            body = await resp.json()
    assert body["error"]["code"] == code and body["error"]["message"]


async def test_method_not_allowed_names_the_allowed_methods() -> None:
    async with running_daemon(test_config()) as d, aiohttp.ClientSession() as http:
        async with http.put(f"{d.base_url}/api/system/status") as resp:
            assert resp.status == 405
            assert set(resp.headers["Allow"].split(", ")) == {"GET", "HEAD"}
            body = await resp.json()
    assert "PUT" in body["error"]["message"] and "GET" in body["error"]["message"]


def _area(routes: LoopRoutes) -> Callable[[], LoopRoutes]:
    """Register an extra area of routes (the caller removes it from AREAS)."""

    def provider() -> LoopRoutes:
        return routes

    app_module.register_area(provider)
    return provider


async def test_http_exceptions_from_handlers_on_either_loop_become_json() -> None:
    routes = LoopRoutes()

    @routes.get("/api/system/refuse")
    async def refuse(request: web.Request, rt: Runtime) -> web.Response:  # runs on the main loop
        raise web.HTTPConflict(reason="already running")

    @routes.post("/api/system/upload")
    async def upload(request: web.Request, rt: Runtime) -> web.Response:
        await request.read()
        return web.json_response({})

    provider = _area(routes)
    try:
        async with running_daemon(test_config()) as d, aiohttp.ClientSession() as http:
            async with http.get(f"{d.base_url}/api/system/refuse") as resp:
                conflict = (resp.status, await resp.json())
            big = io.BytesIO(b"x" * (2 << 20))  # over client_max_size (1 MiB)
            async with http.post(f"{d.base_url}/api/system/upload", data=big) as resp:
                too_large = (resp.status, await resp.json())
    finally:
        app_module.AREAS.remove(provider)
    assert conflict == (409, {"error": {"code": "conflict", "message": "already running"}})
    assert too_large[0] == 413 and too_large[1]["error"]["code"] == "payload_too_large"


async def test_unexpected_exception_is_logged_and_answered_500_without_internals(
    caplog: pytest.LogCaptureFixture,
) -> None:
    routes = LoopRoutes()

    @routes.get("/api/system/explode")
    async def explode(request: web.Request, rt: Runtime) -> web.Response:
        raise KeyError("secret-internal-detail")

    provider = _area(routes)
    try:
        async with running_daemon(test_config()) as d, aiohttp.ClientSession() as http:
            with caplog.at_level(logging.ERROR, logger="virtuoso.api"):
                async with http.get(f"{d.base_url}/api/system/explode") as resp:
                    assert resp.status == 500
                    text = await resp.text()
    finally:
        app_module.AREAS.remove(provider)
    assert "secret-internal-detail" not in text
    assert '"code":"internal_error"' in text
    assert any("secret-internal-detail" in (r.exc_text or "") for r in caplog.records)


async def test_config_endpoint_never_returns_secrets() -> None:
    cfg = test_config(api={"token": "tok-123"})
    async with running_daemon(cfg) as d, aiohttp.ClientSession() as http:
        async with http.get(f"{d.base_url}/api/system/config") as resp:
            text = await resp.text()
    assert "tok-123" not in text and '"token":"***"' in text
