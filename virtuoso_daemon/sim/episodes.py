"""Scripted episodes with known times: the ground truth of the signal detectors.

Besides the random whales and walls, the simulator plays a schedule of episodes, one
every ``episode_every`` simulated seconds from ``episode_first`` after it started,
cycling through ``episode_kinds``, each on its own alt (chosen from the seed; BTC,
the factor, is never touched). Each is listed in ``/__sim/truth`` under ``episodes``
once it has started, with its times and what a detector should say:

``move``    the price rises 4 % within 2 minutes, then holds. Expect ``price_move``
            and ``volatility_breakout`` by 2 minutes after it ends.
``volume``  the trade rate is 12x for 3 minutes, the price untouched. Expect
            ``volume_spike`` by 2 minutes after it ends.
``spoof``   a wall (2 x the simulator's wall size) rests 1.2 % from the touch on the
            spot book for 5 minutes, then is pulled (the price is not steered to it:
            the truth's ``outcome`` says whether it was hit anyway). Expect ``wall``
            at its start and a ``pulled`` wall at its end.
``pump``    open interest of the perpetual +15 % over 10 minutes while the price slips
            0.5 % (the divergence), then the price +6 % in 5 minutes on 6x trades,
            then -5 % in 10 minutes while OI unwinds 10 % on 3x trades. Expect
            ``manipulation`` by 2 minutes after it ends (and ``price_move``).

Phases move the log price and the log open interest linearly in time (a drift added
to the factor model's noise), so a step of any length gets exactly its share.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from virtuoso_daemon.sim.config import SimConfig
from virtuoso_daemon.sim.universe import Universe

GRACE_S = 120.0  # after an episode ends, the detectors have this long to say it
SPOOF_DISTANCE = 0.012  # from the touch
SPOOF_SIZE = 2.0  # x the simulator's wall size multiple


@dataclass(frozen=True)
class Phase:
    """Offsets in simulated seconds from the episode's start; totals over the phase."""

    start: float
    end: float
    log_price: float = 0.0
    log_oi: float = 0.0
    rate_mult: float = 1.0


# kind -> (phases, detector kinds expected, duration s)
SCRIPTS: dict[str, tuple[tuple[Phase, ...], tuple[str, ...]]] = {
    "move": ((Phase(0, 120, log_price=math.log(1.04)),), ("price_move", "volatility_breakout")),
    "volume": ((Phase(0, 180, rate_mult=12.0),), ("volume_spike",)),
    "spoof": ((Phase(0, 300),), ("wall",)),
    "pump": (
        (
            Phase(0, 600, log_price=math.log(0.995), log_oi=math.log(1.15)),
            Phase(600, 900, log_price=math.log(1.06), log_oi=math.log(1.02), rate_mult=6.0),
            Phase(900, 1500, log_price=math.log(0.95), log_oi=math.log(0.90), rate_mult=3.0),
        ),
        ("manipulation", "price_move"),
    ),
}
KINDS = tuple(SCRIPTS)


@dataclass
class Episode:
    id: int
    kind: str
    base: int
    base_name: str
    start_ms: int
    phases: tuple[Phase, ...]
    expect: tuple[str, ...]
    record: dict[str, Any] = field(default_factory=dict)
    wall_placed: bool = False

    @property
    def end_ms(self) -> int:
        return self.start_ms + int(max(p.end for p in self.phases) * 1000)


class Episodes:
    """The schedule and its effect on prices, open interest, trade rates and books."""

    def __init__(self, config: SimConfig, universe: Universe, start_ms: int) -> None:
        self.universe = universe
        self.list: list[Episode] = []
        self.n_bases = universe.n_bases
        self.base_of = np.array([m.base.index for m in universe.markets])
        kinds = [k for k in config.episode_kinds if k in SCRIPTS]
        alts = list(range(1, universe.n_bases))
        if not config.episodes or not kinds or not alts:
            return
        order = np.random.default_rng([config.seed, 17]).permutation(alts).tolist()
        t = start_ms + int(config.episode_first * 1000)
        k = 0
        # a day of episodes is scheduled ahead; truth lists only those that started
        while t < start_ms + 86_400_000:
            kind = kinds[k % len(kinds)]
            base = int(order[k % len(order)])
            phases, expect = SCRIPTS[kind]
            self.list.append(
                Episode(k + 1, kind, base, universe.bases[base].name, t, phases, expect)
            )
            t += int(config.episode_every * 1000)
            k += 1

    def _overlapping(self, t0: int, t1: int) -> list[Episode]:
        return [e for e in self.list if e.start_ms < t1 and e.end_ms > t0]

    def drift(self, t0_ms: int, t1_ms: int) -> tuple[np.ndarray, np.ndarray] | None:
        """Extra log price and log open interest per base over ``[t0, t1]``."""
        eps = self._overlapping(t0_ms, t1_ms)
        if not eps:
            return None
        dp = np.zeros(self.n_bases)
        doi = np.zeros(self.n_bases)
        for e in eps:
            for ph in e.phases:
                a = e.start_ms + ph.start * 1000
                b = e.start_ms + ph.end * 1000
                share = max(0.0, min(b, t1_ms) - max(a, t0_ms)) / (b - a)
                dp[e.base] += ph.log_price * share
                doi[e.base] += ph.log_oi * share
        return dp, doi

    def rate_mult(self, t_ms: int) -> np.ndarray | None:
        """Trade-rate multiple per market at ``t_ms`` (None: all 1)."""
        eps = self._overlapping(t_ms, t_ms + 1)
        if not eps:
            return None
        per_base = np.ones(self.n_bases)
        for e in eps:
            for ph in e.phases:
                if e.start_ms + ph.start * 1000 <= t_ms < e.start_ms + ph.end * 1000:
                    per_base[e.base] *= ph.rate_mult
        return per_base[self.base_of]

    def walls_due(self, t_ms: int) -> list[Episode]:
        """Spoof episodes whose wall should be placed now (once each)."""
        due = []
        for e in self.list:
            if e.kind == "spoof" and not e.wall_placed and e.start_ms <= t_ms < e.end_ms:
                e.wall_placed = True
                due.append(e)
        return due

    def truth(self, now_ms: int) -> list[dict[str, Any]]:
        """Every episode that has started: kind, symbols, times, what to expect."""
        out = []
        for e in self.list:
            if e.start_ms > now_ms:
                break
            name = e.base_name
            spot = self.universe.find("spot", f"{name}{self.universe.quote}")
            perp = self.universe.find("futures", f"{name}{self.universe.quote}")
            out.append(
                {
                    "id": e.id,
                    "kind": e.kind,
                    "base": name,
                    "spot": spot.symbol if spot else None,
                    "perp": perp.symbol if perp else None,
                    "start": e.start_ms,
                    "end": e.end_ms,
                    "detect_by": e.end_ms + int(GRACE_S * 1000),
                    "expect": list(e.expect),
                    "done": now_ms >= e.end_ms,
                    **e.record,
                }
            )
        return out
