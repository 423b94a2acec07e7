"""A real daemon process for the ops tests: demo mode, free ports, temporary dirs."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.harness import free_port, short_tmpdir


@dataclass
class DaemonProcess:
    proc: subprocess.Popen[bytes]
    port: int
    tmp: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def socket(self) -> Path:
        return self.tmp / "ctl.sock"

    def get(self, path: str, timeout: float = 5) -> Any:
        with urllib.request.urlopen(self.base_url + path, timeout=timeout) as resp:
            return json.loads(resp.read())

    def log(self) -> str:
        return (self.tmp / "daemon.log").read_text(errors="replace")


def wait_for(check: Callable[[], bool], *, timeout: float, what: str) -> None:
    """Poll ``check`` every 0.1 s until it is true; TimeoutError naming ``what``."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout}s")
        time.sleep(0.1)


def wait_healthy(
    port: int, timeout: float = 30, proc: subprocess.Popen[bytes] | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the daemon exited with {proc.returncode}")
        with contextlib.suppress(OSError):
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/quick", timeout=1):
                return
        time.sleep(0.1)
    raise TimeoutError(f"no /health/quick on {port} within {timeout}s")


@contextlib.contextmanager
def daemon_process(
    *args: str, env: dict[str, str] | None = None, demo: bool = True, ready: bool = True
) -> Iterator[DaemonProcess]:
    """Run ``python -m virtuoso_daemon`` (demo by default) until the block ends."""
    tmp = short_tmpdir()
    port = free_port()
    argv = [
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
        *(["--demo"] if demo else []),
        *args,
    ]
    full_env = {
        **os.environ,
        "VIRTUOSO_MEMCACHED__ENABLED": "false",
        "VIRTUOSO_DEMO__N_ALTS": "8",
        **(env or {}),
    }
    with open(tmp / "daemon.log", "wb") as log:
        proc = subprocess.Popen(argv, env=full_env, stdout=subprocess.DEVNULL, stderr=log)
    try:
        if ready:
            wait_healthy(port, proc=proc)
        yield DaemonProcess(proc, port, tmp)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
