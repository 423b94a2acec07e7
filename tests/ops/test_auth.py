"""Who may call what over HTTP: write token, read token, loopback, CORS, size limits."""

from __future__ import annotations

import re

import aiohttp
import pytest
from aiohttp import web

from tests.harness import running_daemon, short_tmpdir, test_config
from virtuoso_daemon.core.config import ConfigError, load_config, redacted
from virtuoso_daemon.core.runtime import Runtime
from virtuoso_daemon.http import app as app_module
from virtuoso_daemon.http.auth import is_write
from virtuoso_daemon.http.openapi import documented_routes
from virtuoso_daemon.http.routes import LoopRoutes

# an address of this machine that is not loopback (a real interface: tests that need
# a non-loopback client bind the daemon there and connect to it from here)
LAN = "192.0.2.2"
RELOAD = "/test/write"  # a write route of this test's own: no side effects


@pytest.fixture(autouse=True)
def write_route(monkeypatch: pytest.MonkeyPatch) -> None:
    routes = LoopRoutes()

    @routes.post(RELOAD)
    async def write(request: web.Request, rt: Runtime) -> web.Response:
        await request.read()
        return web.json_response({"changed": []})

    monkeypatch.setattr(app_module, "AREAS", [*app_module.AREAS, lambda: routes])


def _lan_address() -> str | None:
    import socket

    try:
        with socket.socket() as s:
            s.bind((LAN, 0))
        return LAN
    except OSError:
        return None


async def _post(url: str, token: str | None = None) -> tuple[int, dict[str, object]]:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    async with aiohttp.ClientSession() as http, http.post(url, headers=headers) as resp:
        return resp.status, await resp.json()


async def _get(url: str, token: str | None = None) -> tuple[int, dict[str, object]]:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    async with aiohttp.ClientSession() as http, http.get(url, headers=headers) as resp:
        return resp.status, await resp.json()


async def test_without_a_token_writes_are_allowed_from_loopback() -> None:
    async with running_daemon(test_config()) as d:
        status, body = await _post(d.base_url + RELOAD)
    assert status == 200 and body == {"changed": []}


async def test_with_a_token_a_write_without_it_is_401_and_a_wrong_one_403() -> None:
    async with running_daemon(test_config(api={"token": "s3cret"})) as d:
        missing = await _post(d.base_url + RELOAD)
        wrong = await _post(d.base_url + RELOAD, "guess")
        right = await _post(d.base_url + RELOAD, "s3cret")
    assert missing[0] == 401 and missing[1]["error"]["code"] == "unauthorized"  # type: ignore[index]
    assert wrong[0] == 403 and wrong[1]["error"]["code"] == "forbidden"  # type: ignore[index]
    assert right[0] == 200


async def test_reads_need_no_token_when_no_read_token_is_configured() -> None:
    async with running_daemon(test_config(api={"token": "s3cret"})) as d:
        status, _ = await _get(d.base_url + "/api/system/status")
    assert status == 200


async def test_a_read_token_guards_reads_but_not_the_liveness_probe() -> None:
    cfg = test_config(api={"token": "w", "read_token": "r"})
    async with running_daemon(cfg) as d:
        anonymous = await _get(d.base_url + "/api/system/status")
        reader = await _get(d.base_url + "/api/system/status", "r")
        writer = await _get(d.base_url + "/api/system/status", "w")
        probe = await _get(d.base_url + "/health/quick")
        reader_writes = await _post(d.base_url + RELOAD, "r")
    assert anonymous[0] == 401
    assert reader[0] == 200 and writer[0] == 200 and probe[0] == 200
    assert reader_writes[0] == 403  # the read token is not the write token


async def test_every_state_changing_route_the_daemon_serves_needs_the_token() -> None:
    """Not a sample: every POST/PUT/PATCH/DELETE route of the real app, asked without
    the token, is refused before its handler runs (a path parameter is a dummy)."""
    async with running_daemon(test_config(api={"token": "s3cret"})) as d:
        routes = documented_routes(app_module.create_app(d.runtime))
        writes = [r for r in routes if is_write(r.method, r.handler)]
        answers = {}
        async with aiohttp.ClientSession() as http:
            for r in writes:
                path = re.sub(r"\{[^}]+\}", "x", r.path)
                async with http.request(r.method, d.base_url + path, json={}) as resp:
                    answers[f"{r.method} {r.path}"] = resp.status
    assert len(answers) >= 6, answers  # reload, fix, backups, verify, ack, silences ...
    assert {"POST /api/system/reload", "POST /api/system/fix"} <= set(answers)
    assert set(answers.values()) == {401}, answers


