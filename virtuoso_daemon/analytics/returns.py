"""Aligning closes of many symbols on one time grid, and log returns.

Grid
    :func:`align_closes` puts every symbol on one regular grid of candle open times
    spaced one timeframe apart, ending at the latest open time seen (or at
    ``end_ms``). Row ``i`` of the closes matrix is the candle that opened at
    ``open_times[i]``; column ``j`` is ``symbols[j]``. A candle a symbol does not
    have -- not listed yet, delisted, exchange outage, dropped message -- is NaN.
    Candles whose open time is not on the grid raise ``ValueError`` (it means the
    data belongs to another timeframe). Duplicated open times keep the last close.
    Non-finite and non-positive closes are treated as missing.

Gap rule
    :func:`log_returns` gives ``log(close[t] / close[t-1])`` only when *both*
    candles exist. A return across a gap is NaN: the move from the last close
    before a gap to the first close after it spans several periods, and counting it
    as one period would inflate volatility and distort beta. The return at row
    ``t`` is stamped with the open time of the later candle.

Minimum observations
    A statistic computed from fewer than ``min_obs`` valid observations is NaN
    (the symbol is *insufficient*). It is never replaced by a default such as a
    beta of 1.0. :data:`DEFAULT_MIN_OBS` is 30.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from virtuoso_daemon.analytics._types import BoolArray, FloatArray, IntArray
from virtuoso_daemon.analytics.timeframes import periods_per_year, timeframe_ms

DEFAULT_MIN_OBS = 30
"""Fewest valid observations (return pairs) a statistic is computed from."""


@dataclass(frozen=True, slots=True, eq=False)
class AlignedCloses:
    """Closes of many symbols on one regular time grid (NaN = no candle).

    ``closes`` has shape ``(len(open_times), len(symbols))``.
    """

    symbols: tuple[str, ...]
    timeframe: str
    open_times: IntArray
    closes: FloatArray

    def log_returns(self) -> ReturnsMatrix:
        """Log returns of every column, NaN across gaps (see the module's gap rule)."""
        return ReturnsMatrix(
            symbols=self.symbols,
            timeframe=self.timeframe,
            times=self.open_times[1:].copy(),
            returns=log_returns(self.closes),
        )


@dataclass(frozen=True, slots=True, eq=False)
class ReturnsMatrix:
    """Log returns of many symbols on one time grid (NaN = no valid return).

    ``returns`` has shape ``(len(times), len(symbols))``; ``times[t]`` is the open
    time of the candle that ends the return in row ``t``.
    """

    symbols: tuple[str, ...]
    timeframe: str
    times: IntArray
    returns: FloatArray

    @property
    def periods_per_year(self) -> float:
        """Periods in a 365-day year at this matrix's timeframe."""
        return periods_per_year(self.timeframe)

    def index(self, symbol: str) -> int:
        """Column of ``symbol``; ``KeyError`` if it is not in the matrix."""
        try:
            return self.symbols.index(symbol)
        except ValueError:
            raise KeyError(symbol) from None

    def column(self, symbol: str) -> FloatArray:
        """The returns of one symbol (a view)."""
        return self.returns[:, self.index(symbol)]

    def select(self, symbols: Sequence[str]) -> ReturnsMatrix:
        """A matrix with only ``symbols``, in that order."""
        cols = [self.index(s) for s in symbols]
        return ReturnsMatrix(
            symbols=tuple(symbols),
            timeframe=self.timeframe,
            times=self.times,
            returns=self.returns[:, cols],
        )

    def tail(self, n: int) -> ReturnsMatrix:
        """The last ``n`` rows (all rows if there are fewer)."""
        if n < 0:
            raise ValueError("n must be non-negative")
        start = max(len(self.times) - n, 0)
        return ReturnsMatrix(
            symbols=self.symbols,
            timeframe=self.timeframe,
            times=self.times[start:],
            returns=self.returns[start:],
        )

    def observation_counts(self) -> IntArray:
        """Valid (finite) returns per column."""
        return observation_counts(self.returns)


def align_closes(
    series: Mapping[str, tuple[ArrayLike, ArrayLike]],
    timeframe: str,
    *,
    end_ms: int | None = None,
    start_ms: int | None = None,
    length: int | None = None,
) -> AlignedCloses:
    """Align per-symbol ``(open_times_ms, closes)`` arrays on one regular grid.

    The grid's last row is the latest open time in the data that is ``<= end_ms``
    (all data if ``end_ms`` is None; pass the open time of the last *closed* candle
    to leave out the one still forming). It extends back to ``start_ms`` or to the
    earliest candle, or covers exactly ``length`` rows when ``length`` is given.
    Series may be unsorted, of unequal lengths and full of gaps; symbols keep the
    mapping's order.
    """
    step = timeframe_ms(timeframe)
    symbols = tuple(series)
    arrays: list[tuple[IntArray, FloatArray]] = []
    for sym in symbols:
        t_raw, c_raw = series[sym]
        t = np.asarray(t_raw, dtype=np.int64).ravel()
        c = np.asarray(c_raw, dtype=np.float64).ravel()
        if t.shape != c.shape:
            raise ValueError(f"{sym}: {t.size} open times but {c.size} closes")
        if end_ms is not None:
            keep = t <= end_ms
            t, c = t[keep], c[keep]
        arrays.append((t, c))

    nonempty = [t for t, _ in arrays if t.size]
    if not nonempty:
        empty_t: IntArray = np.empty(0, dtype=np.int64)
        return AlignedCloses(symbols, timeframe, empty_t, np.empty((0, len(symbols))))
    anchor = int(max(int(t.max()) for t in nonempty))
    if length is not None:
        if length < 0:
            raise ValueError("length must be non-negative")
        rows = length
    else:
        first = int(min(int(t.min()) for t in nonempty))
        if start_ms is not None:
            first = max(first, start_ms)
        rows = max((anchor - first) // step + 1, 0)

    open_times: IntArray = anchor - step * np.arange(rows - 1, -1, -1, dtype=np.int64)
    closes: FloatArray = np.full((rows, len(symbols)), np.nan)
    for j, (sym, (t, c)) in enumerate(zip(symbols, arrays, strict=True)):
        if t.size == 0:
            continue
        back = anchor - t
        off_grid = back % step != 0
        if off_grid.any():
            bad = int(t[np.argmax(off_grid)])
            raise ValueError(
                f"{sym}: open time {bad} is not on the {timeframe} grid ending at {anchor}"
            )
        row = rows - 1 - back // step
        keep = row >= 0
        if start_ms is not None:
            keep &= t >= start_ms
        closes[row[keep], j] = c[keep]  # repeated rows: the last close wins
    bad_close = ~(np.isfinite(closes) & (closes > 0))
    closes[bad_close] = np.nan
    return AlignedCloses(symbols, timeframe, open_times, closes)


def log_returns(closes: FloatArray) -> FloatArray:
    """``log(close[t] / close[t-1])`` down axis 0; NaN unless both closes are valid.

    Accepts one series ``(T,)`` or a matrix ``(T, N)`` and returns ``T - 1`` rows.
    Non-finite and non-positive closes count as missing.
    """
    c = np.asarray(closes, dtype=np.float64)
    if c.shape[0] < 2:
        return np.empty((0, *c.shape[1:]), dtype=np.float64)
    if (c <= 0).any():  # rare: a non-positive close is a missing close
        c = np.where(c > 0, c, np.nan)
    # The log of the ratio, not a difference of logs: exact to a few ulps of the
    # return itself, and unchanged when every price is scaled by one constant.
    # NaN propagates; an infinite close gives an infinite log, cleared below.
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        out: FloatArray = np.divide(c[1:], c[:-1])
        np.log(out, out=out)
    infinite = np.isinf(out)
    if infinite.any():
        out[infinite] = np.nan
    return out


def observation_counts(returns: FloatArray) -> IntArray:
    """Finite values per column (per series for a 1-D input)."""
    counts: IntArray = np.isfinite(returns).sum(axis=0, dtype=np.int64)
    return counts


def sufficient(returns: FloatArray, min_obs: int = DEFAULT_MIN_OBS) -> BoolArray:
    """True for columns with at least ``min_obs`` finite returns."""
    mask: BoolArray = observation_counts(returns) >= min_obs
    return mask


def annualised_volatility(
    returns: FloatArray, timeframe: str, *, min_obs: int = DEFAULT_MIN_OBS
) -> FloatArray:
    """Per-column ``std(ddof=1) * sqrt(periods_per_year(timeframe))`` over finite returns.

    Columns with fewer than ``min_obs`` (and fewer than 2) finite returns are NaN.
    """
    r = np.asarray(returns, dtype=np.float64)
    valid = np.isfinite(r)
    n = valid.sum(axis=0)
    z = np.where(valid, r, 0.0)
    safe_n = np.maximum(n, 1)
    mean = z.sum(axis=0) / safe_n
    dev = np.where(valid, r - mean, 0.0)
    ss = (dev * dev).sum(axis=0)
    ok = n >= max(min_obs, 2)
    var = np.divide(ss, np.maximum(n - 1, 1))
    vol: FloatArray = np.where(ok, np.sqrt(var * periods_per_year(timeframe)), np.nan)
    return vol


__all__ = [
    "DEFAULT_MIN_OBS",
    "AlignedCloses",
    "ReturnsMatrix",
    "align_closes",
    "annualised_volatility",
    "log_returns",
    "observation_counts",
    "sufficient",
]
