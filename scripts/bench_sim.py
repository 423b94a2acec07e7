#!/usr/bin/env python3
"""Benchmark the simulated exchange: REST requests/s and websocket messages/s.

Not a test. Starts ``virtuoso-sim`` (rate limits off) in a subprocess, plus a bare
aiohttp "hello" server as the baseline, then:

1. REST with ``wrk`` (if installed) against several endpoints of the sim and ``/ping``
   of the bare server; the ratio sim/bare says what the Binance layer costs;
2. REST with an aiohttp client (the fallback when wrk is missing);
3. websockets: N aiohttp clients, each subscribing to every stream of every market
   (trade, aggTrade, ticker, miniTicker, depth, kline_1m, bookTicker, markPrice),
   counting frames for a few seconds.

During every phase the market clock keeps ticking; the report shows the tick rate the
sim sustained under load (``/__sim/stats``), so "fast" never means "frozen".

Usage: .venv/bin/python scripts/bench_sim.py [--duration 10] [--ws-clients 24] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

REPO = Path(__file__).resolve().parent.parent
PY = sys.executable
sys.path.insert(0, str(REPO / "scripts"))

from bench.common import free_port, wait_port_blocking  # noqa: E402

BARE_SERVER = """
import sys, uvloop
from aiohttp import web
async def ping(request):
    return web.Response(body=b"{}", content_type="application/json")