def test_a_non_loopback_bind_without_a_read_token_refuses_to_start() -> None:
    with pytest.raises(ConfigError, match=r"^api\.read_token: required when daemon\.host"):
        load_config(None, environ={}, overrides={"daemon": {"host": "0.0.0.0"}})
    ok = load_config(None, environ={}, overrides={"daemon": {"host": "::1"}})
    assert ok.daemon.host == "::1"


def test_the_read_token_can_come_from_a_file_and_is_redacted(tmp_path: object) -> None:
    path = short_tmpdir() / "read.token"
    path.write_text("from-file\n")
    cfg = load_config(
        None,
        environ={},
        overrides={"daemon": {"host": "0.0.0.0"}, "api": {"read_token_file": str(path)}},
    )
    assert cfg.api.read_token == "from-file"
    assert redacted(cfg)["api"]["read_token"] == "***"


@pytest.mark.skipif(_lan_address() is None, reason="this machine has no non-loopback address")
async def test_without_a_token_writes_from_the_network_are_refused() -> None:
    cfg = test_config(daemon={"host": LAN}, api={"read_token": "r"})
    async with running_daemon(cfg) as d:
        base = f"http://{LAN}:{d.http_port}"
        status, body = await _post(base + RELOAD, "r")
    assert status == 403 and "local machine" in body["error"]["message"]  # type: ignore[index]


async def test_an_oversized_body_is_413_json() -> None:
    async with running_daemon(test_config(api={"max_body_bytes": 1024})) as d:
        async with aiohttp.ClientSession() as http:
            async with http.post(d.base_url + RELOAD, data=b"x" * 4096) as resp:
                assert resp.status == 413
                body = await resp.json()
    assert body["error"]["code"] == "payload_too_large"


async def test_an_oversized_query_string_is_refused() -> None:
    async with running_daemon(test_config(api={"max_url_bytes": 512})) as d:
        async with aiohttp.ClientSession() as http:
            small = await http.get(d.base_url + "/api/market/tickers?quote=USDT")
            big = await http.get(d.base_url + "/api/market/tickers?quote=" + "U" * 1024)
    assert small.status == 200
    assert big.status in (400, 414)


async def test_an_oversized_header_is_refused() -> None:
    async with running_daemon(test_config(api={"max_header_bytes": 1024})) as d:
        async with aiohttp.ClientSession() as http:
            small = await http.get(d.base_url + "/health/quick", headers={"X-Pad": "p" * 512})
            big = await http.get(d.base_url + "/health/quick", headers={"X-Pad": "p" * 2048})
    assert small.status == 200
    assert big.status in (400, 431)


async def test_cors_is_off_by_default() -> None:
    async with running_daemon(test_config()) as d, aiohttp.ClientSession() as http:
        headers = {"Origin": "https://dash.example"}
        async with http.get(d.base_url + "/health/quick", headers=headers) as resp:
            assert "Access-Control-Allow-Origin" not in resp.headers
        async with http.options(d.base_url + "/health/quick", headers=headers) as resp:
            assert resp.status == 405


async def test_cors_allows_the_configured_origins_only() -> None:
    cfg = test_config(api={"cors_origins": ["https://dash.example"]})
    async with running_daemon(cfg) as d, aiohttp.ClientSession() as http:
        ok = {"Origin": "https://dash.example", "Access-Control-Request-Method": "POST"}
        async with http.options(d.base_url + RELOAD, headers=ok) as resp:
            assert resp.status == 204
            assert resp.headers["Access-Control-Allow-Origin"] == "https://dash.example"
            assert "Authorization" in resp.headers["Access-Control-Allow-Headers"]
        async with http.get(d.base_url + "/health/quick", headers=ok) as resp:
            assert resp.headers["Access-Control-Allow-Origin"] == "https://dash.example"
        other = {"Origin": "https://evil.example"}
        async with http.get(d.base_url + "/health/quick", headers=other) as resp:
            assert "Access-Control-Allow-Origin" not in resp.headers
        async with http.options(d.base_url + RELOAD, headers=other) as resp:
            assert resp.status == 403
