#!/usr/bin/env python3
"""Benchmark: ticker events per second over the control socket (not a test).

What it does, in one run:

1. **bare**: a bare anyio Unix-socket server writes pre-encoded ticker event lines as
   fast as it can to a subscriber process that counts lines: the ceiling of the
   transport and of line splitting on this machine, the baseline for the ratio;
2. **daemon**: the real control actor inside a supervisor, with a synthetic
   publisher putting ``--rate`` tickers/s for ``--symbols`` symbols on the bus
   (every millisecond, as a feed would), and a subscriber process on the socket:

   * ``raw``: counts lines (what the daemon can push),
   * ``client``: :class:`virtuoso_daemon.protocol.frames.ControlClient`, decoding every
     event into a :class:`~virtuoso_daemon.core.messages.Ticker` (what a TUI sees),
   * ``throttled``: the client with ``throttle_ms`` (newest per symbol per interval).

For each it prints events/s received, events dropped (told with ``_dropped``), the
ratio to the bare baseline, and how late the publisher's 1 ms ticks ran (p50, p99,
max): the publisher shares the event loop with the socket server, so a lagging
publisher would mean the socket slows the feeds.

Usage::

    .venv/bin/python scripts/bench_socket.py [--rates 10000,20000,50000]
        [--symbols 500] [--seconds 5] [--throttle-ms 250] [--json out.json]

Each side is one Python process (the daemon, the subscriber); run it on an otherwise
idle host with at least two cores and compare ratios rather than absolute numbers.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import anyio  # noqa: E402
import anyio.abc  # noqa: E402
import anyio.lowlevel  # noqa: E402
import msgspec  # noqa: E402

from virtuoso_daemon.core.bus import Topics  # noqa: E402
from virtuoso_daemon.core.config import load_config  # noqa: E402
from virtuoso_daemon.core.messages import Ticker  # noqa: E402
from virtuoso_daemon.protocol import Event, encode_frame_into  # noqa: E402

# --- subscriber side (a separate process) ----------------------------------------------


async def _subscriber(ns: argparse.Namespace) -> None:
    """Count events for ``seconds`` after the first one; print one JSON line."""
    from virtuoso_daemon.protocol import ControlClient, RawConnection, receive_some

    counted = dropped = 0
    if ns.mode == "bare-raw":
        stream = await anyio.connect_unix(ns.socket)
        sock = stream.extra(anyio.abc.SocketAttribute.raw_socket)
        print("ready", flush=True)
        chunk = await receive_some(sock, 1 << 20)
        start = time.perf_counter()
        while time.perf_counter() - start < ns.seconds and chunk:
            counted += chunk.count(b"\n")
            chunk = await receive_some(sock, 1 << 20)
        elapsed = time.perf_counter() - start
        await stream.aclose()
    elif ns.mode == "raw":
        # a client that only counts lines: what the daemon can push
        async with RawConnection.open(ns.socket) as conn:
            await conn.send_frame(
                {"id": 1, "cmd": "subscribe", "args": {"topics": ["tickers"], "queue": ns.queue}}
            )
            await conn.reply(1)
            print("ready", flush=True)
            chunk = await receive_some(conn.sock, 1 << 20)
            start = time.perf_counter()
            while time.perf_counter() - start < ns.seconds and chunk:
                counted += chunk.count(b'"topic":"tickers"')
                dropped += chunk.count(b'"topic":"_dropped"')
                chunk = await receive_some(conn.sock, 1 << 20)
            elapsed = time.perf_counter() - start
    elif ns.mode == "batches":
        async with ControlClient.connect(ns.socket, event_buffer=100_000) as client:
            await client.subscribe("tickers", queue=ns.queue, throttle_ms=ns.throttle_ms)
            print("ready", flush=True)
            batches = client.event_batches()
            await anext(batches)
            start = time.perf_counter()
            async for batch in batches:
                for event in batch:
                    if event.topic == "tickers":
                        counted += 1
                    else:
                        dropped += event.data.count
                if time.perf_counter() - start >= ns.seconds:
                    break
            elapsed = time.perf_counter() - start
    else:
        async with ControlClient.connect(ns.socket, event_buffer=100_000) as client:
            await client.subscribe("tickers", queue=ns.queue, throttle_ms=ns.throttle_ms)
            print("ready", flush=True)
            events = client.events()
            first = await anext(events)
            assert isinstance(first.data, Ticker)
            start = time.perf_counter()
            async for event in events:
                if event.topic == "tickers":
                    counted += 1
                else:
                    dropped += event.data.count
                if time.perf_counter() - start >= ns.seconds:
                    break
            elapsed = time.perf_counter() - start
    print(json.dumps({"events": counted, "dropped_notices": dropped, "seconds": elapsed}))


# --- publisher and daemon side ---------------------------------------------------------


def _tickers(symbols: int) -> list[Ticker]:
    now = time.time()
    return [
        Ticker(
            exchange="bench",
            symbol=f"S{i:04d}/USDT",
            last=100.0 + i,
            bid=99.9 + i,
            ask=100.1 + i,
            change_pct=1.25,
            quote_volume=1.0e6,
            ts=int(now * 1000),
            recv_ts=now,
        )
        for i in range(symbols)
    ]


async def _publish_max(bus: Any, seconds: float, pool: list[Ticker]) -> dict[str, Any]:
    """As fast as the loop allows: a burst per symbol set, then one loop iteration."""
    published = 0
    start = anyio.current_time()
    while anyio.current_time() - start < seconds:
        for t in pool:
            bus.publish_nowait(Topics.TICKERS, t)
        published += len(pool)
        await anyio.lowlevel.checkpoint()
    return {"published": published, "publish_rate": published / seconds}


async def _publish(bus: Any, rate: int, seconds: float, pool: list[Ticker]) -> dict[str, Any]:
    """``rate`` tickers/s in 1 ms ticks; returns publish count and tick lateness."""
    if rate <= 0:
        return await _publish_max(bus, seconds, pool)
    per_tick = max(1, rate // 1000)
    interval = per_tick / rate
    lateness: list[float] = []
    published = 0
    start = anyio.current_time()
    next_at = start
    n = len(pool)
    while next_at - start < seconds:
        now = anyio.current_time()
        lateness.append(max(0.0, now - next_at))
        for _ in range(per_tick):
            bus.publish_nowait(Topics.TICKERS, pool[published % n])
            published += 1
        next_at += interval
        await anyio.sleep_until(next_at)
    lateness.sort()
    return {
        "published": published,
        "publish_rate": published / seconds,
        "lag_p50_ms": 1000 * lateness[len(lateness) // 2],
        "lag_p99_ms": 1000 * lateness[int(len(lateness) * 0.99)],
        "lag_max_ms": 1000 * lateness[-1],
    }


async def _start_subscriber(args: list[str]) -> subprocess.Popen[bytes]:
    command = [sys.executable, __file__, "_sub", *args]
    proc = await anyio.to_thread.run_sync(
        lambda: subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    )
    assert proc.stdout is not None
    line = await anyio.to_thread.run_sync(proc.stdout.readline)
    if line.strip() != b"ready":
        raise RuntimeError(
            f"subscriber failed: {line!r} {proc.stderr.read() if proc.stderr else ''!r}"
        )
    return proc


async def _finish(proc: subprocess.Popen[bytes]) -> dict[str, Any]:
    out, err = await anyio.to_thread.run_sync(proc.communicate)
    if proc.returncode != 0:
        raise RuntimeError(f"subscriber failed: {err.decode()}")
    result: dict[str, Any] = json.loads(out.splitlines()[-1])
    return result


async def bench_bare(path: Path, symbols: int, seconds: float) -> dict[str, Any]:
    """A bare server writing pre-encoded event lines as fast as the socket takes them."""
    buf = bytearray()
    for t in _tickers(symbols):
        encode_frame_into(Event(topic="tickers", data=t), buf)
    block = bytes(buf) * max(1, (256 * 1024) // len(buf))
    listener = await anyio.create_unix_listener(path)
    done = anyio.Event()

    async def serve(stream: anyio.abc.SocketStream) -> None:
        from virtuoso_daemon.protocol import send_all

        sock = stream.extra(anyio.abc.SocketAttribute.raw_socket)
        try:
            while not done.is_set():
                await send_all(sock, block)
        except OSError:
            pass
        finally:
            await stream.aclose()

    async with anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, serve)
        proc = await _start_subscriber(
            ["--socket", str(path), "--mode", "bare-raw", "--seconds", str(seconds)]
        )
        result = await _finish(proc)
        done.set()
        tg.cancel_scope.cancel()
    await listener.aclose()
    os.unlink(path)
    return {"scenario": "bare socket (pre-encoded lines)", "rate": None, **_rates(result)}


def _rates(result: dict[str, Any]) -> dict[str, Any]:
    return {
        "received_per_s": result["events"] / result["seconds"],
        "dropped_notices": result["dropped_notices"],
    }


async def bench_daemon(
    tmp: Path,
    rate: int,
    symbols: int,
    seconds: float,
    mode: str,
    throttle_ms: int | None,
    freeze_gc: bool = False,
) -> dict[str, Any]:
    from tests.harness import running_daemon
    from virtuoso_daemon.control import ControlActor
    from virtuoso_daemon.core.supervisor import ActorSpec

    sock = tmp / f"ctl-{mode}-{rate}.sock"
    cfg = load_config(
        None,
        environ={},
        overrides={
            "daemon": {
                "socket": str(sock),
                "state_dir": str(tmp / "state"),
                "log_level": "warning",
            },
            "memcached": {"enabled": False},
        },
    )
    pool = _tickers(symbols)
    async with running_daemon(cfg, [ActorSpec("control", ControlActor)]) as d:
        if freeze_gc:  # what the daemon could do after startup: skip long-lived objects in GC
            gc.collect()
            gc.freeze()
        sub_args = [
            "--socket",
            str(sock),
            "--mode",
            mode,
            "--seconds",
            str(seconds),
            "--queue",
            "4096",
        ]
        if throttle_ms:
            sub_args += ["--throttle-ms", str(throttle_ms)]
        if mode == "none":  # the publisher alone: the lag it has without any client
            pub = await _publish(d.runtime.bus, rate, seconds, pool)
            result = {"events": 0, "dropped_notices": 0, "seconds": seconds}
        else:
            proc = await _start_subscriber(sub_args)
            pub = await _publish(d.runtime.bus, rate, seconds + 1.5, pool)
            result = await _finish(proc)
        drops = sum(
            t.get("tickers", 0)
            for n, t in d.runtime.bus.drops().items()
            if n.startswith("control#")
        )
    label = {
        "none": "daemon, no subscriber (publisher alone)",
        "raw": "daemon, line-counting client",
        "client": "daemon, ControlClient.events() (typed)",
        "batches": "daemon, ControlClient.event_batches() (typed)",
    }.get(mode, mode)
    if throttle_ms:
        label = f"daemon, ControlClient, throttle {throttle_ms} ms"
    return {"scenario": label, "rate": rate, **_rates(result), "bus_drops": drops, **pub}


async def main_async(ns: argparse.Namespace) -> list[dict[str, Any]]:
    tmp = Path(tempfile.mkdtemp(prefix="vbench-", dir="/tmp"))
    rows = [await bench_bare(tmp / "bare.sock", ns.symbols, ns.seconds)]
    for rate in [*ns.rates, 0]:  # 0: publish as fast as possible (saturation)
        for mode in ("none", "raw", "client", "batches") if rate else ("raw", "client", "batches"):
            rows.append(
                await bench_daemon(tmp, rate, ns.symbols, ns.seconds, mode, None, ns.freeze_gc)
            )
    rows.append(
        await bench_daemon(
            tmp, max(ns.rates), ns.symbols, ns.seconds, "client", ns.throttle_ms, ns.freeze_gc
        )
    )
    return rows


def _fmt(row: dict[str, Any], bare: float) -> str:
    def num(key: str, digits: int = 0) -> str:
        v = row.get(key)
        return "-" if v is None else f"{v:,.{digits}f}"

    offered = "max" if row.get("rate") == 0 else num("rate")
    # the ratio to the bare socket means something only when both push all they can
    ratio = f"{row['received_per_s'] / bare:.3f}" if row.get("rate") in (0, None) else ""
    return (
        f"| {row['scenario']} | {offered} | {num('received_per_s')} | "
        f"{ratio} | {num('bus_drops')} | "
        f"{num('lag_p50_ms', 2)} / {num('lag_p99_ms', 2)} / {num('lag_max_ms', 1)} |"
    )


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_sub":
        p = argparse.ArgumentParser()
        p.add_argument("_sub")
        p.add_argument("--socket", required=True)
        p.add_argument("--mode", required=True)
        p.add_argument("--seconds", type=float, required=True)
        p.add_argument("--queue", type=int, default=4096)
        p.add_argument("--throttle-ms", type=int)
        anyio.run(_subscriber, p.parse_args())
        return
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--rates", default="10000,20000,50000", help="offered tickers/s, comma-separated"
    )
    p.add_argument("--symbols", type=int, default=500)
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--throttle-ms", type=int, default=250)
    p.add_argument("--json", metavar="PATH", help="also write the rows as JSON")
    p.add_argument(
        "--freeze-gc",
        action="store_true",
        help="gc.freeze() after the daemon starts (shows what full GC passes cost)",
    )
    ns = p.parse_args()
    ns.rates = [int(r) for r in ns.rates.split(",")]
    rows = anyio.run(main_async, ns)
    bare = rows[0]["received_per_s"]
    python = sys.version.split()[0]
    print(
        f"symbols {ns.symbols}, {ns.seconds:g} s per run, {os.cpu_count()} cpus, "
        f"python {python}, gc.freeze: {'yes' if ns.freeze_gc else 'no'}"
    )
    print(
        "| scenario | offered/s | received/s | vs bare | dropped | publisher lag ms p50/p99/max |"
    )
    print("|---|---:|---:|---:|---:|---|")
    for row in rows:
        print(_fmt(row, bare))
    if ns.json:
        Path(ns.json).write_text(msgspec.json.encode(rows).decode())


if __name__ == "__main__":
    main()
