"""Order-book walls (appearance; end pulled / filled / out of view) and bid/ask
imbalance, fed the feed's book summaries (see :mod:`.engine`)."""

from __future__ import annotations

import math
from typing import Any, Literal

from virtuoso_daemon.analytics import detectors
from virtuoso_daemon.core.messages import Condition, OrderBookTop, Severity
from virtuoso_daemon.signals.base import EngineBase, rounded, usd
from virtuoso_daemon.signals.conditions import event
from virtuoso_daemon.signals.state import SymbolState, TrackedWall

IMBALANCE_RELEASE = 0.8  # ends below this fraction of the threshold


class BookDetectors(EngineBase):
    """``wall`` and ``book_imbalance``."""

    def on_book(self, b: OrderBookTop) -> list[Condition]:
        out: list[Condition] = []
        self.counters["books"] += 1
        st = self.state(b.exchange, b.symbol)
        ts = b.ts / 1000.0
        if "wall" in self.enabled:
            self._walls(out, st, b, ts)
        if "book_imbalance" in self.enabled:
            self._imbalance(out, st, b, ts)
        return out

    def _walls(self, out: list[Condition], st: SymbolState, b: OrderBookTop, ts: float) -> None:
        wt = st.thresholds.walls
        best_bid = b.bids[0][0] if b.bids else None
        best_ask = b.asks[0][0] if b.asks else None
        seen: set[tuple[str, float]] = set()
        for side, walls in (("bid", b.bid_walls), ("ask", b.ask_walls)):
            for price, amount, ratio in walls:
                if ratio < wt.min_ratio or price * amount < wt.min_usd:
                    continue
                key = (side, price)
                seen.add(key)
                tracked = st.walls.get(key)
                if tracked is not None:
                    tracked.amount, tracked.ratio, tracked.last_seen = amount, ratio, ts
                    continue
                st.walls[key] = TrackedWall(side, price, amount, ratio, ts, ts)
                self.counters["walls_appeared"] += 1
                self.dirty.add("walls")
                dist = 100.0 * abs(price / b.mid - 1.0) if b.mid else math.nan
                self._out(
                    out,
                    self.book.update(
                        f"wall:{st.exchange}:{st.symbol}:{side}:{price:g}",
                        "wall",
                        "info",
                        exchange=st.exchange,
                        symbol=st.symbol,
                        message=f"{st.symbol} {side} wall {usd(price * amount)} at {price:g} "
                        f"({dist:.2f}% away, {ratio:.0f}x a level)",
                        values={
                            "side": side,
                            "price": price,
                            "amount": amount,
                            "usd": round(price * amount, 2),
                            "ratio": ratio,
                            "distance_pct": rounded(dist, 3),
                            "threshold_ratio": wt.min_ratio,
                        },
                        ts=ts,
                    ),
                )
        for key in [k for k in st.walls if k not in seen]:
            wall = st.walls.pop(key)
            edge = b.bid_edge if wall.side == "bid" else b.ask_edge
            outcome = detectors.wall_outcome(
                "bid" if wall.side == "bid" else "ask", wall.price, best_bid, best_ask, edge
            )
            self._wall_ended(out, st, wall, outcome, ts)

    def _wall_ended(
        self,
        out: list[Condition],
        st: SymbolState,
        wall: TrackedWall,
        outcome: Literal["pulled", "filled", "out_of_view"],
        ts: float,
    ) -> None:
        self.counters[f"walls_{outcome}"] += 1
        self.dirty.add("walls")
        lasted = ts - wall.first_seen
        value = wall.price * wall.amount
        row = {
            "exchange": st.exchange,
            "symbol": st.symbol,
            "side": wall.side,
            "price": wall.price,
            "amount": wall.amount,
            "usd": round(value, 2),
            "ratio": wall.ratio,
            "first_seen": wall.first_seen,
            "ended": ts,
            "outcome": outcome,
        }
        self.walls_ended.appendleft(row)
        vals: dict[str, float | str | None] = {
            "side": wall.side,
            "price": wall.price,
            "amount": wall.amount,
            "usd": round(value, 2),
            "outcome": outcome,
            "lasted_s": round(lasted, 1),
        }
        key = f"wall:{st.exchange}:{st.symbol}:{wall.side}:{wall.price:g}"
        text = (
            f"{st.symbol} {wall.side} wall {usd(value)} at {wall.price:g} "
            f"{outcome.replace('_', ' ')} after {lasted:.0f} s"
        )
        self._out(
            out,
            self.book.update(
                key,
                "wall",
                None,
                exchange=st.exchange,
                symbol=st.symbol,
                message=text,
                values=vals,
                ts=ts,
            ),
        )
        if outcome == "pulled":
            self._out(
                out,
                event(
                    f"{key}:pulled:{int(ts * 1000)}",
                    "wall",
                    "warning",
                    exchange=st.exchange,
                    symbol=st.symbol,
                    message=text + " (never hit: possible spoof)",
                    values=vals,
                    ts=ts,
                ),
            )

    def _imbalance(self, out: list[Condition], st: SymbolState, b: OrderBookTop, ts: float) -> None:
        wt = st.thresholds.walls
        imb = detectors.book_imbalance(b.bid_depth, b.ask_depth)
        key = f"book_imbalance:{st.exchange}:{st.symbol}"
        held = key in self.book.active
        if math.isfinite(imb) and abs(imb) >= wt.imbalance:
            if st.imbalance_since is None:
                st.imbalance_since = ts
            if held or ts - st.imbalance_since < wt.imbalance_seconds:
                return
            sev: Severity | None = "warning"
        elif held and math.isfinite(imb) and abs(imb) >= wt.imbalance * IMBALANCE_RELEASE:
            return
        else:
            st.imbalance_since = None
            sev = None
        side = "bid" if imb > 0 else "ask"
        self._state_cond(
            out,
            st,
            key,
            "book_imbalance",
            sev,
            lambda: (
                f"{st.symbol} book {abs(imb) * 100:.0f}% "
                f"{'bid-heavy (accumulation)' if side == 'bid' else 'ask-heavy (distribution)'}"
            ),
            lambda: {
                "imbalance": rounded(imb),
                "bid_depth": b.bid_depth,
                "ask_depth": b.ask_depth,
                "depth_pct": b.depth_pct,
                "threshold": wt.imbalance,
            },
            ts,
        )

    def walls_view(self) -> dict[str, Any]:
        active: list[dict[str, Any]] = [
            {
                "exchange": st.exchange,
                "symbol": st.symbol,
                "side": w.side,
                "price": w.price,
                "amount": w.amount,
                "usd": round(w.price * w.amount, 2),
                "ratio": w.ratio,
                "first_seen": w.first_seen,
                "last_seen": w.last_seen,
            }
            for st in self.symbols.values()
            for w in st.walls.values()
        ]
        active.sort(key=lambda r: -r["usd"])
        return {"active": active, "recent": list(self.walls_ended)}
