"""HTTP under careless or hostile clients (issue 16): malformed requests get JSON 4xx
errors without echoing the request and without a traceback per request, a body that
cannot be read is a 4xx not a 500, idle and trickling connections are closed, and the
number of connections is capped. Raw sockets against the real server (the client
libraries refuse to send most of these)."""

from __future__ import annotations

import json
import logging
import select
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest

from tests.harness import DaemonHandle, running_daemon, test_config
from virtuoso_daemon.core.supervisor import ActorSpec
from virtuoso_daemon.http.server import HttpApiActor

SPECS = [ActorSpec("http_api", HttpApiActor)]


@asynccontextmanager
async def http_daemon(**api: Any) -> AsyncIterator[DaemonHandle]:
    async with running_daemon(test_config(api=api), SPECS) as d:
        yield d


def _exchange(port: int, data: bytes, *, half_close: bool = False) -> bytes:
    """Send ``data``, read until the server closes (blocking; run in a thread)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(data)
        if half_close:
            s.shutdown(socket.SHUT_WR)
        out = b""
        while chunk := s.recv(65536):
            out += chunk
        return out


async def exchange(port: int, data: bytes, **kw: Any) -> tuple[int, dict[str, str], bytes]:
    raw = await anyio.to_thread.run_sync(lambda: _exchange(port, data, **kw))
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:])}
    return int(lines[0].split()[1]), headers, body


MALFORMED = {
    "request line over 8 KiB": b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    "unknown method": b"FOO / HTTP/1.1\r\nHost: x\r\n\r\n",
    "bad Content-Length": b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
    "duplicate Content-Length": (
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab"
    ),
    "bad chunking": b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    "HTTP/9.9": b"GET / HTTP/9.9\r\nHost: x\r\n\r\n",
    "NUL in the path": b"GET /a\x00b HTTP/1.1\r\nHost: x\r\n\r\n",
}


async def test_malformed_requests_get_json_errors_and_one_log_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    async with http_daemon() as d:
        for name, data in MALFORMED.items():
            status, headers, body = await exchange(d.http_port, data)
            assert 400 <= status < 500, name
            assert headers["content-type"].startswith("application/json"), name
            error = json.loads(body)["error"]
            assert error["code"] and error["message"], name
            assert b"aaaa" not in body and b"FOO" not in body and b"9.9" not in body, name
    noisy = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(noisy) == 1  # the first, then rate-limited
    assert "malformed HTTP request" in noisy[0].getMessage()
    assert not [r for r in caplog.records if r.exc_info and r.levelno > logging.DEBUG]


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_a_body_that_cannot_be_decoded_is_a_400_not_a_500(
    method: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with http_daemon() as d:
        status, headers, body = await exchange(
            d.http_port,
            f"{method} /api/system/status HTTP/1.1\r\nHost: x\r\nContent-Encoding: gzip\r\n"
            "Content-Length: 5\r\nConnection: close\r\n\r\nhello".encode(),
        )
    assert status in (400, 405)
    assert headers["content-type"].startswith("application/json")
    assert json.loads(body)["error"]["code"] in ("bad_request", "method_not_allowed")
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_a_client_gone_mid_body_leaves_no_error_in_the_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="virtuoso.api")
    async with http_daemon() as d:
        data = b"GET /api/system/status HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc"
        await anyio.to_thread.run_sync(lambda: _exchange(d.http_port, data, half_close=True))
        with anyio.fail_after(5):
            while not any("went away" in r.getMessage() for r in caplog.records):
                await anyio.sleep(0.01)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def _closed_within(sock: socket.socket, seconds: float, trickle: bytes = b"") -> bool:
    """Whether the server closes ``sock`` within ``seconds``, sending ``trickle`` a
    byte at a time meanwhile (each wait is for the close itself, at most 50 ms)."""
    deadline = time.monotonic() + seconds
    pending = list(trickle)
    while time.monotonic() < deadline:
        readable, _, _ = select.select([sock], [], [], 0.05)
        if readable:
            try:
                data = sock.recv(65536)
            except ConnectionResetError:
                return True
            if not data:
                return True
        elif pending:
            try:
                sock.send(bytes([pending.pop(0)]))
            except (BrokenPipeError, ConnectionResetError):
                return True
    return False


async def test_an_idle_connection_is_closed_after_the_keepalive_timeout() -> None:
    async with http_daemon(keepalive_timeout=0.3) as d:
        with socket.create_connection(("127.0.0.1", d.http_port)) as s:
            assert await anyio.to_thread.run_sync(_closed_within, s, 5.0)


async def test_a_request_trickling_in_is_closed_after_the_keepalive_timeout() -> None:
    trickle = b"GET /health/quick HTTP/1.1\r\n" + b"X-Slow: " + b"y" * 200
    async with http_daemon(keepalive_timeout=0.3) as d:
        with socket.create_connection(("127.0.0.1", d.http_port)) as s:
            assert await anyio.to_thread.run_sync(_closed_within, s, 5.0, trickle)


def _keep_alive_request(sock: socket.socket) -> bytes:
    sock.sendall(b"GET /health/quick HTTP/1.1\r\nHost: x\r\n\r\n")
    return sock.recv(65536)


async def test_connections_past_the_cap_get_503_and_the_others_are_served() -> None:
    async with http_daemon(max_connections=2) as d:
        held = [socket.create_connection(("127.0.0.1", d.http_port)) for _ in range(2)]
        try:
            for s in held:  # answered: both are registered by the server
                assert (await anyio.to_thread.run_sync(_keep_alive_request, s)).startswith(
                    b"HTTP/1.1 200"
                )
            status, _, body = await exchange(
                d.http_port, b"GET /health/quick HTTP/1.1\r\nHost: x\r\n\r\n"
            )
            assert status == 503 and json.loads(body)["error"]["code"] == "unavailable"
            reply = await anyio.to_thread.run_sync(_keep_alive_request, held[0])
            assert reply.startswith(b"HTTP/1.1 200")
        finally:
            for s in held:
                s.close()
        stats = d.runtime.stats["http"]()
        assert stats["refused_connections"] == 1


async def test_malformed_requests_are_counted_in_the_status() -> None:
    async with http_daemon() as d:
        for _ in range(3):
            await exchange(d.http_port, MALFORMED["unknown method"])
        assert d.runtime.stats["http"]()["bad_requests"] == 3
