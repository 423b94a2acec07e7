"""Hostile and broken clients: each gets an error reply or is closed, and the daemon and
its other clients carry on. A seeded fuzz loop (random bytes, random JSON, mangled
requests) runs over one real connection; the property tests of the decoder itself are
in ``test_protocol.py``. File descriptors and tasks are counted before and after.
"""

from __future__ import annotations

import logging
import random
import socket
from typing import Any

import anyio
import anyio.lowlevel
import msgspec
import pytest

from tests.control.helpers import control, control_specs, open_fds, task_count, ticker, wait_until
from tests.harness import running_daemon, test_config
from virtuoso_daemon.core.bus import Topics
from virtuoso_daemon.protocol import MAX_LINE, ControlClient, RawConnection

BAD_FRAMES = [
    (b"{", None, "bad_frame"),
    (b"\xff\xfe\x00garbage", None, "bad_frame"),
    (b"[1, 2, 3]", None, "bad_frame"),
    (b'"status"', None, "bad_frame"),
    (b"null", None, "bad_frame"),
    (b'{"id": 1}', 1, "bad_frame"),
    (b'{"id": 2, "cmd": 5}', 2, "bad_frame"),
    (b'{"id": {"a": 1}, "cmd": "status"}', None, "bad_frame"),
    (b'{"id": true, "cmd": "status"}', None, "bad_frame"),
    (b'{"id": 3, "cmd": "rm -rf /"}', 3, "unknown_command"),
    (b'{"id": "s", "cmd": "status", "args": [1]}', "s", "bad_args"),
    (b'{"id": 4, "cmd": "status", "args": {"verbose": true}}', 4, "bad_args"),
    # a query's arguments are answered with the code HTTP answers for the same ones
    (b'{"id": 5, "cmd": "tickers", "args": {"limit": "ten"}}', 5, "invalid_parameter"),
    (b'{"id": 6, "cmd": "tickers", "args": {"limit": 0}}', 6, "invalid_parameter"),
    (b'{"id": 7, "cmd": "feeds.pause", "args": {"exchange": 42}}', 7, "bad_args"),
    (b'{"id": 8, "cmd": "feeds.pause"}', 8, "bad_args"),
    (b'{"id": 9, "cmd": "subscribe", "args": {"topics": "tickers"}}', 9, "bad_args"),
    (b'{"id": 10, "cmd": "ohlcv", "args": {"symbol": ["BTC"]}}', 10, "invalid_parameter"),
    (
        b'{"id": 11, "cmd": "beta", "args": {"window": null, "timeframe": 1}}',
        11,
        "invalid_parameter",
    ),
    (b'{"id": 14, "cmd": "ohlcv", "args": [1]}', 14, "bad_args"),  # not even an object
    # invalid UTF-8 inside a string: msgspec raises UnicodeDecodeError (found by the fuzz loop)
    (b'{"id": 12, "cmd": "st\x80atus"}', None, "bad_frame"),
    (b'{"id": 13, "cmd": "ticker", "args": {"symbol": "\xc3("}}', None, "bad_frame"),
]


@pytest.mark.parametrize(("line", "rid", "code"), BAD_FRAMES)
async def test_a_bad_frame_gets_an_error_reply_and_the_connection_goes_on(
    line: bytes, rid: Any, code: str
) -> None:
    async with running_daemon(test_config(), control_specs()) as d:
        async with RawConnection.open(d.runtime.socket_path) as conn:
            assert (await conn.frame())["topic"] == "_hello"
            await conn.send(line + b"\n")
            reply = await conn.frame()
            assert reply["ok"] is False and reply["id"] == rid
            assert reply["error"]["code"] == code and reply["error"]["message"]
            await conn.send_frame({"id": "after", "cmd": "hello"})
            assert (await conn.reply("after"))["ok"] is True


