"""Detector accuracy against the simulator's ground truth (``/__sim/truth``).

:func:`run` starts a simulator (its own config: speed, rates, episodes) and a daemon
whose feeds watch it, records every Condition the signals actor publishes, then
fetches the truth and scores the record with :func:`score`:

* whales recall: truth whale trades (after a warm-up, before the tail) matched by a
  ``whale_trade`` event of the same symbol within ``MATCH_S`` of market time;
* walls recall: truth walls placed within the depth the feed keeps, matched by a
  ``wall`` appearance of the same symbol and side at the same price within
  ``MATCH_S`` of their start; and how many ended walls got the right outcome;
* episodes: each finished episode has every expected kind on its symbols between
  its start and ``detect_by`` (a spoof also needs its ``pulled`` wall event);
* false alerts: every Condition that starts (active, or an event) and that no truth
  explains -- a whale, a wall, an episode of that symbol's base (or a whale in the
  minute a volume spike measured) -- per symbol-hour of simulated time.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import anyio
import msgspec

from tests.harness import running_daemon, test_config
from virtuoso_daemon.core.bus import Topics
from virtuoso_daemon.core.config import DemoConfig
from virtuoso_daemon.core.messages import SIGNAL_KINDS, Condition
from virtuoso_daemon.process.demo import demo_exchanges
from virtuoso_daemon.sim import SimConfig, Simulator

MATCH_S = 5.0  # market seconds between a truth event and its detection
WARMUP_S = 120.0  # the first simulated seconds: the feeds are still connecting


@dataclass
class Score:
    hours: float
    symbols: int
    whales: int = 0
    whales_found: int = 0
    walls: int = 0
    walls_found: int = 0
    walls_ended: int = 0
    outcomes_right: int = 0
    episodes: list[dict[str, Any]] = field(default_factory=list)
    missed_episodes: list[str] = field(default_factory=list)
    false_alerts: list[Condition] = field(default_factory=list)
    by_kind: dict[str, int] = field(default_factory=dict)

    @property
    def whale_recall(self) -> float:
        return self.whales_found / self.whales if self.whales else math.nan

    @property
    def wall_recall(self) -> float:
        return self.walls_found / self.walls if self.walls else math.nan

    @property
    def false_per_symbol_hour(self) -> float:
        return len(self.false_alerts) / (self.symbols * self.hours)

    def summary(self) -> str:
        return (
            f"{self.hours:.2f} simulated h x {self.symbols} symbols: whales "
            f"{self.whales_found}/{self.whales} (recall {self.whale_recall:.3f}), walls "
            f"{self.walls_found}/{self.walls} (recall {self.wall_recall:.3f}; outcome right "
            f"{self.outcomes_right}/{self.walls_ended}), episodes "
            f"{len(self.episodes) - len(self.missed_episodes)}/{len(self.episodes)} "
            f"{self.missed_episodes}, false alerts {len(self.false_alerts)} "
            f"({self.false_per_symbol_hour:.3f} per symbol-hour; by kind {self.false_by_kind}), "
            f"alerts started by kind {self.by_kind}"
        )

    @property
    def false_by_kind(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for c in self.false_alerts:
            name = f"{c.kind}:{c.values.get('outcome') or c.values.get('type') or ''}".rstrip(":")
            out[name] = out.get(name, 0) + 1
        return out


def _symbols_of(truth: dict[str, Any], base: str) -> set[str]:
    info = truth["symbols"].get(base, {})
    return {s for s in (info.get("spot"), info.get("perp")) if s}


def score(truth: dict[str, Any], conds: Iterable[Condition], t0_ms: int) -> Score:
    """Score the Conditions published from market time ``t0_ms`` on against ``truth``.

    Times match within ``MATCH_S`` or two simulator ticks, whichever is longer: a book
    change is seen at the next tick, ``tick_interval * speed`` simulated seconds on.
    """
    conds = list(conds)
    now = truth["time"]
    tol = max(MATCH_S, 2 * truth["speed"] * truth.get("tick_interval", 0.25))
    start = t0_ms + WARMUP_S * 1000
    tail = now - 30_000  # the last seconds: a detection may still be on its way
    n_symbols = sum(1 for i in truth["symbols"].values() for s in (i["spot"], i["perp"]) if s)
    sc = Score(hours=(now - start) / 3_600_000, symbols=n_symbols)
    # an alert is an activation of a key: its start, then severity changes until it
    # ends (those follow the start: explained or false with it)
    open_: dict[str, Condition] = {}
    first_of: dict[int, Condition] = {}
    for c in conds:
        if not c.active:
            open_.pop(c.key, None)
            continue
        if c.event or c.key not in open_:
            open_[c.key] = c
        first_of[id(c)] = open_[c.key]
    starts = [
        c
        for c in conds
        if c.active and first_of[id(c)] is c and c.ts * 1000 >= start and c.kind in SIGNAL_KINDS
    ]
    every_active = [c for c in conds if c.active and c.ts * 1000 >= start]
    for c in starts:
        sc.by_kind[c.kind] = sc.by_kind.get(c.kind, 0) + 1
    whale_events = [
        c for c in starts if c.kind == "whale_trade" and c.values.get("type") == "single"
    ]
    wall_starts = [c for c in starts if c.kind == "wall" and not c.event]
    wall_ends = [c for c in conds if c.kind == "wall" and not c.active]
    explained: set[int] = set()

    def near(c: Condition, symbol: str, t_ms: float) -> bool:
        return c.symbol == symbol and abs(c.ts * 1000 - t_ms) <= tol * 1000

    for w in truth["whales"]:
        hits = [c for c in whale_events if near(c, w["symbol"], w["time"])]
        explained.update(id(c) for c in hits)
        if start <= w["time"] <= tail:
            sc.whales += 1
            sc.whales_found += bool(hits)
    for w in truth["walls"]:
        mid = w["price"]
        if not start <= w["start"] <= tail:
            continue
        sc.walls += 1
        hits = [
            c
            for c in wall_starts
            if near(c, w["symbol"], w["start"])
            and c.values.get("side") == w["side"]
            and math.isclose(float(c.values["price"] or 0), mid, rel_tol=1e-9)
        ]
        if hits:
            sc.walls_found += 1
            explained.update(id(c) for c in hits)
        if not w["active"] and w["end"] <= tail:
            ends = [
                c
                for c in wall_ends
                if c.symbol == w["symbol"]
                and math.isclose(float(c.values["price"] or 0), mid, rel_tol=1e-9)
                and abs(c.ts * 1000 - w["end"]) <= tol * 1000
            ]
            if hits and ends:
                sc.walls_ended += 1
                if ends[0].values.get("outcome") == w.get("outcome"):
                    sc.outcomes_right += 1
    for w in truth["walls"]:
        # that wall's events (any time in its life), and imbalance while it stands
        for c in starts:
            if c.symbol != w["symbol"] or c.kind not in ("wall", "book_imbalance"):
                continue
            if not w["start"] - 1000 <= c.ts * 1000 <= w["end"] + tol * 1000:
                continue
            if c.kind == "book_imbalance" or (
                c.values.get("side") == w["side"]
                and math.isclose(float(c.values["price"] or 0), w["price"], rel_tol=1e-9)
            ):
                explained.add(id(c))
    for ep in truth["episodes"]:
        syms = _symbols_of(truth, ep["base"])
        window = [
            c
            for c in every_active
            if c.symbol in syms and ep["start"] <= c.ts * 1000 <= ep["detect_by"]
        ]
        explained.update(id(first_of[id(c)]) for c in window)
        if ep["start"] < start or ep["detect_by"] > now:
            continue
        sc.episodes.append(ep)
        kinds = {c.kind for c in window}
        missing = [k for k in ep["expect"] if k not in kinds]
        if ep["kind"] == "spoof":
            wall = ep.get("wall") or {}
            pulled = [
                c
                for c in window
                if c.kind == "wall" and c.event and c.values.get("outcome") == "pulled"
            ]
            if wall.get("outcome") == "pulled" and not pulled:
                missing.append("wall pulled")
        if missing:
            sc.missed_episodes.append(f"{ep['kind']} {ep['base']}: {missing}")
    # a whale moves its minute's volume and, on a perpetual, the open interest (the
    # simulator adds half its size): a volume spike in the two minutes after a true
    # whale, or a manipulation score over a window holding one, is explained by it
    for c in starts:
        if c.kind == "volume_spike":
            back = 120_000.0
        elif c.kind == "manipulation":
            back = 60_000.0 * float(c.values.get("window_min") or 60)
        else:
            continue
        if any(
            w["symbol"] == c.symbol and c.ts * 1000 - back <= w["time"] <= c.ts * 1000
            for w in truth["whales"]
        ):
            explained.add(id(c))
    sc.false_alerts = [c for c in starts if id(c) not in explained]
    return sc


async def run(sim_config: SimConfig, wall_seconds: float) -> tuple[Score, dict[str, Any]]:
    """Run the simulator and a daemon for ``wall_seconds``; score what was detected."""
    demo = DemoConfig(
        seed=sim_config.seed,
        n_alts=sim_config.n_alts,
        speed=sim_config.speed,
        perpetuals=sim_config.perpetuals,
    )
    sim = Simulator(sim_config)
    conds: list[Condition] = []
    async with anyio.create_task_group() as outer:
        url: str = await outer.start(sim.serve, "127.0.0.1", 0)
        exchanges = [msgspec.to_builtins(e) for e in demo_exchanges(url, demo)]
        cfg = test_config(daemon={"log_level": "warning"}, exchanges=exchanges)
        t0 = sim.engine.t_ms
        async with running_daemon(cfg, start_timeout=60) as d:
            sub = d.runtime.bus.subscribe(
                Topics.CONDITIONS, name="accuracy", lossy=False, maxsize=100_000
            )

            async def collect() -> None:
                async for c in sub:
                    conds.append(c)

            try:
                async with anyio.create_task_group() as tg:
                    tg.start_soon(collect)
                    await anyio.sleep(wall_seconds)
                    with anyio.fail_after(20):
                        async with aiohttp.ClientSession() as http:
                            async with http.get(f"{url}/__sim/truth") as resp:
                                truth: dict[str, Any] = await resp.json()
                    tg.cancel_scope.cancel()
            finally:
                sub.close()
            stats = d.runtime.stats["signals"]()
            drops = d.runtime.bus.drops()
        outer.cancel_scope.cancel()
    info = {"stats": stats, "drops": drops, "truth": truth, "t0": t0}
    return score(truth, conds, t0), info
