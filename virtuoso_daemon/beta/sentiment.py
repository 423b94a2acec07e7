"""Sentiment and regime inputs for the beta actor: what the feeds deliver, summarised.

The numbers themselves come from :mod:`..analytics.sentiment` and
:mod:`..analytics.risk`; this module only gathers their inputs from the daemon's
data and says where each one came from, so an operator can see why the score is
what it is.

============== ====================================================================
component      source
============== ====================================================================
funding_rate   view ``market.funding`` (newest rate of every perpetual, per funding
               interval, 8 h on Binance), weighted by open interest in quote currency
               (view ``market.open_interest``; ``amount * mark_price`` where the
               exchange gives no value); equal weights when no perpetual has OI.
oi_change      :class:`OpenInterestHistory`: per perpetual, newest OI against the
               newest sample at least :data:`OI_WINDOW_MS` (24 h) older -- or, while
               the daemon has watched for less than that, the oldest sample if it is
               at least :data:`OI_MIN_SPAN_MS` (1 h) old; changes are averaged
               weighted by the reference OI value. ``span_hours`` says which span
               was used. Before one hour of history it is missing (weight 0).
breadth        the primary exchange's tickers (view ``market.tickers``): fraction of
               symbols whose 24 h change is > 0.
volatility     the benchmark's annualised volatility from the primary exchange's beta
               table of the *regime window* (first configured timeframe, its shortest
               window; 1h / 7d by default).
flow_imbalance :class:`TradeFlow`: (buy - sell) / (buy + sell) quote volume of every
               trade on the bus (all exchanges) over the last :data:`FLOW_WINDOW` s
               (1 h, daemon clock), trades without a side left out.
long_short     not exposed by the feeds: reported missing (weight 0).
============== ====================================================================

The *primary exchange* is the first exchange in config order that has tickers (the
same rule as ``/api/market/overview``). The regime is
:func:`..analytics.risk.market_regime` with ``btc_return`` = the benchmark's 24 h
change, ``breadth`` and ``avg_change`` (equal-weighted mean 24 h change) from the
primary exchange's tickers, and ``avg_correlation`` = the mean correlation of every
other symbol with the benchmark from the beta actor's correlation matrix of the regime
window -- the input the ticker-only overview lacks, so "correlated sell-off" can fire.
"""

from __future__ import annotations

import math
from array import array
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from virtuoso_daemon import analytics
from virtuoso_daemon.core.messages import (
    Funding,
    OpenInterest,
    RegimeSnapshot,
    SentimentComponent,
    SentimentSnapshot,
    Ticker,
    Trade,
)
from virtuoso_daemon.core.numbers import rounded

FLOW_WINDOW = 3600.0  # seconds of trades in the flow imbalance
FLOW_BUCKET = 60.0  # trades are summed per bucket of this many seconds
OI_WINDOW_MS = 24 * 3_600_000
OI_MIN_SPAN_MS = 3_600_000
OI_SAMPLES = 4096  # per perpetual; at a 60 s poll this covers more than 24 h


class TradeFlow:
    """Buy and sell quote volume over a sliding window, summed per time bucket.

    Memory is bounded by ``window / bucket`` buckets whatever the trade rate.
    """

    def __init__(self, window: float = FLOW_WINDOW, bucket: float = FLOW_BUCKET) -> None:
        self.window = window
        self.bucket = bucket
        self._buckets: deque[list[float]] = deque()  # [bucket_no, buy, sell, trades]
        self.seen = 0

    def add(self, trade: Trade) -> None:
        if trade.side is None:
            return
        notional = trade.price * trade.amount
        if not math.isfinite(notional) or notional <= 0:
            return
        self.seen += 1
        no = math.floor(trade.recv_ts / self.bucket)
        buckets = self._buckets
        if not buckets or buckets[-1][0] < no:
            buckets.append([no, 0.0, 0.0, 0.0])
            self._evict(no)
            cell = buckets[-1]
        elif buckets[-1][0] == no:
            cell = buckets[-1]
        else:  # a late trade (clock step): count it in the bucket it belongs to
            cell = next((b for b in buckets if b[0] == no), buckets[-1])
        cell[1 if trade.side == "buy" else 2] += notional
        cell[3] += 1

    def _evict(self, newest: float) -> None:
        keep = math.ceil(self.window / self.bucket)
        while self._buckets and self._buckets[0][0] <= newest - keep:
            self._buckets.popleft()

    def totals(self, now: float) -> tuple[float, float, int]:
        """``(buy, sell, trades)`` over the window ending at ``now`` (epoch seconds)."""
        first = math.floor((now - self.window) / self.bucket)
        buy = sell = 0.0
        n = 0
        for no, b, s, k in self._buckets:
            if no > first:
                buy += b
                sell += s
                n += int(k)
        return buy, sell, n


