"""The client in ``protocol.py`` (what the TUI uses) against a real daemon."""

from __future__ import annotations

import anyio
import anyio.abc
import pytest

from tests.control.helpers import FakeFeeds, control_specs, ticker, wait_until
from tests.harness import running_daemon, short_tmpdir, test_config
from virtuoso_daemon.core.bus import Topics
from virtuoso_daemon.protocol import (
    BYE_TOPIC,
    CommandTimeout,
    ConnectionClosed,
    ControlClient,
    DaemonUnreachable,
    request,
)


async def test_open_run_and_aclose_may_live_in_different_tasks() -> None:
    async with running_daemon(test_config(), control_specs()) as d:
        client = await ControlClient.open(d.runtime.socket_path)
        async with anyio.create_task_group() as tg:
            tg.start_soon(client.run)  # e.g. a TUI worker
            assert (await client.call("hello"))["protocol"] == 1

            async def close_elsewhere() -> None:
                await client.aclose()

            tg.start_soon(close_elsewhere)  # run() returns once the socket is closed
        assert client.closed
        with pytest.raises(ConnectionClosed):
            await client.call("status")


async def test_event_batches_hand_over_everything_that_has_arrived() -> None:
    async with running_daemon(test_config(), control_specs()) as d:
        async with ControlClient.connect(d.runtime.socket_path) as client:
            await client.subscribe("tickers")
            for i in range(300):
                d.runtime.bus.publish_nowait(Topics.TICKERS, ticker(last=float(i)))
            got: list[float] = []
            sizes: list[int] = []
            with anyio.fail_after(5):
                async for batch in client.event_batches():
                    sizes.append(len(batch))
                    got += [e.data.last for e in batch]
                    if len(got) == 300:
                        break
    assert got == [float(i) for i in range(300)]
    assert len(sizes) < 300  # batched, not one per event


async def test_a_pending_call_fails_when_the_daemon_goes_away() -> None:
    async with running_daemon(test_config(), control_specs()) as d:
        async with anyio.create_task_group() as tg:
            feeds = FakeFeeds(d.runtime.bus)
            await tg.start(feeds.run)
            async with ControlClient.connect(d.runtime.socket_path) as client:
                outcome: list[BaseException] = []

                async def stuck() -> None:
                    try:
                        await client.call("feeds.pause", exchange="hang", timeout=10)
                    except (ConnectionClosed, CommandTimeout) as exc:
                        outcome.append(exc)

                async with anyio.create_task_group() as calls:
                    calls.start_soon(stuck)
                    await wait_until(lambda: bool(feeds.seen))  # the request is in flight
                    assert d.supervisor is not None
                    d.supervisor.request_shutdown()
                assert isinstance(outcome[0], ConnectionClosed)
                event = await client.next_event(timeout=5)
                assert event.topic == BYE_TOPIC
            feeds.hang.set()
            tg.cancel_scope.cancel()


async def test_unreachable_daemons_and_timeouts_are_distinct_errors() -> None:
    with pytest.raises(DaemonUnreachable, match="is the daemon running"):
        await request("status", path=short_tmpdir() / "none.sock", timeout=2)
    async with running_daemon(test_config(), control_specs()) as d:
        async with anyio.create_task_group() as tg:
            feeds = FakeFeeds(d.runtime.bus)
            await tg.start(feeds.run)
            with pytest.raises(CommandTimeout):
                await request(
                    "feeds.pause", {"exchange": "hang"}, path=d.runtime.socket_path, timeout=0.3
                )
            assert (await request("hello", path=d.runtime.socket_path))["protocol"] == 1
            feeds.hang.set()
            tg.cancel_scope.cancel()


async def test_something_else_on_the_socket_path_is_unreachable_not_a_crash() -> None:
    path = short_tmpdir() / "other.sock"
    listener = await anyio.create_unix_listener(path)

    async def babble(stream: anyio.abc.SocketStream) -> None:
        async with stream:
            await stream.send(b"220 smtp.example.com ESMTP ready\r\n")

    async with anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, babble)
        with pytest.raises(DaemonUnreachable, match="not a virtuoso control socket"):
            await request("status", path=path, timeout=5)
        tg.cancel_scope.cancel()
    await listener.aclose()


async def test_aclose_from_another_task_ends_the_event_iterator() -> None:
    async with running_daemon(test_config(), control_specs()) as d:
        client = await ControlClient.open(d.runtime.socket_path)
        seen: list[str] = []
        async with anyio.create_task_group() as tg:
            tg.start_soon(client.run)
            await client.subscribe("lifecycle")

            async def consume() -> None:
                async for event in client.events():
                    seen.append(event.topic)

            tg.start_soon(consume)
            await client.aclose()
    assert seen == []
