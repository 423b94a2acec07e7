"""Receivers the tests run (aiohttp servers on loopback), conditions, a daemon with the
alert manager, and a fake clock for the manager's time."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import anyio
import msgspec
from aiohttp import web

from tests.harness import DaemonHandle, running_daemon, test_config
from tests.market.helpers import wait_until
from virtuoso_daemon.alerts.actor import AlertManagerActor
from virtuoso_daemon.control.server import ControlActor
from virtuoso_daemon.core.bus import Topics
from virtuoso_daemon.core.config import Config
from virtuoso_daemon.core.messages import Condition
from virtuoso_daemon.core.runtime import Runtime
from virtuoso_daemon.core.supervisor import ActorSpec
from virtuoso_daemon.http.server import HttpApiActor

__all__ = ["wait_until"]


class FakeClock:
    """The manager's time, moved by the test."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        self.now += seconds
        return self.now


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: Any
    at: float


@dataclass
class Receiver:
    """A webhook receiver on loopback. ``script`` lists the answers to give, in order
    (status, extra headers); after it runs out it answers ``default``. ``hang`` makes
    every request wait until the test ends."""

    default: int = 200
    script: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    hang: bool = False
    received: list[Received] = field(default_factory=list)
    attempts: int = 0
    attempt_times: list[float] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)  # Idempotency-Key of every attempt
    port: int = 0
    _release: anyio.Event | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def _record(self, request: web.Request) -> None:
        body = msgspec.json.decode(await request.read())
        self.received.append(Received(request.path, dict(request.headers), body, time.monotonic()))

    async def handle(self, request: web.Request) -> web.Response:
        self.attempts += 1
        self.attempt_times.append(time.monotonic())
        self.keys.append(request.headers.get("Idempotency-Key", ""))
        if self.hang:  # took the message, and never answers
            await self._record(request)
            assert self._release is not None
            await self._release.wait()
            return web.json_response({"ok": False}, status=504)
        status, headers = self.script.pop(0) if self.script else (self.default, {})
        if 200 <= status < 300:
            await self._record(request)
        return web.json_response({"ok": 200 <= status < 300}, status=status, headers=headers)


@contextlib.asynccontextmanager
async def receivers(*recv: Receiver) -> AsyncIterator[None]:
    runners = []
    for r in recv:
        r._release = anyio.Event()
        app = web.Application()
        app.router.add_post("/{tail:.*}", r.handle)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", r.port)
        await site.start()
        r.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        runners.append(runner)
    try:
        yield
    finally:
        for r in recv:
            assert r._release is not None
            r._release.set()
        for runner in runners:
            await runner.cleanup()


def webhook(name: str, r: Receiver, **extra: Any) -> dict[str, Any]:
    return {"name": name, "type": "webhook", "webhook_url": r.url, "rate_limit": 6000, **extra}


def alerts_config(destinations: Sequence[dict[str, Any]] = (), **alerts: Any) -> Config:
    settings = {"group_wait": 0.0, "group_interval": 0.0, "tick": 0.02, **alerts}
    return test_config(alerts={**settings, "destinations": list(destinations)})


def alert_specs(
    clock: Callable[[], float] = time.time, *, http: bool = False, control: bool = False
) -> Callable[[Runtime], list[ActorSpec]]:
    def build(rt: Runtime) -> list[ActorSpec]:
        specs = [ActorSpec("alerts", lambda r: AlertManagerActor(r, clock=clock))]
        if http:
            specs.append(ActorSpec("http_api", HttpApiActor))
        if control:
            specs.append(ActorSpec("control", ControlActor))
        return specs

    return build


def manager(d: DaemonHandle) -> AlertManagerActor:
    actor = d.supervisor.actor("alerts")
    assert isinstance(actor, AlertManagerActor)
    return actor


def condition(
    symbol: str = "BTC/USDT",
    *,
    kind: str = "price_move",
    severity: str = "warning",
    active: bool = True,
    exchange: str = "binance",
    ts: float | None = None,
    **values: float | str | None,
) -> Condition:
    return Condition(
        key=f"{kind}:{exchange}:{symbol}",
        kind=kind,
        severity=severity,  # type: ignore[arg-type]
        active=active,
        exchange=exchange,
        symbol=symbol,
        message=f"{symbol} moved",
        values=values or {"value": 5.2, "threshold": 3.0, "window": "5m"},
        ts=time.time() if ts is None else ts,
    )


async def publish(d: DaemonHandle, *conds: Condition) -> None:
    for cond in conds:
        await d.runtime.bus.publish(Topics.CONDITIONS, cond)


async def settle(d: DaemonHandle, clock: FakeClock, timeout: float = 5.0) -> None:
    """Wait until the manager has handled every condition published so far and ticked
    at the clock's current time."""
    m = manager(d)
    published = d.runtime.bus.published.get(Topics.CONDITIONS.name, 0)
    await wait_until(
        lambda: (
            m.counts["conditions"] >= published
            and m.last_tick is not None
            and m.last_tick >= clock.now
        ),
        timeout,
    )


__all__ += ["running_daemon"]
