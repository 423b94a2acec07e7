"""/metrics exports what a feed could not get: missing candles and unknown symbols."""

from __future__ import annotations

import time

from tests.harness import test_config
from tests.health.env import health_env
from tests.health.test_monitor import FAST
from tests.health.test_surfaces import CONTROL, get, samples
from virtuoso_daemon.core.messages import CandleGap, FeedStatus


async def test_missing_candles_and_unknown_symbols_are_gauges() -> None:
    async with health_env(test_config(health=FAST), [CONTROL]) as env:
        gap = CandleGap(start=0, end=3 * 3_600_000, missing=3, where="inside")
        status = FeedStatus(
            exchange="okx",
            state="connected",
            gaps={"BTC/USDT": {"1h": [gap]}, "ETH/USDT": {"1h": [gap], "1m": [gap]}},
            unknown_symbols=["FOO/USDT", "BAR/USDT"],
            ts=time.time(),
        )
        env.runtime.views.publish("feeds.status", {"okx": status})
        _, text = await get(env, "/metrics")
        got = samples(text)
        tf = ("exchange", "okx"), ("timeframe", "1h")
        assert got[("virtuoso_feed_missing_candles", tf)] == 6
        assert (
            got[("virtuoso_feed_missing_candles", (("exchange", "okx"), ("timeframe", "1m")))] == 3
        )
        assert got[("virtuoso_feed_unknown_symbols", (("exchange", "okx"),))] == 2
