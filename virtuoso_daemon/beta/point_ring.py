"""Beta history points of one series, kept as rows of one float64 array.

The beta actor keeps the newest ``beta.history`` points (500 by default) of every
(exchange, symbol, timeframe, window): at 300 markets and six windows that is 1 800
series. As a deque of :class:`~..storage.beta_history.HistoryPoint` tuples a point
costs ~270 bytes (a tuple, five floats, two ints); once the hourly series had filled
(21 days) they held ~120 MB, the 4h and 1d ones more over the following months. A
:class:`PointRing` row is 7 x 8 bytes, and the array grows with the points it holds
(doubling up to ``maxlen``), so a young series costs nearly nothing.

Missing values (``None``) are stored as NaN and given back as ``None``; ``ts`` and
``n_obs`` come back as ints (both are exact in a float64 below 2**53).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
from numpy.typing import NDArray

from virtuoso_daemon.beta.history import HISTORY_COLUMNS, HistoryPoint

INITIAL_ROWS = 8
_WIDTH = len(HISTORY_COLUMNS)
_INT_COLUMNS = (HISTORY_COLUMNS.index("ts"), HISTORY_COLUMNS.index("n_obs"))


def _row(p: HistoryPoint) -> list[float]:
    return [math.nan if v is None else float(v) for v in p]


class PointRing:
    """The newest ``maxlen`` points of one beta history series, oldest first."""

    __slots__ = ("_n", "_rows", "maxlen")

    def __init__(self, maxlen: int, points: Iterable[HistoryPoint] = ()) -> None:
        if maxlen < 1:
            raise ValueError("maxlen must be >= 1")
        self.maxlen = maxlen
        self._rows: NDArray[np.float64] = np.empty((min(INITIAL_ROWS, maxlen), _WIDTH))
        self._n = 0
        for p in points:
            self.append(p)

    def __len__(self) -> int:
        return self._n

    @property
    def full(self) -> bool:
        return self._n == self.maxlen

    def first_ts(self) -> int | None:
        return int(self._rows[0, 0]) if self._n else None

    def last_ts(self) -> int | None:
        return int(self._rows[self._n - 1, 0]) if self._n else None

    def append(self, p: HistoryPoint) -> None:
        """Add a point after the newest; the oldest goes once ``maxlen`` are held."""
        if self._n == self.maxlen:
            self._rows[:-1] = self._rows[1:]
            self._n -= 1
        elif self._n == len(self._rows):
            grown = np.empty((min(self.maxlen, 2 * len(self._rows)), _WIDTH))
            grown[: self._n] = self._rows[: self._n]
            self._rows = grown
        self._rows[self._n] = _row(p)
        self._n += 1

    def replace_last(self, p: HistoryPoint) -> None:
        if not self._n:
            raise IndexError("replace_last on an empty PointRing")
        self._rows[self._n - 1] = _row(p)

    def tail(self, n: int) -> list[list[float | int | None]]:
        """The newest ``n`` points as lists in :data:`HISTORY_COLUMNS` order."""
        if n <= 0 or not self._n:
            return []
        rows = self._rows[max(0, self._n - n) : self._n].tolist()
        for row in rows:
            for i, v in enumerate(row):
                if v != v:  # NaN
                    row[i] = None
            for i in _INT_COLUMNS:
                if row[i] is not None:
                    row[i] = int(row[i])
        return rows

    def points(self) -> list[HistoryPoint]:
        return [HistoryPoint._make(row) for row in self.tail(self._n)]

    def resized(self, maxlen: int) -> PointRing:
        """A ring of another ``maxlen`` holding the newest points of this one."""
        return PointRing(maxlen, self.points()[-maxlen:])


__all__ = ["INITIAL_ROWS", "PointRing"]
