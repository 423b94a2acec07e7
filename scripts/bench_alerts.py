#!/usr/bin/env python3
"""Benchmark: detection latency of the alert manager with and without a hung receiver
(not a test).

Detection latency is the time from a condition being published on
``Topics.CONDITIONS`` to its alert being published on ``Topics.ALERTS`` (stored in
SQLite first); delivery latency is the time to a healthy receiver having it. Two runs
in one process, on the same machine, same load:

* **baseline**: one healthy webhook receiver;
* **hung**: the same, plus a receiver that takes every request and never answers
  (the courier waits out its ``timeout``, 30 s here).

``--conditions`` conditions (distinct symbols, ``--gap`` seconds apart) are published
in each run; the report gives p50/p99/max of both latencies, and the ratio hung/baseline.
The receivers are aiohttp servers on loopback run by this script.

Usage::

    .venv/bin/python scripts/bench_alerts.py [--conditions 300] [--gap 0.02]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.alerts.helpers import (
    Receiver,
    alert_specs,
    alerts_config,
    condition,
    receivers,
    running_daemon,
    wait_until,
    webhook,
)
from tests.harness import DaemonHandle
from virtuoso_daemon.core.bus import Topics


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def measure(
    d: DaemonHandle,
    n: int,
    gap: float,
    sent: dict[str, float],
    detected: dict[str, float],
    ok: Receiver,
) -> None:
    with d.runtime.bus.subscribe(Topics.ALERTS, name="bench", maxsize=n + 10) as alerts:

        async def collect() -> None:
            async for alert in alerts:
                detected.setdefault(alert.symbol or "", time.perf_counter())

        async with anyio.create_task_group() as tg:
            tg.start_soon(collect)
            for i in range(n):
                symbol = f"B{i}/USDT"
                sent[symbol] = time.perf_counter()
                await d.runtime.bus.publish(Topics.CONDITIONS, condition(symbol))
                await anyio.sleep(gap)
            await wait_until(lambda: len(detected) == n, timeout=60)
            await wait_until(
                lambda: sum(len(r.body["alerts"]) for r in ok.received) >= n, timeout=120
            )
            tg.cancel_scope.cancel()


async def run(n: int, gap: float, hung: bool) -> dict[str, Any]:
    ok = Receiver()
    stuck = Receiver(hang=True)
    sent: dict[str, float] = {}
    detected: dict[str, float] = {}
    async with receivers(ok, stuck):  # the ports are known from here on
        dests = [webhook("ok", ok)] + ([webhook("hung", stuck, timeout=30.0)] if hung else [])
        async with running_daemon(alerts_config(dests), alert_specs()) as d:
            await measure(d, n, gap, sent, detected, ok)
    mono_offset = time.perf_counter() - time.monotonic()
    delivered = {
        a["symbol"]: r.at + mono_offset for r in reversed(ok.received) for a in r.body["alerts"]
    }
    det = [(detected[s] - t) * 1000 for s, t in sent.items()]
    dlv = [(delivered[s] - t) * 1000 for s, t in sent.items()]
    return {
        "detect_p50": statistics.median(det),
        "detect_p99": pct(det, 0.99),
        "detect_max": max(det),
        "deliver_p50": statistics.median(dlv),
        "deliver_p99": pct(dlv, 0.99),
        "hung_attempts": stuck.attempts,
    }


async def main(args: argparse.Namespace) -> None:
    base = await run(args.conditions, args.gap, hung=False)
    hung = await run(args.conditions, args.gap, hung=True)
    for name, r in (("baseline", base), ("hung", hung)):
        print(
            f"{name:<9} detection p50 {r['detect_p50']:.2f} ms p99 {r['detect_p99']:.2f} ms"
            f" max {r['detect_max']:.2f} ms | healthy delivery p50 {r['deliver_p50']:.2f} ms"
            f" p99 {r['deliver_p99']:.2f} ms | hung receiver got {r['hung_attempts']} requests"
        )
    print(
        f"ratio hung/baseline: detection p50 {hung['detect_p50'] / base['detect_p50']:.2f},"
        f" p99 {hung['detect_p99'] / base['detect_p99']:.2f};"
        f" delivery p50 {hung['deliver_p50'] / base['deliver_p50']:.2f}"
    )


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--conditions", type=int, default=300)
    p.add_argument("--gap", type=float, default=0.02)
    anyio.run(main, p.parse_args())
