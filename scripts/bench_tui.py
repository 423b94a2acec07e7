#!/usr/bin/env python3
"""Rendering cost of ``virtuoso-tui``: CPU and staleness under a firehose of tickers.

A synthetic daemon (a Unix socket speaking the real control protocol, built from
``virtuoso_daemon.protocol.frames``) publishes N symbols x R updates/s. ``virtuoso-tui`` runs
in a real terminal (tmux, 200x60 by default) attached to it. Measured:

* CPU of the TUI process (psutil, user+system, as a fraction of one core);
* staleness of what is on screen: every price the publisher sends *is* its send time
  (seconds mod 10000), so each value read back with ``tmux capture-pane`` tells its
  own age. Reported: the newest value on screen (how far behind the display is) and
  the oldest visible row (the worst row), as p50 / p95 / max over the samples.

Two runs: ``firehose`` (the publisher ignores the TUI's throttle: every update reaches
the TUI, N x R events/s) and ``throttled`` (the publisher conflates per symbol at the
TUI's ``throttle_ms``, as the daemon does). Usage::

    .venv/bin/python scripts/bench_tui.py [--symbols 500] [--rate 10] [--seconds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import msgspec
import psutil

from virtuoso_daemon import protocol
from virtuoso_daemon.core.messages import Ticker

MOD = 10_000.0  # prices are send time mod this many seconds


class Publisher:
    """The synthetic daemon: hello, a few commands, and the ticker firehose."""

    def __init__(self, symbols: int, rate: float, honour_throttle: bool) -> None:
        self.names = [f"S{i:03d}/USDT" for i in range(symbols)]
        self.rate = rate
        self.honour_throttle = honour_throttle
        self.sent = 0

    def ticker(self, i: int, now: float) -> Ticker:
        price = round(now % MOD, 2)
        return Ticker(
            exchange="bench",
            symbol=self.names[i],
            last=price,
            bid=price - 0.01,
            ask=price + 0.01,
            change_pct=(i % 21 - 10) / 3,
            quote_volume=1e9 / (i + 1),  # a stable order: sorted by volume = by index
            ts=int(now * 1000),
            recv_ts=now,
        )

    def hello(self) -> bytes:
        hello = protocol.Hello(
            protocol=protocol.PROTOCOL_VERSION,
            version="bench",
            pid=os.getpid(),
            commands=["feeds.list", "status", "subscribe", "tickers", "unsubscribe"],
            topics=["tickers"],
        )
        return protocol.encode_frame(protocol.Event(topic=protocol.HELLO_TOPIC, data=hello))

    def answer(self, cmd: str, args: dict[str, Any]) -> Any:
        now = time.time()
        if cmd == "status":
            return {"version": "bench", "uptime": 1.0, "actors": [], "bus": {}}
        if cmd == "feeds.list":
            return [{"exchange": "bench", "state": "connected", "symbols": self.names}]
        if cmd == "tickers":
            return {"tickers": [self.ticker(i, now) for i in range(len(self.names))]}
        if cmd in ("subscribe", "unsubscribe"):
            return {"subscribed": args.get("topics", [])}
        raise KeyError(cmd)

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(self.hello())
        throttle: list[float | None] = [None]
        pump: asyncio.Task[None] | None = None
        lines = protocol.LineBuffer()
        try:
            while data := await reader.read(65536):
                for line in lines.feed(data):
                    req = msgspec.json.decode(line, type=protocol.Request)
                    try:
                        result = self.answer(req.cmd, req.args)
                        frame: Any = protocol.Reply(id=req.id, result=result)
                    except KeyError:
                        info = protocol.ErrorInfo(code="unknown_command", message=req.cmd)
                        frame = protocol.ErrorReply(id=req.id, error=info)
                    writer.write(protocol.encode_frame(frame))
                    if req.cmd == "subscribe" and "tickers" in req.args.get("topics", []):
                        ms = req.args.get("throttle_ms")
                        throttle[0] = ms / 1000 if ms and self.honour_throttle else None
                        if pump is None:
                            pump = asyncio.create_task(self.pump(writer, throttle))
                await writer.drain()
        except (ConnectionError, OSError, asyncio.CancelledError):
            pass  # the TUI went away, or the run is over
        finally:
            if pump is not None:
                pump.cancel()
            writer.close()

    async def pump(self, writer: asyncio.StreamWriter, throttle: list[float | None]) -> None:
        """Every ~10 ms send the updates due (round robin); conflated when throttled."""
        n = len(self.names)
        per_second = n * self.rate
        due, cursor, last_flush = 0.0, 0, time.monotonic()
        last = last_flush
        pending: set[int] = set()
        while True:
            await asyncio.sleep(0.01)
            now_m = time.monotonic()
            due += (now_m - last) * per_second  # by the clock, not by the (late) tick
            last = now_m
            count, due = int(due), due - int(due)
            idx = [(cursor + k) % n for k in range(count)]
            cursor = (cursor + count) % n
            if throttle[0] is not None:
                pending.update(idx)
                if time.monotonic() - last_flush < throttle[0]:
                    continue
                idx, last_flush = sorted(pending), time.monotonic()
                pending.clear()
            now = time.time()
            buf = bytearray()
            for i in idx:
                protocol.encode_frame_into(
                    protocol.Event(topic="tickers", data=self.ticker(i, now)), buf
                )
            writer.write(bytes(buf))
            self.sent += len(idx)
            await writer.drain()


def tmux(base: list[str], *args: str) -> str:
    out = subprocess.run([*base, *args], capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError(f"tmux {args[0]} failed: {out.stderr.strip()}")
    return out.stdout


def ages(screen: str, now: float) -> list[float]:
    """The age of every price on screen (each price is its own send time mod MOD)."""
    out = []
    for line in screen.splitlines():
        parts = line.split()
        if len(parts) < 3 or not parts[0].startswith("S") or not parts[0].endswith("/USDT"):
            continue
        for token in parts[1:3]:  # the Last column (after the exchange on wide layouts)
            try:
                value = float(token.replace(",", ""))
            except ValueError:
                continue
            out.append((now % MOD - value) % MOD)
            break
    return out


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def run(mode: str, ns: argparse.Namespace, tui: str) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="vtb-", dir="/tmp"))
    sock = tmp / "bench.sock"
    pub = Publisher(ns.symbols, ns.rate, honour_throttle=(mode == "throttled"))
    server = await asyncio.start_unix_server(pub.serve, path=str(sock), limit=1 << 20)
    base = [shutil.which("tmux") or "tmux", "-L", f"vtb-{os.getpid()}", "-f", "/dev/null"]
    w, h = (int(x) for x in ns.size.split("x"))
    try:
        cmd = f"{tui} --socket {sock} --throttle-ms {ns.throttle_ms} --fps {ns.fps}"
        tmux(base, "new-session", "-d", "-s", "b", "-x", str(w), "-y", str(h), cmd)
        pid = int(tmux(base, "list-panes", "-t", "b", "-F", "#{pane_pid}").strip())
        proc = psutil.Process(pid)
        await asyncio.sleep(ns.warmup)
        sent0, cpu0, t0 = pub.sent, proc.cpu_times(), time.monotonic()
        newest: list[float] = []
        oldest: list[float] = []
        while time.monotonic() - t0 < ns.seconds:
            await asyncio.sleep(0.5)
            screen = await asyncio.to_thread(tmux, base, "capture-pane", "-p", "-t", "b")
            a = ages(screen, time.time())
            if a:
                newest.append(min(a))
                oldest.append(max(a))
        cpu1, elapsed = proc.cpu_times(), time.monotonic() - t0
        cpu = (cpu1.user + cpu1.system - cpu0.user - cpu0.system) / elapsed
        return {
            "mode": mode,
            "events_per_s": (pub.sent - sent0) / elapsed,
            "cpu_cores": cpu,
            "rss_mb": proc.memory_info().rss / 2**20,
            "samples": len(newest),
            "newest": newest,
            "oldest": oldest,
        }
    finally:
        await asyncio.to_thread(subprocess.run, [*base, "kill-server"], capture_output=True)
        server.close()
        with contextlib.suppress(Exception):
            await server.wait_closed()
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--symbols", type=int, default=500)
    p.add_argument("--rate", type=float, default=10.0, help="updates per symbol per second")
    p.add_argument("--seconds", type=float, default=20.0, help="measured time per run")
    p.add_argument("--warmup", type=float, default=4.0)
    p.add_argument("--size", default="200x60", help="terminal size WxH")
    p.add_argument("--fps", type=float, default=5.0, help="the TUI's --fps")
    p.add_argument("--throttle-ms", type=int, default=200, help="the TUI's --throttle-ms")
    p.add_argument("--modes", default="firehose,throttled")
    ns = p.parse_args()
    tui = str(Path(sys.executable).with_name("virtuoso-tui"))
    if shutil.which("tmux") is None:
        print("bench_tui: tmux is required (apt-get install tmux)", file=sys.stderr)
        return 2
    print(
        f"virtuoso-tui {ns.size}, {ns.symbols} symbols x {ns.rate:g} updates/s, "
        f"--fps {ns.fps:g} --throttle-ms {ns.throttle_ms}, {ns.seconds:g} s per run, "
        f"{psutil.cpu_count()} CPUs"
    )
    print(
        f"{'mode':<10} {'events/s':>9} {'CPU (cores)':>11} {'RSS MB':>7} "
        f"{'newest age p50/p95/max (s)':>27} {'oldest row p50/p95/max (s)':>27}"
    )
    for mode in ns.modes.split(","):
        r = asyncio.run(run(mode, ns, tui))
        if not r["samples"]:
            print(f"{mode:<10} no prices could be read from the screen")
            continue
        n, o = r["newest"], r["oldest"]
        print(
            f"{mode:<10} {r['events_per_s']:>9.0f} {r['cpu_cores']:>11.2f} {r['rss_mb']:>7.0f} "
            f"{statistics.median(n):>9.2f}/{pct(n, 0.95):.2f}/{max(n):.2f}".ljust(59)
            + f"{statistics.median(o):>9.2f}/{pct(o, 0.95):.2f}/{max(o):.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
