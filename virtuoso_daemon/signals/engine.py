"""The detectors fed message by message: market data in, Conditions and view rows out.

:class:`SignalEngine` holds the per-symbol windows (:mod:`.state`) and calls the pure
detectors of :mod:`virtuoso_daemon.analytics.detectors`; it knows nothing of the bus,
so tests drive it with plain messages. The trade detectors live in :mod:`.trades`, the
book detectors in :mod:`.book` (mixins over :class:`.base.EngineBase`), candles and
snapshots here. Rules, in the order of the kinds:

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
from typing import Any

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
    RegimeSnapshot,
    Severity,
)
from virtuoso_daemon.signals.base import graded, rounded
from virtuoso_daemon.signals.book import BookDetectors
from virtuoso_daemon.signals.conditions import event
from virtuoso_daemon.signals.state import MINUTE_MS, SymbolState, minutes_needed
from virtuoso_daemon.signals.trades import TradeDetectors

MOVE_WINDOWS = (5, 15, 60)
MANIPULATION_RELEASE = 0.1  # ends below warning minus this


class SignalEngine(TradeDetectors, BookDetectors):
    """Per-symbol windows + the detectors; every ``on_*`` returns Conditions to publish."""

    def reconfigure(self, config: SignalsConfig) -> None:
        self.config = config
        self.enabled = set(config.detectors)
        for st in self.symbols.values():
            st.thresholds = config.for_symbol(st.symbol)
            st.minutes.resize(minutes_needed(st.thresholds))
        self.whales = deque(self.whales, maxlen=config.recent)
        self.walls_ended = deque(self.walls_ended, maxlen=config.recent)

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
                graded(ratio, v.ratio),
                lambda: f"{sym} volatility {ratio:.1f}x its last {v.baseline} min",
                lambda: {
                    "ratio": rounded(ratio),
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
                graded(vr, vt.ratio),
                lambda: f"{sym} 1m volume {vr:.1f}x the {vt.baseline}-min median",
                lambda: {
                    "ratio": rounded(vr),
                    "threshold": vt.ratio,
                    "volume": rounded(float(vols[-1]), 8),
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
            graded(abs(mv), lim),
            lambda: f"{st.symbol} {'up' if mv > 0 else 'down'} {abs(mv):.2f}% in {w} min",
            lambda: {
                "window_min": float(w),
                "change_pct": rounded(mv),
                "threshold_pct": lim,
                "close": rounded(close, 10),
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
            {
                "name": c.name,
                "value": rounded(c.value),
                "score": rounded(c.score),
                "weight": c.weight,
            }
            for c in res.components
        ]
        self.manipulation[(st.exchange, st.symbol)] = {
            "exchange": st.exchange,
            "symbol": st.symbol,
            "score": rounded(res.score),
            "window_min": res.window,
            "components": comps,
            "windows": {str(w): rounded(s) for w, s in res.windows.items()},
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
                "score": rounded(score),
                "window_min": float(res.window) if res.window else None,
            }
            for c in res.components:
                vals[c.name] = rounded(c.value)
                vals[f"{c.name}_score"] = rounded(c.score)
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
        st.forget_old_oi()
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
            lambda: {"rate": rounded(rate, 6), "warning": ft.warning, "critical": ft.critical},
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
                "beta": rounded(b),
                "reference": rounded(old),
                "change": rounded(d),
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

    def whales_view(self) -> dict[str, Any]:
        return {"whales": list(self.whales)}

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
