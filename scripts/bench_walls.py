#!/usr/bin/env python3
"""Benchmark: the feed's wall scan (``normalize._walls``) against the plain one it
replaced (``tests/feeds/walls_reference.py``), in the same run.

The scan runs on every order-book message of every market, over every level the
feed keeps (100 a side from REST, up to 500 from a stream; the simulator keeps 300),
so its cost per side times two sides times the book rate is daemon CPU. Books are
ccxt's own ``Bids``/``Asks`` (lists of ``[price, amount]`` lists), log-normal sizes
with a wall now and then. Both scans are checked to give the same answers first;
then they are timed alternately (old, new, old, new ...) so that load on a shared
machine hits both alike. Reported: microseconds per side (median of the rounds) and
the ratio old / new.

Target (PASS/FAIL, exit status 1 on FAIL): at 300 levels the new scan is at least
2x faster than the old.

Run: ``.venv/bin/python scripts/bench_walls.py`` (``--help`` for options).
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
from ccxt.async_support.base.ws.order_book_side import Asks, Bids

from tests.feeds import walls_reference
from virtuoso_daemon.feeds import normalize

TARGET_RATIO = 2.0
TARGET_LEVELS = 300


def make_sides(levels: int, books: int, seed: int) -> list[Any]:
    """``books`` bid and ask sides of ``levels`` levels (1 % of levels a wall)."""
    rng = random.Random(seed)
    sides: list[Any] = []
    for _ in range(books):
        for cls, sign in ((Bids, -1), (Asks, 1)):
            rows = []
            for i in range(levels):
                amount = rng.lognormvariate(0.0, 1.0)
                if rng.random() < 0.01:
                    amount *= 40.0
                rows.append([round(100.0 + sign * 0.01 * (i + 1), 2), amount])
            sides.append(cls(rows))
    return sides


def per_side_us(scan: Callable[..., Any], sides: list[Any], loops: int) -> float:
    start = time.perf_counter()
    for _ in range(loops):
        for side in sides:
            scan(side, 1.0)
    return (time.perf_counter() - start) / (loops * len(sides)) * 1e6


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--levels", default="100,300,500", help="levels per side to time")
    ap.add_argument("--books", type=int, default=50, help="distinct books per size")
    ap.add_argument("--loops", type=int, default=20, help="passes over the books per round")
    ap.add_argument("--rounds", type=int, default=9, help="alternated old/new rounds")
    ap.add_argument("--seed", type=int, default=42)
    args = ap.parse_args()

    load = " ".join(f"{v:.2f}" for v in os.getloadavg())
    print(
        f"python {platform.python_version()}, numpy {np.__version__}, "
        f"{os.cpu_count()} CPUs, {platform.machine()}, load average {load}"
    )
    ok = True
    for levels in (int(x) for x in args.levels.split(",")):
        sides = make_sides(levels, args.books, args.seed)
        for side in sides:
            if normalize._walls(side) != walls_reference.walls(side):
                print(f"{levels} levels: the scans disagree on a side")
                return 1
        old: list[float] = []
        new: list[float] = []
        for _ in range(args.rounds):
            old.append(per_side_us(walls_reference.walls, sides, args.loops))
            new.append(per_side_us(normalize._walls, sides, args.loops))
        o, n = statistics.median(old), statistics.median(new)
        ratio = o / n
        verdict = ""
        if levels == TARGET_LEVELS:
            passed = ratio >= TARGET_RATIO
            ok = ok and passed
            verdict = f"  {'PASS' if passed else 'FAIL'} (target >= {TARGET_RATIO:.0f}x)"
        print(
            f"{levels:4d} levels/side: old {o:6.1f} us, new {n:6.1f} us per side "
            f"(median of {args.rounds} alternated rounds)  old/new {ratio:4.1f}x{verdict}"
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