def _fuzz_lines(rng: random.Random, names: list[str], n: int) -> list[bytes]:
    """Random bytes, random JSON values, and requests with mangled ids, names and args."""
    values: list[Any] = [None, True, -1, 2**70, 1.5, "", "x" * 300, [], {}, [1, "a"], {"k": None}]
    keys = ["exchange", "symbol", "symbols", "limit", "topics", "timeframe", "since", "zzz"]
    lines: list[bytes] = []
    for _ in range(n):
        kind = rng.randrange(4)
        if kind == 0:
            raw = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200)))
            lines.append(raw.replace(b"\n", b""))
        elif kind == 1:
            lines.append(msgspec.json.encode(rng.choice(values)))
        else:
            args = {rng.choice(keys): rng.choice(values) for _ in range(rng.randrange(4))}
            frame: dict[str, Any] = {"cmd": rng.choice([*names, "nope", 7, None])}
            if rng.random() < 0.8:
                frame["id"] = rng.choice([len(lines), str(len(lines)), None, 1.5, [1]])
            if rng.random() < 0.9:
                frame["args"] = args if rng.random() < 0.8 else rng.choice(values)
            line = msgspec.json.encode(frame)
            if kind == 3 and len(line) > 2:  # mangle a byte
                pos = rng.randrange(len(line))
                line = line[:pos] + bytes([rng.randrange(256)]) + line[pos + 1 :]
            lines.append(line.replace(b"\n", b""))
    return lines


async def test_fuzz_loop_every_line_gets_one_reply_and_the_daemon_carries_on() -> None:
    rng = random.Random(20240607)
    # commands that would stop the daemon or stream at it are not fuzzed
    names = [
        n
        for n in control_specs_commands()
        if n not in {"shutdown", "config.reload", "subscribe", "symbols.add"}
    ]
    lines = _fuzz_lines(rng, names, 600)
    expected = sum(1 for line in lines if line.strip())
    async with running_daemon(test_config(), control_specs()) as d:
        path = d.runtime.socket_path
        async with RawConnection.open(path) as conn, ControlClient.connect(path) as bystander:
            await conn.frame()
            await conn.send(b"\n".join(lines) + b"\n")
            replies = []
            with anyio.fail_after(20):
                while len(replies) < expected:
                    frame = await conn.frame(timeout=10)
                    if "ok" in frame:
                        replies.append(frame)
            assert all(set(r) in ({"id", "ok", "result"}, {"id", "ok", "error"}) for r in replies)
            assert any(not r["ok"] for r in replies) and any(r["ok"] for r in replies)
            assert all(r["error"]["code"] != "internal" for r in replies if not r["ok"])
            await conn.send_frame({"id": "still", "cmd": "hello"})
            assert (await conn.reply("still"))["ok"]
            assert (await bystander.call("status"))["actors"][1]["state"] == "running"


def control_specs_commands() -> list[str]:
    from virtuoso_daemon.control import commands
    from virtuoso_daemon.control.registry import commands as registered

    commands.load_all()
    return sorted(registered())


async def _send_ignoring_close(conn: RawConnection, data: bytes) -> None:
    try:
        await conn.send(data)
    except OSError:  # the daemon closed the connection part-way: expected
        pass


async def test_a_10_mb_line_is_refused_then_that_connection_closed() -> None:
    async with running_daemon(test_config(), control_specs()) as d:
        path = d.runtime.socket_path
        async with RawConnection.open(path) as conn, ControlClient.connect(path) as other:
            assert (await conn.frame())["topic"] == "_hello"
            async with anyio.create_task_group() as tg:
                tg.start_soon(
                    _send_ignoring_close, conn, b'{"cmd": "' + b"x" * (10 << 20) + b'"}\n'
                )
                frames = await conn.drain_to_eof(timeout=20)
            assert frames == [
                {
                    "id": None,
                    "ok": False,
                    "error": {
                        "code": "frame_too_large",
                        "message": f"a frame is limited to {MAX_LINE} bytes; "
                        "closing the connection",
                    },
                }
            ]
            assert (await other.call("hello"))["protocol"] == 1
            assert (await other.call("status"))["stats"]["control"]["oversized"] == 1


