"""A configured symbol the exchange does not list is unknown everywhere, not empty.

The feed reports it in ``FeedStatus.unknown_symbols``; from then on
``/api/market/exchanges`` lists it and ``ohlcv`` answers 404 ``unknown_symbol`` on
HTTP and the socket alike (before, it answered 200 with no candles).
"""

from __future__ import annotations

import time

import aiohttp
import anyio
import msgspec
import pytest

from tests.control.helpers import control_specs
from tests.harness import running_daemon, test_config
from virtuoso_daemon.core.config import ExchangeConfig
from virtuoso_daemon.core.messages import FeedStatus
from virtuoso_daemon.core.supervisor import ActorSpec
from virtuoso_daemon.market.actor import MarketStoreActor
from virtuoso_daemon.protocol import CommandError, ControlClient
from virtuoso_daemon.tickers.actor import TickerCacheActor


async def test_an_unlisted_symbol_is_a_404_on_http_and_the_socket_and_listed_as_unknown() -> None:
    cfg = msgspec.structs.replace(
        test_config(),
        exchanges=[
            ExchangeConfig(name="binance", symbols=["BTC/USDT", "FOO/USDT"], timeframes=["1h"])
        ],
    )
    specs = [
        ActorSpec("market_store", MarketStoreActor),
        ActorSpec("ticker_cache", TickerCacheActor),
        *control_specs(),
    ]
    async with (
        running_daemon(cfg, specs) as d,
        ControlClient.connect(d.runtime.socket_path) as client,
        aiohttp.ClientSession() as http,
    ):
        url = f"{d.base_url}/api/market/ohlcv/FOO-USDT"
        async with http.get(url) as resp:
            assert resp.status == 200  # configured, and the feed has not said otherwise

        status = FeedStatus(
            exchange="binance",
            state="connected",
            symbols=["BTC/USDT"],
            unknown_symbols=["FOO/USDT"],
            ts=time.time(),
        )
        d.runtime.views.publish("feeds.status", {"binance": status})

        async with http.get(url) as resp:
            body = await resp.json()
            assert resp.status == 404 and body["error"]["code"] == "unknown_symbol", body
        with pytest.raises(CommandError) as info:
            with anyio.fail_after(5):
                await client.call("ohlcv", symbol="FOO-USDT")
        assert info.value.code == "unknown_symbol"
        async with http.get(f"{d.base_url}/api/market/exchanges") as resp:
            (ex,) = (await resp.json())["exchanges"]
        assert ex["unknown_symbols"] == ["FOO/USDT"] and ex["symbols"] == ["BTC/USDT"]
        async with http.get(f"{d.base_url}/api/market/ohlcv/BTC-USDT") as resp:
            assert resp.status == 200
