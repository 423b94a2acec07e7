"""The detectors fed message by message: market data in, Conditions and view rows out.

:class:`SignalEngine` holds the per-symbol windows (:mod:`.state`) and calls the pure
detectors of :mod:`virtuoso_daemon.analytics.detectors`; it knows nothing of the bus,
so tests drive it with plain messages. Rules, in the order of the kinds:

* ``price_move`` (per window 5/15/60 min) and ``volatility_breakout`` and
  ``volume_spike``: evaluated on each closed 1-minute candle; warning at the
  threshold, critical at twice it; a state per key, resolved when it no longer holds.
* ``whale_trade``: one event per whale trade (key ends with the trade id) and one per
  same-side burst; critical at ten times ``min_usd``.
* ``wall``: a state per wall (key ``wall:<ex>:<symbol>:<side>:<price>``, info) from
  its appearance to its end, resolved with ``outcome`` pulled / filled / out_of_view;
  a pull is also a warning event (the spoofing signature).
* ``book_imbalance``: |imbalance| at or above the threshold for ``imbalance_seconds``
  (of book time); ends below 0.8 x the threshold.
* ``manipulation``: the score of :func:`~..detectors.manipulation_score` on each
  closed candle of a symbol with open interest; warning / critical thresholds, ends
  below the warning threshold minus 0.1 (hysteresis: no flapping around the line).
* ``regime_change`` (event on a new regime label), ``beta_change`` (state per
  symbol/timeframe/window), ``funding_extreme`` (state per perpetual).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from typing import Any, Literal

import numpy as np

from virtuoso_daemon.analytics import detectors
from virtuoso_daemon.analytics.detectors import ManipulationWeights
from virtuoso_daemon.core.config import SignalsConfig
from virtuoso_daemon.core.messages import (
    BetaSnapshot,
    Candle,
    CandleBatch,
    Condition,
    Funding,
    OpenInterest,
    OrderBookTop,
    RegimeSnapshot,
    Severity,
    Trade,
)
from virtuoso_daemon.signals.conditions import ConditionBook, event
from virtuoso_daemon.signals.state import (
    MINUTE_MS,
    MinuteSeries,
    SymbolState,
    TrackedWall,
    TradeWindow,
    minutes_needed,
)

MOVE_WINDOWS = (5, 15, 60)
IMBALANCE_RELEASE = 0.8  # ends below this fraction of the threshold
MANIPULATION_RELEASE = 0.1  # ends below warning minus this


def usd(v: float) -> str:
    """``1.25M`` / ``340k`` / ``950``: a quote value for a message."""
    a = abs(v)
    if a >= 1e9:
        return f"{v / 1e9:.2f}B"
    if a >= 1e6:
        return f"{v / 1e6:.2f}M"
    if a >= 1e3:
        return f"{v / 1e3:.0f}k"
    return f"{v:.0f}"


def _graded(value: float, threshold: float) -> Severity | None:
    if not math.isfinite(value) or value < threshold:
        return None
    return "critical" if value >= 2 * threshold else "warning"


def _r(x: float, nd: int = 4) -> float | None:
    return round(x, nd) if math.isfinite(x) else None


class SignalEngine:
    """Per-symbol windows + the detectors; every ``on_*`` returns Conditions to publish."""

    def __init__(self, config: SignalsConfig) -> None:
        self.config = config
        self.enabled = set(config.detectors)
        self.symbols: dict[tuple[str, str], SymbolState] = {}
        self.book = ConditionBook()
        self.counters: dict[str, int] = {
            "trades": 0,
            "books": 0,
            "candles": 0,
            "open_interest": 0,
            "funding": 0,
            "snapshots": 0,
            "whales": 0,
            "bursts": 0,
            "walls_appeared": 0,
            "walls_pulled": 0,
            "walls_filled": 0,
            "walls_out_of_view": 0,
        }
        self.by_kind: dict[str, int] = {}  # Conditions published (active) per kind
        self.whales: deque[dict[str, Any]] = deque(maxlen=config.recent)
        self.walls_ended: deque[dict[str, Any]] = deque(maxlen=config.recent)
        self.manipulation: dict[tuple[str, str], dict[str, Any]] = {}
        self.beta_ref: dict[tuple[str, str, str, str], tuple[float, float]] = {}
        self.regime: str | None = None
        self.dirty: set[str] = set()

    def reconfigure(self, config: SignalsConfig) -> None:
        self.config = config
        self.enabled = set(config.detectors)
        for st in self.symbols.values():
            st.thresholds = config.for_symbol(st.symbol)
            st.minutes.capacity = minutes_needed(st.thresholds)
        self.whales = deque(self.whales, maxlen=config.recent)
        self.walls_ended = deque(self.walls_ended, maxlen=config.recent)

    # -- state ---------------------------------------------------------------------------

    def state(self, exchange: str, symbol: str) -> SymbolState:
        key = (exchange, symbol)
        st = self.symbols.get(key)
        if st is None:
            t = self.config.for_symbol(symbol)
            st = self.symbols[key] = SymbolState(
                exchange, symbol, t, MinuteSeries(minutes_needed(t)), TradeWindow(t.whales.sample)
            )
        return st

    def _out(self, out: list[Condition], cond: Condition | None) -> None:
        if cond is None:
            return
        out.append(cond)
        if cond.active:
            self.by_kind[cond.kind] = self.by_kind.get(cond.kind, 0) + 1

    def _state_cond(
        self,
        out: list[Condition],
        st: SymbolState,
        key: str,
        kind: str,
        severity: Severity | None,
        message: Callable[[], str],
        values: Callable[[], dict[str, float | str | None]],
        ts: float,
    ) -> None:
        """Update one state condition; message/values are built only when it changes."""
        if severity is None and key not in self.book.active:
            return
        if severity is not None and self.book.active.get(key) == severity:
            return
        self._out(
            out,
            self.book.update(
                key,
                kind,
                severity,
                exchange=st.exchange,
                symbol=st.symbol,
                message=message(),
                values=values(),
                ts=ts,
            ),
        )

    # -- candles: moves, volatility, volume, manipulation ---------------------------------

    def on_candle(self, c: Candle) -> list[Condition]:
        if c.timeframe != "1m":
            return []
        st = self.state(c.exchange, c.symbol)
        st.minutes.set(c.open_time, c.close, c.volume)
        if not c.closed:
            return []
        self.counters["candles"] += 1
        minute = c.open_time // MINUTE_MS
        if minute <= st.evaluated_minute:
            return []
        st.evaluated_minute = minute
        return self.evaluate_minute(st, minute)

    def on_candle_batch(self, b: CandleBatch) -> list[Condition]:
        """History pages fill the windows; they are not evaluated (old news)."""
        if b.timeframe != "1m":
            return []
        st = self.state(b.exchange, b.symbol)
        for row in b.rows:
            st.minutes.set(int(row[0]), float(row[4]), float(row[5]))
        return []

    def evaluate_minute(self, st: SymbolState, minute: int) -> list[Condition]:
        out: list[Condition] = []
        t = st.thresholds
        n = st.minutes.capacity
        closes, vols, first = st.minutes.arrays(n, minute)
        ts = (minute + 1) * MINUTE_MS / 1000.0
        ex, sym = st.exchange, st.symbol
        if "price_move" in self.enabled:
            moves = detectors.pct_moves(closes, MOVE_WINDOWS)[:, 0]
            limits = (t.price_move.pct_5m, t.price_move.pct_15m, t.price_move.pct_60m)
            for w, mv, lim in zip(MOVE_WINDOWS, moves.tolist(), limits, strict=True):
                self._move(out, st, w, mv, lim, float(closes[-1]), ts)
        if "volatility_breakout" in self.enabled:
            v = t.volatility
            ratio = float(
                detectors.volatility_ratio(closes, recent=v.recent, baseline=v.baseline)[0]
            )
            self._state_cond(
                out,
                st,
                f"volatility_breakout:{ex}:{sym}",
                "volatility_breakout",
                _graded(ratio, v.ratio),
                lambda: f"{sym} volatility {ratio:.1f}x its last {v.baseline} min",
                lambda: {
                    "ratio": _r(ratio),
                    "threshold": v.ratio,
                    "recent_min": float(v.recent),
                    "baseline_min": float(v.baseline),
                },
                ts,
            )
        if "volume_spike" in self.enabled:
            vt = t.volume
            vr = float(detectors.volume_ratio(vols, baseline=vt.baseline)[0])
            self._state_cond(
                out,
                st,
                f"volume_spike:{ex}:{sym}",
                "volume_spike",
                _graded(vr, vt.ratio),
                lambda: f"{sym} 1m volume {vr:.1f}x the {vt.baseline}-min median",
                lambda: {
                    "ratio": _r(vr),
                    "threshold": vt.ratio,
                    "volume": _r(float(vols[-1]), 8),
                },
                ts,
            )
        if "manipulation" in self.enabled and st.oi_ts:
            self._manipulation(out, st, closes, vols, first, ts)
        return out

    def _move(
        self,
        out: list[Condition],
        st: SymbolState,
        w: int,
        mv: float,
        lim: float,
        close: float,
        ts: float,
    ) -> None:
        self._state_cond(
            out,
            st,
            f"price_move:{st.exchange}:{st.symbol}:{w}m",
            "price_move",
            _graded(abs(mv), lim),
            lambda: f"{st.symbol} {'up' if mv > 0 else 'down'} {abs(mv):.2f}% in {w} min",
            lambda: {
                "window_min": float(w),
                "change_pct": _r(mv),
                "threshold_pct": lim,
                "close": _r(close, 10),
            },
            ts,
        )

    def _manipulation(
        self,
        out: list[Condition],
        st: SymbolState,
        closes: np.ndarray,
        vols: np.ndarray,
        first: int,
        ts: float,
    ) -> None:
        m = st.thresholds.manipulation
        oi = st.oi_on_minutes(first, closes.size)
        weights = ManipulationWeights(
            oi_change=m.weight_oi,
            volume=m.weight_volume,
            price=m.weight_price,
            divergence=m.weight_divergence,
        )
        res = detectors.manipulation_score(
            closes, vols, oi, m.windows, baseline=m.baseline, weights=weights
        )
        comps = [
            {"name": c.name, "value": _r(c.value), "score": _r(c.score), "weight": c.weight}
            for c in res.components
        ]
        self.manipulation[(st.exchange, st.symbol)] = {
            "exchange": st.exchange,
            "symbol": st.symbol,
            "score": _r(res.score),
            "window_min": res.window,
            "components": comps,
            "windows": {str(w): _r(s) for w, s in res.windows.items()},
            "ts": ts,
        }
        self.dirty.add("manipulation")
        key = f"manipulation:{st.exchange}:{st.symbol}"
        score = res.score
        if not math.isfinite(score):
            sev: Severity | None = None
        elif score >= m.critical:
            sev = "critical"
        elif score >= m.warning:
            sev = "warning"
        elif key in self.book.active and score >= m.warning - MANIPULATION_RELEASE:
            sev = self.book.active[key]  # hysteresis: hold until clearly below
        else:
            sev = None

        def values() -> dict[str, float | str | None]:
            vals: dict[str, float | str | None] = {
                "score": _r(score),
                "window_min": float(res.window) if res.window else None,
            }
            for c in res.components:
                vals[c.name] = _r(c.value)
                vals[f"{c.name}_score"] = _r(c.score)
                vals[f"{c.name}_weight"] = c.weight
            return vals

        self._state_cond(
            out,
            st,
            key,
            "manipulation",
            sev,
            lambda: f"{st.symbol} manipulation score {score:.2f} over {res.window} min",
            values,
            ts,
        )

    # -- trades: whales and bursts ---------------------------------------------------------

    def on_trades(self, trades: list[Trade]) -> list[Condition]:
        """A batch of trades (any symbols), in arrival order."""
        out: list[Condition] = []
        groups: dict[tuple[str, str], list[Trade]] = {}
        for tr in trades:
            groups.setdefault((tr.exchange, tr.symbol), []).append(tr)
        self.counters["trades"] += len(trades)
        for (ex, sym), batch in groups.items():
            self._trades(out, self.state(ex, sym), batch)
        return out

    def _trades(self, out: list[Condition], st: SymbolState, batch: list[Trade]) -> None:
        w = st.thresholds.whales
        tw = st.trades
        tw.refresh_stats()
        values = np.array([t.price * t.amount for t in batch])
        whales = (
            detectors.whale_mask(
                values, tw.median_log, tw.sigma_log, min_usd=w.min_usd, k_sigma=w.k_sigma
            )
            if "whale_trade" in self.enabled
            else np.zeros(len(batch), dtype=bool)
        )
        sigmas = detectors.size_sigmas(values, tw.median_log, tw.sigma_log)
        for i in np.flatnonzero(whales).tolist():
            self._whale(out, st, batch[i], float(values[i]), float(sigmas[i]))
        # ordinary trades feed the statistics, the usual flow and the burst sums
        tw.since_stats += len(batch)
        tw.values.extend(values.tolist())
        if "whale_trade" in self.enabled:
            self._bursts(out, st, batch, values, whales)
        for tr, v, wh in zip(batch, values.tolist(), whales.tolist(), strict=True):
            if not wh:
                tw.flow.append((tr.ts / 1000.0, v, tr.side != "sell"))

    def _whale(
        self, out: list[Condition], st: SymbolState, tr: Trade, value: float, z: float
    ) -> None:
        w = st.thresholds.whales
        side = tr.side or "unknown"
        self.counters["whales"] += 1
        row = {
            "type": "single",
            "exchange": st.exchange,
            "symbol": st.symbol,
            "side": side,
            "price": tr.price,
            "amount": tr.amount,
            "usd": round(value, 2),
            "sigmas": _r(z, 2),
            "trades": 1,
            "trade_id": tr.id,
            "ts": tr.ts / 1000.0,
        }
        self.whales.appendleft(row)
        self.dirty.add("whales")
        self._out(
            out,
            event(
                f"whale_trade:{st.exchange}:{st.symbol}:{tr.id}",
                "whale_trade",
                "critical" if value >= 10 * w.min_usd else "warning",
                exchange=st.exchange,
                symbol=st.symbol,
                message=f"{st.symbol} whale {side} {usd(value)} at {tr.price:g}",
                values={
                    "type": "single",
                    "side": side,
                    "usd": round(value, 2),
                    "price": tr.price,
                    "amount": tr.amount,
                    "sigmas": _r(z, 2),
                    "trade_id": tr.id,
                    "threshold_usd": w.min_usd,
                },
                ts=tr.ts / 1000.0,
            ),
        )

    def _bursts(
        self,
        out: list[Condition],
        st: SymbolState,
        batch: list[Trade],
        values: np.ndarray,
        whales: np.ndarray,
    ) -> None:
        w = st.thresholds.whales
        tw = st.trades
        window = w.burst_seconds
        now = batch[-1].ts / 1000.0
        recent = [f for f in tw.flow if f[0] > now - window]
        fresh = [
            (tr.ts / 1000.0, float(v), tr.side != "sell")
            for tr, v, wh in zip(batch, values.tolist(), whales.tolist(), strict=True)
            if not wh
        ]
        if not fresh:
            return
        rows = recent + fresh
        ts = np.array([r[0] for r in rows])
        vals = np.array([r[1] for r in rows])
        buy = np.array([r[2] for r in rows])
        sums = detectors.same_side_sums(ts, vals, buy, window)
        for side in (True, False):
            rate = tw.side_rate(side)
            limit = max(w.burst_min_usd, w.burst_factor * rate * window if rate == rate else 0.0)
            idx = [i for i in range(len(recent), len(rows)) if buy[i] == side]
            if not idx:
                continue
            peak_i = max(idx, key=lambda i: sums[i])
            peak = float(sums[peak_i])
            if tw.burst_fired[side]:
                if float(sums[idx[-1]]) < limit / 2:
                    tw.burst_fired[side] = False
                continue
            n = int(np.sum((buy == side) & (ts > ts[peak_i] - window) & (ts <= ts[peak_i])))
            if peak < limit or n < 2:
                continue
            tw.burst_fired[side] = True
            self.counters["bursts"] += 1
            name = "buy" if side else "sell"
            at = float(ts[peak_i])
            self.whales.appendleft(
                {
                    "type": "burst",
                    "exchange": st.exchange,
                    "symbol": st.symbol,
                    "side": name,
                    "price": batch[-1].price,
                    "amount": None,
                    "usd": round(peak, 2),
                    "sigmas": None,
                    "trades": n,
                    "trade_id": None,
                    "ts": at,
                }
            )
            self.dirty.add("whales")
            self._out(
                out,
                event(
                    f"whale_trade:{st.exchange}:{st.symbol}:burst:{name}:{int(at * 1000)}",
                    "whale_trade",
                    "critical" if peak >= 10 * w.burst_min_usd else "warning",
                    exchange=st.exchange,
                    symbol=st.symbol,
                    message=f"{st.symbol} {name} burst {usd(peak)} in {n} trades "
                    f"within {window:g} s",
                    values={
                        "type": "burst",
                        "side": name,
                        "usd": round(peak, 2),
                        "trades": float(n),
                        "window_s": window,
                        "threshold_usd": round(limit, 2),
                    },
                    ts=at,
                ),
            )

    # -- books: walls and imbalance ----------------------------------------------------------

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
                            "distance_pct": _r(dist, 3),
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
                "imbalance": _r(imb),
                "bid_depth": b.bid_depth,
                "ask_depth": b.ask_depth,
                "depth_pct": b.depth_pct,
                "threshold": wt.imbalance,
            },
            ts,
        )

    # -- derivatives and analytics ---------------------------------------------------------

    def on_open_interest(self, m: OpenInterest) -> list[Condition]:
        amount = m.amount if m.amount is not None else m.value
        if amount is None or not math.isfinite(amount):
            return []
        self.counters["open_interest"] += 1
        st = self.state(m.exchange, m.symbol)
        if st.oi_ts and m.ts <= st.oi_ts[-1]:
            return []
        st.oi_ts.append(m.ts)
        st.oi_amount.append(float(amount))
        return []

    def on_funding(self, f: Funding) -> list[Condition]:
        self.counters["funding"] += 1
        if "funding_extreme" not in self.enabled:
            return []
        st = self.state(f.exchange, f.symbol)
        ft = st.thresholds.funding
        sev = detectors.funding_severity(f.rate, ft.warning, ft.critical)
        out: list[Condition] = []
        rate = f.rate if f.rate is not None else math.nan
        self._state_cond(
            out,
            st,
            f"funding_extreme:{f.exchange}:{f.symbol}",
            "funding_extreme",
            sev,
            lambda: f"{f.symbol} funding {rate * 100:+.3f}% per interval",
            lambda: {"rate": _r(rate, 6), "warning": ft.warning, "critical": ft.critical},
            f.ts / 1000.0,
        )
        return out

    def on_beta(self, snap: BetaSnapshot) -> list[Condition]:
        self.counters["snapshots"] += 1
        if "beta_change" not in self.enabled:
            return []
        ex = snap.exchange or ""
        out: list[Condition] = []
        rows = [r for r in snap.rows if r.beta is not None]
        ref = np.array(
            [
                self.beta_ref.get((ex, snap.timeframe, snap.window, r.symbol), (math.nan, 0.0))[0]
                for r in rows
            ]
        )
        cur = np.array([r.beta for r in rows], dtype=np.float64)
        limits = np.array([self.config.for_symbol(r.symbol).beta.change for r in rows])
        diff, mask = detectors.beta_changes(ref, cur, limits)
        for i, r in enumerate(rows):
            st = self.state(ex, r.symbol)
            self._beta_row(
                out,
                st,
                snap,
                float(ref[i]),
                float(cur[i]),
                float(diff[i]),
                float(limits[i]),
                bool(mask[i]),
            )
        return out

    def _beta_row(
        self,
        out: list[Condition],
        st: SymbolState,
        snap: BetaSnapshot,
        old: float,
        b: float,
        d: float,
        lim: float,
        changed: bool,
    ) -> None:
        tf, win = snap.timeframe, snap.window
        self._state_cond(
            out,
            st,
            f"beta_change:{st.exchange}:{st.symbol}:{tf}:{win}",
            "beta_change",
            "warning" if changed else None,
            lambda: f"{st.symbol} beta {old:.2f} -> {b:.2f} ({tf} {win})",
            lambda: {
                "beta": _r(b),
                "reference": _r(old),
                "change": _r(d),
                "threshold": lim,
                "timeframe": tf,
                "window": win,
            },
            snap.computed_at,
        )
        rkey = (st.exchange, tf, win, st.symbol)
        prev = self.beta_ref.get(rkey)
        if prev is None or snap.computed_at - prev[1] >= st.thresholds.beta.lookback:
            self.beta_ref[rkey] = (b, snap.computed_at)

    def on_regime(self, snap: RegimeSnapshot) -> list[Condition]:
        self.counters["snapshots"] += 1
        prev, self.regime = self.regime, snap.label
        if prev is None or prev == snap.label or "regime_change" not in self.enabled:
            return []
        out: list[Condition] = []
        self._out(
            out,
            event(
                f"regime_change:{snap.label}:{int(snap.computed_at * 1000)}",
                "regime_change",
                "info",
                exchange=None,
                symbol=None,
                message=f"market regime {prev} -> {snap.label}",
                values={"from": prev, "to": snap.label, "rule": snap.rule},
                ts=snap.computed_at,
            ),
        )
        return out

    # -- views -------------------------------------------------------------------------------

    def whales_view(self) -> dict[str, Any]:
        return {"whales": list(self.whales)}

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

    def manipulation_view(self) -> dict[str, Any]:
        def score(r: dict[str, Any]) -> float:
            got = r["score"]
            return float(got) if got is not None else -1.0

        rows = sorted(self.manipulation.values(), key=score, reverse=True)
        m = self.config.manipulation
        return {
            "symbols": rows,
            "windows_min": list(m.windows),
            "warning": m.warning,
            "critical": m.critical,
        }
