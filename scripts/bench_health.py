#!/usr/bin/env python3
"""Health monitor figures: detection times and what a sweep costs.

1. **Detection**: a feed on the simulator (``silent_timeout`` 5 s, the monitor with its
   default ``confirm`` 2 s and sweep interval 10 s) gets an exchange outage, or a
   silent websocket (connected, no data); the time from the fault to the check
   counting ``critical`` in the report ``/health`` serves. Median over ``--runs``
   runs, each on a fresh simulator and daemon, against the limit 2 x silent_timeout
   (and the original monitor's 30 s poll).
2. **Sweep cost**: with the demo simulator's two feeds running, ``--sweeps`` full
   sweeps back to back (API self-probe, disk probe, psutil, every check), process CPU
   measured against the same wall time idle in the same run; the difference per sweep,
   times one sweep per ``interval`` (10 s), is the share of one core the sweeps take.

    PYTHONPATH=. python scripts/bench_health.py [--runs 5] [--sweeps 200]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import anyio
import psutil

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.harness import running_daemon  # noqa: E402
from tests.health.feeds_env import FEED, flowing, sim_health_env, time_to_critical  # noqa: E402
from tests.tui.daemon import demo_config  # noqa: E402
from virtuoso_daemon.health.actor import HealthMonitorActor  # noqa: E402

SILENT = 5.0
FEED_OPTS = {
    "kinds": ["tickers", "trades"],
    "symbols": ["BTC/USDT", "ETH/USDT"],
    "backfill_candles": 0,
    "silent_timeout": SILENT,
    "backoff_max": 1.0,
    "timeout_ms": 2000,
}
HEALTH = {"interval": 10.0, "confirm": 2.0, "recover": 15.0}  # the defaults
FAULTS = {
    "outage": ({"kind": "outage", "duration": 3 * SILENT}, f"exchange:{FEED}"),
    "silent websocket": ({"kind": "ws_silent", "duration": 3 * SILENT}, f"data:{FEED}:tickers"),
}


async def detection(runs: int) -> None:
    print(f"detection (feed silent_timeout {SILENT:g}s, health defaults: confirm 2s, sweep 10s)")
    for label, (fault, check) in FAULTS.items():
        times = []
        for _ in range(runs):
            async with sim_health_env(FEED_OPTS, HEALTH) as (env, sim):
                await flowing(env, ("tickers", "trades"), timeout=30)
                times.append(await time_to_critical(env, sim, fault, check, 4 * SILENT))
        runs_text = ", ".join(f"{t:.2f}" for t in times)
        print(
            f"  {label:<17} -> {check} critical: median {statistics.median(times):.2f}s "
            f"(runs {runs_text}); limit 2 x silent_timeout = {2 * SILENT:g}s, old poll 30s"
        )


async def sweep_cost(sweeps: int, rounds: int = 3) -> None:
    proc = psutil.Process()
    cfg = demo_config(n_alts=20)
    async with running_daemon(cfg) as daemon:
        monitor = daemon.supervisor.actor("health")
        assert isinstance(monitor, HealthMonitorActor)
        await anyio.sleep(5)  # backfill and the first burst over
        costs = []
        for _ in range(rounds):
            cpu0, wall0 = _cpu(proc), time.monotonic()
            for _ in range(sweeps):
                await monitor.evaluate(full=True)
            busy_cpu, wall = _cpu(proc) - cpu0, time.monotonic() - wall0
            cpu1 = _cpu(proc)
            await anyio.sleep(wall)  # the same wall time with no extra sweeps
            idle_cpu = _cpu(proc) - cpu1
            costs.append((busy_cpu - idle_cpu) / sweeps)
        per_sweep = statistics.median(costs)
        interval = cfg.health.interval
        checks = len(monitor.raw)
        print(
            f"sweep cost ({checks} checks, 2 demo feeds running, {os.cpu_count()} cores): "
            f"{per_sweep * 1000:.2f} ms CPU per full sweep (median of {rounds} x {sweeps}, "
            f"process CPU minus the same wall time idle); at one sweep per {interval:g}s "
            f"that is {100 * per_sweep / interval:.3f} % of one core"
        )


def _cpu(proc: psutil.Process) -> float:
    t = proc.cpu_times()
    return float(t.user + t.system)


async def main(ns: argparse.Namespace) -> None:
    if not ns.skip_detection:
        await detection(ns.runs)
    await sweep_cost(ns.sweeps)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="detection runs per fault")
    parser.add_argument("--sweeps", type=int, default=200, help="sweeps per cost round")
    parser.add_argument("--skip-detection", action="store_true")
    anyio.run(main, parser.parse_args())
