"""Whale trades and same-side bursts, fed in batches of trades (see :mod:`.engine`)."""

from __future__ import annotations

import numpy as np

from virtuoso_daemon.analytics import detectors
from virtuoso_daemon.core.messages import Condition, Trade
from virtuoso_daemon.signals.base import EngineBase, rounded, usd
from virtuoso_daemon.signals.conditions import event
from virtuoso_daemon.signals.state import SymbolState


class TradeDetectors(EngineBase):
    """``whale_trade``: single whales and bursts."""

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
        ts = np.array([t.ts for t in batch], dtype=np.float64) / 1000.0
        buy = np.array([t.side != "sell" for t in batch], dtype=bool)
        if "whale_trade" in self.enabled:
            self._bursts(out, st, batch, ts, values, buy, whales)
        tw.add(values, ts, buy, ~whales)

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
            "sigmas": rounded(z, 2),
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
                    "sigmas": rounded(z, 2),
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
        batch_ts: np.ndarray,
        values: np.ndarray,
        batch_buy: np.ndarray,
        whales: np.ndarray,
    ) -> None:
        w = st.thresholds.whales
        tw = st.trades
        window = w.burst_seconds
        ordinary = ~whales
        if not ordinary.any():
            return
        now = batch_ts[-1]
        flow_ts, flow_v, flow_buy = tw.flow()
        keep = flow_ts > now - window
        n_recent = int(np.count_nonzero(keep))
        ts = np.concatenate((flow_ts[keep], batch_ts[ordinary]))
        vals = np.concatenate((flow_v[keep], values[ordinary]))
        buy = np.concatenate((flow_buy[keep], batch_buy[ordinary]))
        sums = detectors.same_side_sums(ts, vals, buy, window)
        for side in (True, False):
            rate = tw.side_rate(side)
            limit = max(w.burst_min_usd, w.burst_factor * rate * window if rate == rate else 0.0)
            idx = [i for i in range(n_recent, len(ts)) if buy[i] == side]
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
