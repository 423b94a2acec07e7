"""Latency part: simulator push -> value visible in the API."""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import quote

import aiohttp

from bench.common import dist, fmt_dist, load_avg, pct, progress
from bench.stack import Probe, Stack, base_config, counters, running_stack

# --- latency probing ---------------------------------------------------------------------


@dataclass
class Sample:
    """One new value first seen in the API."""

    exchange: str
    symbol: str
    e_ms: int  # the simulator's push time (E = ticker.ts)
    seen: float  # wall time the first poll showing it returned
    resolution: float  # seconds since the last poll that still showed the old value
    recv_ts: float  # the daemon's receive time (ticker.recv_ts)
    ws: float | None = None  # arrival of the same event at the observer websocket

    @property
    def api_ms(self) -> float:
        return self.seen * 1000 - self.e_ms

    @property
    def feed_ms(self) -> float:
        return self.recv_ts * 1000 - self.e_ms


@dataclass
class LatencyRun:
    samples: list[Sample] = field(default_factory=list)
    rtts: list[float] = field(default_factory=list)
    polls: int = 0
    skipped: int = 0  # ticks whose value the API never showed (a newer one came first)
    ws_frames: int = 0
    ws_arrivals: dict[tuple[str, int], float] = field(default_factory=dict)


async def poll_symbol(
    stack: Stack,
    probe: Probe,
    run: LatencyRun,
    stop: float,
    gap: float,
    interval: float,
    lead: float = 0.005,
) -> None:
    url = f"{stack.api}/api/market/ticker/{quote(probe.symbol, safe='')}?exchange={probe.exchange}"
    session = stack.session
    last: int | None = None
    last_old_poll = 0.0  # send time of the last poll that showed the old value

    async def once() -> tuple[float, float, dict[str, Any]]:
        t0 = time.time()
        async with session.get(url) as r:
            body = await r.read()
        t1 = time.time()
        run.polls += 1
        run.rtts.append(t1 - t0)
        return t0, t1, json.loads(body)

    while time.time() < stop:
        if last is not None:
            # the next push is due one tick after the last; start just before it
            wake = last / 1000 + interval - lead
            delay = wake - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
        while time.time() < stop:
            t0, t1, doc = await once()
            if "ticker" not in doc:  # no data yet (404 body)
                await asyncio.sleep(interval)
                continue
            tk = doc["ticker"]
            ts = int(tk["ts"])
            if last is None or ts == last:
                if last is None:
                    last = ts
                    last_old_poll = t0
                    break
                last_old_poll = t0
                await asyncio.sleep(gap)
                continue
            if ts > last:
                run.skipped += max(0, round((ts - last) / 1000 / interval) - 1)
                run.samples.append(
                    Sample(probe.exchange, probe.symbol, ts, t1, t1 - last_old_poll, tk["recv_ts"])
                )
            last = ts
            last_old_poll = t0
            break


async def observe_ws(stack: Stack, probes: list[Probe], run: LatencyRun, stop: float) -> None:
    """An independent websocket client of the simulator: when each event arrives."""
    groups: dict[bool, list[Probe]] = {}
    for p in probes:
        groups.setdefault(p.futures, []).append(p)

    async def one(futures: bool, members: list[Probe]) -> None:
        ids = {p.market_id: p.symbol for p in members}
        streams = "/".join(f"{i.lower()}@ticker" for i in ids)
        path = "/fstream/stream" if futures else "/stream"
        url = f"{stack.sim_url.replace('http', 'ws', 1)}{path}?streams={streams}"
        async with stack.session.ws_connect(url, heartbeat=None, max_msg_size=1 << 22) as ws:
            while time.time() < stop:
                try:
                    msg = await asyncio.wait_for(ws.receive(), timeout=max(0.1, stop - time.time()))
                except TimeoutError:
                    return
                now = time.time()
                if msg.type != aiohttp.WSMsgType.TEXT:
                    if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
                        return
                    continue
                data = json.loads(msg.data).get("data", {})
                symbol = ids.get(data.get("s", ""))
                if symbol is not None and "E" in data:
                    run.ws_frames += 1
                    run.ws_arrivals[(symbol, int(data["E"]))] = now

    await asyncio.gather(*(one(f, m) for f, m in groups.items()))


async def measure_latency(
    stack: Stack, probes: list[Probe], seconds: float, gap: float, observer: bool = True
) -> LatencyRun:
    run = LatencyRun()
    stop = time.time() + seconds
    interval = stack.cfg.tick
    tasks = [poll_symbol(stack, p, run, stop, gap, interval) for p in probes]
    if observer:
        tasks.append(observe_ws(stack, probes, run, stop + 0.5))
    await asyncio.gather(*tasks)
    for s in run.samples:
        s.ws = run.ws_arrivals.get((s.symbol, s.e_ms))
    return run


