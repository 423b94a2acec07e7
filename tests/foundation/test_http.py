"""HTTP server: liveness, status, and JSON errors for every failure."""

from __future__ import annotations

import logging

import aiohttp
import pytest
from aiohttp import web

from tests.harness import running_daemon, test_config
from virtuoso_daemon.api import app as app_module


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
    ],
)
async def test_errors_are_json(method: str, path: str, status: int, code: str) -> None:
    async with running_daemon(test_config()) as d, aiohttp.ClientSession() as http:
        async with http.request(method, f"{d.base_url}{path}") as resp:
            assert resp.status == status
            body = await resp.json()
    assert body["error"]["code"] == code and body["error"]["message"]


async def test_unexpected_exception_is_logged_and_answered_500_without_internals(
    caplog: pytest.LogCaptureFixture,
) -> None:
    routes = web.RouteTableDef()

    @routes.get("/api/system/explode")
    async def explode(request: web.Request) -> web.Response:
        raise KeyError("secret-internal-detail")

    def provider() -> web.RouteTableDef:
        return routes

    app_module.register_area(provider)
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
