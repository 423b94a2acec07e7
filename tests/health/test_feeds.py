"""A dead exchange and a silent stream, seen from the feeds' own state: both counted
critical within 2x the feed's silent_timeout, each transition one Condition, and
recovered when the fault ends."""

from __future__ import annotations

import anyio

from tests.health.feeds_env import FEED, flowing, sim_health_env, time_to_critical
from tests.health.test_surfaces import get, samples
from virtuoso_daemon.feeds.actor import command_topic
from virtuoso_daemon.feeds.requests import ReconnectFeed

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


async def test_a_reconnecting_feed_keeps_its_data_checks_and_they_age() -> None:
    """``fix connection`` while the exchange is down: the feed starts afresh and cannot
    load its markets, so no data kind runs. Its data checks stay in the report, their
    age growing from the last message (warning, then critical), and recover after."""
    silent = 1.0  # ages to critical in 1 s
    opts = {**FEED_OPTS, "kinds": ["tickers"], "silent_timeout": silent}
    # warning from 0.25 s of age: a band wide enough (0.75 s) to be seen counted
    async with sim_health_env(opts, {**HEALTH, "data_age_warning": 0.25}) as (env, sim):
        await flowing(env, ("tickers",))
        name = f"data:{FEED}:tickers"
        sim.inject({"kind": "outage", "duration": 60.0})  # ended below
        reply = await env.runtime.bus.request(command_topic(FEED), ReconnectFeed(exchange=FEED))
        assert reply["reconnecting"] is True
        seen: list[tuple[str, float]] = []
        with anyio.fail_after(5 * silent):
            while not seen or seen[-1][0] != "critical":
                check = env.check(name)
                assert check is not None, f"{name} left the report while reconnecting"
                assert isinstance(check.value, float)
                seen.append((check.status, check.value))
                await anyio.sleep(0.02)
        ages = [age for _, age in seen]
        assert ages == sorted(ages), "the age went back while no data came"
        statuses = [s for i, (s, _) in enumerate(seen) if i == 0 or s != seen[i - 1][0]]
        assert statuses[-2:] == ["warning", "critical"]
        assert seen[-1][1] >= silent  # critical at 1 x silent_timeout of age
        sim.clear_faults()
        await env.wait_status(name, "ok", 20)