class OiChange(NamedTuple):
    """Open-interest change across perpetuals (fraction), how many, and over what span."""

    value: float | None
    symbols: int
    span_hours: float | None


class OiSeries:
    """One perpetual's open-interest polls, oldest first, as three packed columns.

    Why not a deque of ``(ts, value, amount)`` tuples: at ~150 bytes a poll that was
    32 MB for 150 perpetuals after the 24 h window filled (tracemalloc), RSS that only
    a day-long run shows; the columns take 24 bytes a poll. Dropped polls are skipped by
    ``start`` and compacted away once they are most of the columns.
    """

    __slots__ = ("amount", "start", "ts", "value")

    def __init__(self) -> None:
        self.ts = array("q")
        self.value = array("d")
        self.amount = array("d")
        self.start = 0

    def __len__(self) -> int:
        return len(self.ts) - self.start

    def __getitem__(self, i: int) -> tuple[int, float, float]:
        """``(ts, value, amount)`` of poll ``i`` (0 = oldest kept, -1 = newest)."""
        j = self.start + i if i >= 0 else len(self.ts) + i
        return self.ts[j], self.value[j], self.amount[j]

    def append(self, ts: int, value: float, amount: float) -> None:
        self.ts.append(ts)
        self.value.append(value)
        self.amount.append(amount)

    def replace_newest(self, value: float, amount: float) -> None:
        self.value[-1] = value
        self.amount[-1] = amount

    def drop_oldest(self) -> None:
        self.start += 1
        if self.start >= 64 and 2 * self.start >= len(self.ts):
            for col in (self.ts, self.value, self.amount):
                del col[: self.start]
            self.start = 0


class OpenInterestHistory:
    """Recent open-interest samples per (exchange, symbol); see the module docstring."""

    def __init__(
        self,
        window_ms: int = OI_WINDOW_MS,
        min_span_ms: int = OI_MIN_SPAN_MS,
        maxlen: int = OI_SAMPLES,
    ) -> None:
        self.window_ms = window_ms
        self.min_span_ms = min_span_ms
        self.maxlen = maxlen
        # value in quote or NaN, amount in base or NaN
        self._samples: dict[tuple[str, str], OiSeries] = {}

    def __len__(self) -> int:
        return sum(len(d) for d in self._samples.values())

    def add(self, msg: OpenInterest) -> None:
        value = msg.value if msg.value is not None else math.nan
        amount = msg.amount if msg.amount is not None else math.nan
        if not (math.isfinite(value) or math.isfinite(amount)):
            return
        dq = self._samples.get((msg.exchange, msg.symbol))
        if dq is None:
            dq = self._samples[(msg.exchange, msg.symbol)] = OiSeries()
        if dq and msg.ts <= dq[-1][0]:
            if msg.ts == dq[-1][0]:
                dq.replace_newest(value, amount)
            return  # older than what we have: ignore
        dq.append(msg.ts, value, amount)
        if len(dq) > self.maxlen:
            dq.drop_oldest()
        # keep one sample at or before the window's start (the reference), drop older
        while len(dq) >= 2 and dq[1][0] <= msg.ts - self.window_ms:
            dq.drop_oldest()

    def change(self) -> OiChange:
        changes: list[float] = []
        weights: list[float] = []
        spans: list[int] = []
        for dq in self._samples.values():
            if len(dq) < 2:
                continue
            t1, v1, a1 = dq[-1]
            t0, v0, a0 = dq[0]
            span = t1 - t0
            if span < self.min_span_ms:
                continue
            if math.isfinite(v0) and math.isfinite(v1) and v0 > 0:
                changes.append(v1 / v0 - 1.0)
                weights.append(v0)
            elif math.isfinite(a0) and math.isfinite(a1) and a0 > 0:
                changes.append(a1 / a0 - 1.0)
                weights.append(math.nan)
            else:
                continue
            spans.append(span)
        if not changes:
            return OiChange(None, 0, None)
        value = analytics.weighted_mean(changes, weights)
        if value is None:  # no quote values anywhere: equal weights
            value = analytics.weighted_mean(changes)
        return OiChange(value, len(changes), round(float(np.median(spans)) / 3_600_000, 3))


@dataclass(frozen=True, slots=True)
class RegimeWindow:
    """The beta result the regime and the volatility component read (primary exchange)."""

    exchange: str
    timeframe: str
    window: str
    benchmark: str
    benchmark_volatility: float | None
    correlations: Mapping[str, float | None]  # symbol -> correlation with the benchmark


