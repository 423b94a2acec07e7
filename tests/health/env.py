"""A daemon with the health monitor (and whatever else a test adds), a recorder of the
Conditions it publishes, and an optional notify socket as systemd would hold it."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio

from tests.harness import DaemonHandle, _supervised, short_tmpdir
from virtuoso_daemon.core.bus import Subscription, Topics
from virtuoso_daemon.core.config import Config
from virtuoso_daemon.core.messages import Condition, HealthCheck, HealthReport
from virtuoso_daemon.core.runtime import Runtime
from virtuoso_daemon.core.supervisor import ActorSpec
from virtuoso_daemon.core.systemd import Notifier
from virtuoso_daemon.health.actor import REPORT_VIEW, HealthMonitorActor
from virtuoso_daemon.http.server import HttpApiActor
from virtuoso_daemon.process.demo import simulated_exchanges


class NotifyListener:
    """A NOTIFY_SOCKET in a thread of its own, stamping each datagram on arrival (the
    daemon's loop may be blocked; this thread is not)."""

    def __init__(self) -> None:
        self.path = str(short_tmpdir() / "notify.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.1)
        self.lines: list[tuple[float, str]] = []
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            now = time.monotonic()
            self.lines.extend((now, line) for line in data.decode().splitlines())

    def times(self, line: str, since: float = 0.0) -> list[float]:
        return [t for t, seen in list(self.lines) if seen == line and t >= since]

    def close(self) -> None:
        self._stop.set()
        self.thread.join(2)
        self.sock.close()


@dataclass
class HealthEnv:
    daemon: DaemonHandle
    conditions: Subscription[Condition]
    seen: list[Condition] = field(default_factory=list)

    @property
    def runtime(self) -> Runtime:
        return self.daemon.runtime

    def report(self) -> HealthReport | None:
        report: HealthReport | None = self.runtime.views.value(REPORT_VIEW)
        return report

    def check(self, name: str) -> HealthCheck | None:
        report = self.report()
        return next((c for c in report.checks if c.name == name), None) if report else None

    def health_conditions(self, key: str | None = None) -> list[Condition]:
        while True:
            try:
                self.seen.append(self.conditions.receive_nowait())
            except anyio.WouldBlock:
                break
        return [c for c in self.seen if c.kind == "health" and (key is None or c.key == key)]

    async def wait_for(self, predicate: Callable[[], Any], timeout: float, what: str) -> Any:
        """Poll observable state under a deadline (never a bare sleep)."""
        try:
            with anyio.fail_after(timeout):
                while True:
                    value = predicate()
                    if value:
                        return value
                    await anyio.sleep(0.02)
        except TimeoutError:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}") from None

    async def wait_status(self, name: str, status: str, timeout: float) -> HealthCheck:
        def counted() -> HealthCheck | None:
            check = self.check(name)
            return check if check is not None and check.status == status else None

        result: HealthCheck = await self.wait_for(counted, timeout, f"{name} {status}")
        return result


@contextlib.asynccontextmanager
async def health_env(
    config: Config,
    extra: Sequence[ActorSpec] | Callable[[Runtime], Sequence[ActorSpec]] = (),
    *,
    notify: NotifyListener | None = None,
    watchdog_usec: int = 200_000,
) -> AsyncIterator[HealthEnv]:
    """``http_api`` + ``health`` + ``extra`` under the real supervisor."""
    environ = {}
    if notify is not None:
        environ = {"NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": str(watchdog_usec)}
    holder: dict[str, Subscription[Condition]] = {}

    def specs(rt: Runtime) -> list[ActorSpec]:
        holder["sub"] = rt.bus.subscribe(Topics.CONDITIONS, name="test", maxsize=10_000)
        more = list(extra(rt) if callable(extra) else extra)
        return [
            *more,
            ActorSpec("http_api", HttpApiActor),
            ActorSpec("health", HealthMonitorActor, depends_on=("http_api",)),
        ]

    async with simulated_exchanges(config) as resolution:
        runtime = Runtime(config=config, notifier=Notifier(environ=environ))
        resolution.attach(runtime)
        try:
            async with _supervised(runtime, specs, 30.0) as handle:
                env = HealthEnv(handle, holder["sub"])
                try:
                    yield env
                finally:
                    env.conditions.close()
        finally:
            runtime.notifier.close()


def state_dir_of(env: HealthEnv) -> Path:
    return env.runtime.state_dir
