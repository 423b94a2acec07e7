"""Numpy ring buffers for candles and fixed-width numeric rows.

:class:`CandleRing` holds one OHLCV series (one exchange, symbol and timeframe) in
three arrays: ``times`` (int64 open time per slot), ``values`` (float64
``[slots, 5]``: open, high, low, close, volume) and ``closed`` (bool). A candle's
slot is fixed by its open time, ``((t - phase) // tf) % slots``, so the buffer is
*aligned on candle open time*: writing never shifts data, an update of the open
candle rewrites its slot in place, and no Python object per candle exists.

The arrays grow with the data, up to ``capacity`` slots: they start at
:data:`INITIAL_SLOTS` and, when a write would span more candle times than there are
slots, are reallocated to the span needed plus a step (1/32 of the size, at least
:data:`MIN_STEP` slots) and the present candles copied to their new slots. The step
is small on purpose: a backfilled series is exactly as long as its history, and the
live candles after it add one slot per period, so a 25 % step would be 25 % of the
store spent on candles that arrive days later (8 MB at 300 markets). A series costs
memory for the history it holds, not for the history it could hold: at 300 markets x
4 timeframes, preallocating 2 400 slots was 141 MB before the first backfill page
arrived. Growth is rare: a few times per series while its history arrives, then once
per step of live candles (every ~20 minutes for 1m, every ~3 days for 1h) until it
reaches its capacity.

Rules (the property tests compare them with a plain list model):

* The visible window is the ``capacity`` candle times ending at the newest open time
  seen (``last``). A slot counts only when its stored time equals the time the
  window expects there, so **gaps** (candles never received) and slots left over
  from an earlier lap read as missing -- NaN in :meth:`CandleRing.window`, skipped
  by :meth:`CandleRing.rows` -- and nothing has to be cleared when time jumps ahead.
* A candle older than the window is dropped (counted in ``dropped_old``).
* ``phase`` is the open-time offset of the first candle written (0 for minute, hour
  and day candles; Monday for exchanges' weekly candles). A candle whose open time is
  off that grid is dropped (counted in ``misaligned``).
* A closed candle is never replaced by a later *open* update of the same open time
  (a late or re-fetched partial candle must not undo a final one); a closed update
  always wins.

Reads return fresh copies, so a reader never sees a buffer being written and can
keep what it got.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]

EMPTY = np.iinfo(np.int64).min  # open time of a slot never written
COLUMNS = ("open", "high", "low", "close", "volume")
INITIAL_SLOTS = 64
MIN_STEP = 16  # slots added at least when a ring grows


class CandleRing:
    """One OHLCV series in preallocated arrays aligned on open time (see module doc)."""

    __slots__ = (
        "capacity",
        "closed",
        "closed_version",
        "dropped_old",
        "first",
        "last",
        "misaligned",
        "phase",
        "slots",
        "tf_ms",
        "times",
        "values",
        "version",
    )

    def __init__(self, capacity: int, tf_ms: int, initial: int = INITIAL_SLOTS) -> None:
        if capacity < 1:
            raise ValueError("capacity must be >= 1")
        if tf_ms < 1:
            raise ValueError("timeframe must be >= 1 ms")
        self.capacity = capacity
        self.tf_ms = tf_ms
        self.slots = max(1, min(capacity, initial))
        self.times: IntArray = np.full(self.slots, EMPTY, dtype=np.int64)
        self.values: FloatArray = np.full((self.slots, 5), np.nan, dtype=np.float64)
        self.closed: BoolArray = np.zeros(self.slots, dtype=np.bool_)
        self.first: int | None = None  # oldest open time written (may have aged out)
        self.last: int | None = None  # newest open time written
        self.phase: int | None = None
        self.version = 0  # bumped on every write
        self.closed_version = 0  # bumped when a closed candle is written (persistence)
        self.dropped_old = 0
        self.misaligned = 0

    # --- growing ---------------------------------------------------------------------

    def slot_of(self, t: int) -> int:
        assert self.phase is not None
        return ((t - self.phase) // self.tf_ms) % self.slots

    def _make_room(self, lo: int, hi: int) -> None:
        """Grow the arrays if open times ``lo..hi`` (with what is held) need more slots."""
        if self.slots >= self.capacity:
            return
        first = lo if self.first is None else min(self.first, lo)
        last = hi if self.last is None else max(self.last, hi)
        need = min(self.capacity, (last - first) // self.tf_ms + 1)
        if need <= self.slots:
            return
        new = min(self.capacity, need + max(MIN_STEP, need // 32))
        times, values, closed, valid = self.window(self.slots)
        self.slots = new
        self.times = np.full(new, EMPTY, dtype=np.int64)
        self.values = np.full((new, 5), np.nan, dtype=np.float64)
        self.closed = np.zeros(new, dtype=np.bool_)
        if valid.any() and self.phase is not None:
            t = times[valid]
            slots = ((t - self.phase) // self.tf_ms) % new
            self.times[slots] = t
            self.values[slots] = values[valid]
            self.closed[slots] = closed[valid]

    # --- writing ---------------------------------------------------------------------

    def _accepts(self, t: int) -> bool:
        if self.phase is None:
            self.phase = t % self.tf_ms
        elif (t - self.phase) % self.tf_ms:
            self.misaligned += 1
            return False
        if self.last is not None and t <= self.last - self.capacity * self.tf_ms:
            self.dropped_old += 1
            return False
        return True

    def update(
        self,
        t: int,
        o: float,
        h: float,
        lo: float,
        c: float,
        v: float,
        closed: bool,
    ) -> bool:
        """Write one candle (open or closed). Returns False when it was dropped."""
        if not self._accepts(t):
            return False
        assert self.phase is not None
        self._make_room(t, t)
        slot = ((t - self.phase) // self.tf_ms) % self.slots
        if not closed and self.closed[slot] and self.times[slot] == t:
            return False  # never reopen a closed candle
        self.times[slot] = t
        self.values[slot] = (o, h, lo, c, v)
        self.closed[slot] = closed
        if self.last is None or t > self.last:
            self.last = t
        if self.first is None or t < self.first:
            self.first = t
        self.version += 1
        if closed:
            self.closed_version += 1
        return True

    def update_many(self, times: ArrayLike, values: ArrayLike, closed: ArrayLike) -> int:
        """Write many candles at once (backfill pages, reloads); returns rows written.

        Vectorised, with the same outcome as calling :meth:`update` row by row: rows
        may come in any order and may repeat an open time.
        """
        t: IntArray = np.asarray(times, dtype=np.int64).ravel()
        vals: FloatArray = np.asarray(values, dtype=np.float64).reshape(-1, 5)
        cl: BoolArray = np.asarray(closed, dtype=np.bool_).ravel()
        if not (t.size == vals.shape[0] == cl.size):
            raise ValueError("times, values and closed differ in length")
        if t.size == 0:
            return 0
        if self.phase is None:
            self.phase = int(t[0] % self.tf_ms)
        aligned = (t - self.phase) % self.tf_ms == 0
        if not aligned.all():
            self.misaligned += int((~aligned).sum())
            t, vals, cl = t[aligned], vals[aligned], cl[aligned]
            if t.size == 0:
                return 0
        newest = int(t.max())
        last = newest if self.last is None else max(self.last, newest)
        fresh = t > last - self.capacity * self.tf_ms
        if not fresh.all():
            self.dropped_old += int((~fresh).sum())
            t, vals, cl = t[fresh], vals[fresh], cl[fresh]
        # one row per open time, as if the rows were written one by one: the last
        # closed occurrence if there is one, else the last occurrence. Sort by
        # (time, closed, position) and keep the last row of each time.
        order = np.lexsort((np.arange(t.size), cl, t))
        t, vals, cl = t[order], vals[order], cl[order]
        last_of_time = np.ones(t.size, dtype=np.bool_)
        last_of_time[:-1] = t[1:] != t[:-1]
        t, vals, cl = t[last_of_time], vals[last_of_time], cl[last_of_time]
        if t.size == 0:
            return 0
        oldest = int(t[0])
        self._make_room(oldest, int(t[-1]))
        slots = ((t - self.phase) // self.tf_ms) % self.slots
        keep = ~((self.times[slots] == t) & self.closed[slots] & ~cl)
        if not keep.all():
            t, vals, cl, slots = t[keep], vals[keep], cl[keep], slots[keep]
        self.times[slots] = t
        self.values[slots] = vals
        self.closed[slots] = cl
        self.last = last
        if self.first is None or oldest < self.first:
            self.first = oldest
        self.version += 1
        if cl.any():
            self.closed_version += 1
        return int(t.size)

    # --- reading -----------------------------------------------------------------------

    def window(
        self, n: int | None = None, end: int | None = None
    ) -> tuple[IntArray, FloatArray, BoolArray, BoolArray]:
        """The ``n`` candle times ending at ``end`` (default: the newest), oldest first.

        Returns copies: ``(open_times, values[n, 5], closed, valid)``; rows that are
        missing (gaps, never written, outside the buffer) have ``valid`` False, NaN
        values and ``closed`` False. ``n`` is capped at the capacity.
        """
        n = self.capacity if n is None else max(0, min(int(n), self.capacity))
        if end is None:
            end = self.last
        if end is None or self.phase is None:
            return (
                np.zeros(0, dtype=np.int64),
                np.zeros((0, 5), dtype=np.float64),
                np.zeros(0, dtype=np.bool_),
                np.zeros(0, dtype=np.bool_),
            )
        expected: IntArray = end - self.tf_ms * np.arange(n - 1, -1, -1, dtype=np.int64)
        # times older than the slots cover map onto slots holding newer candles and
        # fail the equality test below: they read as missing, as they are
        slots = ((expected - self.phase) // self.tf_ms) % self.slots
        valid: BoolArray = self.times[slots] == expected
        if self.last is not None:
            # a slot may only hold data of the window ending at ``last``
            valid &= expected > self.last - self.capacity * self.tf_ms
        vals: FloatArray = self.values[slots]  # fancy indexing: already a copy
        vals[~valid] = np.nan
        closed: BoolArray = self.closed[slots] & valid
        return expected, vals, closed, valid

    def rows(
        self, limit: int, since: int | None = None, closed_only: bool = False
    ) -> tuple[IntArray, FloatArray, BoolArray]:
        """Present candles only (gaps skipped), oldest first, as copies.

        Without ``since``: the newest ``limit`` candles. With ``since``: the first
        ``limit`` candles whose open time is >= ``since`` (ccxt's ``fetch_ohlcv``).
        """
        times, vals, closed, valid = self.window(self.slots)  # older times hold nothing
        mask = valid
        if since is not None:
            mask = mask & (times >= since)
        if closed_only:
            mask = mask & closed
        idx = np.flatnonzero(mask)
        idx = idx[:limit] if since is not None else idx[max(0, idx.size - limit) :]
        return times[idx], vals[idx], closed[idx]

    def count(self) -> int:
        """Candles present in the window."""
        return int(self.window(self.slots)[3].sum())

    def bounds(self) -> tuple[int, int] | None:
        """(oldest, newest) open time present, or None when empty."""
        times, _, _, valid = self.window(self.slots)
        present = times[valid]
        return (int(present[0]), int(present[-1])) if present.size else None


def batch_arrays(
    rows: Sequence[Sequence[float]] | FloatArray, tf_ms: int, now_ms: int
) -> tuple[IntArray, FloatArray, BoolArray]:
    """Rows ``(open_time, o, h, l, c, v)`` -> arrays for :meth:`CandleRing.update_many`.

    A row counts as closed when its candle has ended by ``now_ms`` (the receive
    time): exchanges return the still-open candle as the newest row of a page.
    """
    arr: FloatArray = np.asarray(rows, dtype=np.float64).reshape(-1, 6)
    times: IntArray = arr[:, 0].astype(np.int64)
    closed: BoolArray = times + tf_ms <= now_ms
    return times, arr[:, 1:], closed


class FloatRing:
    """The newest ``capacity`` rows of ``columns`` floats (e.g. order-book summaries)."""

    __slots__ = ("capacity", "data", "size", "start")

    def __init__(self, capacity: int, columns: int) -> None:
        if capacity < 1 or columns < 1:
            raise ValueError("capacity and columns must be >= 1")
        self.capacity = capacity
        self.data: FloatArray = np.full((capacity, columns), np.nan, dtype=np.float64)
        self.start = 0  # index of the oldest row
        self.size = 0

    def append(self, row: Sequence[float | None]) -> None:
        i = (self.start + self.size) % self.capacity
        self.data[i] = [np.nan if x is None else x for x in row]
        if self.size < self.capacity:
            self.size += 1
        else:
            self.start = (self.start + 1) % self.capacity

    def last(self, n: int | None = None) -> FloatArray:
        """A copy of the newest ``n`` rows (all by default), oldest first."""
        n = self.size if n is None else max(0, min(int(n), self.size))
        idx = (self.start + self.size - n + np.arange(n)) % self.capacity
        out: FloatArray = self.data[idx]
        return out

    def __len__(self) -> int:
        return self.size