def _funding(
    funding: Sequence[Funding], open_interest: Sequence[OpenInterest]
) -> tuple[float | None, dict[str, Any]]:
    oi = {(o.exchange, o.symbol): o for o in open_interest}
    rates: list[float] = []
    weights: list[float] = []
    for f in funding:
        if f.rate is None or not math.isfinite(f.rate):
            continue
        o = oi.get((f.exchange, f.symbol))
        w = math.nan
        if o is not None and o.value is not None:
            w = o.value
        elif o is not None and o.amount is not None and f.mark_price is not None:
            w = o.amount * f.mark_price
        rates.append(f.rate)
        weights.append(w)
    value = analytics.weighted_mean(rates, weights)
    weighting = "open_interest"
    if value is None:
        value = analytics.weighted_mean(rates)
        weighting = "equal"
    return value, {"symbols": len(rates), "weighting": weighting if rates else None}


def _pick_benchmark_ticker(tickers: Sequence[Ticker], benchmark: str) -> Ticker | None:
    exact = next((t for t in tickers if t.symbol == benchmark), None)
    if exact is not None:
        return exact
    return next((t for t in tickers if t.symbol.split(":")[0] == benchmark.split(":")[0]), None)


def build(
    *,
    exchange: str | None,
    tickers: Sequence[Ticker],
    benchmark: str,
    funding: Sequence[Funding],
    open_interest: Sequence[OpenInterest],
    oi_change: OiChange,
    flow: tuple[float, float, int],
    regime_window: RegimeWindow | None,
    now: float,
) -> tuple[SentimentSnapshot, RegimeSnapshot, dict[str, Any]]:
    """Sentiment and regime snapshots plus the explained document the API serves."""
    funding_rate, funding_info = _funding(funding, open_interest)
    changes = np.array(
        [np.nan if t.change_pct is None else t.change_pct / 100.0 for t in tickers],
        dtype=np.float64,
    )
    b = analytics.breadth(changes)
    avg_change = analytics.average_change(changes)
    buy, sell, n_trades = flow
    imbalance = analytics.flow_imbalance(buy, sell)
    volatility = regime_window.benchmark_volatility if regime_window else None
    s = analytics.sentiment(
        funding_rate=funding_rate,
        oi_change=oi_change.value,
        breadth=b.advancers_fraction,
        volatility=volatility,
        flow_imbalance=imbalance,
        long_short_ratio=None,
    )

    bench = _pick_benchmark_ticker(tickers, regime_window.benchmark if regime_window else benchmark)
    btc_return = None if bench is None or bench.change_pct is None else bench.change_pct / 100.0
    avg_corr = None
    if regime_window is not None:
        others = [
            c
            for sym, c in regime_window.correlations.items()
            if sym != regime_window.benchmark and c is not None and math.isfinite(c)
        ]
        avg_corr = float(np.mean(others)) if others else None
    regime = analytics.market_regime(
        btc_return=btc_return,
        breadth=b.advancers_fraction,
        avg_correlation=avg_corr,
        avg_change=avg_change,
    )

    components = [
        SentimentComponent(name=c.name, value=c.value, score=c.score, weight=c.weight)
        for c in s.components
    ]
    sentiment_snap = SentimentSnapshot(
        score=s.score, label=s.label, components=components, computed_at=now
    )
    inputs = analytics.served_inputs(regime.inputs)
    regime_snap = RegimeSnapshot(
        label=regime.label, rule=regime.rule, inputs=inputs, computed_at=now
    )
    rw = regime_window
    document: dict[str, Any] = {
        "score": s.score,
        "index": s.index,
        "label": s.label,
        "computed_at": now,
        "components": [
            {
                "name": c.name,
                "value": c.value,
                "score": c.score,
                "weight": c.weight,
                "base_weight": c.base_weight,
            }
            for c in s.components
        ],
        "sources": {
            "exchange": exchange,
            "funding_rate": funding_info,
            "oi_change": {"symbols": oi_change.symbols, "span_hours": oi_change.span_hours},
            "breadth": {
                "advancers": b.advancers,
                "decliners": b.decliners,
                "unchanged": b.unchanged,
                "total": b.total,
            },
            "volatility": (
                {"symbol": rw.benchmark, "timeframe": rw.timeframe, "window": rw.window}
                if rw
                else None
            ),
            "flow_imbalance": {
                "window_seconds": FLOW_WINDOW,
                "trades": n_trades,
                "buy_volume": buy,
                "sell_volume": sell,
            },
            "long_short_ratio": "not exposed by the configured feeds",
        },
        "regime": {
            "label": regime.label,
            "rule": regime.rule,
            "explanation": regime.explanation,
            "inputs": inputs,
            "benchmark": bench.symbol if bench is not None else None,
            "correlation_source": (
                {"exchange": rw.exchange, "timeframe": rw.timeframe, "window": rw.window}
                if rw
                else None
            ),
            "computed_at": now,
        },
    }
    return sentiment_snap, regime_snap, rounded(document)


__all__ = [
    "FLOW_WINDOW",
    "OI_MIN_SPAN_MS",
    "OI_WINDOW_MS",
    "OiChange",
    "OpenInterestHistory",
    "RegimeWindow",
    "TradeFlow",
    "build",
]
