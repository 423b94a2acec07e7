"""Test harness: a real memcached process and a real daemon on free ports.

Async fixtures that hold a task group across ``yield`` would enter and exit cancel
scopes in different tasks under pytest-asyncio, so the daemon is an async context
manager used inside the test (``async with running_daemon(cfg) as d:``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import msgspec

from virtuoso_daemon.core.config import Config, load_config
from virtuoso_daemon.core.runtime import Runtime
from virtuoso_daemon.core.supervisor import ActorSpec, Supervisor
from virtuoso_daemon.core.systemd import Notifier
from virtuoso_daemon.process.assembly import build_specs
from virtuoso_daemon.process.demo import simulated_exchanges

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def short_tmpdir() -> Path:
    """Unix socket paths are limited to ~107 bytes; pytest's tmp_path can be longer."""
    return Path(tempfile.mkdtemp(prefix="vt-", dir="/tmp"))


class MemcachedProcess:
    """A real memcached on a free loopback port that a test can stop and start."""

    def __init__(self, port: int | None = None) -> None:
        exe = shutil.which("memcached")
        if exe is None:
            raise RuntimeError(
                "memcached is not installed; run scripts/test.sh (it installs it) "
                "or apt-get install memcached"
            )
        self.exe = exe
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        args = [self.exe, "-l", "127.0.0.1", "-p", str(self.port), "-U", "0", "-m", "64"]
        if os.geteuid() == 0:
            args += ["-u", "root"]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2),
            ):
                return
            time.sleep(0.02)
        raise RuntimeError(f"memcached did not start on port {self.port}")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(5)
            self.proc = None


def test_config(
    tmp: Path | None = None, memcached: MemcachedProcess | None = None, **sections: dict[str, Any]
) -> Config:
    """A config on free ports with a temporary socket and state dir."""
    tmp = tmp or short_tmpdir()
    data: dict[str, Any] = {
        "daemon": {
            "port": 0,
            "socket": str(tmp / "run" / "control.sock"),
            "state_dir": str(tmp / "state"),
            "log_level": "debug",
        },
        "memcached": {
            "enabled": memcached is not None,
            "port": memcached.port if memcached else 11211,
        },
        "supervisor": {"backoff_initial": 0.05, "backoff_max": 0.5},
    }
    for name, values in sections.items():
        data[name] = {**data.get(name, {}), **values} if isinstance(values, dict) else values
    return load_config(None, environ={}, overrides=data)


test_config.__test__ = False  # type: ignore[attr-defined]  # not a pytest test


@dataclass
class DaemonHandle:
    runtime: Runtime
    supervisor: Supervisor

    @property
    def http_port(self) -> int:
        port = self.supervisor.actor("http_api").port
        assert isinstance(port, int)
        return port

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"


@contextlib.asynccontextmanager
async def running_daemon(
    config: Config,
    specs: Sequence[ActorSpec] | Callable[[Runtime], Sequence[ActorSpec]] | None = None,
    *,
    start_timeout: float = 30.0,
) -> AsyncIterator[DaemonHandle]:
    """Run a supervisor (the real actor tree by default) for the body of the block."""
    async with simulated_exchanges(config) as resolution:
        runtime = Runtime(config=config, notifier=Notifier(environ={}))
        resolution.attach(runtime)
        async with _supervised(runtime, specs, start_timeout) as handle:
            yield handle


@contextlib.asynccontextmanager
async def _supervised(
    runtime: Runtime,
    specs: Sequence[ActorSpec] | Callable[[Runtime], Sequence[ActorSpec]] | None,
    start_timeout: float,
) -> AsyncIterator[DaemonHandle]:
    if specs is None:
        specs = build_specs(runtime)
    elif callable(specs):
        specs = specs(runtime)
    sup = Supervisor(runtime, specs)
    async with anyio.create_task_group() as tg:
        with anyio.fail_after(start_timeout):
            await tg.start(sup.run)
        try:
            yield DaemonHandle(runtime, sup)
        finally:
            tg.cancel_scope.cancel()


def decode(body: bytes) -> Any:
    return msgspec.json.decode(body)
