#!/usr/bin/env python3
"""Benchmark: the daemon's hot endpoints against a bare aiohttp app (not a test).

What it does, in one run:

1. starts a memcached on a free port (when installed; else the cache is memory-only);
2. starts the daemon in a subprocess with the market store, the ticker cache and
   the HTTP API, plus a synthetic publisher that puts ``--rate`` tickers per
   second for ``--symbols`` symbols on the bus, in ``--ticks`` bursts a second (4:
   the simulator's, and Binance's, push cadence; 100 for a smooth stream): the real
   pipeline behind the API, without exchange feeds;
3. fetches the bodies of ``/api/market/tickers`` and ``/health/quick`` and starts a
   bare aiohttp app in another subprocess that returns exactly those bytes;
4. runs ``wrk --latency`` against each endpoint in rounds of four short runs,
   daemon, bare, bare, daemon (an ABBA round: a drift in the machine's speed during
   the round cancels out; every other round is BAAB, so that neither server is
   always the one running twice in a row), and prints requests/s, p50 and p99 latency and the
   ratio daemon / bare: the median of the rounds' ratios, with their quartiles
   (target: >= 0.8).

Usage::

    .venv/bin/python scripts/bench_api.py [--symbols 300] [--rate 600] [--ticks 4] [--duration 3]
        [--rounds 8] [--connections 50] [--threads 1] [--aa] [--json out.json]

``--aa`` measures the method itself: a second bare app takes the daemon's place, so
the ratio should be 1.00 and its quartiles show how far apart two identical servers
land on this machine.

wrk must be installed (``/usr/bin/wrk``). Each server is one Python process, as
the daemon is; wrk and the servers share the machine, so run it on an otherwise
idle host and compare ratios rather than absolute numbers (on a shared VM the same
server's throughput swings by +-20 % from one second to the next; hence short
interleaved runs and medians).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

from bench.common import free_port, wait_port_blocking  # noqa: E402


def wait_port(port: int, timeout: float = 20.0) -> None:
    wait_port_blocking(port, timeout)


def http_get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=5) as resp:
        body: bytes = resp.read()
        return body


# --- the servers (run in subprocesses) ----------------------------------------------------


def serve_daemon(
    port: int, mc_port: int, symbols: int, rate: float, ticks: float, thread: bool, loop: str
) -> None:
    """The daemon's market pipeline with a synthetic ticker publisher instead of feeds."""
    import anyio
    import anyio.abc

    from virtuoso_daemon.core.bus import Topics
    from virtuoso_daemon.core.config import load_config
    from virtuoso_daemon.core.logs import setup_logging
    from virtuoso_daemon.core.messages import Ticker
    from virtuoso_daemon.core.runtime import Runtime
    from virtuoso_daemon.core.supervisor import ActorSpec
    from virtuoso_daemon.http.server import HttpApiActor
    from virtuoso_daemon.market.actor import MarketStoreActor
    from virtuoso_daemon.tickers.actor import TickerCacheActor

    names = [f"C{i:03d}/USDT" for i in range(symbols - 1)] + ["BTC/USDT"]
    state = tempfile.mkdtemp(prefix="virtuoso-bench-")
    cfg = load_config(
        None,
        environ={},
        overrides={
            "daemon": {
                "port": port,
                "state_dir": state,
                "log_level": "warning",
                "event_loop": loop,
            },
            "api": {"thread": thread},
            "memcached": {"enabled": mc_port > 0, "port": mc_port},
            "exchanges": [{"name": "bench", "symbols": names}],
        },
    )
    setup_logging("warning", "text")

    class SyntheticFeed:
        """Publishes ``rate`` tickers per second in ``ticks`` bursts, cycling through the
        symbols (a feed delivers a tick's tickers together, as one websocket push)."""

        name = "synthetic_feed"

        def __init__(self, runtime: Runtime) -> None:
            self.rt = runtime

        def publish(self, sym: str, p: float) -> None:
            now = time.time()
            self.rt.bus.publish_nowait(
                Topics.TICKERS,
                Ticker(
                    exchange="bench",
                    symbol=sym,
                    last=p,
                    bid=p * 0.9995,
                    ask=p * 1.0005,
                    open=100.0,
                    high=max(p, 100.0),
                    low=min(p, 100.0),
                    change_pct=(p / 100.0 - 1) * 100,
                    base_volume=1000.0,
                    quote_volume=1000.0 * p,
                    ts=int(now * 1000),
                    recv_ts=now,
                ),
            )

        async def run(
            self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
        ) -> None:
            prices = {s: 100.0 for s in names}
            rng = random.Random(1)
            task_status.started()
            for sym in names:  # the whole universe once, then ``rate`` per second
                self.publish(sym, 100.0)
            tick = 1.0 / ticks
            per_tick = rate * tick
            owed = 0.0
            i = 0
            deadline = time.monotonic()
            while True:
                owed += per_tick
                while owed >= 1.0:
                    owed -= 1.0
                    sym = names[i % len(names)]
                    i += 1
                    p = prices[sym] = prices[sym] * (1 + rng.gauss(0, 0.001))
                    self.publish(sym, p)
                # on a fixed grid, so the rate does not drift with the work; after a
                # pause (SIGSTOP while the baseline runs) no catch-up burst
                now = time.monotonic()
                deadline = max(deadline + tick, now)
                await anyio.sleep(deadline - now)

    specs = [
        ActorSpec("market_store", MarketStoreActor),
        ActorSpec("ticker_cache", TickerCacheActor),
        ActorSpec("synthetic_feed", SyntheticFeed, depends_on=("ticker_cache",)),
        ActorSpec("http_api", HttpApiActor, depends_on=("market_store", "ticker_cache")),
    ]

    # the daemon's own process set-up and serve(): malloc settings, GC policy
    from virtuoso_daemon.core import malloc
    from virtuoso_daemon.core.event_loop import anyio_backend_options
    from virtuoso_daemon.process.run import serve

    malloc.tune()
    runtime = Runtime(config=cfg)
    anyio.run(serve, runtime, specs, backend_options=anyio_backend_options(cfg.daemon.event_loop))
    shutil.rmtree(state, ignore_errors=True)


