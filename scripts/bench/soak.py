"""Soak part: RSS over a long run at many markets."""

from __future__ import annotations

import argparse
import asyncio
import itertools
import time
from collections.abc import Callable
from dataclasses import asdict
from typing import Any
from urllib.parse import quote

import aiohttp
import numpy as np

from bench.common import load_avg, num, pct, progress
from bench.stack import Stack, StackConfig, base_config, counters, running_stack


def slope_mb_per_min(points: list[tuple[float, float]]) -> float | None:
    if len(points) < 3:
        return None
    t = np.array([p[0] for p in points]) / 60
    y = np.array([p[1] for p in points])
    return float(np.polyfit(t, y, 1)[0])


async def soak(
    stack: Stack,
    seconds: float,
    every: float,
    on_sample: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Sample RSS and health every ``every`` s for ``seconds``; summarize."""
    probe = stack.probes(1)[0]
    url = f"{stack.api}/api/market/ticker/{quote(probe.symbol, safe='')}?exchange={probe.exchange}"
    samples: list[dict[str, Any]] = []
    start = time.monotonic()
    backfill_done_at: float | None = None
    cpu_prev: tuple[float, float] | None = None
    while True:
        elapsed = time.monotonic() - start
        st = await stack.status()
        c = counters(st)
        try:
            ts = (await stack.get_json(url))["ticker"]["ts"]
        except (aiohttp.ClientResponseError, KeyError):
            ts = None
        if backfill_done_at is None and c["backfill_total"] and not c["backfill_left"]:
            backfill_done_at = elapsed
        cpu = stack.cpu_seconds(stack.daemon)
        cpu_pct = None
        if cpu is not None and cpu_prev is not None:
            cpu_pct = round((cpu - cpu_prev[0]) / (elapsed - cpu_prev[1]) * 100, 1)
        cpu_prev = None if cpu is None else (cpu, elapsed)
        sample = {
            "t": round(elapsed, 1),
            "rss_mb": stack.rss_mb(stack.daemon),
            "cpu_pct": cpu_pct,
            "sim_rss_mb": stack.rss_mb(stack.sim_proc),
            "tickers": st["stats"].get("ticker_cache", {}).get("tickers", 0),
            "consumed": c["consumed_tickers"],
            "drops": c["drops"],
            "restarts": c["restarts"],
            "reconnects": c["reconnects"],
            "not_running": c["not_running"],
            "probe_ts": ts,
            "backfill_left": c["backfill_left"],
            "persist_runs": c["persist"].get("runs"),
            "persist_last_seconds": c["persist"].get("last_seconds"),
            "load_avg": load_avg(),
        }
        samples.append(sample)
        if on_sample:
            on_sample(sample)
        if elapsed >= seconds:
            break
        await asyncio.sleep(max(0.0, start + len(samples) * every - time.monotonic()))
    return summarize_soak(samples, backfill_done_at, stack.cfg)


def summarize_soak(
    samples: list[dict[str, Any]], backfill_done_at: float | None, cfg: StackConfig
) -> dict[str, Any]:
    pts = [(s["t"], s["rss_mb"]) for s in samples if s["rss_mb"] is not None]
    half = samples[-1]["t"] / 2
    second = [p for p in pts if p[0] >= half]
    # from the first sample that has a ticker on: did it change between two samples?
    moving = [
        b["probe_ts"] is not None and b["probe_ts"] > a["probe_ts"]
        for a, b in itertools.pairwise(samples)
        if a["probe_ts"] is not None
    ]
    growth_2nd = None
    if len(second) >= 2:
        slope = slope_mb_per_min(second) if len(second) >= 3 else None
        span = (second[-1][0] - second[0][0]) / 60
        base = second[0][1]
        growth_2nd = (slope * span / base * 100) if slope is not None else None
    last = samples[-1]
    return {
        "config": asdict(cfg),
        "seconds": last["t"],
        "rss_start_mb": pts[0][1] if pts else None,
        "rss_end_mb": pts[-1][1] if pts else None,
        "rss_max_mb": max(p[1] for p in pts) if pts else None,
        "rss_mid_mb": second[0][1] if second else None,
        "slope_mb_per_min": slope_mb_per_min(pts),
        "slope_2nd_half_mb_per_min": slope_mb_per_min(second),
        "growth_2nd_half_pct": growth_2nd,
        "sim_rss_end_mb": last["sim_rss_mb"],
        "restarts": last["restarts"],
        "reconnects": last["reconnects"],
        "drops": last["drops"],
        "not_running": last["not_running"],
        "tickers_moving": all(moving) if moving else False,
        "moving_fraction": sum(moving) / len(moving) if moving else 0.0,
        "backfill_done_at": backfill_done_at,
        "cpu_pct_mean": pct([x["cpu_pct"] for x in samples if x["cpu_pct"] is not None], 50),
        "load_avg_max": max(x["load_avg"][0] for x in samples),
        "samples": samples,
    }


async def part_soak(ns: argparse.Namespace) -> dict[str, Any]:
    cfg = base_config(ns, markets=ns.soak_markets)
    progress(
        f"soak: starting {cfg.label()} for {ns.soak_seconds:g}s, sampling every "
        f"{ns.sample_seconds:g}s"
    )

    def note(s: dict[str, Any]) -> None:
        progress(
            f"soak: t={s['t']:6.0f}s RSS {s['rss_mb'] or 0:6.1f} MB CPU {s['cpu_pct']}%"
            + (f" (sim {s['sim_rss_mb']:.0f} MB)" if s["sim_rss_mb"] else "")
            + f" tickers {s['tickers']} consumed {s['consumed']} drops {s['drops']} "
            f"restarts {s['restarts']} backfill left {s['backfill_left']} load {s['load_avg'][0]}"
        )

    async with running_stack(cfg) as stack:
        warm = None
        if ns.soak_after_warm:
            warm = await stack.wait_warm(ns.warmup_timeout)
            progress(f"soak: warm after {warm:.0f}s; the clock starts now")
        out = await soak(stack, ns.soak_seconds, ns.sample_seconds, note)
        out["warmup_seconds"] = warm
    progress(
        f"soak: RSS start {num(out['rss_start_mb'])} end {num(out['rss_end_mb'])} max "
        f"{num(out['rss_max_mb'])} MB; slope {num(out['slope_mb_per_min'], 2)} MB/min "
        f"(2nd half {num(out['slope_2nd_half_mb_per_min'], 2)}); restarts {out['restarts']}, "
        f"drops {out['drops']}, tickers moving {out['moving_fraction']:.0%}"
    )
    return out
