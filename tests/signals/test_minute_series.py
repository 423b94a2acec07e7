"""The signals' per-symbol minute window: the right closes and volumes by minute, the
newest ``capacity`` kept, and a fixed size however many minutes went through it (at
300 markets a dict of tuples per minute cost ~10 MB of the daemon's RSS)."""

from __future__ import annotations

import math
import tracemalloc

import numpy as np

from virtuoso_daemon.core.config import SignalsConfig
from virtuoso_daemon.signals.state import MINUTE_MS, MinuteSeries, minutes_needed

M0 = 28_333_334  # a minute number (open time // 60 000)


def filled(capacity: int, minutes: range) -> MinuteSeries:
    s = MinuteSeries(capacity)
    for m in minutes:
        s.set((M0 + m) * MINUTE_MS, 100.0 + m, 1.0 + m)
    return s


def test_arrays_give_each_minute_its_close_and_volume_and_nan_where_missing() -> None:
    s = filled(10, range(0, 8))
    s.set((M0 + 9) * MINUTE_MS, 200.0, 2.0)  # minute 8 never came
    closes, vols, first = s.arrays(4)
    assert first == M0 + 6
    assert closes[:2].tolist() == [106.0, 107.0] and vols[:2].tolist() == [7.0, 8.0]
    assert math.isnan(closes[2]) and math.isnan(vols[2])
    assert (closes[3], vols[3]) == (200.0, 2.0)


def test_a_window_ending_before_the_newest_minute_is_whole() -> None:
    s = filled(10, range(0, 30))  # the newest is minute 29, still open
    closes, _, first = s.arrays(10, M0 + 28)
    assert first == M0 + 19
    assert closes.tolist() == [100.0 + m for m in range(19, 29)]


def test_a_minute_older_than_the_capacity_is_refused_and_an_update_replaces() -> None:
    s = filled(10, range(0, 30))
    s.set((M0 + 19) * MINUTE_MS, -1.0, -1.0)  # newest (29) - capacity: too old
    s.set((M0 + 25) * MINUTE_MS, 555.0, 5.0)  # the same minute again: its latest values
    closes, vols, _ = s.arrays(11)
    assert closes[0] == 119.0  # minute 19 kept as it was, never -1
    assert closes[6] == 555.0 and vols[6] == 5.0


def test_resize_keeps_the_newest_minutes() -> None:
    s = filled(20, range(0, 40))
    s.resize(5)
    assert s.capacity == 5
    closes, _, _ = s.arrays(5)
    assert closes.tolist() == [135.0, 136.0, 137.0, 138.0, 139.0]
    s.resize(30)  # growing keeps what there is; the older minutes come back as NaN
    closes, _, _ = s.arrays(30)
    assert closes[-5:].tolist() == [135.0, 136.0, 137.0, 138.0, 139.0]
    assert np.isnan(closes[:-5]).all()
    s.set((M0 + 40) * MINUTE_MS, 140.0, 1.0)
    assert s.arrays(6)[0].tolist() == [135.0, 136.0, 137.0, 138.0, 139.0, 140.0]


def test_a_series_keeps_no_memory_per_minute_that_went_through_it() -> None:
    capacity = minutes_needed(SignalsConfig().for_symbol("BTC/USDT"))
    series = [filled(capacity, range(0, 10)) for _ in range(50)]
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for s in series:  # a 2200-candle backfill, then live minutes
            for m in range(10, 2200):
                s.set((M0 + m) * MINUTE_MS, 1.0 * m, 2.0 * m)
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert grown < 50 * 64  # nothing kept per minute
    assert series[0].nbytes <= 24 * (capacity + MinuteSeries.SLACK)
    assert series[0].arrays(3)[0].tolist() == [2197.0, 2198.0, 2199.0]