def serve_bare(port: int, body_dir: str, loop: str) -> None:
    """A bare aiohttp app returning the daemon's bytes, on the daemon's kind of loop."""
    from aiohttp import web

    tickers = Path(body_dir, "tickers.json").read_bytes()
    health = Path(body_dir, "health.json").read_bytes()

    async def tickers_handler(request: web.Request) -> web.Response:
        return web.Response(body=tickers, content_type="application/json")

    async def health_handler(request: web.Request) -> web.Response:
        return web.Response(body=health, content_type="application/json")

    app = web.Application()
    app.router.add_get("/api/market/tickers", tickers_handler)
    app.router.add_get("/health/quick", health_handler)
    from virtuoso_daemon.core.event_loop import new_loop

    event_loop = new_loop("uvloop" if loop == "uvloop" else "asyncio")
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None, loop=event_loop)


# --- measuring ---------------------------------------------------------------------------

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    m = re.match(r"([\d.]+)(us|ms|s)$", text.strip())
    if not m:
        raise ValueError(f"cannot parse wrk latency {text!r}")
    return float(m.group(1)) * _UNITS[m.group(2)]


def pinned(cpus: set[int] | None) -> Any:
    """A ``preexec_fn`` that pins a child (and every thread it starts) to ``cpus``."""
    if not cpus:
        return None
    return lambda: os.sched_setaffinity(0, cpus)


def run_wrk(
    url: str, duration: int, connections: int, threads: int, cpus: set[int] | None = None
) -> dict[str, float]:
    wrk = shutil.which("wrk") or "/usr/bin/wrk"
    cmd = [wrk, f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency", url]
    if cpus:
        cmd = ["taskset", "-c", ",".join(map(str, sorted(cpus))), *cmd]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    lat = dict(re.findall(r"^\s+(50|75|90|99)%\s+(\S+)$", out, re.M))
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)
    return {
        "rps": rps,
        "p50_ms": _ms(lat["50"]),
        "p99_ms": _ms(lat["99"]),
        "non_2xx": float(errors.group(1)) if errors else 0.0,
        "socket_errors": 1.0 if socket_errors else 0.0,
    }


def median_run(runs: list[dict[str, float]]) -> dict[str, float]:
    """Per-metric median over the runs (robust to one disturbed run)."""
    return {k: statistics.median(r[k] for r in runs) for k in runs[0]}


def abba_ratio(d1: float, b1: float, b2: float, d2: float) -> float:
    """One round's daemon / bare throughput: a linear drift over the round cancels."""
    return (d1 + d2) / (b1 + b2)


