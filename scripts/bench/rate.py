"""Rate part: the highest ticker rate the daemon keeps up with."""

from __future__ import annotations

import argparse
import asyncio
import time
from dataclasses import asdict, replace
from typing import Any

from bench.common import fmt_dist, load_avg, progress
from bench.latency import measure_latency, summarize_latency
from bench.stack import StackConfig, base_config, counters, running_stack


async def rate_step(ns: argparse.Namespace, cfg: StackConfig) -> dict[str, Any]:
    progress(f"rate: step {cfg.label()}")
    async with running_stack(cfg) as stack:
        warm = await stack.wait_warm(ns.warmup_timeout)
        progress(f"rate:   warm after {warm:.0f}s; settling {ns.settle:g}s")
        await asyncio.sleep(ns.settle)
        probes = stack.probes(ns.rate_probes)
        st0, k0, t0, load0 = await stack.status(), await stack.sim_stats(), time.time(), load_avg()
        cpu0 = (stack.cpu_seconds(stack.daemon), stack.cpu_seconds(stack.sim_proc))
        run = await measure_latency(
            stack, probes, ns.rate_seconds, ns.poll_gap_ms / 1000, observer=False
        )
        st1, k1, t1 = await stack.status(), await stack.sim_stats(), time.time()
        cpu1 = (stack.cpu_seconds(stack.daemon), stack.cpu_seconds(stack.sim_proc))
        c0, c1 = counters(st0), counters(st1)
        dt = t1 - t0
        cpu = [
            None if a is None or b is None else round((b - a) / dt * 100, 1)
            for a, b in zip(cpu0, cpu1, strict=True)
        ]
        ticks = (k1["tick"] - k0["tick"]) / dt
        lat = summarize_latency(run, ns.rate_seconds)
        out: dict[str, Any] = {
            "config": asdict(cfg),
            "nominal_per_s": cfg.markets / cfg.tick,
            "sim_ticks_per_s": ticks,
            "sim_ticks_nominal": 1 / cfg.tick,
            "offered_per_s": ticks * cfg.markets,
            "published_per_s": (c1["published_tickers"] - c0["published_tickers"]) / dt,
            "consumed_per_s": (c1["consumed_tickers"] - c0["consumed_tickers"]) / dt,
            "all_messages_per_s": (c1["published_all"] - c0["published_all"]) / dt,
            "ws_messages_per_s": (k1["ws_messages_sent"] - k0["ws_messages_sent"]) / dt,
            "drops": c1["drops"] - c0["drops"],
            "drops_by": drops_delta(c0["drops_by"], c1["drops_by"]),
            "restarts": c1["restarts"] - c0["restarts"],
            "reconnects": c1["reconnects"] - c0["reconnects"],
            "persist": c1["persist"],
            "beta": c1["beta"],
            "daemon_cpu_pct": cpu[0],
            "sim_cpu_pct": cpu[1],
            "latency": lat,
            "warmup_seconds": warm,
            "rss_mb": stack.rss_mb(stack.daemon),
            "load_avg": [load0, load_avg()],
        }
        first, last = lat["first_third_p50"], lat["last_third_p50"]
        growth = (last - first) if first is not None and last is not None else None
        out["lag_growth_ms"] = growth
        reasons = []
        if out["consumed_per_s"] < 0.97 * out["offered_per_s"]:
            reasons.append("consumed < 97% of offered")
        if out["drops"]:
            reasons.append(f"{out['drops']} bus drops")
        if out["restarts"] or out["reconnects"]:
            reasons.append(f"{out['restarts']} restarts, {out['reconnects']} reconnects")
        if growth is None or growth > 25:
            reasons.append("latency grew" if growth is not None else "no latency samples")
        out["keeps_up"] = not reasons
        out["why_not"] = reasons
        out["sim_limited"] = ticks < 0.9 / cfg.tick
        api = lat["api"]
        progress(
            f"rate:   offered {out['offered_per_s']:.0f}/s (sim {ticks:.2f} of "
            f"{1 / cfg.tick:g} ticks/s), consumed {out['consumed_per_s']:.0f}/s, all bus "
            f"{out['all_messages_per_s']:.0f}/s, drops {out['drops']}, CPU daemon "
            f"{cpu[0]}% sim {cpu[1]}%, latency "
            f"{fmt_dist(api)}, growth {growth if growth is None else round(growth, 1)} ms -> "
            f"{'keeps up' if out['keeps_up'] else 'BEHIND: ' + '; '.join(reasons)}"
            + (f" (drops by subscriber/topic: {out['drops_by']})" if out["drops_by"] else "")
        )
        return out


def drops_delta(a: dict[str, dict[str, int]], b: dict[str, dict[str, int]]) -> dict[str, int]:
    out = {}
    for sub, topics in b.items():
        for topic, n in topics.items():
            d = n - a.get(sub, {}).get(topic, 0)
            if d:
                out[f"{sub}/{topic}"] = d
    return out


def parse_steps(text: str) -> list[tuple[int, float]]:
    steps = []
    for part in text.split(","):
        markets, _, tick = part.strip().partition("@")
        steps.append((int(markets), float(tick or 0.25)))
    return steps


async def part_rate(ns: argparse.Namespace) -> dict[str, Any]:
    steps = []
    failures = 0
    for markets, tick in parse_steps(ns.rate_steps):
        cfg = replace(base_config(ns, markets=markets), tick=tick)
        if ns.sim == "external" and ns.rate_backfill_candles > 0:
            cfg = replace(cfg, backfill_candles=ns.rate_backfill_candles)
        try:
            step = await rate_step(ns, cfg)
        except RuntimeError as exc:
            progress(f"rate:   step failed: {exc}")
            step = {"config": asdict(cfg), "keeps_up": False, "why_not": [str(exc)[:300]]}
            step["nominal_per_s"] = markets / tick
        steps.append(step)
        failures = 0 if step["keeps_up"] else failures + 1
        if failures >= ns.rate_stop_after:
            progress(f"rate: {failures} step(s) in a row behind; stopping")
            break
    kept = [s for s in steps if s["keeps_up"]]
    best = max(kept, key=lambda s: s["offered_per_s"]) if kept else None
    if best:
        progress(
            f"rate: highest kept up: {best['offered_per_s']:.0f} tickers/s "
            f"({best['config']['markets']} markets @ {best['config']['tick']:g}s)"
        )
    else:
        progress("rate: no step kept up")
    return {
        "steps": steps,
        "highest_kept_up_per_s": best["offered_per_s"] if best else None,
        "highest_kept_up": best["config"] if best else None,
    }
