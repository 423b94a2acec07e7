#!/usr/bin/env python3
"""Load run: wrk against the daemon's hot endpoints while the demo feeds run, next to a
bare aiohttp app serving the same bytes, in the same run (not a test).

1. starts the daemon with ``--demo`` (the simulator in-process, the feeds parsing
   every websocket message with ccxt: the real pipeline, not a synthetic publisher);
2. waits for the first betas and a healthy ``/health``, fetches each endpoint's body
   and starts a bare aiohttp app (``bench_api.serve_bare``) returning exactly those
   bytes for ``/api/market/tickers`` and ``/health/quick``;
3. for each connection count (``--connections 64,256``) and endpoint, runs
   ``wrk --latency -d<duration>`` against the daemon, then against the bare app, and
   prints requests/s, p50, p99, non-2xx and socket errors, and daemon / bare.

Usage::

    .venv/bin/python scripts/bench_load.py [--duration 60] [--connections 64,256]
        [--endpoints /api/market/tickers,/health/quick,...] [--n-alts 40] [--json out.json]

wrk, the daemon, the simulator and the bare app share the machine (2 cores here):
the absolute figures are this machine's; the ratio to the bare app, measured in the
same run, is the comparable one.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

from bench.common import free_port, wait_port_blocking  # noqa: E402
from bench_api import run_wrk, serve_bare  # noqa: E402

HOT = ["/api/market/tickers", "/health/quick", "/api/market/overview", "/api/dashboard/overview"]
BARE = {"/api/market/tickers", "/health/quick"}  # what the bare app can serve


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as resp:
        body: bytes = resp.read()
    return body


def _wait_ready(base: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            _get(base + "/api/market/beta")
            _get(base + "/health")
            return
        except (urllib.error.URLError, OSError):
            time.sleep(0.5)
    raise TimeoutError("the daemon did not warm up")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--duration", type=int, default=60)
    p.add_argument("--connections", default="64,256")
    p.add_argument("--endpoints", default=",".join(HOT))
    p.add_argument("--n-alts", type=int, default=40)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json", metavar="PATH")
    ns = p.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="vload-"))
    port, bare_port = free_port(), free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "VIRTUOSO_MEMCACHED__ENABLED": "false",
        "VIRTUOSO_DEMO__N_ALTS": str(ns.n_alts),
    }
    argv = [
        sys.executable, "-m", "virtuoso_daemon", "--demo", "--port", str(port),
        "--socket", str(tmp / "ctl.sock"), "--state-dir", str(tmp / "state"),
        "--log-level", "warning",
    ]  # fmt: skip
    log = open(tmp / "daemon.log", "wb")  # noqa: SIM115 - open for the daemon's life
    daemon = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=log)
    bare: multiprocessing.Process | None = None
    results: list[dict[str, Any]] = []
    try:
        base = f"http://127.0.0.1:{port}"
        wait_port_blocking(port, 60)
        _wait_ready(base)
        (tmp / "tickers.json").write_bytes(_get(base + "/api/market/tickers"))
        (tmp / "health.json").write_bytes(_get(base + "/health/quick"))
        bare = multiprocessing.Process(
            target=serve_bare, args=(bare_port, str(tmp), "uvloop"), daemon=True
        )
        bare.start()
        wait_port_blocking(bare_port, 20)
        for conns in [int(c) for c in ns.connections.split(",")]:
            for path in ns.endpoints.split(","):
                row: dict[str, Any] = {"connections": conns, "endpoint": path}
                row["daemon"] = run_wrk(base + path, ns.duration, conns, ns.threads)
                if path in BARE:
                    url = f"http://127.0.0.1:{bare_port}{path}"
                    row["bare"] = run_wrk(url, ns.duration, conns, ns.threads)
                    row["ratio"] = row["daemon"]["rps"] / row["bare"]["rps"]
                results.append(row)
                _print(row)
    finally:
        daemon.terminate()
        daemon.wait(10)
        if bare is not None:
            bare.terminate()
    if ns.json:
        Path(ns.json).write_text(json.dumps(results, indent=1))
    errors = sum(r["daemon"]["non_2xx"] + r["daemon"]["socket_errors"] for r in results)
    print(f"errors (non-2xx + socket) against the daemon: {errors:g}")
    return 1 if errors else 0


def _print(row: dict[str, Any]) -> None:
    d = row["daemon"]
    line = (
        f"c={row['connections']:<4} {row['endpoint']:<26} daemon {d['rps']:8.0f} req/s "
        f"p50 {d['p50_ms']:6.2f} p99 {d['p99_ms']:7.2f} ms  non2xx {d['non_2xx']:g} "
        f"sockerr {d['socket_errors']:g}"
    )
    if "bare" in row:
        b = row["bare"]
        line += (
            f" | bare {b['rps']:8.0f} req/s p50 {b['p50_ms']:6.2f} p99 {b['p99_ms']:7.2f}"
            f" | ratio {row['ratio']:.2f}"
        )
    print(line, flush=True)


if __name__ == "__main__":
    sys.exit(main())
