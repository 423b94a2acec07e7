"""Candle ring buffer: alignment, gaps, wraparound, open-candle updates, vs a list model."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from virtuoso_daemon.market.ringbuffer import CandleRing, FloatRing, batch_arrays

TF = 60_000  # 1m


def row(t: int, c: float) -> tuple[int, float, float, float, float, float]:
    return (t, c - 1, c + 1, c - 2, c, 10.0)


def write(ring: CandleRing, t: int, c: float, closed: bool = True) -> bool:
    return ring.update(t, c - 1, c + 1, c - 2, c, 10.0, closed)


def test_slots_are_aligned_on_open_time_and_reads_are_oldest_first() -> None:
    ring = CandleRing(4, TF)
    for k in (10, 11, 12):
        write(ring, k * TF, float(k))
    times, values, closed, valid = ring.window()
    assert times.tolist() == [9 * TF, 10 * TF, 11 * TF, 12 * TF]
    assert valid.tolist() == [False, True, True, True]
    assert math.isnan(values[0, 3]) and values[1:, 3].tolist() == [10.0, 11.0, 12.0]
    assert closed.tolist() == [False, True, True, True]
    # the slot is a function of the open time alone
    assert ring.times[(12 * TF // TF) % 4] == 12 * TF


def test_gap_reads_as_missing_and_rows_skip_it() -> None:
    ring = CandleRing(5, TF)
    write(ring, 0, 1.0)
    write(ring, 3 * TF, 4.0)  # candles 1 and 2 never arrived
    _, values, _, valid = ring.window()
    assert valid.tolist() == [False, True, False, False, True]
    assert np.isnan(values[2:4]).all()
    times, vals, _ = ring.rows(10)
    assert times.tolist() == [0, 3 * TF] and vals[:, 3].tolist() == [1.0, 4.0]


def test_wraparound_keeps_the_newest_capacity_candles() -> None:
    ring = CandleRing(3, TF)
    for k in range(10):
        write(ring, k * TF, float(k))
    times, vals, _ = ring.rows(100)
    assert times.tolist() == [7 * TF, 8 * TF, 9 * TF]
    assert vals[:, 3].tolist() == [7.0, 8.0, 9.0]
    # a jump far ahead leaves everything in between missing (stale laps are not shown)
    write(ring, 100 * TF, 100.0)
    _, _, _, valid = ring.window()
    assert valid.tolist() == [False, False, True]
    assert ring.count() == 1


def test_candle_older_than_the_window_is_dropped_and_counted() -> None:
    ring = CandleRing(3, TF)
    write(ring, 10 * TF, 10.0)
    assert write(ring, 8 * TF, 8.0)  # still inside the window
    assert not write(ring, 7 * TF, 7.0)
    assert ring.dropped_old == 1
    assert ring.rows(10)[0].tolist() == [8 * TF, 10 * TF]


def test_open_candle_updates_its_slot_in_place_until_closed() -> None:
    ring = CandleRing(4, TF)
    write(ring, 0, 1.0)
    for price in (2.0, 2.5, 3.0):
        write(ring, TF, price, closed=False)
    times, vals, closed = ring.rows(10)
    assert times.tolist() == [0, TF] and vals[-1, 3] == 3.0 and closed.tolist() == [True, False]
    write(ring, TF, 3.1, closed=True)
    # a late open update for a candle already closed does not reopen it
    assert not write(ring, TF, 9.9, closed=False)
    _, vals, closed = ring.rows(10)
    assert vals[-1, 3] == 3.1 and closed[-1]
    assert ring.rows(10, closed_only=True)[0].tolist() == [0, TF]


def test_misaligned_candle_is_rejected() -> None:
    ring = CandleRing(4, TF)
    write(ring, 10 * TF, 1.0)
    assert not write(ring, 10 * TF + 1234, 2.0)
    assert ring.misaligned == 1 and ring.count() == 1


def test_weekly_candles_with_a_nonzero_phase() -> None:
    week = 7 * 86_400_000
    monday = 4 * 86_400_000  # 1970-01-05 was a Monday; epoch weeks start on Thursday
    ring = CandleRing(3, week)
    for k in range(4):
        write(ring, monday + k * week, float(k))
    assert ring.phase == monday
    assert ring.rows(10)[0].tolist() == [monday + k * week for k in (1, 2, 3)]


def test_since_returns_the_first_candles_from_then_on() -> None:
    ring = CandleRing(10, TF)
    for k in range(10):
        write(ring, k * TF, float(k))
    assert ring.rows(3, since=4 * TF)[0].tolist() == [4 * TF, 5 * TF, 6 * TF]
    assert ring.rows(3)[0].tolist() == [7 * TF, 8 * TF, 9 * TF]
    assert ring.rows(3, since=100 * TF)[0].tolist() == []


def test_window_ending_elsewhere_aligns_for_cross_series_matrices() -> None:
    ring = CandleRing(5, TF)
    for k in range(5):
        write(ring, k * TF, float(k))
    times, vals, _, valid = ring.window(3, end=6 * TF)
    assert times.tolist() == [4 * TF, 5 * TF, 6 * TF]
    assert valid.tolist() == [True, False, False] and vals[0, 3] == 4.0


def test_reads_are_copies() -> None:
    ring = CandleRing(3, TF)
    write(ring, 0, 1.0)
    _, vals, _, _ = ring.window()
    vals[:] = -1
    assert ring.rows(5)[1][0, 3] == 1.0


def test_batch_matches_rows_written_one_by_one_and_marks_the_open_candle() -> None:
    rows = [row(k * TF, float(k)) for k in (5, 3, 4, 4, 6)]
    times, values, closed = batch_arrays(rows, TF, now_ms=6 * TF + 10)
    assert closed.tolist() == [True, True, True, True, False]  # 6 has not ended yet
    ring = CandleRing(4, TF)
    assert ring.update_many(times, values, closed) == 4
    t, v, c = ring.rows(10)
    assert t.tolist() == [3 * TF, 4 * TF, 5 * TF, 6 * TF]
    assert v[:, 3].tolist() == [3.0, 4.0, 5.0, 6.0]
    assert c.tolist() == [True, True, True, False]


def test_empty_ring_reads_empty() -> None:
    ring = CandleRing(3, TF)
    assert ring.rows(5)[0].size == 0 and ring.window()[0].size == 0 and ring.bounds() is None


def test_float_ring_keeps_the_newest_rows() -> None:
    fr = FloatRing(3, 2)
    for i in range(5):
        fr.append((i, None if i == 4 else i * 10))
    out = fr.last()
    assert out[:, 0].tolist() == [2, 3, 4] and math.isnan(out[-1, 1])
    assert fr.last(1)[:, 0].tolist() == [4] and len(fr) == 3


@pytest.mark.parametrize("bad", [0, -1])
def test_bad_sizes_are_rejected(bad: int) -> None:
    with pytest.raises(ValueError):
        CandleRing(bad, TF)


# --- property test against a naive model ---------------------------------------------------


class ListModel:
    """The documented rules, written the obvious way over a dict of candles."""

    def __init__(self, capacity: int, tf: int) -> None:
        self.capacity, self.tf = capacity, tf
        self.data: dict[int, tuple[tuple[float, ...], bool]] = {}
        self.last: int | None = None
        self.phase: int | None = None

    def update(self, t: int, values: tuple[float, ...], closed: bool) -> None:
        if self.phase is None:
            self.phase = t % self.tf
        elif (t - self.phase) % self.tf:
            return
        if self.last is not None and t <= self.last - self.capacity * self.tf:
            return
        old = self.data.get(t)
        if old is not None and old[1] and not closed:
            return
        self.data[t] = (values, closed)
        self.last = t if self.last is None else max(self.last, t)

    def window(self) -> list[tuple[int, tuple[float, ...] | None, bool]]:
        if self.last is None:
            return []
        out = []
        for i in range(self.capacity):
            t = self.last - (self.capacity - 1 - i) * self.tf
            got = self.data.get(t)
            out.append((t, got[0] if got else None, bool(got and got[1])))
        return out


candle = st.tuples(
    st.integers(0, 40),  # open-time index: gaps, repeats, wraparound, going back
    st.booleans(),  # misaligned by a few ms
    st.floats(1, 1000, allow_nan=False),
    st.booleans(),  # closed
)
op = st.one_of(
    st.tuples(st.just("one"), candle),
    st.tuples(st.just("batch"), st.lists(candle, min_size=1, max_size=12)),
)


@settings(max_examples=400, deadline=None)
@given(capacity=st.integers(1, 30), initial=st.integers(1, 30), ops=st.lists(op, max_size=25))
def test_ring_behaves_like_the_list_model(capacity: int, initial: int, ops: list) -> None:
    """Whatever the starting size: a ring that grows is the same ring."""
    ring, model = CandleRing(capacity, TF, initial=initial), ListModel(capacity, TF)
    for kind, payload in ops:
        items = [payload] if kind == "one" else payload
        times, values, closed = [], [], []
        for k, skew, price, is_closed in items:
            t = k * TF + (7 if skew else 0)
            vals = (price, price + 1, price - 1, price, 1.0)
            model.update(t, vals, is_closed)
            times.append(t)
            values.append(vals)
            closed.append(is_closed)
        if kind == "one":
            ring.update(times[0], *values[0], closed[0])
        else:
            ring.update_many(times, values, closed)
        expected = model.window()
        t, v, c, valid = ring.window()
        assert t.tolist() == [e[0] for e in expected]
        assert valid.tolist() == [e[1] is not None for e in expected]
        assert c.tolist() == [e[2] for e in expected]
        for i, (_, vals_exp, _) in enumerate(expected):
            if vals_exp is None:
                assert np.isnan(v[i]).all()
            else:
                assert v[i].tolist() == list(vals_exp)
        present = [e for e in expected if e[1] is not None]
        got_t, got_v, _ = ring.rows(capacity)
        assert got_t.tolist() == [e[0] for e in present]
        assert [r[3] for r in got_v.tolist()] == [e[1][3] for e in present if e[1]]


def test_a_ring_allocates_for_the_history_it_holds_not_for_its_capacity() -> None:
    ring = CandleRing(2400, TF)
    ring.update_many(np.arange(100) * TF, np.ones((100, 5)), np.ones(100, dtype=bool))
    assert 100 <= ring.slots < 200 and ring.values.shape == (ring.slots, 5)
    for i in range(100, 130):  # live candles, one at a time
        ring.update(i * TF, 1.0, 1.0, 1.0, float(i), 1.0, True)
    assert ring.slots < 200 and ring.count() == 130
    assert ring.rows(130)[1][:, 3].tolist()[-30:] == [float(i) for i in range(100, 130)]
    ring.update_many(np.arange(5000) * TF, np.ones((5000, 5)), np.ones(5000, dtype=bool))
    assert ring.slots == ring.capacity == 2400 and ring.count() == 2400


def test_live_candles_after_a_backfill_grow_the_ring_by_a_small_step() -> None:
    ring = CandleRing(10_000, TF)
    ring.update_many(np.arange(2200) * TF, np.ones((2200, 5)), np.ones(2200, dtype=bool))
    ring.update(2200 * TF, 1.0, 1.0, 1.0, 1.0, 1.0, False)  # the open candle
    assert 2201 <= ring.slots <= 2201 * 1.04  # not 25 % of the store for future candles
    grown = ring.slots
    for i in range(2201, grown):  # the step holds the next candles without reallocating
        ring.update(i * TF, 1.0, 1.0, 1.0, 1.0, 1.0, True)
    assert ring.slots == grown and ring.count() == grown