app = web.Application()
app.router.add_get("/api/v3/ping", ping)
uvloop.install()
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)
"""

REST_PATHS = [
    "/api/v3/ping",
    "/api/v3/ticker/24hr?symbol=BTCUSDT",
    "/api/v3/ticker/24hr",
    "/api/v3/depth?symbol=ETHUSDT&limit=100",
    "/api/v3/klines?symbol=ETHUSDT&interval=1h&limit=1000",
    "/fapi/v1/premiumIndex",
]


def wait_port(port: int, timeout: float = 30.0) -> None:
    wait_port_blocking(port, timeout)


def start_sim(port: int, tick: float, speed: float) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [
            PY,
            "-m",
            "virtuoso_daemon.sim.cli",
            "--port",
            str(port),
            "--no-rate-limit",
            "--tick-interval",
            str(tick),
            "--speed",
            str(speed),
            "--log-level",
            "warning",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_port(port)
    return proc


def stats(base: str) -> dict[str, Any]:
    import urllib.request

    with urllib.request.urlopen(f"{base}/__sim/stats", timeout=10) as resp:
        result: dict[str, Any] = json.loads(resp.read())
        return result


def run_wrk(url: str, duration: int, connections: int) -> dict[str, Any]:
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency", url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = re.search(r"50%\s+([\d.]+\w+)", out)
    p99 = re.search(r"99%\s+([\d.]+\w+)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": rps,
        "p50": p50.group(1) if p50 else "?",
        "p99": p99.group(1) if p99 else "?",
        "non2xx": int(non2xx.group(1)) if non2xx else 0,
    }


async def aiohttp_rps(url: str, duration: float, concurrency: int) -> float:
    done = 0
    stop = time.monotonic() + duration

    async def worker(http: aiohttp.ClientSession) -> None:
        nonlocal done
        while time.monotonic() < stop:
            async with http.get(url) as resp:
                await resp.read()
                if resp.status == 200:
                    done += 1

    conn = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=conn) as http:
        start = time.monotonic()
        await asyncio.gather(*(worker(http) for _ in range(concurrency)))
        return done / (time.monotonic() - start)


def ws_streams(kind: str, ids: list[str]) -> list[str]:
    channels = [
        "trade",
        "aggTrade",
        "ticker",
        "miniTicker",
        "depth@100ms",
        "kline_1m",
        "bookTicker",
    ]
    if kind == "futures":
        channels.append("markPrice@1s")
    return [f"{i.lower()}@{c}" for i in ids for c in channels]


async def ws_rate(base: str, clients: int, seconds: float) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{base}/api/v3/exchangeInfo") as resp:
            spot_ids = [s["symbol"] for s in (await resp.json())["symbols"]]
        async with http.get(f"{base}/fapi/v1/exchangeInfo") as resp:
            fut_ids = [s["symbol"] for s in (await resp.json())["symbols"]]
        ws_base = "ws" + base[4:]
        counts = [0] * clients
        counting = asyncio.Event()
        stop = asyncio.Event()

        async def client(i: int) -> None:
            kind = "spot" if i % 2 == 0 else "futures"
            url = f"{ws_base}/ws/stream" if kind == "spot" else f"{ws_base}/fstream/ws"
            streams = ws_streams(kind, spot_ids if kind == "spot" else fut_ids)
            async with http.ws_connect(url, max_msg_size=0) as ws:
                for k in range(0, len(streams), 100):
                    await ws.send_str(
                        json.dumps({"method": "SUBSCRIBE", "params": streams[k : k + 100], "id": k})
                    )
                while not stop.is_set():
                    msg = await ws.receive()
                    if msg.type != aiohttp.WSMsgType.TEXT:
                        break
                    if counting.is_set():
                        counts[i] += 1

        tasks = [asyncio.create_task(client(i)) for i in range(clients)]
        await asyncio.sleep(2.0)  # subscriptions settle
        before = stats(base)
        counting.set()
        t0 = time.monotonic()
        await asyncio.sleep(seconds)
        counting.clear()
        elapsed = time.monotonic() - t0
        after = stats(base)
        stop.set()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return {
        "clients": clients,
        "streams_per_client": len(ws_streams("futures", fut_ids)),
        "received_per_s": sum(counts) / elapsed,
        "server_sent_per_s": (after["ws_messages_sent"] - before["ws_messages_sent"]) / elapsed,
        "ticks_per_s": (after["tick"] - before["tick"]) / elapsed,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    ap.add_argument("--connections", type=int, default=50, help="wrk / aiohttp connections")
    ap.add_argument("--ws-clients", type=int, default=24)
    ap.add_argument("--ws-seconds", type=float, default=10.0)
    ap.add_argument("--tick-interval", type=float, default=0.25)
    ap.add_argument("--speed", type=float, default=1.0)
    ap.add_argument("--json", action="store_true", help="print the results as JSON too")
    args = ap.parse_args()

    report: dict[str, Any] = {"cpus": os.cpu_count(), "rest_wrk": {}, "rest_aiohttp": {}}
    port, bare_port = free_port(), free_port()
    base = f"http://127.0.0.1:{port}"
    sim = start_sim(port, args.tick_interval, args.speed)
    bare = subprocess.Popen(
        [PY, "-c", BARE_SERVER, str(bare_port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_port(bare_port)
        if shutil.which("wrk"):
            bare_wrk = run_wrk(
                f"http://127.0.0.1:{bare_port}/api/v3/ping", args.duration, args.connections
            )
            report["rest_wrk"]["bare aiohttp /api/v3/ping (baseline)"] = bare_wrk
            for path in REST_PATHS:
                before = stats(base)
                t0 = time.monotonic()
                res = run_wrk(base + path, args.duration, args.connections)
                after = stats(base)
                res["ticks_per_s"] = round(
                    (after["tick"] - before["tick"]) / (time.monotonic() - t0), 2
                )
                res["vs_baseline"] = round(res["rps"] / bare_wrk["rps"], 2)
                report["rest_wrk"][path] = res
        else:
            print("wrk not found: only the aiohttp client is used", file=sys.stderr)
        for path in REST_PATHS[:2]:
            report["rest_aiohttp"][path] = round(
                asyncio.run(aiohttp_rps(base + path, min(args.duration, 5), args.connections)), 1
            )
        report["ws"] = asyncio.run(ws_rate(base, args.ws_clients, args.ws_seconds))
    finally:
        for proc in (sim, bare):
            proc.terminate()
            proc.wait(10)

    print(f"machine: {report['cpus']} CPUs; sim tick {args.tick_interval}s speed {args.speed}")
    print(f"REST via wrk (-t1 -c{args.connections} -d{args.duration}s):")
    for path, r in report["rest_wrk"].items():
        extra = (
            f"  x{r['vs_baseline']} of bare, {r['ticks_per_s']} ticks/s"
            if "vs_baseline" in r
            else ""
        )
        print(
            f"  {path:58s} {r['rps']:9.0f} req/s  p50 {r['p50']:>7s}  p99 {r['p99']:>7s}"
            f"  non-2xx {r['non2xx']}{extra}"
        )
    print(f"REST via aiohttp client ({args.connections} concurrent):")
    for path, rps in report["rest_aiohttp"].items():
        print(f"  {path:58s} {rps:9.0f} req/s")
    ws = report["ws"]
    print(
        f"websockets: {ws['clients']} clients x ~{ws['streams_per_client']} streams: "
        f"{ws['received_per_s']:.0f} msg/s received, {ws['server_sent_per_s']:.0f} msg/s "
        f"sent, {ws['ticks_per_s']:.2f} ticks/s"
    )
    if args.json:
        print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
