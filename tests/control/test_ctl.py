"""``virtuoso-ctl`` as a separate process against a real daemon: output and exit codes.

Feed commands are answered by :class:`tests.control.helpers.FakeFeeds` (the real
feeds actor is tested in ``tests/feeds``).
"""

from __future__ import annotations

import json
import logging
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import anyio.abc
import pytest

from tests.control.helpers import FakeFeeds, control, control_specs, run_ctl, ticker, wait_until
from tests.harness import DaemonHandle, running_daemon, short_tmpdir, test_config
from virtuoso_daemon.core.bus import Topics


@asynccontextmanager
async def daemon_with_feeds() -> AsyncIterator[tuple[DaemonHandle, FakeFeeds, str]]:
    async with running_daemon(test_config(), control_specs()) as d:
        async with anyio.create_task_group() as tg:
            feeds = FakeFeeds(d.runtime.bus)
            await tg.start(feeds.run)
            yield d, feeds, str(d.runtime.socket_path)
            tg.cancel_scope.cancel()


async def test_status_prints_a_table_and_json_on_request() -> None:
    async with daemon_with_feeds() as (_, _, sock):
        code, out, err = await run_ctl("--socket", sock, "status")
        assert (code, err) == (0, "")
        assert "ACTOR" in out and "RESTARTS" in out
        assert any(line.split()[:3] == ["control", "running", "0"] for line in out.splitlines())
        code, out, _ = await run_ctl("status", "--json", "--socket", sock)  # options after, too
        assert code == 0
        doc = json.loads(out)
        assert [a["name"] for a in doc["actors"]] == ["http_api", "control"]


async def test_feed_commands_and_their_failures() -> None:
    async with daemon_with_feeds() as (_, feeds, sock):
        code, out, _ = await run_ctl("--socket", sock, "feeds", "pause", "binance", "BTC/USDT")
        assert code == 0 and out.startswith("binance: ")  # one line, not the whole status
        assert feeds.seen[-1] == ("feeds.pause", {"exchange": "binance", "symbol": "BTC/USDT"})
        code, out, _ = await run_ctl(
            "--socket", sock, "symbols", "add", "binance", "SOL/USDT", "XRP/USDT"
        )
        assert code == 0
        assert feeds.seen[-1] == (
            "symbols.add",
            {"exchange": "binance", "symbols": ["SOL/USDT", "XRP/USDT"]},
        )
        code, out, _ = await run_ctl("--socket", sock, "feeds", "list")
        assert code == 0 and "EXCHANGE" in out and "binance" in out
        code, out, err = await run_ctl("--socket", sock, "feeds", "resume", "kraken")
        assert code == 1 and out == ""
        assert "unknown_exchange" in err
        code, out, err = await run_ctl("--socket", sock, "--json", "feeds", "resume", "kraken")
        assert code == 1 and json.loads(out)["error"]["code"] == "unknown_exchange"


async def test_exit_code_1_when_the_daemon_says_no() -> None:
    async with daemon_with_feeds() as (_, _, sock):
        code, _, err = await run_ctl("--socket", sock, "beta")
        assert code == 1 and "not_ready" in err  # the code /api/market/beta answers
        code, _, err = await run_ctl("--socket", sock, "call", "no.such.command")
        assert code == 1 and "unknown_command" in err


async def test_exit_code_2_for_usage_errors() -> None:
    for argv in (
        [],
        ["frobnicate"],
        ["tickers", "--limit", "ten"],
        ["feeds"],
        ["feeds", "pause"],
        ["call", "status", "[not json"],
        ["--timeout", "0", "status"],
        ["status", "--timeout", "-1"],
        ["--timeout", "soon", "status"],
        ["correlation", "--symbols", ","],
    ):
        code, _, err = await run_ctl("--socket", "/nonexistent.sock", *argv)
        assert code == 2, argv
        assert "usage" in err or "virtuoso-ctl" in err


async def test_exit_code_3_when_the_daemon_is_unreachable() -> None:
    missing = short_tmpdir() / "nobody.sock"
    code, out, err = await run_ctl("--socket", str(missing), "status")
    assert (code, out) == (3, "")
    assert "daemon unreachable" in err and str(missing) in err
    code, _, _ = await run_ctl("--socket", str(missing), "watch", "tickers")
    assert code == 3


