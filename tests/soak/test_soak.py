"""Soak: 300 simulated markets through the whole pipeline for three minutes (``-m slow``).

The stack is the one ``scripts/bench_pipeline.py`` measures, reused rather than rebuilt
here: a memcached of its own, ``virtuoso-sim`` in a subprocess (150 bases, spot and
USD-M perpetuals = 300 markets, speed 1, 0.25 s tick, request weights on) and the
real ``python -m virtuoso_daemon`` with the feeds ``--demo`` would build for that
simulator. RSS is read with psutil on the daemon's process, so neither the test
runner nor the simulator is counted.

The clock starts once the daemon is warm (every market has a ticker and the OHLCV
backfill is done), so the second half is steady state: growth there is what a leak
looks like, not start-up. The feeds backfill 100 candles per series instead of the
demo's 2200 to keep that warm-up to a couple of minutes; the candle rings grow with
the history they hold, so this RSS is ~30-40 MB below the full-history figure that
``scripts/bench_pipeline.py --parts soak`` reports (docs/market.md).

Every criterion is checked and all failures are reported together, so one run says
everything that is wrong (a soak is too slow to rerun per assertion).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import anyio
import pytest

REPO = Path(__file__).resolve().parents[2]

SOAK_SECONDS = 180.0
SAMPLE_SECONDS = 10.0
MARKETS = 300
RSS_LIMIT_MB = 200.0  # the target (#4)
# Growth over the second half (90 s of steady state), from a least-squares fit. With
# ccxt's default trade cache (1000 trades per symbol, filling for hours towards
# ~375 MB) it was 16 MB/min, +4.9 %; with the caches capped it is within the noise of
# glibc and pymalloc holding freed memory. 3 % of ~200 MB per 90 s is 4 MB/min.
GROWTH_LIMIT_PCT = 3.0
WARMUP_TIMEOUT = 420.0

pytestmark = pytest.mark.slow


def load_bench() -> ModuleType:
    """``scripts/bench_pipeline.py`` as a module (scripts/ is not a package)."""
    path = REPO / "scripts" / "bench_pipeline.py"
    spec = importlib.util.spec_from_file_location("bench_pipeline", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while defining
    spec.loader.exec_module(module)
    return module


def failures(out: dict[str, Any]) -> list[str]:
    """Every soak criterion that is not met, as one line each."""
    bad = []
    if out["rss_max_mb"] is None or out["rss_max_mb"] >= RSS_LIMIT_MB:
        bad.append(
            f"RSS max {out['rss_max_mb']:.1f} MB >= {RSS_LIMIT_MB:.0f} MB "
            f"(start {out['rss_start_mb']:.1f}, end {out['rss_end_mb']:.1f})"
        )
    growth = out["growth_2nd_half_pct"]
    if growth is None or growth > GROWTH_LIMIT_PCT:
        bad.append(
            f"RSS grew {growth} % over the second half (limit {GROWTH_LIMIT_PCT} %; "
            f"slope {out['slope_2nd_half_mb_per_min']} MB/min)"
        )
    if out["restarts"]:
        bad.append(f"{out['restarts']} actor restarts")
    if out["not_running"]:
        bad.append(f"actors not running: {out['not_running']}")
    if not out["tickers_moving"]:
        bad.append(f"tickers stalled: moved in {out['moving_fraction']:.0%} of the samples")
    return bad


@pytest.mark.timeout(SOAK_SECONDS + WARMUP_TIMEOUT + 120)
async def test_300_markets_for_three_minutes_rss_flat_no_restarts_tickers_moving() -> None:
    bench = load_bench()
    cfg = bench.StackConfig(markets=MARKETS, tick=0.25, backfill_candles=100)
    with anyio.fail_after(SOAK_SECONDS + WARMUP_TIMEOUT + 60):
        async with bench.running_stack(cfg) as stack:
            await stack.wait_warm(WARMUP_TIMEOUT)
            out = await bench.soak(stack, SOAK_SECONDS, SAMPLE_SECONDS)
    summary = {k: v for k, v in out.items() if k != "samples"}
    trace = [(s["t"], s["rss_mb"], s["restarts"], s["probe_ts"]) for s in out["samples"]]
    problems = failures(out)
    assert not problems, "\n".join([*problems, f"summary: {summary}", f"samples: {trace}"])
