"""Shared by the control-socket tests: the actor tree, a fake feeds responder, waits.

The feed commands are requests to the feeds actors over ``Topics.FEED_COMMANDS``;
here a small fake answers them so the socket side is tested on its own (the real
feeds actor and its answers are tested in ``tests/feeds``).
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import anyio
import anyio.abc
import msgspec

from virtuoso_daemon.control import ControlActor
from virtuoso_daemon.core.bus import Request, Topics
from virtuoso_daemon.core.messages import Ticker
from virtuoso_daemon.core.supervisor import ActorSpec
from virtuoso_daemon.http.server import HttpApiActor


def control_specs(*extra: ActorSpec) -> list[ActorSpec]:
    """HTTP API plus the control socket (what the issue's tests run against)."""
    return [ActorSpec("http_api", HttpApiActor), ActorSpec("control", ControlActor), *extra]


def control(d: Any) -> ControlActor:
    actor = d.supervisor.actor("control")
    assert isinstance(actor, ControlActor)
    return actor


class FakeFeeds:
    """Answers feed commands the way the feeds actor does, and records what it got."""

    def __init__(self, bus: Any, *, exchanges: Sequence[str] = ("binance",)) -> None:
        self.bus = bus
        self.symbols: dict[str, list[str]] = {ex: ["BTC/USDT", "ETH/USDT"] for ex in exchanges}
        self.paused: dict[str, set[str]] = {ex: set() for ex in exchanges}
        self.seen: list[tuple[str, dict[str, Any]]] = []
        self.hang = anyio.Event()  # requests for exchange "hang" wait on this

    async def run(self, *, task_status: anyio.abc.TaskStatus[None]) -> None:
        with self.bus.subscribe(Topics.FEED_COMMANDS, name="fake-feeds") as sub:
            async with anyio.create_task_group() as tg:
                task_status.started()
                async for req in sub:
                    tg.start_soon(self.handle, req)

    async def handle(self, req: Request) -> None:
        args = msgspec.structs.asdict(req.body)  # the typed request, as the record keeps it
        self.seen.append((req.command, args))
        ex = args.get("exchange")
        if req.command == "feeds.list":
            req.reply(
                [
                    {
                        "exchange": name,
                        "state": "paused" if "*" in self.paused[name] else "connected",
                        "symbols": syms,
                        "paused_symbols": sorted(self.paused[name] - {"*"}),
                    }
                    for name, syms in self.symbols.items()
                ]
            )
        elif ex == "hang":
            await self.hang.wait()
        elif ex not in self.symbols:
            req.fail("unknown_exchange", f"no feed named {ex!r}")
        elif req.command in ("feeds.pause", "feeds.resume"):
            target = args.get("symbol") or "*"
            if req.command == "feeds.pause":
                self.paused[ex].add(target)
            else:
                self.paused[ex].discard(target)
            req.reply({"exchange": ex, "symbol": args.get("symbol"), "ok": True})
        elif req.command == "symbols.add":
            self.symbols[ex] += [s for s in args["symbols"] if s not in self.symbols[ex]]
            req.reply({"exchange": ex, "symbols": self.symbols[ex]})
        elif req.command == "symbols.remove":
            self.symbols[ex] = [s for s in self.symbols[ex] if s not in args["symbols"]]
            req.reply({"exchange": ex, "symbols": self.symbols[ex]})
        else:
            req.fail("unknown_command", req.command)


def ticker(symbol: str = "BTC/USDT", last: float = 100.0, exchange: str = "binance") -> Ticker:
    now = time.time()
    return Ticker(
        exchange=exchange,
        symbol=symbol,
        last=last,
        bid=last - 0.5,
        ask=last + 0.5,
        change_pct=1.5,
        quote_volume=1e6,
        ts=int(now * 1000),
        recv_ts=now,
    )


async def wait_until(predicate: Callable[[], object], timeout: float = 5.0) -> None:
    """Poll observable state under a deadline."""
    with anyio.fail_after(timeout):
        while not predicate():
            await anyio.sleep(0.01)


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def task_count() -> int:
    return len(asyncio.all_tasks())


async def run_ctl(*args: str, timeout: float = 30.0) -> tuple[int, str, str]:
    """``virtuoso-ctl`` as a separate process: (exit code, stdout, stderr)."""
    with anyio.fail_after(timeout):
        proc = await anyio.run_process(
            [sys.executable, "-m", "virtuoso_daemon.ctl", *args], check=False
        )
    return proc.returncode, proc.stdout.decode(), proc.stderr.decode()
