"""The reliability suite (issue 16): fuzzers and hostile clients against a live demo
daemon, all at once, while a monitor asks for ``status`` over HTTP and the socket.

HTTP: raw malformed requests (mutated valid ones: flipped, inserted and deleted bytes,
cut short, doubled headers, long lines) and GETs of every documented path with random
path and query values; idle connections. (Schemathesis against the spec runs in
``tests/ops/test_openapi_live.py``.) Socket: random bytes, random and mangled JSON
requests, deeply nested frames, oversized frames, idle clients past ``max_clients``,
half-closed clients that never read, subscribers with a 100 000 queue that never read.

Pass: zero 5xx; no traceback and no ERROR in the daemon's log; ``status`` answered in
under a second throughout, on both surfaces; RSS and open fds back within 10 % of
their start once the clients have left. Slow (about a minute); ``-m slow``.
"""

from __future__ import annotations

import json
import os
import random
import socket
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.foundation.daemon_process import DaemonProcess
from tests.harness import free_port, short_tmpdir

pytestmark = pytest.mark.slow

CONFIG = """
[daemon]
demo = true
[demo]
n_alts = 3
seed = 7
[memcached]
enabled = false
[api]
keepalive_timeout = 2.0
[control]
idle_timeout = 3.0
write_timeout = 2.0
"""

