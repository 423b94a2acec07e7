"""Per-symbol windows the detectors read: 1-minute candles, recent trades, open interest.

Everything here is bounded: a :class:`MinuteSeries` keeps ``capacity`` minutes, a
:class:`TradeWindow` the last ``sample`` trades (numpy rings), open interest a day of samples. Time
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
    """Close and volume by minute (open time // 60 000), the newest ``capacity`` kept.

    A minute older than the newest ``capacity`` is refused; the rings hold ``SLACK``
    more, so a window that ends a little before the newest minute (the candle that just
    closed while the next one is open) is still whole.

    Why numpy rings (slot = minute % size, the minute stored beside its values): a dict
    of ``minute -> (close, volume)`` tuples cost ~170 bytes a minute, 9.9 MB for 300
    markets at the default 126 minutes (tracemalloc; most of the RSS the signals actor
    added at 300 markets); the rings take 24 bytes a minute, allocated once.
    """

    SLACK = 64

    __slots__ = ("_close", "_minute", "_volume", "capacity", "newest")

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        size = capacity + self.SLACK
        self._minute = np.full(size, -1, dtype=np.int64)  # which minute a slot holds
        self._close = np.full(size, np.nan)
        self._volume = np.full(size, np.nan)
        self.newest = -1  # newest minute stored

    def set(self, open_time_ms: int, close: float, volume: float) -> None:
        minute = open_time_ms // MINUTE_MS
        if minute <= self.newest - self.capacity:
            return
        slot = minute % self._minute.size
        self._minute[slot] = minute
        self._close[slot] = close
        self._volume[slot] = volume
        if minute > self.newest:
            self.newest = minute

    def arrays(self, n: int, end: int | None = None) -> tuple[FloatArray, FloatArray, int]:
        """``(closes, volumes, first_minute)`` of the ``n`` minutes ending at ``end``
        (default: the newest), NaN where a minute is missing."""
        last = self.newest if end is None else end
        first = last - n + 1
        minutes = np.arange(first, last + 1, dtype=np.int64)
        slots = minutes % self._minute.size
        held = self._minute[slots] == minutes
        closes = np.where(held, self._close[slots], np.nan)
        vols = np.where(held, self._volume[slots], np.nan)
        return closes, vols, first

    def resize(self, capacity: int) -> None:
        """Keep the newest ``capacity`` minutes, in rings of the new size (a reload)."""
        if capacity == self.capacity:
            return
        held = (self._minute >= 0) & (self._minute > self.newest - capacity)
        minutes, closes, vols = self._minute[held], self._close[held], self._volume[held]
        size = capacity + self.SLACK
        self.capacity = capacity
        self._minute = np.full(size, -1, dtype=np.int64)
        self._close = np.full(size, np.nan)
        self._volume = np.full(size, np.nan)
        slots = minutes % size  # the held minutes span < capacity: no two share a slot
        self._minute[slots], self._close[slots], self._volume[slots] = minutes, closes, vols

    @property
    def nbytes(self) -> int:
        """Bytes held by the rings (a constant: allocated when the series is made)."""
        return self._minute.nbytes + self._close.nbytes + self._volume.nbytes


class TradeWindow:
    """The last ``sample`` trades of a symbol, as numpy rings (not Python objects):
    the quote values of every trade for the size statistics, and (time, value, side) of
    the ordinary ones for same-side bursts and the usual flow.

    Why columns: a deque of floats and of ``(time, value, side)`` tuples cost ~145
    bytes per kept trade, ~22 MB for 300 markets once full (the RSS that rose for the
    first half hour of a soak); the rings take 25 bytes per trade, allocated once.
    """

    __slots__ = (
        "_fb",
        "_fn",
        "_fnext",
        "_ft",
        "_fv",
        "_v",
        "_vn",
        "_vnext",
        "burst_fired",
        "median_log",
        "sample",
        "sigma_log",
        "since_stats",
    )

    def __init__(self, sample: int) -> None:
        self.sample = sample
        self._v = np.zeros(sample, dtype=np.float64)  # every trade's quote value
        self._vn = self._vnext = 0
        self._ft = np.zeros(sample, dtype=np.float64)  # ordinary trades: time (s)
        self._fv = np.zeros(sample, dtype=np.float64)  # ... quote value
        self._fb = np.zeros(sample, dtype=bool)  # ... buy side
        self._fn = self._fnext = 0
        self.median_log = math.nan
        self.sigma_log = math.nan
        self.since_stats = 0
        self.burst_fired: dict[bool, bool] = {True: False, False: False}

    @property
    def nbytes(self) -> int:
        """Bytes held by the rings (a constant: allocated when the window is made)."""
        return self._v.nbytes + self._ft.nbytes + self._fv.nbytes + self._fb.nbytes

    def __len__(self) -> int:
        """Trades in the size statistics' window."""
        return self._vn

    @staticmethod
    def _put(rings: tuple[np.ndarray, ...], cols: tuple[np.ndarray, ...], nxt: int) -> int:
        """Write ``cols`` into ``rings`` from slot ``nxt`` (keeping the newest); the
        next slot."""
        cap = rings[0].size
        n = cols[0].size
        if n >= cap:
            cols = tuple(c[n - cap :] for c in cols)
            n, nxt = cap, 0
        first = min(n, cap - nxt)
        for ring, col in zip(rings, cols, strict=True):
            ring[nxt : nxt + first] = col[:first]
            ring[: n - first] = col[first:]
        return (nxt + n) % cap

    def add(
        self, values: FloatArray, ts: FloatArray, buy: np.ndarray, ordinary: np.ndarray
    ) -> None:
        """Trades in arrival order: every value, and the ``ordinary`` ones' flow."""
        if values.size:
            self._vnext = self._put((self._v,), (values,), self._vnext)
            self._vn = min(self.sample, self._vn + values.size)
        k = int(np.count_nonzero(ordinary))
        if k:
            cols = (ts[ordinary], values[ordinary], buy[ordinary])
            self._fnext = self._put((self._ft, self._fv, self._fb), cols, self._fnext)
            self._fn = min(self.sample, self._fn + k)

    def refresh_stats(self, every: int = 25) -> None:
        """Recompute the log-size statistics every ``every`` trades (median of a few
        hundred values: cheap, but not per trade)."""
        if self.since_stats >= every or math.isnan(self.median_log):
            self.since_stats = 0
            self.median_log, self.sigma_log = detectors.log_size_stats(self._v[: self._vn])

    def flow(self) -> tuple[FloatArray, FloatArray, np.ndarray]:
        """The ordinary trades' ``(times, values, buy)``, oldest first."""
        n, nxt = self._fn, self._fnext
        if n < self.sample:
            return self._ft[:n], self._fv[:n], self._fb[:n]
        order = np.r_[nxt : self.sample, 0:nxt]
        return self._ft[order], self._fv[order], self._fb[order]

    def side_rate(self, buy: bool) -> float:
        """Usual quote value per second on one side over the window (NaN if unknown)."""
        if self._fn < 30:
            return math.nan
        ts, vals, sides = self.flow()
        span = float(ts[-1] - ts[0])
        if span <= 0:
            return math.nan
        return float(vals[sides == buy].sum()) / span


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

    def forget_old_oi(self) -> None:
        """Drop the polls no window can read: those before the minute series' span
        (``capacity`` + slack minutes before the newest poll), but the last of them,
        which forward-fills the window's first minutes.

        Why: kept to ``OI_SAMPLES`` a perpetual's polls cost ~70 bytes each as Python
        ints and floats, ~21 MB for 150 perpetuals after a day and a half at one poll a
        minute, for windows that read the last ~3 hours at most.
        """
        span = (self.minutes.capacity + MinuteSeries.SLACK) * MINUTE_MS
        cutoff = self.oi_ts[-1] - span
        while len(self.oi_ts) > 1 and self.oi_ts[1] <= cutoff:
            self.oi_ts.popleft()
            self.oi_amount.popleft()

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
