"""The websocket read loop the feeds give ccxt (actors/feeds/ws_pump.py), against a real
aiohttp websocket server on loopback.

What is specified is *ordering*: which other tasks may run between two messages of
one burst. The event log records every message handled and every turn of a competing
task, so the tests read it like a timeline instead of timing anything.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import anyio
from aiohttp import web

from virtuoso_daemon.feeds import ws_pump
from virtuoso_daemon.feeds.ws_pump import DEFAULT_FAIR_SHARE, PumpedClient

BURST = 100


@asynccontextmanager
async def burst_server() -> AsyncIterator[tuple[str, list[web.WebSocketResponse]]]:
    """Sends BURST frames back to back when a client says "go"; closes on "bye"."""
    peers: list[web.WebSocketResponse] = []

    async def handle(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(compress=False)
        await ws.prepare(request)
        peers.append(ws)
        async for msg in ws:
            if msg.data == "go":
                # corked: the whole burst leaves in one segment, so the client reads
                # it in one go (what a busy exchange connection looks like)
                sock = request.transport.get_extra_info("socket")  # type: ignore[union-attr]
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1)
                for i in range(BURST):
                    await ws.send_str(json.dumps({"i": i}))
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 0)
            elif msg.data == "bye":
                await ws.close()
        return ws

    app = web.Application()
    app.router.add_get("/ws", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"ws://127.0.0.1:{port}/ws", peers
    finally:
        await runner.cleanup()


def _client(url: str, log: list[Any], share: int | None = None) -> PumpedClient:
    def on_message(client: Any, message: Any) -> None:
        log.append(("msg", message["i"]))

    def ignore(*_: Any) -> None:
        pass

    def on_close(client: Any, code: Any) -> None:
        log.append(("closed", code))

    client = PumpedClient(
        url, on_message, ignore, on_close, ignore, {"asyncio_loop": asyncio.get_running_loop()}
    )
    client.__dict__["_fair_share"] = share or DEFAULT_FAIR_SHARE
    return client


async def _competitor(log: list[Any], stop: anyio.Event) -> None:
    while not stop.is_set():
        log.append(("other",))
        await asyncio.sleep(0)


def _runs(log: list[Any]) -> list[int]:
    """Lengths of the runs of messages between two turns of another task."""
    runs, n = [], 0
    for entry in log:
        if entry[0] == "msg":
            n += 1
        elif n:
            runs.append(n)
            n = 0
    if n:
        runs.append(n)
    return runs


async def _burst(share: int) -> list[Any]:
    log: list[Any] = []
    async with burst_server() as (url, _), aiohttp.ClientSession() as session:
        client = _client(url, log, share)
        with anyio.fail_after(10):
            await client.connect(session)
            stop = anyio.Event()
            async with anyio.create_task_group() as tg:
                tg.start_soon(_competitor, log, stop)
                await client.connection.send_str("go")
                while sum(1 for e in log if e[0] == "msg") < BURST:
                    await anyio.sleep(0.001)
                stop.set()
        await client.close()
    return log


async def test_a_burst_is_handled_in_one_step_last_message_included() -> None:
    log = await _burst(share=512)
    assert [e[1] for e in log if e[0] == "msg"] == list(range(BURST))
    # ccxt's own loop gives [1, 98, 1] here: the first and the last message of the
    # read each wait for a turn of every other task
    assert _runs(log) == [BURST]


async def test_a_small_fair_share_lets_other_tasks_run_inside_a_burst() -> None:
    log = await _burst(share=16)
    runs = _runs(log)
    assert sum(runs) == BURST
    assert max(runs) <= 16 and len(runs) >= BURST // 16, runs


async def test_the_server_closing_the_socket_ends_the_pump_and_reports_the_close() -> None:
    log: list[Any] = []
    async with burst_server() as (url, _), aiohttp.ClientSession() as session:
        client = _client(url, log)
        with anyio.fail_after(10):
            await client.connect(session)
            future = client.future("anything")
            await client.connection.send_str("bye")
            while not any(e[0] == "closed" for e in log):
                await anyio.sleep(0.005)
            # ccxt's contract: a pending watch fails with a NetworkError
            try:
                await future
            except Exception as exc:
                assert type(exc).__name__ == "NetworkError"
            else:
                raise AssertionError("the pending future should have been rejected")
        pump = client.__dict__["_pump"]
        with anyio.fail_after(5):
            while not pump.done():
                await anyio.sleep(0.005)
        await client.close()


async def test_install_switches_new_clients_and_keeps_the_fair_share_per_kind() -> None:
    import ccxt.pro as ccxt_pro

    ex, other = ccxt_pro.binance({}), ccxt_pro.binance({})
    try:
        ws_pump.install(ex, "tickers")
        ws_pump.install(ex, "tickers")  # idempotent
        client = ex.client("ws://127.0.0.1:1/ws")
        assert type(client) is PumpedClient
        assert client.__dict__["_fair_share"] == ws_pump.FAIR_SHARE["tickers"]
        ws_pump.install(other, "ohlcv")
        assert other.client("ws://127.0.0.1:1/ws").__dict__["_fair_share"] == DEFAULT_FAIR_SHARE
    finally:
        await ex.close()
        await other.close()
