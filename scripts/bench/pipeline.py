"""The pipeline benchmark's command line, driver and report (see scripts/bench_pipeline.py)."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from bench.common import ALL_KINDS, fmt_dist, load_avg, num
from bench.latency import part_latency
from bench.rate import part_rate
from bench.soak import part_soak


def build_parser() -> argparse.ArgumentParser:
    class Formatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
        """Defaults in the help, and the module docstring (the method) as written."""

    p = argparse.ArgumentParser(description=__doc__, formatter_class=Formatter)
    p.add_argument("--parts", default="latency,rate,soak", help="comma list of parts to run")
    p.add_argument(
        "--sim",
        choices=["external", "demo"],
        default="external",
        help="simulator in its own process, or inside the daemon (--demo; tick fixed)",
    )
    p.add_argument("--spot-only", action="store_true", help="no perpetuals (markets = alts + 1)")
    p.add_argument("--seed", type=int, default=42, help="the simulator's seed")
    p.add_argument("--kinds", default=",".join(ALL_KINDS), help="data kinds the feeds collect")
    p.add_argument("--no-memcached", action="store_true", help="run the cache memory-only")
    p.add_argument("--no-rate-limit", action="store_true", help="no request weights in the sim")
    p.add_argument("--warmup-timeout", type=float, default=420.0, help="seconds to get warm")
    p.add_argument("--settle", type=float, default=10.0, help="seconds after warm-up")
    p.add_argument("--poll-gap-ms", type=float, default=1.0, help="pause between polls")
    p.add_argument(
        "--http-thread",
        choices=["on", "off"],
        default="on",
        help="the daemon's api.thread: HTTP server in its own thread or on the main loop",
    )
    p.add_argument(
        "--event-loop", choices=["uvloop", "asyncio"], default="uvloop", help="daemon.event_loop"
    )
    p.add_argument(
        "--gc-every",
        type=float,
        default=30.0,
        help="daemon.gc_every: seconds between full GC passes at quiet moments (0 = CPython's)",
    )
    p.add_argument(
        "--backfill-candles",
        type=int,
        help="override the feeds' backfill_candles in the latency and soak parts "
        "(unset: the demo's 2200)",
    )
    p.add_argument(
        "--trades-limit",
        type=int,
        help="set the feeds' ccxt option tradesLimit (trades ccxt caches per symbol; "
        "unset: ccxt's 1000)",
    )
    g = p.add_argument_group("latency")
    g.add_argument("--latency-markets", type=int, default=82, help="82 = the demo's 40 alts")
    g.add_argument("--latency-seconds", type=float, default=60.0, help="polling time")
    g.add_argument("--probes", type=int, default=3, help="sampled symbols per feed")
    g = p.add_argument_group("rate")
    g.add_argument(
        "--rate-steps",
        default="40@0.25,82@0.25,150@0.25,200@0.25,300@0.25,300@0.1",
        help="MARKETS@TICK steps, offered = MARKETS/TICK tickers/s",
    )
    g.add_argument("--rate-seconds", type=float, default=30.0, help="measurement per step")
    g.add_argument("--rate-probes", type=int, default=1, help="sampled symbols per feed")
    g.add_argument("--rate-stop-after", type=int, default=2, help="stop after N steps behind")
    g.add_argument(
        "--rate-backfill-candles",
        type=int,
        default=100,
        help="candles per series the feeds backfill in rate steps (a short warm-up; the "
        "steady state is what is measured); 0 = the demo's 2200",
    )
    g = p.add_argument_group("soak")
    g.add_argument("--soak-markets", type=int, default=300, help="300 = 149 alts + BTC, x2")
    g.add_argument("--soak-seconds", type=float, default=600.0, help="how long to sample")
    g.add_argument("--sample-seconds", type=float, default=10.0, help="RSS sample period")
    g.add_argument(
        "--soak-after-warm",
        action="store_true",
        help="start the soak clock once warm (every ticker, backfill done), not at start-up",
    )
    p.add_argument("--json", metavar="PATH", help="write every figure (and samples) as JSON")
    p.add_argument(
        "--profile",
        metavar="DIR",
        help="run the daemon under cProfile (slower!) and write one .prof per stack to DIR",
    )
    return p


async def amain(ns: argparse.Namespace) -> dict[str, Any]:
    parts = [x.strip() for x in ns.parts.split(",") if x.strip()]
    unknown = set(parts) - {"latency", "rate", "soak"}
    if unknown:
        raise SystemExit(f"bench: unknown part(s) {sorted(unknown)}")
    results: dict[str, Any] = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "cpus": os.cpu_count(),
        "load_avg_start": load_avg(),
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    runners = {"latency": part_latency, "rate": part_rate, "soak": part_soak}
    for part in parts:
        results[part] = await runners[part](ns)
    results["load_avg_end"] = load_avg()
    return results


def report(results: dict[str, Any]) -> None:
    print(
        f"\ncpus={results['cpus']} load avg start {results['load_avg_start']} end "
        f"{results['load_avg_end']}"
    )
    lat = results.get("latency")
    if lat:
        c = lat["config"]
        print(
            f"\nLatency, push -> visible in API ({c['markets']} markets, tick {c['tick']}s, "
            f"sim {c['sim']}; sim clock offset {lat['clock_offset_ms'][0]:+.1f} ms)"
        )
        for key, name in [
            ("api", "API (upper bound)"),
            ("feed_recv", "daemon feed receive"),
            ("ws_observer", "observer websocket"),
            ("api_minus_ws", "observer ws -> API"),
            ("api_minus_feed", "feed receive -> API"),
            ("resolution", "poll resolution"),
            ("poll_rtt", "poll round trip"),
        ]:
            print(f"  {name:<22} {fmt_dist(lat[key])}")
        p99 = lat["api"].get("p99")
        print(f"  target p99 < 50 ms: {'met' if p99 is not None and p99 < 50 else 'NOT met'}")
    rate = results.get("rate")
    if rate:
        print("\nSustained ticker rate")
        print(
            f"  {'step':<34}{'offered/s':>10}{'ticks/s':>9}{'consumed/s':>11}{'drops':>7}"
            f"{'p50 ms':>8}{'p99 ms':>8}  verdict"
        )
        for s in rate["steps"]:
            c = s["config"]
            label = f"{c['markets']} markets @ {c['tick']}s"
            if "offered_per_s" not in s:
                print(f"  {label:<34} failed: {s['why_not']}")
                continue
            api = s["latency"]["api"]
            print(
                f"  {label:<34}{s['offered_per_s']:>10.0f}{s['sim_ticks_per_s']:>9.2f}"
                f"{s['consumed_per_s']:>11.0f}{s['drops']:>7}"
                f"{api.get('p50') or float('nan'):>8.1f}{api.get('p99') or float('nan'):>8.1f}  "
                f"{'keeps up' if s['keeps_up'] else 'behind: ' + '; '.join(s['why_not'])}"
            )
        best = rate["highest_kept_up_per_s"]
        print(f"  highest kept up: {'none' if best is None else f'{best:.0f}'} tickers/s")
    sk = results.get("soak")
    if sk:
        c = sk["config"]
        print(f"\nSoak: {c['markets']} markets, {sk['seconds']:.0f}s")
        print(
            f"  RSS start {num(sk['rss_start_mb'])} MB, end {num(sk['rss_end_mb'])}, max "
            f"{num(sk['rss_max_mb'])}; slope {num(sk['slope_mb_per_min'], 2)} MB/min, second "
            f"half {num(sk['slope_2nd_half_mb_per_min'], 2)} MB/min "
            f"({num(sk['growth_2nd_half_pct'])} %)"
        )
        print(
            f"  restarts {sk['restarts']}, reconnects {sk['reconnects']}, drops {sk['drops']}, "
            f"tickers moving {sk['moving_fraction']:.0%}; target < 200 MB and flat: "
            f"{'met' if (sk['rss_max_mb'] or 1e9) < 200 else 'NOT met'}"
        )


def main() -> int:
    ns = build_parser().parse_args()
    results = asyncio.run(amain(ns))
    report(results)
    if ns.json:
        Path(ns.json).write_text(json.dumps(results, indent=2, default=str))
    return 0