def quartiles(values: list[float]) -> tuple[float, float, float]:
    """First quartile, median, third quartile (the median alone for < 4 values)."""
    if len(values) < 4:
        m = statistics.median(values)
        return m, m, m
    q1, q2, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q1, q2, q3


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--symbols", type=int, default=300)
    p.add_argument("--rate", type=float, default=600.0, help="synthetic tickers per second")
    p.add_argument(
        "--ticks",
        type=float,
        default=4.0,
        help="bursts per second the synthetic tickers come in (4 = the simulator's and "
        "Binance's push cadence; 100 = a smooth stream)",
    )
    p.add_argument("--duration", type=int, default=3, help="seconds per wrk run")
    p.add_argument("--connections", type=int, default=50)
    p.add_argument("--threads", type=int, default=1, help="wrk threads")
    p.add_argument(
        "--rounds", type=int, default=8, help="ABBA rounds per endpoint; medians reported"
    )
    p.add_argument(
        "--aa",
        action="store_true",
        help="calibration: a second bare app in the daemon's place (the ratio should be 1)",
    )
    p.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    p.add_argument(
        "--no-pin",
        action="store_true",
        help="do not pin wrk and memcached to the first CPU and the servers to the second "
        "(pinning keeps the scheduler from giving the baseline and the daemon different "
        "placements: unpinned, the bare server swings between ~11k and ~17k req/s)",
    )
    p.add_argument(
        "--http-thread",
        choices=("on", "off"),
        default="on",
        help="the daemon's api.thread setting: server in its own thread or on the main loop",
    )
    p.add_argument(
        "--event-loop",
        choices=("uvloop", "asyncio"),
        default="uvloop",
        help="the daemon's daemon.event_loop; the bare baseline runs on the same kind",
    )
    p.add_argument(
        "--serve-daemon",
        nargs=7,
        metavar=("PORT", "MC_PORT", "SYMBOLS", "RATE", "TICKS", "THREAD", "LOOP"),
    )
    p.add_argument("--serve-bare", nargs=3, metavar=("PORT", "BODY_DIR", "LOOP"))
    ns = p.parse_args()

    if ns.serve_daemon:
        port, mc_port, symbols, rate, ticks, thread, loop = ns.serve_daemon
        serve_daemon(
            int(port), int(mc_port), int(symbols), float(rate), float(ticks), thread == "on", loop
        )
        return 0
    if ns.serve_bare:
        serve_bare(int(ns.serve_bare[0]), ns.serve_bare[1], ns.serve_bare[2])
        return 0

    if not (shutil.which("wrk") or Path("/usr/bin/wrk").exists()):
        print("bench: wrk is not installed (apt-get install wrk)", file=sys.stderr)
        return 1
    py = sys.executable
    me = str(Path(__file__).resolve())
    procs: list[subprocess.Popen[bytes]] = []
    body_dir = tempfile.mkdtemp(prefix="virtuoso-bench-bodies-")
    cpus = sorted(os.sched_getaffinity(0))
    pin = not ns.no_pin and len(cpus) >= 2
    load_cpus = {cpus[0]} if pin else None  # wrk and memcached
    server_cpus = {cpus[1]} if pin else None  # the daemon, then the bare app: same core
    try:
        mc_port = 0
        mc = shutil.which("memcached")
        if mc:
            mc_port = free_port()
            args = [mc, "-l", "127.0.0.1", "-p", str(mc_port), "-U", "0", "-m", "64"]
            if os.geteuid() == 0:
                args += ["-u", "root"]
            procs.append(subprocess.Popen(args, preexec_fn=pinned(load_cpus)))
            wait_port(mc_port)
        dport, bport = free_port(), free_port()
        serve = [str(dport), str(mc_port), str(ns.symbols), str(ns.rate), str(ns.ticks)]
        serve.append(ns.http_thread)
        serve.append(ns.event_loop)
        daemon_proc = subprocess.Popen(
            [py, me, "--serve-daemon", *serve], preexec_fn=pinned(server_cpus)
        )
        procs.append(daemon_proc)
        wait_port(dport)
        base = f"http://127.0.0.1:{dport}"
        deadline = time.monotonic() + 20
        while json.loads(http_get(f"{base}/api/market/tickers"))["count"] < ns.symbols:
            if time.monotonic() > deadline:
                raise SystemExit("bench: the daemon never showed every synthetic ticker")
            time.sleep(0.1)
        tickers_body = http_get(f"{base}/api/market/tickers")
        Path(body_dir, "tickers.json").write_bytes(tickers_body)
        Path(body_dir, "health.json").write_bytes(http_get(f"{base}/health/quick"))
        bare = [py, me, "--serve-bare", str(bport), body_dir, ns.event_loop]
        procs.append(subprocess.Popen(bare, preexec_fn=pinned(server_cpus)))
        wait_port(bport)
        subject, subject_base = daemon_proc, base
        if ns.aa:  # the daemon's slot goes to a second bare app
            cache = json.loads(http_get(f"{base}/api/market/cache"))
            daemon_proc.send_signal(signal.SIGTERM)
            daemon_proc.wait(10)
            aport = free_port()
            twin = [py, me, "--serve-bare", str(aport), body_dir, ns.event_loop]
            subject = subprocess.Popen(twin, preexec_fn=pinned(server_cpus))
            procs.append(subject)
            wait_port(aport)
            subject_base = f"http://127.0.0.1:{aport}"

        results: dict[str, Any] = {
            "symbols": ns.symbols,
            "rate": ns.rate,
            "ticks": ns.ticks,
            "duration": ns.duration,
            "connections": ns.connections,
            "threads": ns.threads,
            "rounds": ns.rounds,
            "aa": ns.aa,
            "event_loop": ns.event_loop,
            "http_thread": ns.http_thread,
            "tickers_body_bytes": len(tickers_body),
            "memcached": bool(mc_port),
            "cpus": os.cpu_count(),
            "pinned": {
                "wrk_memcached": sorted(load_cpus or ()),
                "servers": sorted(server_cpus or ()),
            },
            "endpoints": {},
        }

        def measure(url: str) -> dict[str, float]:
            return run_wrk(url, ns.duration, ns.connections, ns.threads, load_cpus)

        runs: dict[str, dict[str, list[dict[str, float]]]] = {}
        round_ratios: dict[str, list[float]] = {}
        total = ns.rounds * 2
        for n in range(ns.rounds):
            for path in ("/api/market/tickers", "/health/quick"):
                r = runs.setdefault(path, {"daemon": [], "bare": []})

                def daemon_run(path: str = path) -> dict[str, float]:
                    return measure(f"{subject_base}{path}")

                def bare_run(path: str = path) -> dict[str, float]:
                    # freeze the daemon (and its synthetic feed) so its background work
                    # does not slow the baseline down; it resumes right after
                    subject.send_signal(signal.SIGSTOP)
                    try:
                        return measure(f"http://127.0.0.1:{bport}{path}")
                    finally:
                        subject.send_signal(signal.SIGCONT)

                if n % 2 == 0:  # ABBA, then BAAB: neither server always runs twice in a row
                    d1, b1, b2, d2 = daemon_run(), bare_run(), bare_run(), daemon_run()
                else:
                    b1, d1, d2, b2 = bare_run(), daemon_run(), daemon_run(), bare_run()
                r["daemon"] += [d1, d2]
                r["bare"] += [b1, b2]
                ratio = abba_ratio(d1["rps"], b1["rps"], b2["rps"], d2["rps"])
                round_ratios.setdefault(path, []).append(ratio)
                done = n * 2 + (path == "/health/quick") + 1
                print(
                    f"bench: round {n + 1}/{ns.rounds} {path}: {ratio:.2f} ({done}/{total})",
                    file=sys.stderr,
                )
        for path, r in runs.items():
            q1, median, q3 = quartiles(round_ratios[path])
            results["endpoints"][path] = {
                "daemon": median_run(r["daemon"]),
                "bare": median_run(r["bare"]),
                "ratio": median,  # the median of the rounds' ratios
                "ratio_q1": q1,
                "ratio_q3": q3,
                "round_ratios": round_ratios[path],
                "rounds": r,
            }
        if not ns.aa:
            cache = json.loads(http_get(f"{base}/api/market/cache"))
        results["cache_state"] = cache["state"]
        results["tickers_received"] = cache["received"]
    finally:
        for proc in reversed(procs):
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(body_dir, ignore_errors=True)

    print(
        f"\nsymbols={ns.symbols} synthetic rate={ns.rate:g}/s in {ns.ticks:g} bursts/s  "
        f"http thread={ns.http_thread}  "
        f"loop={ns.event_loop}  "
        f"wrk -t{ns.threads} "
        f"-c{ns.connections} -d{ns.duration}s, {ns.rounds} ABBA rounds (medians)  "
        f"{'A/A CALIBRATION (a bare twin in the daemon slot)  ' if ns.aa else ''}"
        f"body={results['tickers_body_bytes']} B  "
        f"memcached={'on' if results['memcached'] else 'off'}  cpus={results['cpus']}  "
        f"pinned={f'wrk+memcached cpu{cpus[0]}, servers cpu{cpus[1]}' if pin else 'no'}"
    )
    print(f"{'endpoint':<22}{'server':<8}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'ratio':>8}")
    for path, r in results["endpoints"].items():
        for who in ("daemon", "bare"):
            m = r[who]
            ratio = f"{r['ratio']:.2f}" if who == "daemon" else ""
            print(
                f"{path:<22}{who:<8}{m['rps']:>10.0f}{m['p50_ms']:>9.2f}{m['p99_ms']:>9.2f}"
                f"{ratio:>8}"
            )
    for path, r in results["endpoints"].items():
        print(
            f"{path}: ratio quartiles {r['ratio_q1']:.2f} / {r['ratio']:.2f} / "
            f"{r['ratio_q3']:.2f}; rounds " + " ".join(f"{x:.2f}" for x in r["round_ratios"])
        )
    ok = all(r["ratio"] >= 0.8 for r in results["endpoints"].values())
    if ns.aa:
        print("A/A calibration: the ratios above are the method's own error (ideal 1.00)")
    else:
        print(f"target daemon/bare >= 0.8: {'met' if ok else 'NOT met'}")
    if ns.json:
        Path(ns.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
