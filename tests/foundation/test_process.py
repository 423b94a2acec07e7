"""The daemon as a process: signals, sd_notify, reload, exit codes."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness import free_port, short_tmpdir


def _start(
    tmp: Path, port: int, env_extra: dict[str, str] | None = None, config: Path | None = None
) -> subprocess.Popen[bytes]:
    """Start the daemon; its log goes to ``tmp/daemon.log``."""
    env = {**os.environ, **(env_extra or {})}
    args = [
        sys.executable,
        "-m",
        "virtuoso_daemon",
        "--port",
        str(port),
        "--socket",
        str(tmp / "ctl.sock"),
        "--state-dir",
        str(tmp / "state"),
        "--log-format",
        "json",
    ]
    if config:
        args += ["--config", str(config)]
    with open(tmp / "daemon.log", "wb") as log:
        return subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=log)


def _wait_http(port: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"daemon did not listen on {port}")


@pytest.fixture
def notify_socket() -> Iterator[tuple[socket.socket, str]]:
    path = str(short_tmpdir() / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(15)
    yield sock, path
    sock.close()


def _receive_until(sock: socket.socket, wanted: str) -> list[str]:
    seen: list[str] = []
    while True:
        lines = sock.recv(4096).decode().splitlines()
        seen += lines
        if wanted in lines:
            return seen


def test_sigterm_stops_the_daemon_in_under_5_seconds_with_exit_0() -> None:
    port = free_port()
    proc = _start(short_tmpdir(), port)
    try:
        _wait_http(port)
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(10)
        elapsed = time.monotonic() - started
    finally:
        proc.kill()
        proc.wait()
    assert rc == 0
    assert elapsed < 5.0


def test_ready_watchdog_and_stopping_reach_the_notify_socket(
    notify_socket: tuple[socket.socket, str],
) -> None:
    sock, path = notify_socket
    port = free_port()
    proc = _start(short_tmpdir(), port, {"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "200000"})
    try:
        seen = _receive_until(sock, "READY=1")
        assert any(line.startswith("STATUS=") for line in seen)
        _receive_until(sock, "WATCHDOG=1")  # every 0.1 s: half of WATCHDOG_USEC
        proc.send_signal(signal.SIGTERM)
        _receive_until(sock, "STOPPING=1")
        assert proc.wait(10) == 0
    finally:
        proc.kill()
        proc.wait()


def test_sighup_reloads_the_config_file(notify_socket: tuple[socket.socket, str]) -> None:
    sock, path = notify_socket
    tmp = short_tmpdir()
    cfg = tmp / "v.toml"
    cfg.write_text("[memcached]\nttl = 300\n")
    port = free_port()
    proc = _start(tmp, port, {"NOTIFY_SOCKET": path}, config=cfg)
    try:
        _receive_until(sock, "READY=1")
        cfg.write_text("[memcached]\nttl = 42\n")
        proc.send_signal(signal.SIGHUP)
        _receive_until(sock, "RELOADING=1")
        _receive_until(sock, "READY=1")
        import urllib.request

        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/system/config") as resp:
            assert b'"ttl":42' in resp.read()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    finally:
        proc.kill()
        proc.wait()
    assert "config reloaded; changed sections: memcached" in (tmp / "daemon.log").read_text()


def _status(port: int) -> dict[str, object]:
    import json
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/system/status", timeout=5) as r:
        doc: dict[str, object] = json.loads(r.read())
    return doc


@pytest.mark.parametrize(
    ("env", "expected"),
    [({}, "uvloop"), ({"VIRTUOSO_DAEMON__EVENT_LOOP": "asyncio"}, "asyncio")],
)
def test_the_daemon_runs_on_uvloop_unless_told_otherwise(
    env: dict[str, str], expected: str
) -> None:
    port = free_port()
    proc = _start(short_tmpdir(), port, env)
    try:
        _wait_http(port)
        assert _status(port)["event_loop"] == expected
    finally:
        proc.terminate()
        proc.wait(10)


def test_full_garbage_collections_are_run_by_the_daemons_quiet_collector() -> None:
    port = free_port()
    proc = _start(short_tmpdir(), port, {"VIRTUOSO_DAEMON__GC_EVERY": "0.2"})
    try:
        _wait_http(port)
        deadline = time.monotonic() + 15
        while (gc_stats := _status(port)["stats"].get("gc", {})).get("collections", 0) < 2:
            assert time.monotonic() < deadline, f"no full collections: {gc_stats}"
            time.sleep(0.1)
        assert gc_stats["policy"] == "quiet" and gc_stats["frozen"] > 10_000
        assert gc_stats["max_ms"] > 0
    finally:
        proc.terminate()
        proc.wait(10)


STUCK_DAEMON = """
import sys, anyio
from virtuoso_daemon.core.supervisor import ActorSpec
from virtuoso_daemon.process import cli, run

class Stuck:
    name = "stuck"
    def __init__(self, runtime): pass
    async def run(self, *, task_status=anyio.TASK_STATUS_IGNORED):
        await anyio.sleep_forever()

run.build_specs = lambda runtime: [ActorSpec("stuck", Stuck)]
sys.exit(cli.daemon_main(sys.argv[1:]))
"""


def test_an_actor_that_never_starts_ends_the_daemon_with_one_line_and_exit_1() -> None:
    tmp = short_tmpdir()
    env = {**os.environ, "VIRTUOSO_SUPERVISOR__START_TIMEOUT": "0.5"}
    args = ["--port", "0", "--socket", str(tmp / "c.sock"), "--state-dir", str(tmp / "state")]
    proc = subprocess.run(
        [sys.executable, "-c", STUCK_DAEMON, *args], env=env, capture_output=True, timeout=30
    )
    assert proc.returncode == 1
    last = proc.stderr.decode().strip().splitlines()[-1]
    assert last == "virtuoso-daemon: start failed: actor stuck did not start within 0.5s"
