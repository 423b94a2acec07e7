"""Bus: lossy topics drop and count for slow subscribers; lossless topics push back."""

from __future__ import annotations

import time

import anyio
import msgspec
import pytest

from virtuoso_daemon.core.bus import (
    LOSSY_TOPICS,
    Bus,
    Request,
    RequestError,
    Subscription,
    Topics,
)
from virtuoso_daemon.core.messages import Ticker
from virtuoso_daemon.feeds.requests import PauseFeed


async def test_slow_lossy_subscriber_drops_without_delaying_the_publisher() -> None:
    bus = Bus(lossy_queue=10)
    with (
        bus.subscribe(Topics.TICKERS, name="slow-tui") as slow,
        bus.subscribe(Topics.TICKERS, name="fast", maxsize=20_000) as fast,
    ):
        await _flood(bus, slow, fast)


async def _flood(bus: Bus, slow: Subscription[int], fast: Subscription[int]) -> None:
    started = time.perf_counter()
    with anyio.fail_after(2):
        for i in range(10_000):
            await bus.publish(Topics.TICKERS, i)
    elapsed = time.perf_counter() - started
    assert slow.dropped == 10_000 - 10
    assert bus.drops() == {"slow-tui": {Topics.TICKERS: 9_990}}
    assert fast.dropped == 0 and fast.pending() == 10_000
    # the publisher never waited on the slow reader: 10k publishes are pure CPU work
    assert elapsed < 1.0
    assert [slow.receive_nowait() for _ in range(10)] == list(range(10))


async def test_lossless_topic_applies_backpressure_instead_of_dropping() -> None:
    bus = Bus(lossless_queue=2)
    with bus.subscribe(Topics.ALERTS, name="store") as sub:
        await _backpressure(bus, sub)


async def _backpressure(bus: Bus, sub: Subscription[int]) -> None:
    published: list[int] = []

    async def publisher() -> None:
        for i in range(5):
            await bus.publish(Topics.ALERTS, i)
            published.append(i)

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(publisher)
            await anyio.wait_all_tasks_blocked()
            assert published == [0, 1]  # queue of 2 full: the publisher waits
            received = [await sub.receive() for _ in range(5)]
    assert received == [0, 1, 2, 3, 4]
    assert sub.dropped == 0 and bus.total_drops() == 0


async def test_unsubscribing_during_fanout_is_safe() -> None:
    bus = Bus()
    a = bus.subscribe(Topics.TICKERS, name="a")
    with bus.subscribe(Topics.TICKERS, name="b") as b:
        await bus.publish(Topics.TICKERS, 1)
        a.close()
        assert await bus.publish(Topics.TICKERS, 2) == 1
        assert b.receive_nowait() == 1 and b.receive_nowait() == 2
        assert bus.subscribers(Topics.TICKERS) == 1


async def test_request_gets_the_owning_actors_reply() -> None:
    bus = Bus()
    with bus.subscribe(Topics.FEED_COMMANDS, name="feeds") as inbox:
        await _serve_requests(bus, inbox)


async def _serve_requests(bus: Bus, inbox: Subscription[Request]) -> None:
    async def actor() -> None:
        req = await inbox.receive()
        match req.body:
            case PauseFeed(exchange=exchange):
                req.reply({"paused": exchange})
        req2 = await inbox.receive()
        req2.fail("unknown_exchange", "no exchange named 'nope'")

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(actor)
            assert await bus.request(Topics.FEED_COMMANDS, PauseFeed(exchange="x")) == {
                "paused": "x"
            }
            with pytest.raises(RequestError) as err:
                await bus.request(Topics.FEED_COMMANDS, PauseFeed(exchange="nope"))
    assert err.value.code == "unknown_exchange"


async def test_request_without_an_owner_fails_fast() -> None:
    with pytest.raises(RequestError) as err:
        await Bus().request(Topics.FEED_COMMANDS, PauseFeed(exchange="x"))
    assert err.value.code == "unavailable"


def test_a_tap_sees_each_message_inside_the_publish_call() -> None:
    bus = Bus()
    seen: list[int] = []
    with bus.tap(Topics.TICKERS, seen.append, name="cache"), bus.subscribe(Topics.TICKERS) as q:
        bus.publish_nowait(Topics.TICKERS, 1)
        assert seen == [1]  # before anything could have awaited
        bus.publish_nowait(Topics.TICKERS, 2)
        assert seen == [1, 2] and q.pending() == 2


async def test_a_failing_tap_is_counted_and_never_reaches_the_publisher() -> None:
    bus = Bus()
    calls: list[int] = []

    def broken(msg: int) -> None:
        calls.append(msg)
        raise RuntimeError("bug in the tap")

    with bus.tap(Topics.TICKERS, broken, name="broken"), bus.subscribe(Topics.TICKERS) as q:
        assert bus.publish_nowait(Topics.TICKERS, 1) == 1
        await bus.publish(Topics.TICKERS, 2)
        assert calls == [1, 2] and q.pending() == 2
    assert bus.tap_errors == {("broken", Topics.TICKERS): 2}


def test_a_closed_tap_gets_nothing_more() -> None:
    bus = Bus()
    seen: list[int] = []
    tap = bus.tap(Topics.TICKERS, seen.append)
    bus.publish_nowait(Topics.TICKERS, 1)
    tap.close()
    bus.publish_nowait(Topics.TICKERS, 2)
    assert seen == [1]


def test_topics_carry_their_message_type_and_kind() -> None:
    assert Topics.TICKERS.message_type is Ticker and Topics.TICKERS.lossy
    assert not Topics.CANDLE_HISTORY.lossy and not Topics.CONDITIONS.lossy
    # the control socket names topics by string: the name finds the same kind
    assert Bus.is_lossy("tickers") and not Bus.is_lossy("alerts")
    assert not Bus.is_lossy("feed_commands:sim-spot")  # ad-hoc request topics: lossless
    assert "tickers" in LOSSY_TOPICS and "conditions" not in LOSSY_TOPICS


def test_a_topic_object_never_leaves_the_bus_as_a_str_subclass() -> None:
    # msgspec encodes only exact str: subscriptions and counters hold the plain name
    bus = Bus()
    with bus.subscribe(Topics.TICKERS, name="t") as sub:
        bus.publish_nowait(Topics.TICKERS, "x")
        assert type(sub.topic) is str and sub.receive_nowait() == "x"
    assert all(type(k) is str for k in bus.published)
    assert msgspec.json.encode(dict(bus.published)) == b'{"tickers":1}'
