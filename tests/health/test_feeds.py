"""A dead exchange and a silent stream, seen from the feeds' own state: both counted
critical within 2x the feed's silent_timeout, each transition one Condition, and
recovered when the fault ends."""

from __future__ import annotations

import anyio

from tests.health.feeds_env import FEED, flowing, sim_health_env, time_to_critical
from tests.health.test_surfaces import get, samples

SILENT = 2.0  # the feed's silent_timeout in these tests
HEALTH = {"interval": 1.0, "confirm": 0.3, "recover": 1.0}
FEED_OPTS = {
    "kinds": ["tickers", "trades"],
    "symbols": ["BTC/USDT", "ETH/USDT"],
    "backfill_candles": 0,
    "silent_timeout": SILENT,
    "backoff_max": 1.0,
    "poll_interval": 0.3,
    "timeout_ms": 1000,
    "stream_retry": 1.0,  # back from the REST fallback to streaming soon after the fault
    "rate_limit_ms": 10,
}


async def test_an_exchange_outage_is_critical_within_twice_the_silent_timeout() -> None:
    async with sim_health_env(FEED_OPTS, HEALTH) as (env, sim):
        await flowing(env, ("tickers", "trades"))
        # /metrics follows the feed: its message counter moves, its data age is there
        tickers = ("virtuoso_feed_messages_total", (("exchange", FEED), ("kind", "tickers")))
        # a counter not yet in the scrape is at 0; the data age comes from the feed's
        # status view, published on its own cadence: scrape until both have moved
        age = ("virtuoso_feed_data_age_seconds", (("exchange", FEED), ("kind", "tickers")))
        before = samples((await get(env, "/metrics"))[1]).get(tickers, 0.0)
        with anyio.fail_after(10):
            while True:
                second = samples((await get(env, "/metrics"))[1])
                if second.get(tickers, 0.0) > before and age in second:
                    break
                await anyio.sleep(0.1)
        assert 0 <= second[age] < SILENT
        took = await time_to_critical(
            env, sim, {"kind": "outage", "duration": 4.0}, f"exchange:{FEED}", 2 * SILENT
        )
        assert took <= 2 * SILENT
        check = env.check(f"exchange:{FEED}")
        assert check is not None and check.value == "down"
        # the outage ends on the simulator's clock: the check recovers, one Condition each way
        await env.wait_status(f"exchange:{FEED}", "ok", 15)
        conditions = env.health_conditions(f"health:exchange:{FEED}")
        assert [(c.severity, c.active) for c in conditions] in (
            [("critical", True), ("critical", False)],
            # REST answers again before the stream's retry (stream_retry) is due: the
            # feed polls for a moment, which is "degraded", a warning, until it streams
            [("critical", True), ("warning", True), ("warning", False)],
        )
        assert conditions[0].exchange == FEED


async def test_a_silent_websocket_is_critical_within_its_limit_and_recovers() -> None:
    """Connected, pinged, no data (ccxt#21731, cryptofeed#545): the tickers' age crosses
    warning (0.5 x silent_timeout) then critical (1 x), and goes back when data flows."""
    async with sim_health_env(FEED_OPTS, HEALTH) as (env, sim):
        await flowing(env, ("tickers", "trades"))
        name = f"data:{FEED}:tickers"
        took = await time_to_critical(
            env, sim, {"kind": "ws_silent", "duration": SILENT + 2.0}, name, 2 * SILENT
        )
        assert took <= 2 * SILENT
        await env.wait_status(name, "ok", 15)
        severities = [(c.severity, c.active) for c in env.health_conditions(f"health:{name}")]
        assert severities in (
            [("warning", True), ("critical", True), ("critical", False)],
            # confirm (0.3 s) can span the warning band when a sweep falls late
            [("critical", True), ("critical", False)],
        )