def summarize_latency(run: LatencyRun, seconds: float = 0.0) -> dict[str, Any]:
    samples = run.samples
    ws = [s for s in samples if s.ws is not None]
    third = max(1, len(samples) // 3)
    by_symbol: dict[str, list[float]] = {}
    for s in samples:
        by_symbol.setdefault(f"{s.exchange}:{s.symbol}", []).append(s.api_ms)
    first = sorted(samples, key=lambda s: s.e_ms)
    return {
        "api": dist([s.api_ms for s in samples]),
        "feed_recv": dist([s.feed_ms for s in samples]),
        "ws_observer": dist([(s.ws or 0) * 1000 - s.e_ms for s in ws]),
        "feed_minus_ws": dist([(s.recv_ts - (s.ws or 0)) * 1000 for s in ws]),
        "api_minus_ws": dist([(s.seen - (s.ws or 0)) * 1000 for s in ws]),
        "api_minus_feed": dist([(s.seen - s.recv_ts) * 1000 for s in samples]),
        "resolution": dist([s.resolution * 1000 for s in samples]),
        "poll_rtt": dist([r * 1000 for r in run.rtts]),
        "per_symbol_p50": {k: pct(v, 50) for k, v in by_symbol.items()},
        "per_symbol_p99": {k: pct(v, 99) for k, v in by_symbol.items()},
        "first_third_p50": pct([s.api_ms for s in first[:third]], 50),
        "last_third_p50": pct([s.api_ms for s in first[-third:]], 50),
        "polls": run.polls,
        "polls_per_s": run.polls / seconds if seconds else None,
        "skipped_ticks": run.skipped,
        "ws_matched": len(ws),
        # raw, for later analysis: exchange, symbol, E, seen, resolution, recv_ts, ws
        "samples": [
            [
                s.exchange,
                s.symbol,
                s.e_ms,
                round(s.seen, 4),
                round(s.resolution, 4),
                round(s.recv_ts, 4),
                None if s.ws is None else round(s.ws, 4),
            ]
            for s in samples
        ],
    }


# --- the parts -----------------------------------------------------------------------------


async def part_latency(ns: argparse.Namespace) -> dict[str, Any]:
    cfg = base_config(ns, markets=ns.latency_markets)
    progress(f"latency: starting {cfg.label()} (sim {cfg.sim})")
    async with running_stack(cfg) as stack:
        warm = await stack.wait_warm(ns.warmup_timeout)
        progress(f"latency: warm after {warm:.0f}s; settling {ns.settle:g}s")
        await asyncio.sleep(ns.settle)
        offset = await stack.clock_offset_ms()
        probes = stack.probes(ns.probes)
        progress(
            f"latency: sim clock - wall clock = {offset:+.1f} ms; polling {len(probes)} "
            f"tickers for {ns.latency_seconds:g}s"
        )
        load0 = load_avg()
        c0 = counters(await stack.status())
        run = await measure_latency(stack, probes, ns.latency_seconds, ns.poll_gap_ms / 1000)
        st1 = await stack.status()
        c1 = counters(st1)
        offset1 = await stack.clock_offset_ms()
        out = summarize_latency(run, ns.latency_seconds)
        out.update(
            config=asdict(cfg),
            warmup_seconds=warm,
            clock_offset_ms=[offset, offset1],
            load_avg=[load0, load_avg()],
            drops=c1["drops"] - c0["drops"],
            restarts=c1["restarts"] - c0["restarts"],
            rss_mb=stack.rss_mb(stack.daemon),
            gc=st1["stats"].get("gc"),  # the GC policy and the quiet collector's figures
        )
        progress(f"latency: API visible - push:  {fmt_dist(out['api'])}")
        progress(f"latency: feed receive - push:  {fmt_dist(out['feed_recv'])}")
        progress(f"latency: observer ws - push:   {fmt_dist(out['ws_observer'])}")
        progress(f"latency: API - observer ws:    {fmt_dist(out['api_minus_ws'])}")
        progress(f"latency: poll resolution:      {fmt_dist(out['resolution'])}")
        progress(
            f"latency: poll round trip:      {fmt_dist(out['poll_rtt'])}; "
            f"{out['polls_per_s']:.0f} polls/s"
        )
        if out["gc"]:
            progress(f"latency: garbage collection: {out['gc']}")
        return out
