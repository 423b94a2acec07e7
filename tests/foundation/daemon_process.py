"""The daemon as a child process, for the tests of what only a process shows: exit
codes, signals, start-up refusals. Waits are on observable events (a log line, a
port, an exit) under a deadline."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any


class DaemonProcess:
    """``python -m virtuoso_daemon`` with its JSON log in ``tmp/daemon.log``."""

    def __init__(
        self,
        tmp: Path,
        *args: str,
        env: dict[str, str] | None = None,
        argv: list[str] | None = None,
    ) -> None:
        self.tmp = tmp
        self.log_path = tmp / "daemon.log"
        argv = [*(argv or [sys.executable, "-m", "virtuoso_daemon"]), "--log-format", "json", *args]
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                argv,
                env={**os.environ, **(env or {})},
                stdout=subprocess.DEVNULL,
                stderr=log,
            )

    @classmethod
    def script(cls, tmp: Path, source: str, *args: str) -> DaemonProcess:
        """A variant of the daemon given as a script (``sys.argv[1:]`` are ``args``)."""
        first, rest = args[0], args[1:]
        return cls(tmp, *rest, argv=[sys.executable, "-c", source, first])

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def records(self) -> list[dict[str, Any]]:
        out = []
        for line in self.log_text().splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                out.append({"level": "raw", "msg": line})
        return out

    def wait_log(self, fragment: str, timeout: float = 20.0) -> None:
        """Until a log line contains ``fragment`` (fails early if the process ended)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if fragment in self.log_text():
                return
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"daemon exited {self.proc.returncode} before logging {fragment!r}:\n"
                    + self.log_text()[-3000:]
                )
            time.sleep(0.02)
        raise TimeoutError(f"no log line with {fragment!r} within {timeout}s")

    def wait(self, timeout: float = 20.0) -> int:
        return self.proc.wait(timeout)

    def signal(self, signum: int) -> None:
        self.proc.send_signal(signum)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)


def wait_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise TimeoutError(f"nothing listens on {port}")
