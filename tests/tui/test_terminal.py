"""``virtuoso-tui`` in a real terminal (tmux) against a real daemon process in demo mode.

Two tmux sessions (80x24 and 200x60) run the installed console script; the screen is
read with ``tmux capture-pane -p``. It must show live prices that change between
captures, say so when the daemon is killed (keeping the last prices on screen), and
recover on its own when the daemon is started again on the same socket.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.harness import short_tmpdir
from tests.tui.daemon import daemon_argv

SIZES = ((80, 24), (200, 60))
BTC_ROW = re.compile(r"^\s*BTC/USDT\s+(?:sim-spot\s+)?([\d,]+\.\d+)", re.MULTILINE)


class Tmux:
    """A private tmux server (its own socket), so no one else's sessions are touched."""

    def __init__(self, name: str) -> None:
        exe = shutil.which("tmux")
        if exe is None:
            raise RuntimeError("tmux is not installed; run scripts/test.sh (it installs it)")
        self.base = [exe, "-L", name, "-f", "/dev/null"]

    def run(self, *args: str) -> str:
        out = subprocess.run(
            [*self.base, *args], capture_output=True, text=True, timeout=10, check=True
        )
        return out.stdout

    def start(self, session: str, size: tuple[int, int], command: str) -> None:
        w, h = size
        self.run("new-session", "-d", "-s", session, "-x", str(w), "-y", str(h), command)

    def capture(self, session: str) -> str:
        return self.run("capture-pane", "-p", "-t", session)

    def kill(self) -> None:
        subprocess.run([*self.base, "kill-server"], capture_output=True, timeout=10)


def _wait(predicate: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")


def _listening(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX) as s:
        try:
            s.connect(str(path))
        except OSError:
            return False
        return True


class Daemon:
    """``virtuoso-daemon --demo`` as a process that the test can kill and restart."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.sock = tmp / "run" / "ctl.sock"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        argv, env = daemon_argv(self.sock, self.tmp / "state", n_alts=6)
        with open(self.tmp / "daemon.log", "ab") as log:
            self.proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=log)
        _wait(lambda: _listening(self.sock), 30, "the daemon's control socket")

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
            self.proc = None

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None


@pytest.fixture
def daemon() -> Iterator[Daemon]:
    d = Daemon(short_tmpdir())
    d.start()
    yield d
    d.stop()


@pytest.fixture
def tmux() -> Iterator[Tmux]:
    t = Tmux(f"virtuoso-test-{os.getpid()}")
    yield t
    t.kill()


def _btc(screen: str) -> str | None:
    m = BTC_ROW.search(screen)
    return m.group(1) if m else None


def test_tui_in_tmux_shows_live_prices_and_survives_a_daemon_restart(
    daemon: Daemon, tmux: Tmux
) -> None:
    tui = Path(sys.executable).with_name("virtuoso-tui")
    for w, h in SIZES:
        tmux.start(f"s{w}", (w, h), f"{tui} --socket {daemon.sock} --throttle-ms 100")

    def price_moves(session: str) -> None:
        first: list[str] = []

        def moved() -> bool:
            price = _btc(tmux.capture(session))
            if price is None:
                return False
            if not first:
                first.append(price)
            return price != first[0]

        _wait(moved, 30, f"a BTC/USDT price that changes in {session}")

    for w, h in SIZES:
        price_moves(f"s{w}")
        screen = tmux.capture(f"s{w}")
        assert "connected" in screen
        assert "1 Market" in screen and "2 Beta" in screen and "3 Feeds" in screen
        lines = screen.splitlines()
        assert len(lines) <= h and max(len(line) for line in lines) <= w

    daemon.kill()  # SIGKILL: no goodbye, a stale socket file left behind
    for w, _ in SIZES:
        _wait(lambda s=f"s{w}": "unreachable" in tmux.capture(s), 15, "the outage banner")
        assert _btc(tmux.capture(f"s{w}")) is not None  # the last prices stay on screen

    daemon.start()
    for w, _ in SIZES:
        _wait(lambda s=f"s{w}": "connected" in tmux.capture(s), 30, "the reconnection")
        price_moves(f"s{w}")