VALID_HTTP = [
    b"GET /health/quick HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /api/market/tickers?limit=5 HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n",
    b"GET /api/system/status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    b"POST /api/system/reload HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}",
    b"GET /api/market/ohlcv/BTC-USDT?timeframe=1h&limit=3 HTTP/1.1\r\nHost: x\r\n\r\n",
]


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def wait_for(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise TimeoutError(what)


def mutate(rng: random.Random, data: bytes) -> bytes:
    b = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(6)
        i = rng.randrange(len(b)) if b else 0
        if op == 0 and b:
            b[i] = rng.randrange(256)
        elif op == 1:
            b[i:i] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        elif op == 2 and b:
            del b[i : i + rng.randint(1, 8)]
        elif op == 3:
            b = b[: rng.randrange(len(b) + 1)]
        elif op == 4:
            b = b.replace(b"\r\n\r\n", b"\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\n", 1)
        else:
            b[i:i] = b"A" * rng.choice([100, 9000, 70000])
    return bytes(b)


def http_raw(port: int, data: bytes) -> int | None:
    """Send, read the status line (None if the server closed without one)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
            head = s.recv(64)
    except OSError:
        return None
    parts = head.split(b" ", 2)
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None


class ControlLine:
    """A blocking line-protocol client (the test's threads; no event loop)."""

    def __init__(self, path: Path, timeout: float = 10) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(str(path))
        self.buf = b""

    def frame(self) -> dict[str, Any]:
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        doc: dict[str, Any] = json.loads(line)
        return doc

    def call(self, frame: dict[str, Any]) -> dict[str, Any]:
        self.sock.sendall(json.dumps(frame).encode() + b"\n")
        while True:
            doc = self.frame()
            if "ok" in doc and doc.get("id") == frame.get("id"):
                return doc

    def close(self) -> None:
        self.sock.close()


class Monitor(threading.Thread):
    """``status`` over HTTP and the socket every 0.2 s; the slowest answer of each."""

    def __init__(self, port: int, path: Path) -> None:
        super().__init__(daemon=True)
        self.port, self.path = port, path
        self.stop = threading.Event()
        self.worst = {"http": 0.0, "socket": 0.0}
        self.failures: list[str] = []

    def run(self) -> None:
        conn = ControlLine(self.path)
        conn.frame()  # _hello
        n = 0
        while not self.stop.wait(0.2):
            n += 1
            t0 = time.monotonic()
            try:
                url = f"http://127.0.0.1:{self.port}/api/system/status"
                with urllib.request.urlopen(url, timeout=5) as r:
                    r.read()
                self.worst["http"] = max(self.worst["http"], time.monotonic() - t0)
                t0 = time.monotonic()
                assert conn.call({"id": n, "cmd": "status"})["ok"]
                self.worst["socket"] = max(self.worst["socket"], time.monotonic() - t0)
            except Exception as exc:  # recorded, asserted by the test
                self.failures.append(f"{type(exc).__name__}: {exc}")
        conn.close()


def http_fuzz(port: int, rng: random.Random, paths: list[str]) -> list[int]:
    """Malformed and random requests; the 5xx statuses seen."""
    jobs: list[bytes] = [mutate(rng, rng.choice(VALID_HTTP)) for _ in range(1500)]
    for _ in range(500):
        path = "/".join(
            urllib.parse.quote(rng.choice(["BTC-USDT", "x" * rng.randint(1, 300), "%00", "..", ""]))
            if part.startswith("{")
            else part
            for part in rng.choice(paths).split("/")
        )
        query = urllib.parse.urlencode(
            {
                rng.choice(["limit", "timeframe", "since", "exchange", "window", "zz"]): rng.choice(
                    ["-1", "0", "1e99", "abc", "1h", "", "9" * 30]
                )
            }
        )
        jobs.append(f"GET {path}?{query} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(lambda data: http_raw(port, data), jobs))
    return [s for s in statuses if s is not None and s >= 500]


def socket_fuzz(path: Path, rng: random.Random) -> None:
    """Random and hostile frames over a few connections (each may be closed on us)."""
    names = ["status", "help", "tickers", "ohlcv", "subscribe", "beta", "nope", "config.get"]
    lines: list[bytes] = []
    for _ in range(1500):
        kind = rng.randrange(5)
        if kind == 0:
            lines.append(bytes(rng.randrange(256) for _ in range(rng.randint(1, 200))))
        elif kind == 1:
            lines.append(b"[" * rng.randint(100, 100_000))
        elif kind == 2:
            nested = b"[" * 5000 + b"]" * 5000
            lines.append(b'{"id": 1, "cmd": "status", "args": {"a": ' + nested + b"}}")
        else:
            args = {
                rng.choice(["symbol", "limit", "topics", "queue"]): rng.choice(
                    [None, -1, "x" * 500, [], {}, 2**70]
                )
            }
            frame = {"id": rng.randint(0, 9), "cmd": rng.choice(names), "args": args}
            lines.append(json.dumps(frame).encode())
    for start in range(0, len(lines), 100):
        try:
            conn = ControlLine(path)
            conn.frame()
            for line in lines[start : start + 100]:
                conn.sock.sendall(line.replace(b"\n", b" ") + b"\n")
            conn.sock.sendall(b'{"id": "end", "cmd": "hello"}\n')
            while conn.frame().get("id") != "end":
                pass
            conn.close()
        except (OSError, ValueError):
            pass  # closed by the daemon (oversized frames do that): fine
    for _ in range(5):  # oversized: frame_too_large, then closed
        with socket.socket(socket.AF_UNIX) as s:
            s.connect(str(path))
            try:
                s.sendall(b"x" * (2 << 20))
            except OSError:
                pass


def hold_hostile_clients(path: Path, port: int) -> list[socket.socket]:
    """Idle, half-closed non-reading and non-reading subscribers; returned to close."""
    held: list[socket.socket] = []
    for _ in range(140):  # past max_clients: the longest idle make room
        s = socket.socket(socket.AF_UNIX)
        s.connect(str(path))
        held.append(s)
    for _ in range(20):
        s = socket.socket(socket.AF_UNIX)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.connect(str(path))
        s.sendall(b'{"cmd": "help"}\n' * 200)
        s.shutdown(socket.SHUT_WR)
        held.append(s)
    for _ in range(2):
        s = socket.socket(socket.AF_UNIX)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.connect(str(path))
        sub = {
            "id": 1,
            "cmd": "subscribe",
            "args": {"topics": ["tickers", "candles"], "queue": 100000},
        }
        s.sendall(json.dumps(sub).encode() + b"\n")
        held.append(s)
    for _ in range(100):  # idle HTTP connections (closed after keepalive_timeout)
        held.append(socket.create_connection(("127.0.0.1", port)))
    return held


def test_fuzzers_and_hostile_clients_leave_the_daemon_serving_and_its_memory_as_it_was() -> None:
    rng = random.Random(16)
    tmp = short_tmpdir()
    (tmp / "v.toml").write_text(CONFIG)
    port = free_port()
    sock = tmp / "c.sock"
    d = DaemonProcess(
        tmp,
        "--config",
        str(tmp / "v.toml"),
        "--port",
        str(port),
        "--socket",
        str(sock),
        "--state-dir",
        str(tmp / "state"),
    )
    try:
        d.wait_log("ready:", timeout=60)
        d.wait_log("sim-perp: backfilled", timeout=120)
        spec = json.loads(
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/openapi.json").read()
        )
        paths = [p for p, ops in spec["paths"].items() if "get" in ops]
        start_rss, start_fds = rss_kb(d.pid), fds(d.pid)
        monitor = Monitor(port, sock)
        monitor.start()
        held = hold_hostile_clients(sock, port)
        server_errors = http_fuzz(port, rng, paths)
        socket_fuzz(sock, rng)
        for s in held:
            s.close()
        monitor.stop.set()
        monitor.join(10)

        def settled() -> bool:
            status = json.loads(
                urllib.request.urlopen(f"http://127.0.0.1:{port}/api/system/status").read()
            )
            return status["stats"]["control"]["clients"] == 0 and (
                rss_kb(d.pid) <= start_rss * 1.10 and fds(d.pid) <= start_fds * 1.10
            )

        wait_for(settled, 60, "clients gone, RSS and fds back within 10 %")
        print(
            f"rss {start_rss} -> {rss_kb(d.pid)} kB, fds {start_fds} -> {fds(d.pid)}, "
            f"slowest status: {monitor.worst}"
        )
        assert server_errors == []
        assert monitor.failures == []
        assert monitor.worst["http"] < 1.0 and monitor.worst["socket"] < 1.0
        log = d.log_text()
        assert "Traceback" not in log
        assert not [r for r in d.records() if r.get("level") in ("error", "critical")]
    finally:
        d.stop()
