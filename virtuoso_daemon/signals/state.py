"""Per-symbol windows the detectors read: 1-minute candles, recent trades, open interest.

Everything here is bounded: a :class:`MinuteSeries` keeps ``capacity`` minutes, a
:class:`TradeWindow` the last ``sample`` trades, open interest a day of samples. Time
is the market's (exchange timestamps), never the wall clock, so a simulator running
faster than real time is measured in its own minutes.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from virtuoso_daemon.analytics import detectors
from virtuoso_daemon.analytics._types import FloatArray
from virtuoso_daemon.core.config import SignalThresholds

MINUTE_MS = 60_000
OI_SAMPLES = 2_000  # a day of one-minute polls, more than any window needs


class MinuteSeries:
    """Close and volume by minute (open time // 60 000), the newest ``capacity`` kept."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.rows: dict[int, tuple[float, float]] = {}
        self.newest = -1  # newest minute stored

    def set(self, open_time_ms: int, close: float, volume: float) -> None:
        minute = open_time_ms // MINUTE_MS
        if minute <= self.newest - self.capacity:
            return
        self.rows[minute] = (close, volume)
        if minute > self.newest:
            self.newest = minute
            if len(self.rows) > self.capacity + 64:
                floor = minute - self.capacity
                self.rows = {m: r for m, r in self.rows.items() if m > floor}

    def arrays(self, n: int, end: int | None = None) -> tuple[FloatArray, FloatArray, int]:
        """``(closes, volumes, first_minute)`` of the ``n`` minutes ending at ``end``
        (default: the newest), NaN where a minute is missing."""
        last = self.newest if end is None else end
        first = last - n + 1
        closes = np.full(n, np.nan)
        vols = np.full(n, np.nan)
        rows = self.rows
        for i in range(n):
            got = rows.get(first + i)
            if got is not None:
                closes[i], vols[i] = got
        return closes, vols, first


@dataclass
class TradeWindow:
    """The last ``sample`` trades of a symbol: quote values for the size statistics and
    (time, value, side) of the ordinary ones for same-side bursts and usual flow."""

    sample: int
    values: deque[float] = field(init=False)
    flow: deque[tuple[float, float, bool]] = field(init=False)
    median_log: float = math.nan
    sigma_log: float = math.nan
    since_stats: int = 0
    burst_fired: dict[bool, bool] = field(default_factory=lambda: {True: False, False: False})

    def __post_init__(self) -> None:
        self.values = deque(maxlen=self.sample)
        self.flow = deque(maxlen=self.sample)

    def refresh_stats(self, every: int = 25) -> None:
        """Recompute the log-size statistics every ``every`` trades (median of a few
        hundred values: cheap, but not per trade)."""
        if self.since_stats >= every or math.isnan(self.median_log):
            self.since_stats = 0
            self.median_log, self.sigma_log = detectors.log_size_stats(
                np.fromiter(self.values, dtype=np.float64, count=len(self.values))
            )

    def side_rate(self, buy: bool) -> float:
        """Usual quote value per second on one side over the window (NaN if unknown)."""
        if len(self.flow) < 30:
            return math.nan
        span = self.flow[-1][0] - self.flow[0][0]
        if span <= 0:
            return math.nan
        return sum(v for _, v, b in self.flow if b == buy) / span


@dataclass
class TrackedWall:
    side: str  # "bid" | "ask"
    price: float
    amount: float
    ratio: float
    first_seen: float  # market time, s
    last_seen: float


@dataclass
class SymbolState:
    """Everything the detectors keep about one (exchange, symbol)."""

    exchange: str
    symbol: str
    thresholds: SignalThresholds
    minutes: MinuteSeries
    trades: TradeWindow
    walls: dict[tuple[str, float], TrackedWall] = field(default_factory=dict)
    imbalance_since: float | None = None
    oi_ts: deque[int] = field(default_factory=lambda: deque(maxlen=OI_SAMPLES))
    oi_amount: deque[float] = field(default_factory=lambda: deque(maxlen=OI_SAMPLES))
    evaluated_minute: int = -1

    def oi_on_minutes(self, first_minute: int, n: int) -> FloatArray:
        """Open interest at the close of each of ``n`` minutes from ``first_minute``,
        forward-filled from the polls (NaN before the first poll)."""
        out = np.full(n, np.nan)
        if not self.oi_ts:
            return out
        ts = np.fromiter(self.oi_ts, dtype=np.int64, count=len(self.oi_ts))
        amounts = np.fromiter(self.oi_amount, dtype=np.float64, count=len(self.oi_amount))
        closes = (first_minute + 1 + np.arange(n, dtype=np.int64)) * MINUTE_MS
        idx = np.searchsorted(ts, closes, side="right") - 1
        ok = idx >= 0
        out[ok] = amounts[idx[ok]]
        return out


def minutes_needed(t: SignalThresholds) -> int:
    """Minutes of candles the detectors of ``t`` read (plus slack)."""
    m = t.manipulation
    return (
        max(
            61,
            t.volatility.recent + t.volatility.baseline + 1,
            t.volume.baseline + 1,
            max(m.windows, default=60) + m.baseline + 1,
        )
        + 5
    )
