"""Binance request weights per client IP: 429 with Retry-After, then a 418 ban."""

from __future__ import annotations

import aiohttp
import anyio
import ccxt
import msgspec
import pytest

from tests.sim.helpers import sim_and_exchange
from virtuoso_daemon.sim import SimConfig
from virtuoso_daemon.sim.ratelimit import RateLimiter, request_weight


async def test_weight_limit_gives_429_with_retry_after_then_418() -> None:
    cfg = SimConfig(
        symbols=["ETH"], spot_weight_limit=100, futures_weight_limit=50, ban_after=2, ban_seconds=90
    )
    async with sim_and_exchange(cfg, "spot", pro=False) as (sim, ex):
        base = sim.base_url
        async with aiohttp.ClientSession() as http:
            with anyio.fail_after(20):
                # load_markets used 20 (exchangeInfo); ticker with a symbol weighs 2
                used = 0
                for _ in range(39):
                    async with http.get(f"{base}/api/v3/ticker/24hr?symbol=ETHUSDT") as resp:
                        assert resp.status == 200
                        used = int(resp.headers["X-MBX-USED-WEIGHT-1M"])
                assert used == 20 + 39 * 2
                # depth?limit=100 weighs 5: over the limit
                async with http.get(f"{base}/api/v3/depth?symbol=ETHUSDT") as resp:
                    assert resp.status == 429
                    retry = int(resp.headers["Retry-After"])
                    assert 1 <= retry <= 60
                    assert (await resp.json())["code"] == -1003
                # a lighter request still fits, as on Binance
                async with http.get(f"{base}/api/v3/ping") as resp:
                    assert resp.status == 200
                # ccxt sees the 429 as DDoSProtection
                with pytest.raises(ccxt.DDoSProtection, match="429"):
                    await ex.fetch_order_book("ETH/USDT")
                # the futures budget is separate
                async with http.get(f"{base}/fapi/v1/ping") as resp:
                    assert resp.status == 200
                # keep hammering after 429s: banned with 418
                async with http.get(f"{base}/api/v3/depth?symbol=ETHUSDT") as resp:
                    assert resp.status == 418
                    assert int(resp.headers["Retry-After"]) == 90
                    assert "banned until" in msgspec.json.decode(await resp.read())["msg"]
                async with http.get(f"{base}/api/v3/ping") as resp:
                    assert resp.status == 418  # everything, while banned
                with pytest.raises(ccxt.DDoSProtection, match="418"):
                    await ex.fetch_ticker("ETH/USDT")
                state = sim.fault_state()
                assert state["rate_limiter"] == {"429": 2, "418": 3}
                async with http.delete(f"{base}/__sim/ratelimits") as resp:
                    assert resp.status == 200
                assert (await ex.fetch_ticker("ETH/USDT"))["last"] > 0


def test_fixed_window_resets_and_ban_expires() -> None:
    now = [100.0]
    rl = RateLimiter(
        limits={"spot": 10, "futures": 10},
        window=60,
        ban_after=2,
        ban_seconds=30,
        clock=lambda: now[0],
    )
    assert rl.charge("a", "spot", 10).status == 200  # opens the window 100..160
    v = rl.charge("a", "spot", 1)
    assert v.status == 429 and v.retry_after == 60
    assert rl.charge("b", "spot", 1).status == 200  # per IP
    assert rl.charge("a", "futures", 1).status == 200  # per market
    now[0] = 130.0
    v = rl.charge("a", "spot", 1)
    assert v.status == 429 and v.retry_after == 30
    now[0] = 160.0  # a new window: allowed again
    assert rl.charge("a", "spot", 10).status == 200
    assert [rl.charge("a", "spot", 1).status for _ in range(3)] == [429, 429, 418]
    now[0] = 189.0
    v = rl.charge("a", "spot", 1)
    assert v.status == 418 and v.retry_after == 1
    now[0] = 221.0  # ban over, new window
    assert rl.charge("a", "spot", 1).status == 200
    assert rl.counters == {"429": 4, "418": 2}


def test_binance_weights() -> None:
    assert request_weight("spot", "ticker/24hr", {}) == 80
    assert request_weight("spot", "ticker/24hr", {"symbol": "X"}) == 2
    assert request_weight("spot", "ticker/24hr", {"symbols": '["A","B"]'}) == 2
    assert request_weight("spot", "depth", {"limit": "1000"}) == 50
    assert request_weight("spot", "exchangeInfo", {}) == 20
    assert request_weight("futures", "depth", {"limit": "1000"}) == 20
    assert request_weight("futures", "klines", {"limit": "1500"}) == 10
    assert request_weight("futures", "ticker/24hr", {}) == 40
    assert request_weight("futures", "premiumIndex", {}) == 10
