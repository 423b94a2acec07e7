"""Faults on demand, observed through ccxt as a real exchange's failures would be.

Each test counts the errors its client saw and compares them with the simulator's
injection counters (``GET /__sim/faults``).
"""

from __future__ import annotations

from typing import Any

import aiohttp
import anyio
import ccxt
import msgspec
import pytest

from tests.sim.helpers import get_json, sim_and_exchange
from virtuoso_daemon.sim import Fault, SimConfig, Simulator

CFG = SimConfig(symbols=["ETH"], tick_interval=0.05)


async def _count_errors(ex: Any, n: int, error: type[Exception]) -> int:
    seen = 0
    for _ in range(n):
        try:
            await ex.fetch_ticker("ETH/USDT")
        except error:
            seen += 1
    return seen


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        ({"kind": "http_500"}, ccxt.ExchangeNotAvailable),
        ({"kind": "http_500", "status": 502}, ccxt.ExchangeNotAvailable),
        ({"kind": "http_500", "status": 504}, ccxt.RequestTimeout),
        ({"kind": "http_429", "retry_after": 7}, ccxt.DDoSProtection),
        ({"kind": "http_418", "retry_after": 9}, ccxt.DDoSProtection),
        ({"kind": "outage"}, ccxt.ExchangeNotAvailable),
        ({"kind": "slow", "delay": 1.0}, ccxt.RequestTimeout),
    ],
)
async def test_rest_fault_is_the_ccxt_error_a_real_exchange_causes(
    fault: dict[str, Any], error: type[Exception]
) -> None:
    async with sim_and_exchange(CFG, "spot", pro=False, timeout=300) as (sim, ex):
        with anyio.fail_after(20):
            sim.inject(fault)
            seen = await _count_errors(ex, 3, error)
            assert seen == 3
            assert sim.fault_state()["counters"][fault["kind"]] == seen
            if fault["kind"] in ("http_429", "http_418"):
                assert ex.last_response_headers["Retry-After"] == str(fault["retry_after"])
            sim.clear_faults()  # recovery
            assert (await ex.fetch_ticker("ETH/USDT"))["last"] > 0


async def test_rate_count_duration_and_targeting() -> None:
    async with sim_and_exchange(CFG, "spot", pro=False, timeout=2000) as (sim, ex):
        with anyio.fail_after(20):
            # a rate: about half the requests fail, and every failure is counted
            sim.inject(Fault(kind="http_500", rate=0.5))
            seen = await _count_errors(ex, 40, ccxt.ExchangeNotAvailable)
            assert 5 < seen < 35 and sim.fault_state()["counters"]["http_500"] == seen
            sim.clear_faults()
            # a count: exactly two failures, then the fault retires itself
            sim.inject(Fault(kind="http_500", count=2))
            assert await _count_errors(ex, 5, ccxt.ExchangeNotAvailable) == 2
            assert sim.fault_state()["active"] == []
            # a path prefix: only order books fail
            sim.inject(Fault(kind="http_500", path="/api/v3/depth"))
            await ex.fetch_ticker("ETH/USDT")
            with pytest.raises(ccxt.ExchangeNotAvailable):
                await ex.fetch_order_book("ETH/USDT")
            sim.clear_faults()
            # a market: futures faults leave spot alone
            sim.inject(Fault(kind="outage", market="futures"))
            await ex.fetch_ticker("ETH/USDT")
            sim.clear_faults()
            # a duration: the fault expires by itself
            sim.inject(Fault(kind="http_500", duration=0.3))
            with pytest.raises(ccxt.ExchangeNotAvailable):
                await ex.fetch_ticker("ETH/USDT")
            while True:  # poll until it has expired
                try:
                    await ex.fetch_ticker("ETH/USDT")
                    break
                except ccxt.ExchangeNotAvailable:
                    await anyio.sleep(0.05)
            assert sim.fault_state()["active"] == []


