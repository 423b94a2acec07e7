"""ccxt.pro's watch_* methods stream from the simulator, spot and perpetuals."""

from __future__ import annotations

from typing import Any

import aiohttp
import anyio
import msgspec
import pytest

from tests.sim.helpers import sim_and_exchange
from virtuoso_daemon.sim import SimConfig

FAST = SimConfig(symbols=["ETH", "SOL"], tick_interval=0.05, trade_rate=20.0)


@pytest.mark.parametrize(("market", "suffix"), [("spot", ""), ("linear", ":USDT")])
async def test_watch_streams(market: str, suffix: str) -> None:
    eth, sol = f"ETH/USDT{suffix}", f"SOL/USDT{suffix}"
    async with sim_and_exchange(FAST, market) as (_sim, ex):
        with anyio.fail_after(20):
            t1 = await ex.watch_ticker(eth)
            t2 = await ex.watch_ticker(eth)
            assert t1["symbol"] == t2["symbol"] == eth and t2["timestamp"] > t1["timestamp"]

            seen: dict[str, Any] = {}
            while len(seen) < 3:  # BTC, ETH, SOL arrive in one !miniTicker@arr message
                seen.update(await ex.watch_tickers())
            assert set(seen) == {f"BTC/USDT{suffix}", eth, sol}

            candles = await ex.watch_ohlcv(eth, "1m")
            latest = candles[-1]
            assert latest[0] % 60_000 == 0 and latest[3] <= latest[4] <= latest[2]
            candles_5m = await ex.watch_ohlcv(sol, "5m")
            assert candles_5m[-1][0] % 300_000 == 0

            trades = await ex.watch_trades(eth)
            assert trades and all(t["symbol"] == eth and t["amount"] > 0 for t in trades)

            book = await ex.watch_order_book(eth)
            assert book["symbol"] == eth and book["bids"][0][0] < book["asks"][0][0]
            first_nonce = book["nonce"]
            for _ in range(5):
                book = await ex.watch_order_book(eth)
            assert book["nonce"] > first_nonce  # diffs applied in sequence, no ChecksumError
            await _assert_book_matches_rest(ex, eth)

            if market == "linear":
                mark = await ex.watch_mark_price(eth)
                assert mark["symbol"] == eth and mark["markPrice"] > 0


async def _assert_book_matches_rest(ex: Any, symbol: str) -> None:
    """The locally maintained book equals a REST snapshot taken at the same update id."""
    for _ in range(50):
        snap = await ex.fetch_order_book(symbol, 1000)
        while ex.orderbooks[symbol]["nonce"] < snap["nonce"]:
            await ex.watch_order_book(symbol)
        local = ex.orderbooks[symbol]
        if local["nonce"] == snap["nonce"]:
            assert list(local["bids"]) == snap["bids"] and list(local["asks"]) == snap["asks"]
            assert len(snap["bids"]) == 300
            return
    raise AssertionError("never caught the stream and a snapshot at the same update id")


async def test_raw_and_combined_stream_urls() -> None:
    async with sim_and_exchange(FAST, "spot") as (sim, _ex):
        ws_base = "ws" + sim.base_url[4:]
        async with aiohttp.ClientSession() as http:
            with anyio.fail_after(10):
                url = f"{ws_base}/stream?streams=ethusdt@aggTrade/btcusdt@depth5/!miniTicker@arr"
                async with http.ws_connect(url) as ws:
                    streams: set[str] = set()
                    while len(streams) < 3:
                        msg = msgspec.json.decode((await ws.receive()).data)
                        streams.add(msg["stream"])
                        assert "data" in msg
                    assert streams == {"ethusdt@aggTrade", "btcusdt@depth5", "!miniTicker@arr"}
                async with http.ws_connect(f"{ws_base}/ws/ethusdt@kline_1m") as ws:
                    event = msgspec.json.decode((await ws.receive()).data)
                    assert event["e"] == "kline" and event["k"]["i"] == "1m"
                async with http.ws_connect(f"{ws_base}/fstream/ws") as ws:
                    await ws.send_str(
                        '{"method":"SUBSCRIBE","params":["ethusdt@markPrice@1s",'
                        '"ethusdt@bookTicker"],"id":7}'
                    )
                    assert msgspec.json.decode((await ws.receive()).data) == {
                        "result": None,
                        "id": 7,
                    }
                    kinds: set[str] = set()
                    while len(kinds) < 2:
                        kinds.add(msgspec.json.decode((await ws.receive()).data)["e"])
                    assert kinds == {"markPriceUpdate", "bookTicker"}
                    await ws.send_str('{"method":"LIST_SUBSCRIPTIONS","id":8}')
                    while True:
                        reply = msgspec.json.decode((await ws.receive()).data)
                        if reply.get("id") == 8:
                            break
                    assert reply["result"] == ["ethusdt@bookTicker", "ethusdt@markPrice@1s"]
                    await ws.send_str('{"method":"SUBSCRIBE","params":["nope@trade"],"id":9}')
                    while True:
                        reply = msgspec.json.decode((await ws.receive()).data)
                        if reply.get("id") == 9:
                            break
                    assert reply["error"]["code"] == 2


async def test_server_pings_and_ccxt_answers() -> None:
    """Protocol-level pings: the connection survives several heartbeats."""
    cfg = SimConfig(symbols=["ETH"], tick_interval=0.05, ws_heartbeat=0.2)
    async with sim_and_exchange(cfg, "spot") as (sim, ex):
        with anyio.fail_after(10):
            await ex.watch_ticker("ETH/USDT")
            start = sim.hub.connections_total
            deadline = anyio.current_time() + 1.0
            while anyio.current_time() < deadline:  # ~5 heartbeats
                await ex.watch_ticker("ETH/USDT")
            assert sim.hub.connections_total == start and len(sim.hub.conns) == 1
