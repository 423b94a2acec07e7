"""The memcached client wrapper: pipelined sets, EOF safety, key scheme."""

from __future__ import annotations

import anyio
import anyio.abc
import pytest

from tests.harness import MemcachedProcess
from virtuoso_daemon.tickers.memcached import (
    SafeClient,
    aggregate_key,
    epoch_key,
    ticker_key,
)


def test_key_scheme() -> None:
    assert ticker_key("virtuoso:", "binance", "BTC/USDT") == b"virtuoso:ticker:binance:BTC-USDT"
    assert ticker_key("v:", "bn perp", "BTC/USDT:USDT") == b"v:ticker:bn_perp:BTC-USDT-USDT"
    assert aggregate_key("v:", "binance") == b"v:tickers:binance"
    assert epoch_key("v:") == b"v:cache:epoch"


async def test_set_many_pipelines_and_reads_back(memcached: MemcachedProcess) -> None:
    client = SafeClient("127.0.0.1", memcached.port, pool_size=1)
    try:
        items = [(f"vt-pipe:{i}".encode(), f"value-{i}".encode()) for i in range(700)]
        with anyio.fail_after(5):
            assert await client.set_many(items, exptime=60) == 700
            values = await client.multi_get(*(k for k, _ in items[::100]))
        assert values == tuple(v for _, v in items[::100])
    finally:
        await client.close()


async def test_server_closing_mid_command_raises_instead_of_spinning() -> None:
    """aio-libs/aiomcache#502: aiomcache loops forever on EOF; SafeClient raises."""

    async def handle(stream: anyio.abc.SocketStream) -> None:
        async with stream:
            await stream.receive()  # read the command, then hang up without replying

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, handle)
        client = SafeClient("127.0.0.1", port, pool_size=1)
        try:
            with anyio.fail_after(2):
                with pytest.raises(ConnectionResetError):
                    await client.version()
                with pytest.raises(ConnectionResetError):
                    await client.set_many([(b"k", b"v")])
        finally:
            await client.close()
            tg.cancel_scope.cancel()
