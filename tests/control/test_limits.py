"""Clients that would hold the daemon's slots or memory hostage (issue 16): idle ones
are closed, the longest idle makes room when the socket is full, a client that stops
reading is closed after ``control.write_timeout``, what is queued for a client is
capped in bytes (events beyond are dropped, counted and told), and a frame nested too
deeply is a ``bad_frame`` reply, not a dropped session."""

from __future__ import annotations

import logging
import socket
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from tests.control.helpers import control, control_specs, ticker, wait_until
from tests.harness import running_daemon, test_config
from virtuoso_daemon.control import session as session_module
from virtuoso_daemon.core.bus import Topics
from virtuoso_daemon.protocol import RawConnection


def _config(**control_cfg: Any) -> Any:
    return test_config(control=control_cfg)


@pytest.mark.parametrize(
    ("line", "says"),
    [
        (b"[" * 5000, "not a JSON object"),
        (
            b'{"id": 1, "cmd": "status", "args": {"a": ' + b"[" * 5000 + b"]" * 5000 + b"}}",
            "nested too deeply",
        ),
        (
            b'{"id": 2, "cmd": "subscribe", "args": {"topics": ' + b"[" * 100_000 + b"}}",
            "nested too deeply",
        ),
    ],
    ids=["array", "args", "unterminated"],
)
async def test_deeply_nested_json_gets_bad_frame_and_the_connection_goes_on(
    line: bytes, says: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with running_daemon(test_config(), control_specs()) as d:
        async with RawConnection.open(d.runtime.socket_path) as conn:
            assert (await conn.frame())["topic"] == "_hello"
            await conn.send(line + b"\n")
            reply = await conn.frame()
            assert reply["ok"] is False and reply["error"]["code"] == "bad_frame"
            assert says in reply["error"]["message"]
            await conn.send_frame({"id": "after", "cmd": "hello"})
            assert (await conn.reply("after"))["ok"] is True
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_a_client_that_sends_nothing_is_closed_after_the_idle_timeout() -> None:
    async with running_daemon(_config(idle_timeout=0.3), control_specs()) as d:
        async with RawConnection.open(d.runtime.socket_path) as conn:
            assert (await conn.frame())["topic"] == "_hello"
            frames = await conn.drain_to_eof(timeout=5)
        assert frames[-1]["topic"] == "_bye" and "idle" in frames[-1]["data"]["reason"]
        await wait_until(lambda: not control(d).sessions)
        assert control(d).counters["idle_closed"] == 1


async def test_a_subscriber_that_sends_nothing_is_not_idle() -> None:
    async with running_daemon(_config(idle_timeout=0.3), control_specs()) as d:
        path = d.runtime.socket_path
        async with RawConnection.open(path) as subscriber, RawConnection.open(path) as idle:
            await subscriber.send_frame({"id": 1, "cmd": "subscribe", "args": {"topics": ["logs"]}})
            assert (await subscriber.reply(1))["ok"]
            await idle.drain_to_eof(timeout=5)  # the idle one went: the timeout has passed
            await subscriber.send_frame({"id": 2, "cmd": "hello"})
            assert (await subscriber.reply(2))["ok"]


async def test_when_the_socket_is_full_the_longest_idle_client_makes_room(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(session_module, "EVICT_AFTER", 0.0)
    async with running_daemon(_config(max_clients=2), control_specs()) as d:
        path = d.runtime.socket_path
        async with RawConnection.open(path) as oldest, RawConnection.open(path) as newer:
            for conn in (oldest, newer):
                assert (await conn.frame())["topic"] == "_hello"
            await newer.send_frame({"id": 1, "cmd": "hello"})
            assert (await newer.reply(1))["ok"]  # newer has been active since oldest
            async with RawConnection.open(path) as operator:
                assert (await operator.frame())["topic"] == "_hello"  # not "busy"
                await operator.send_frame({"id": 1, "cmd": "status"})
                assert (await operator.reply(1))["ok"]
                frames = await oldest.drain_to_eof()
                assert "room" in frames[-1]["data"]["reason"]
                await newer.send_frame({"id": 2, "cmd": "hello"})
                assert (await newer.reply(2))["ok"]
        assert control(d).counters["evicted"] == 1


async def test_subscribers_are_never_evicted_and_then_a_new_client_is_told_busy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(session_module, "EVICT_AFTER", 0.0)
    async with running_daemon(_config(max_clients=1), control_specs()) as d:
        path = d.runtime.socket_path
        async with RawConnection.open(path) as subscriber:
            await subscriber.send_frame({"id": 1, "cmd": "subscribe", "args": {"topics": ["logs"]}})
            assert (await subscriber.reply(1))["ok"]
            async with RawConnection.open(path) as late:
                frame = await late.frame()
                assert frame["ok"] is False and frame["error"]["code"] == "busy"


def _small_buffers(conn: RawConnection) -> None:
    conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)


async def test_a_client_that_never_reads_its_replies_is_closed_after_the_write_timeout() -> None:
    async with running_daemon(_config(write_timeout=0.5), control_specs()) as d:
        async with RawConnection.open(d.runtime.socket_path) as conn:
            _small_buffers(conn)
            assert (await conn.frame())["topic"] == "_hello"
            # many large replies, never read, then half-close: the replies cannot be sent
            await conn.send(b'{"cmd": "help"}\n' * 200)
            conn.sock.shutdown(socket.SHUT_WR)
            await wait_until(lambda: not control(d).sessions, timeout=10)
        assert control(d).counters["stalled"] == 1
        assert control(d).stats()["queued_bytes"] == 0


async def test_what_is_queued_for_a_subscriber_that_never_reads_is_capped_in_bytes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(session_module, "EVENT_GRACE", 0.05)
    cap = 64 * 1024
    async with running_daemon(_config(session_bytes=cap, write_timeout=60), control_specs()) as d:
        bus = d.runtime.bus
        async with RawConnection.open(d.runtime.socket_path) as conn:
            _small_buffers(conn)
            await conn.send_frame(
                {"id": 1, "cmd": "subscribe", "args": {"topics": ["tickers"], "queue": 100_000}}
            )
            assert (await conn.reply(1))["ok"]
            server = control(d)
            (session,) = server.sessions
            for i in range(20_000):
                bus.publish_nowait(Topics.TICKERS, ticker(last=float(i)))
                if i % 100 == 0:
                    await anyio.lowlevel.checkpoint()  # let the pump run, as a live feed would
            await wait_until(lambda: session.subs.dropped() > 0)
            assert session.queued_bytes <= cap
            assert server.stats()["queued_bytes"] <= cap
            # the bus queue is drained, not holding the backlog in its place
            sub = next(iter(session.subs.active.values())).sub
            await wait_until(lambda: sub.pending() == 0)


async def test_the_total_queued_for_all_clients_is_capped_too(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(session_module, "EVENT_GRACE", 0.05)
    cfg = _config(session_bytes=1 << 20, total_bytes=96 * 1024, write_timeout=60)
    async with running_daemon(cfg, control_specs()) as d:
        bus = d.runtime.bus
        path = d.runtime.socket_path
        async with RawConnection.open(path) as a, RawConnection.open(path) as b:
            for conn in (a, b):
                _small_buffers(conn)
                await conn.send_frame(
                    {"id": 1, "cmd": "subscribe", "args": {"topics": ["tickers"]}}
                )
                assert (await conn.reply(1))["ok"]
            for i in range(20_000):
                bus.publish_nowait(Topics.TICKERS, ticker(last=float(i)))
                if i % 100 == 0:
                    await anyio.lowlevel.checkpoint()
            server = control(d)
            await wait_until(lambda: all(s.subs.dropped() > 0 for s in server.sessions))
            assert server.stats()["queued_bytes"] <= 96 * 1024


async def test_what_one_client_may_hold_queued_is_capped_in_events_too() -> None:
    """Queued events are messages kept in memory before any byte is encoded (a client
    reading slowly fills its queues to the brim), so the sum of one client's
    subscription queues is capped: a subscription gets what is left, none when nothing
    is."""
    async with running_daemon(_config(session_queue=1000), control_specs()) as d:
        async with RawConnection.open(d.runtime.socket_path) as conn:

            async def subscribe(rid: int, topics: list[str], queue: int) -> dict[str, Any]:
                args = {"topics": topics, "queue": queue}
                await conn.send_frame({"id": rid, "cmd": "subscribe", "args": args})
                return await conn.reply(rid)

            assert (await subscribe(1, ["tickers"], 600))["result"]["queue"] == 600
            assert (await subscribe(2, ["trades", "orderbook"], 600))["result"]["queue"] == 200
            refused = await subscribe(3, ["candles"], 10)
            assert refused["ok"] is False and refused["error"]["code"] == "bad_args"
            assert "control.session_queue" in refused["error"]["message"]
            # a topic subscribed again gives its old queue back first
            again = (await subscribe(4, ["tickers"], 100))["result"]
            assert again["queue"] == 100
            assert again["active"] == ["orderbook", "tickers", "trades"]

            # and the bus holds no more than that for a client that reads nothing
            (session,) = control(d).sessions
            sub = session.subs.active["tickers"].sub
            for i in range(500):  # no checkpoint: the pump cannot take any
                d.runtime.bus.publish_nowait(Topics.TICKERS, ticker(last=float(i)))
            # (one went straight to its idle pump, which was already waiting for it)
            assert sub.pending() == 100 and sub.dropped == 399
