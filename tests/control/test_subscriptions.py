"""Subscriptions over the real socket: every topic kind, throttling, filters, drops."""

from __future__ import annotations

import logging
from typing import Any, ClassVar

import anyio
import anyio.abc
import pytest

from tests.control.helpers import control, control_specs, ticker, wait_until
from tests.harness import running_daemon, test_config
from virtuoso_daemon.core.bus import Topics
from virtuoso_daemon.core.messages import (
    ActorEvent,
    BetaSnapshot,
    Candle,
    FeedStatus,
    Funding,
    LogRecord,
    Ticker,
)
from virtuoso_daemon.core.runtime import Runtime
from virtuoso_daemon.core.supervisor import ActorSpec
from virtuoso_daemon.protocol import (
    DROPPED_TOPIC,
    CommandError,
    ControlClient,
    Event,
    RawConnection,
)


async def _events(client: ControlClient, n: int, topic: str | None = None) -> list[Event]:
    out: list[Event] = []
    while len(out) < n:
        event = await client.next_event(timeout=5)
        if topic is None or event.topic == topic:
            out.append(event)
    return out


async def test_market_topics_arrive_as_typed_messages_in_order() -> None:
    async with running_daemon(test_config(), control_specs()) as d:
        bus = d.runtime.bus
        async with ControlClient.connect(d.runtime.socket_path) as client:
            result = await client.subscribe("tickers", "candles", "beta", "feed_status")
            assert result["subscribed"] == ["tickers", "candles", "beta", "feed_status"]
            for i in range(3):
                bus.publish_nowait(Topics.TICKERS, ticker(last=100.0 + i))
            candle = Candle(
                exchange="binance",
                symbol="BTC/USDT",
                timeframe="1m",
                open_time=0,
                open=1,
                high=2,
                low=0.5,
                close=1.5,
                volume=10,
                closed=True,
                recv_ts=0.0,
            )
            bus.publish_nowait(Topics.CANDLES, candle)
            snap = BetaSnapshot(
                timeframe="1h", window="30d", benchmark="BTC/USDT", computed_at=0.0, rows=[]
            )
            bus.publish_nowait(Topics.BETA, snap)
            status = FeedStatus(exchange="binance", state="connected", ts=0.0)
            bus.publish_nowait(Topics.FEED_STATUS, status)
            ticks = await _events(client, 3, "tickers")
            assert [e.data.last for e in ticks] == [100.0, 101.0, 102.0]
            assert all(isinstance(e.data, Ticker) for e in ticks)
            seen: dict[str, Any] = {}
            while len(seen) < 3:
                event = await client.next_event(timeout=5)
                seen[event.topic] = event.data
            assert seen == {"candles": candle, "beta": snap, "feed_status": status}


async def test_throttled_tickers_are_conflated_to_the_newest_per_symbol() -> None:
    async with running_daemon(test_config(), control_specs()) as d:
        async with ControlClient.connect(d.runtime.socket_path) as client:
            await client.subscribe("tickers", throttle_ms=50)
            for i in range(200):  # one burst: the flush after it has one ticker per symbol
                d.runtime.bus.publish_nowait(Topics.TICKERS, ticker("BTC/USDT", 1000.0 + i))
                d.runtime.bus.publish_nowait(Topics.TICKERS, ticker("ETH/USDT", 10.0 + i))
            first = await _events(client, 2)
            assert sorted((e.data.symbol, e.data.last) for e in first) == [
                ("BTC/USDT", 1199.0),
                ("ETH/USDT", 209.0),
            ]
            d.runtime.bus.publish_nowait(Topics.TICKERS, ticker("BTC/USDT", 5.0))
            (after,) = await _events(client, 1)
            assert after.data.last == 5.0
            sent = control(d).sessions.copy().pop().events_sent
    assert sent == 3


async def test_filters_select_exchange_symbols_and_timeframes() -> None:
    async with running_daemon(test_config(), control_specs()) as d:
        bus = d.runtime.bus
        async with ControlClient.connect(d.runtime.socket_path) as client:
            await client.subscribe("tickers", symbols=["ETH/USDT"], exchange="binance")
            bus.publish_nowait(Topics.TICKERS, ticker("BTC/USDT"))
            bus.publish_nowait(Topics.TICKERS, ticker("ETH/USDT", exchange="kraken"))
            bus.publish_nowait(Topics.TICKERS, ticker("ETH/USDT", 7.0))
            (only,) = await _events(client, 1)
            assert (only.data.exchange, only.data.symbol, only.data.last) == (
                "binance",
                "ETH/USDT",
                7.0,
            )


class Crashy:
    """An actor that crashes when told to, so the supervisor publishes real lifecycle events."""

    name = "crashy"
    crash: ClassVar[anyio.Event]

    def __init__(self, runtime: Runtime) -> None:
        pass

    async def run(self, *, task_status: anyio.abc.TaskStatus[None]) -> None:
        task_status.started()
        await self.crash.wait()
        Crashy.crash = anyio.Event()
        raise RuntimeError("told to crash")


async def test_lifecycle_events_follow_a_real_restart() -> None:
    Crashy.crash = anyio.Event()
    specs = control_specs(ActorSpec("crashy", Crashy))
    async with running_daemon(test_config(), specs) as d:
        async with ControlClient.connect(d.runtime.socket_path) as client:
            await client.subscribe("lifecycle")
            Crashy.crash.set()
            states = []
            while states[-1:] != ["running"]:
                event = await client.next_event(timeout=5)
                assert isinstance(event.data, ActorEvent) and event.data.actor == "crashy"
                states.append(event.data.state)
            assert states == ["restarting", "starting", "running"]
            assert "told to crash" in (await _last_error(client))