async def test_help_explains_commands_and_exit_codes() -> None:
    code, out, _ = await run_ctl("--help")
    assert code == 0
    assert "exit codes: 0 ok, 1 command failed, 2 usage, 3 daemon unreachable" in out
    for name in ("status", "feeds", "symbols", "tickers", "ohlcv", "beta", "watch", "tail"):
        assert name in out
    code, out, _ = await run_ctl("watch", "--help")
    assert code == 0 and "--throttle-ms" in out


async def _publish_until(d: DaemonHandle, done: anyio.Event) -> None:
    i = 0
    while not done.is_set():
        d.runtime.bus.publish_nowait(Topics.TICKERS, ticker(last=float(i)))
        i += 1
        await anyio.sleep(0.005)


async def test_watch_prints_events_as_lines_or_json() -> None:
    async with daemon_with_feeds() as (d, _, sock), anyio.create_task_group() as tg:
        done = anyio.Event()
        tg.start_soon(_publish_until, d, done)
        code, out, _ = await run_ctl("--socket", sock, "--json", "watch", "tickers", "-n", "3")
        assert code == 0
        events = [json.loads(line) for line in out.splitlines()]
        assert [e["topic"] for e in events] == ["tickers"] * 3
        assert events[0]["data"]["type"] == "Ticker"
        code, out, _ = await run_ctl(
            "--socket", sock, "watch", "tickers", "-n", "2", "--throttle-ms", "50"
        )
        assert code == 0 and len(out.splitlines()) == 2 and "binance BTC/USDT" in out
        done.set()


async def test_tail_follows_the_log() -> None:
    async with daemon_with_feeds() as (_, _, sock), anyio.create_task_group() as tg:
        done = anyio.Event()

        async def chatter() -> None:
            while not done.is_set():
                logging.getLogger("virtuoso.test").warning("hello from the daemon")
                await anyio.sleep(0.01)

        tg.start_soon(chatter)
        code, out, _ = await run_ctl("--socket", sock, "tail", "--level", "warning", "-n", "1")
        done.set()
    assert code == 0
    assert "WARNING" in out and "virtuoso.test: hello from the daemon" in out


async def _exit_code(proc: anyio.abc.Process, timeout: float) -> int:
    """The process's exit code; killed (and the test failed) if it is not out in time,
    so a hang costs ``timeout`` seconds, not the whole test run's limit."""
    with anyio.move_on_after(timeout):
        return await proc.wait()
    proc.kill()
    with anyio.fail_after(5):
        await proc.wait()
    raise AssertionError(f"virtuoso-ctl still running {timeout} s after SIGINT")


CTL = [sys.executable, "-m", "virtuoso_daemon.ctl"]


@pytest.mark.parametrize("parent", ["interactive", "ignores SIGINT"])
async def test_ctrl_c_ends_watch_with_exit_code_0(parent: str) -> None:
    async with daemon_with_feeds() as (d, _, sock):
        argv = [*CTL, "--socket", sock, "watch", "lifecycle"]
        if parent == "ignores SIGINT":  # as a non-interactive shell's background job
            argv = ["sh", "-c", 'trap "" INT; exec "$@"', "sh", *argv]
        async with await anyio.open_process(argv) as proc:
            server = control(d)
            await wait_until(
                lambda: any("lifecycle" in s.subs.active for s in server.sessions), timeout=20
            )
            proc.send_signal(signal.SIGINT)
            code = await _exit_code(proc, 10)
    assert code == 0


async def test_watch_exits_3_when_the_daemon_goes_away() -> None:
    async with daemon_with_feeds() as (d, _, sock):
        async with await anyio.open_process(
            [sys.executable, "-m", "virtuoso_daemon.ctl", "--socket", sock, "watch", "tickers"]
        ) as proc:
            server = control(d)
            await wait_until(
                lambda: any("tickers" in s.subs.active for s in server.sessions), timeout=20
            )
            assert d.supervisor is not None
            d.supervisor.request_shutdown()
            with anyio.fail_after(10):
                code = await proc.wait()
            assert proc.stderr is not None
            err = (await proc.stderr.receive()).decode()
    assert code == 3 and "shutting down" in err