async def test_a_subscribed_client_that_never_reads_does_not_stall_the_daemon_or_others() -> None:
    async with running_daemon(test_config(), control_specs()) as d:
        bus = d.runtime.bus
        path = d.runtime.socket_path
        async with (
            RawConnection.open(path) as stuck,
            ControlClient.connect(path, event_buffer=100_000) as reader,
        ):
            await stuck.send_frame({"id": 1, "cmd": "subscribe", "args": {"topics": ["tickers"]}})
            assert (await stuck.reply(1))["ok"]
            await reader.subscribe("tickers", queue=100_000)
            total = 30_000
            for start in range(0, total, 500):
                for i in range(start, start + 500):
                    bus.publish_nowait(Topics.TICKERS, ticker(last=float(i)))
                await anyio.lowlevel.checkpoint()
            received = 0
            with anyio.fail_after(30):
                while received < total:
                    event = await reader.next_event()
                    assert event.topic == "tickers"
                    received += 1
                status = await reader.call("status")  # the daemon answers at once
            drops = status["bus"]["drops"]
            (stuck_name,) = [n for n in drops if n.startswith("control#")]
            assert drops[stuck_name]["tickers"] > 0  # the stuck client lost, counted
            assert len(drops) == 1  # nobody else lost anything
            (stuck_session,) = [s for s in control(d).sessions if s.subs.dropped()]
            assert stuck_session.subs.dropped() == drops[stuck_name]["tickers"]


async def test_clients_that_vanish_mid_response_leave_no_session_behind(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with running_daemon(test_config(), control_specs()) as d:
        path = d.runtime.socket_path
        server = control(d)
        # 1: pipelined requests with large replies, gone before reading any of them
        for _ in range(5):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.connect(str(path))
            sock.sendall(b'{"cmd": "config.get"}\n{"cmd": "help"}\n' * 100)
            sock.close()
        # 2: a subscriber streaming events, reset while the daemon is writing to it
        async with RawConnection.open(path) as conn:
            await conn.send_frame({"id": 1, "cmd": "subscribe", "args": {"topics": ["tickers"]}})
            await conn.reply(1)
            for i in range(3000):
                d.runtime.bus.publish_nowait(Topics.TICKERS, ticker(last=float(i)))
            await anyio.lowlevel.checkpoint()
        await wait_until(lambda: not server.sessions)
        assert d.runtime.bus.subscribers(Topics.TICKERS) == 0
        async with ControlClient.connect(path) as client:
            assert (await client.call("status"))["stats"]["control"]["connections"] == 7
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == []


async def test_no_file_descriptor_or_task_leaks() -> None:
    fds_before_daemon = open_fds()
    async with running_daemon(test_config(), control_specs()) as d:
        path = d.runtime.socket_path
        async with ControlClient.connect(path) as warmup:  # lazily created things exist now
            await warmup.call("status")
        await wait_until(lambda: not control(d).sessions)
        fds, tasks = open_fds(), task_count()

        for _ in range(3):
            async with ControlClient.connect(path) as client:
                await client.subscribe("tickers", "logs")
                await client.subscribe("tickers", throttle_ms=20)
                d.runtime.bus.publish_nowait(Topics.TICKERS, ticker())
                await client.next_event(timeout=5)
            async with RawConnection.open(path) as conn:
                await conn.send(b"nonsense\n" + b"y" * (MAX_LINE + 10))
                await conn.drain_to_eof()
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.connect(str(path))
            sock.sendall(b'{"cmd": "status"}\n')
            sock.close()
        await wait_until(lambda: not control(d).sessions)
        await wait_until(lambda: task_count() == tasks)
        assert open_fds() == fds
    assert open_fds() == fds_before_daemon