async def _last_error(client: ControlClient) -> str:
    actors = {a["name"]: a for a in (await client.call("status"))["actors"]}
    return str(actors["crashy"]["last_error"])


async def test_logs_stream_the_daemons_records_from_any_thread_at_a_level() -> None:
    async with running_daemon(test_config(), control_specs()) as d:
        async with ControlClient.connect(d.runtime.socket_path) as client:
            await client.subscribe("logs", level="warning")
            log = logging.getLogger("virtuoso.test")
            log.info("too quiet to be sent")
            log.warning("disk at %d%%", 91)
            await anyio.to_thread.run_sync(log.error, "from a worker thread")
            first, second = await _events(client, 2, "logs")
    assert isinstance(first.data, LogRecord)
    assert (first.data.level, first.data.logger, first.data.message) == (
        "warning",
        "virtuoso.test",
        "disk at 91%",
    )
    assert (second.data.level, second.data.message) == ("error", "from a worker thread")


async def test_unsubscribe_stops_the_stream_and_frees_the_bus_queue() -> None:
    async with running_daemon(test_config(), control_specs()) as d:
        bus = d.runtime.bus
        async with ControlClient.connect(d.runtime.socket_path) as client:
            await client.subscribe("tickers", "lifecycle")
            assert bus.subscribers(Topics.TICKERS) == 1
            assert (await client.unsubscribe("tickers")) == {
                "unsubscribed": ["tickers"],
                "active": ["lifecycle"],
            }
            assert bus.subscribers(Topics.TICKERS) == 0
            await client.unsubscribe()
            assert bus.subscribers(Topics.LIFECYCLE) == 0
            # subscribing again replaces, never duplicates
            await client.subscribe("tickers")
            await client.subscribe("tickers", throttle_ms=100)
            assert bus.subscribers(Topics.TICKERS) == 1
        await wait_until(lambda: bus.subscribers(Topics.TICKERS) == 0)


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        ({"topics": ["nope"]}, "unknown topic(s) nope"),
        ({"topics": ["_hello"]}, "unknown topic(s) _hello"),
        ({"topics": ["logs"], "throttle_ms": 100}, "throttle_ms needs a topic with a key"),
        ({"topics": ["tickers"], "throttle_ms": 1}, "throttle_ms"),
        ({"topics": "tickers"}, "topics: expected array"),
    ],
)
async def test_bad_subscriptions_are_refused_with_a_reason(
    args: dict[str, Any], needle: str
) -> None:
    async with running_daemon(test_config(), control_specs()) as d:
        async with ControlClient.connect(d.runtime.socket_path) as client:
            with pytest.raises(CommandError) as info:
                await client.call("subscribe", args)
    assert info.value.code == "bad_args" and needle in info.value.message


async def test_a_slow_client_loses_its_own_events_counted_and_told() -> None:
    """A client that does not read drops (counted by the bus, told with ``_dropped``);
    a client that reads gets everything, and the publisher never waits."""
    async with running_daemon(test_config(), control_specs()) as d:
        bus = d.runtime.bus
        path = d.runtime.socket_path
        async with (
            RawConnection.open(path) as slow,
            ControlClient.connect(path, event_buffer=100_000) as fast,
        ):
            await slow.send_frame(
                {"id": 1, "cmd": "subscribe", "args": {"topics": ["tickers"], "queue": 16}}
            )
            assert (await slow.reply(1))["ok"]
            await fast.subscribe("tickers", queue=100_000)
            for i in range(2000):  # one burst: no pump runs in between
                bus.publish_nowait(Topics.TICKERS, ticker(last=float(i)))
            got = [e.data.last for e in await _events(fast, 2000)]
            assert got == [float(i) for i in range(2000)]
            slow_name = next(n for n in bus.drops() if n.startswith("control#"))
            dropped = bus.drops()[slow_name]["tickers"]
            # the queue (16) plus the one its idle pump was already waiting for got through
            assert dropped == 2000 - 17
            frames = [await slow.frame() for _ in range(18)]
            assert frames[0] == {
                "topic": DROPPED_TOPIC,
                "data": {"type": "Dropped", "topic": "tickers", "count": dropped, "total": dropped},
            }
            assert [f["data"]["last"] for f in frames[1:]] == [float(i) for i in range(17)]
            stats = (await fast.call("status"))["stats"]["control"]
            assert stats["events_dropped"] == dropped


def _funding(symbol: str, rate: float) -> Funding:
    return Funding(
        exchange="binance-perp",
        symbol=symbol,
        rate=rate,
        mark_price=100.0,
        index_price=100.0,
        next_funding_ts=None,
        ts=1,
        recv_ts=1.0,
    )


@pytest.mark.parametrize("throttle_ms", [None, 200])
async def test_funding_subscribers_get_the_current_rates_at_once(throttle_ms: int | None) -> None:
    # funding changes about once a minute: a client attaching must not wait for it
    async with running_daemon(test_config(), control_specs()) as d:
        current = [_funding("BTC/USDT:USDT", 0.0001), _funding("ETH/USDT:USDT", -0.0002)]
        d.runtime.views.publish("market.funding", current)
        async with ControlClient.connect(d.runtime.socket_path) as client:
            await client.subscribe("funding", symbols=["ETH/USDT:USDT"], throttle_ms=throttle_ms)
            first = await client.next_event(timeout=5)
            assert first.topic == "funding" and first.data == current[1]  # filters apply
            # then the live stream, as before
            d.runtime.bus.publish_nowait(Topics.FUNDING, _funding("ETH/USDT:USDT", 0.0003))
            live = await client.next_event(timeout=5)
            assert live.data.rate == 0.0003