async def test_malformed_json_is_not_an_exception_in_ccxt() -> None:
    """ccxt 4.5.90 swallows invalid JSON: it returns the raw text to the parser, which
    yields empty structures (``last`` None, no book levels) or a non-ccxt error for
    list endpoints. The daemon must validate what it gets; this pins the behaviour."""
    async with sim_and_exchange(CFG, "spot", pro=False) as (sim, ex):
        with anyio.fail_after(20):
            sim.inject({"kind": "malformed_json"})
            ticker = await ex.fetch_ticker("ETH/USDT")
            assert ticker["last"] is None and ticker["bid"] is None
            book = await ex.fetch_order_book("ETH/USDT")
            assert book["bids"] == [] and book["nonce"] is None
            with pytest.raises(Exception) as info:
                await ex.fetch_tickers()
            assert not isinstance(info.value, ccxt.BaseError)
            assert ex.last_http_response.startswith("[{") and len(ex.last_http_response) > 10
            assert sim.fault_state()["counters"]["malformed_json"] == 3


async def test_websocket_close_outage_and_silence() -> None:
    async with sim_and_exchange(CFG, "spot") as (sim, ex):
        with anyio.fail_after(30):
            await ex.watch_ticker("ETH/USDT")
            # closed: the open connection is closed by the server
            sim.inject({"kind": "ws_close"})
            with pytest.raises(ccxt.NetworkError):
                await ex.watch_ticker("ETH/USDT")
            # while the fault lasts, reconnections are closed right after the handshake
            with pytest.raises(ccxt.NetworkError):
                await ex.watch_ticker("ETH/USDT")
            assert sim.fault_state()["counters"]["ws_close"] == 2
            sim.clear_faults()
            assert (await ex.watch_ticker("ETH/USDT"))["last"] > 0

            # outage: the connection drops, then handshakes are refused with 503
            sim.inject({"kind": "outage"})
            with pytest.raises(ccxt.NetworkError):
                await ex.watch_ticker("ETH/USDT")
            with pytest.raises(ccxt.NetworkError, match="503"):
                await ex.watch_ticker("ETH/USDT")
            assert sim.fault_state()["counters"]["outage"] == 2
            sim.clear_faults()
            assert (await ex.watch_ticker("ETH/USDT"))["last"] > 0

            # silent: the connection stays open and nothing arrives
            conns = sim.hub.connections_total
            sim.inject({"kind": "ws_silent"})
            with anyio.move_on_after(1.0) as scope:
                await ex.watch_ticker("ETH/USDT")
            assert scope.cancelled_caught  # the watch stalled
            assert sim.fault_state()["counters"]["ws_silent"] == 1
            assert len(sim.hub.conns) == 1 and sim.hub.connections_total == conns
            sim.clear_faults()
            assert (await ex.watch_ticker("ETH/USDT"))["last"] > 0  # same connection resumes
            assert sim.hub.connections_total == conns


async def test_fault_side_channel_over_http() -> None:
    async with sim_and_exchange(CFG, "spot", pro=False) as (sim, ex):
        base = sim.base_url
        with anyio.fail_after(20):
            await _side_channel(sim, ex, base)


async def _side_channel(sim: Simulator, ex: Any, base: str) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{base}/__sim/faults",
            json={
                "faults": [
                    {"kind": "http_429", "retry_after": 3},
                    {"kind": "ws_silent", "market": "futures"},
                ]
            },
        ) as resp:
            state = await resp.json()
            assert resp.status == 200 and len(state["ids"]) == 2
            assert {f["kind"] for f in state["active"]} == {"http_429", "ws_silent"}
        with pytest.raises(ccxt.DDoSProtection):
            await ex.fetch_ticker("ETH/USDT")
        async with http.delete(f"{base}/__sim/faults/{state['ids'][0]}") as resp:
            assert [f["kind"] for f in (await resp.json())["active"]] == ["ws_silent"]
        async with http.post(f"{base}/__sim/faults", json={"clear": True}) as resp:
            assert (await resp.json())["active"] == []
        async with http.post(f"{base}/__sim/faults", json={"kind": "nope"}) as resp:
            assert resp.status == 400 and (await resp.json())["error"]["code"] == "bad_fault"
        async with http.post(f"{base}/__sim/faults", json={"kind": "http_500"}) as resp:
            assert resp.status == 200
        async with http.delete(f"{base}/__sim/faults") as resp:
            assert (await resp.json())["active"] == []
    status, _, body = await get_json(f"{base}/__sim/faults")
    doc = msgspec.json.decode(body)
    assert status == 200 and doc["counters"]["http_429"] == 1 and doc["active"] == []
    await ex.fetch_ticker("ETH/USDT")
