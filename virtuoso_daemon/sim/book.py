"""Order books on a fixed price grid, with Binance-style update ids and diffs.

Level ``i`` sits at price ``i * step``. The best bid is level ``floor(price / step)``; a
side is the ``levels`` consecutive levels away from the touch. A level's resting size
is a hash of (market, side, level), so levels that stay in the window keep their size
as the price moves and a step changes only the levels that enter or leave the window,
plus a few "churned" levels near the touch and any walls. Every step therefore yields
one small diff ``(U, u, pu, bids, asks)`` that a client applying Binance's local-book
recipe to a REST snapshot reproduces exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from virtuoso_daemon.sim.universe import Market

_MASK = 0xFFFFFFFF


def _hash_u(salt: int, side: int, level: int) -> float:
    h = (level * 0x9E3779B1 + salt * 0x85EBCA6B + side * 0xC2B2AE35) & _MASK
    h ^= h >> 16
    h = (h * 0x7FEB352D) & _MASK
    h ^= h >> 15
    h = (h * 0x846CA68B) & _MASK
    h ^= h >> 16
    return h / 4294967296.0


def _hash_u_vec(salt: int, side: int, levels: np.ndarray) -> np.ndarray:
    m = np.uint64(_MASK)
    h = (
        levels.astype(np.uint64) * np.uint64(0x9E3779B1)
        + np.uint64((salt * 0x85EBCA6B + side * 0xC2B2AE35) & _MASK)
    ) & m
    h ^= h >> np.uint64(16)
    h = (h * np.uint64(0x7FEB352D)) & m
    h ^= h >> np.uint64(15)
    h = (h * np.uint64(0x846CA68B)) & m
    h ^= h >> np.uint64(16)
    return h.astype(np.float64) / 4294967296.0


def _minus(a1: int, a2: int, b1: int, b2: int) -> list[range]:
    """The integer interval ``[a1, a2]`` without ``[b1, b2]``, as ranges."""
    out = []
    if a1 <= min(a2, b1 - 1):
        out.append(range(a1, min(a2, b1 - 1) + 1))
    if max(a1, b2 + 1) <= a2:
        out.append(range(max(a1, b2 + 1), a2 + 1))
    return out


@dataclass
class Wall:
    """A large resting order injected at one level (ground truth for wall detection)."""

    side: str  # "bid" | "ask"
    level: int
    qty: float
    start_ms: int
    end_ms: int
    record: dict[str, Any]  # the truth entry, updated when the wall ends


# a wall to add during a step: (side, offset from the touch in levels, size multiple,
# duration ms, truth record)
WallSpec = tuple[int, int, float, int, dict[str, Any]]


class Book:
    """One market's book: grid, overrides (churn and walls), update ids, the last diff."""

    BID, ASK = 0, 1

    def __init__(self, market: Market, levels: int, price: float, salt: int) -> None:
        self.market = market
        self.step = market.book_step
        self.levels = levels
        self.salt = salt
        self.b0 = math.floor(price / self.step)
        # typical level size: a few mean trades
        self.level_qty = max(market.mean_qty * 3.0, market.lot)
        self.ovr: tuple[dict[int, float], dict[int, float]] = ({}, {})
        self.walls: dict[tuple[int, int], Wall] = {}
        self.update_id = 1_000_000 + salt * 7919
        self.diff: tuple[int, int, int, list[tuple[int, float]], list[tuple[int, float]]] = (
            self.update_id,
            self.update_id,
            self.update_id,
            [],
            [],
        )
        self._price_str: dict[int, str] = {}
        self._base: dict[int, float] = {}
        self._snap: dict[int, tuple[int, bytes, bytes]] = {}

    # -- sizes --------------------------------------------------------------------------

    def base_qty(self, side: int, level: int) -> float:
        key = 2 * level + side
        got = self._base.get(key)
        if got is None:
            if len(self._base) > 50_000:
                self._base.clear()
            u = _hash_u(self.salt, side, level)
            got = self._base[key] = self._round(self.level_qty * (0.1 + 2.0 * u * u))
        return got

    def _round(self, qty: float) -> float:
        lot = self.market.lot
        q = round(qty / lot) * lot
        return q if q > lot else lot

    def qty(self, side: int, level: int) -> float:
        got = self.ovr[side].get(level)
        return got if got is not None else self.base_qty(side, level)

    def price_str(self, level: int) -> str:
        s = self._price_str.get(level)
        if s is None:
            if len(self._price_str) > 20_000:
                self._price_str.clear()
            s = self._price_str[level] = self.market.fmt_price(level * self.step)
        return s

    @property
    def best_bid(self) -> tuple[float, float]:
        return self.b0 * self.step, self.qty(self.BID, self.b0)

    @property
    def best_ask(self) -> tuple[float, float]:
        return (self.b0 + 1) * self.step, self.qty(self.ASK, self.b0 + 1)

    def window(self, side: int, b0: int | None = None) -> tuple[int, int]:
        b = self.b0 if b0 is None else b0
        if side == self.BID:
            return b - self.levels + 1, b
        return b + 1, b + self.levels

    # -- evolution ------------------------------------------------------------------------

    def step_to(
        self,
        price: float,
        churn: list[list[int]],
        churn_mult: list[list[float]],
        now_ms: int,
        wall: WallSpec | None = None,
    ) -> tuple[list[Wall], Wall | None]:
        """Move to ``price``, churn levels near the touch, expire walls, maybe add one.

        ``churn[side]`` are level offsets from the touch, ``churn_mult[side]`` the size
        multiples. Returns the walls that ended and the wall added (if it fit).
        """
        changes: tuple[dict[int, float], dict[int, float]] = ({}, {})
        ended: list[Wall] = []
        walls = self.walls
        new_b0 = math.floor(price / self.step)
        if new_b0 != self.b0:
            for side in (0, 1):
                o1, o2 = self.window(side)
                n1, n2 = self.window(side, new_b0)
                ovr = self.ovr[side]
                ch = changes[side]
                for rng_ in _minus(o1, o2, n1, n2):
                    for lvl in rng_:
                        ch[lvl] = 0.0
                        if ovr:
                            ovr.pop(lvl, None)
                        if walls:
                            gone = walls.pop((side, lvl), None)
                            if gone is not None:
                                # the touch went through it (filled) or moved so far
                                # away that the level left the book's window
                                crossed = lvl > new_b0 if side == self.BID else lvl <= new_b0
                                gone.record["outcome"] = "filled" if crossed else "out_of_view"
                                ended.append(gone)
                for rng_ in _minus(n1, n2, o1, o2):
                    for lvl in rng_:
                        ch[lvl] = self.base_qty(side, lvl)
            self.b0 = new_b0
        # churn near the touch (never over a wall)
        b0 = self.b0
        for side in (0, 1):
            ovr = self.ovr[side]
            ch = changes[side]
            for off, mult in zip(churn[side], churn_mult[side], strict=True):
                if off >= self.levels:
                    continue
                lvl = b0 - off if side == 0 else b0 + 1 + off
                if walls and (side, lvl) in walls:
                    continue
                q = self._round(self.base_qty(side, lvl) * mult)
                ovr[lvl] = q
                ch[lvl] = q
        if walls:
            for key, old_wall in list(walls.items()):
                if now_ms >= old_wall.end_ms:
                    old_wall.record["outcome"] = "pulled"  # cancelled before it was hit
                    del walls[key]
                    self.ovr[key[0]].pop(old_wall.level, None)
                    changes[key[0]][old_wall.level] = self.base_qty(key[0], old_wall.level)
                    ended.append(old_wall)
        added = None
        if wall is not None:
            added = self.add_wall(*wall, now_ms=now_ms)
            if added is not None:
                changes[wall[0]][added.level] = added.qty
        n_changes = len(changes[0]) + len(changes[1])
        if n_changes:
            prev = self.update_id
            self.update_id += n_changes
            self.diff = (
                prev + 1,
                self.update_id,
                prev,
                list(changes[0].items()),
                list(changes[1].items()),
            )
        else:
            self.diff = (self.update_id + 1, self.update_id, self.update_id, [], [])
        return ended, added

    def add_wall(
        self,
        side: int,
        offset: int,
        mult: float,
        duration_ms: int,
        record: dict[str, Any],
        *,
        now_ms: int,
    ) -> Wall | None:
        """Rest a wall ``offset`` levels from the touch; it lands in the next diff."""
        if offset >= self.levels:
            return None
        lvl = self.b0 - offset if side == self.BID else self.b0 + 1 + offset
        qty = self._round(self.level_qty * mult)
        wall = Wall(
            "bid" if side == self.BID else "ask", lvl, qty, now_ms, now_ms + duration_ms, record
        )
        self.walls[(side, lvl)] = wall
        self.ovr[side][lvl] = qty
        record.update(price=round(lvl * self.step, self.market.price_decimals), qty=qty)
        return wall

    # -- encoding -------------------------------------------------------------------------

    def _levels_json(self, pairs: list[tuple[int, float]]) -> bytes:
        fq = self.market.fmt_qty
        return (
            "[" + ",".join(f'["{self.price_str(lvl)}","{fq(q)}"]' for lvl, q in pairs) + "]"
        ).encode()

    def snapshot(self, limit: int) -> tuple[int, bytes, bytes]:
        """``(lastUpdateId, bids_json, asks_json)`` with up to ``limit`` levels per side."""
        n = min(limit, self.levels)
        cached = self._snap.get(n)
        if cached is not None and cached[0] == self.update_id:
            return cached
        fq = self.market.fmt_qty
        parts: list[bytes] = []
        for side in (self.BID, self.ASK):
            lv = (self.b0 - np.arange(n)) if side == self.BID else (self.b0 + 1 + np.arange(n))
            u = _hash_u_vec(self.salt, side, lv)
            lot = self.market.lot
            qty = np.maximum(lot, np.round(self.level_qty * (0.1 + 2.0 * u * u) / lot) * lot)
            ovr = self.ovr[side]
            qs = qty.tolist()
            levels = lv.tolist()
            if ovr:
                for j, lvl in enumerate(levels):
                    got = ovr.get(lvl)
                    if got is not None:
                        qs[j] = got
            parts.append(
                (
                    "["
                    + ",".join(
                        f'["{self.price_str(lvl)}","{fq(q)}"]'
                        for lvl, q in zip(levels, qs, strict=True)
                    )
                    + "]"
                ).encode()
            )
        out = (self.update_id, parts[0], parts[1])
        if len(self._snap) > 8:
            self._snap.clear()
        self._snap[n] = out
        return out

    def diff_event(self, event_ms: int, futures: bool) -> bytes:
        first, last, prev, bids, asks = self.diff
        sym = self.market.id
        extra = f',"T":{event_ms}' if futures else ""
        pu = f',"pu":{prev}' if futures else ""
        return (
            (
                f'{{"e":"depthUpdate","E":{event_ms}{extra},"s":"{sym}","U":{first},"u":{last}'
                f'{pu},"b":'
            ).encode()
            + self._levels_json(bids)
            + b',"a":'
            + self._levels_json(asks)
            + b"}"
        )
