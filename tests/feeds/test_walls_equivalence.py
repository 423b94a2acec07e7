"""The feed's fast wall scan gives exactly the answers of the plain one it replaced
(tests/feeds/walls_reference.py): same walls, same order, same amounts and ratios to
the bit, same far edge, on random books, with ties, walls, zeros and NaN."""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
from ccxt.async_support.base.ws.order_book_side import Asks, Bids, CountedBids
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tests.feeds import walls_reference as ref
from virtuoso_daemon.analytics.detectors import wall_levels
from virtuoso_daemon.feeds import normalize

SETTINGS = settings(max_examples=300, deadline=None)

# level sizes as books have them: mostly a narrow spread, repeated values (ties at
# the median and among walls), whole numbers, now and then a wall or a zero
AMOUNT = st.one_of(
    st.sampled_from([0.0, 1.0, 2.0, 0.5, 10.0, 1e-9]),
    st.floats(min_value=1e-6, max_value=1e3, allow_nan=False),
    st.integers(min_value=0, max_value=5000),
    st.floats(min_value=1e3, max_value=1e12, allow_nan=False),
)
ODD_AMOUNT = st.one_of(AMOUNT, st.sampled_from([math.nan, math.inf, -1.0, -0.0]))
CONTRACT = st.sampled_from([1.0, 0.01, 0.001, 10.0, 0.1])


def side_of(amounts: list[Any], ask: bool) -> list[list[Any]]:
    step = 0.01 if ask else -0.01
    return [[round(100.0 + step * (i + 1), 2), a] for i, a in enumerate(amounts)]


def same(a: Any, b: Any) -> bool:
    """Equal, NaN equal to NaN (repr tells 0.0 from -0.0 and shows nan alike)."""
    return repr(a) == repr(b)


@SETTINGS
@given(st.lists(AMOUNT, max_size=600), st.booleans(), CONTRACT)
@example([1.0, 1.0, 10.0, 10.0], False, 1.0)  # median exactly at the ratio
@example([1.0] * 10 + [30.0] * 7, True, 0.01)  # seven tied walls, five kept, book order
@example([0.0, 0.0, 0.0, 5.0], False, 1.0)  # zero median: no walls
def test_the_fast_scan_matches_the_plain_one(amounts: list[Any], ask: bool, size: float) -> None:
    side = side_of(amounts, ask)
    assert same(normalize._walls(side, size), ref.walls(side, size))


@SETTINGS
@given(st.lists(ODD_AMOUNT, max_size=60), st.booleans(), CONTRACT)
@example([1.0, math.nan, 1.0, 50.0], False, 1.0)  # a NaN anywhere: NaN median, no walls
def test_nan_inf_and_negative_sizes_give_the_same_answer(
    amounts: list[Any], ask: bool, size: float
) -> None:
    side = side_of(amounts, ask)
    # inf / inf warns in both (numpy's median may warn where the fast one does not):
    # the answers are compared, not the warnings
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        fast, plain = normalize._walls(side, size), ref.walls(side, size)
    assert same(fast, plain)


@SETTINGS
@given(
    st.lists(AMOUNT, min_size=0, max_size=120),
    st.floats(min_value=0.5, max_value=50.0),
    st.integers(min_value=0, max_value=8),
)
def test_wall_levels_matches_np_median_for_any_ratio_and_count(
    amounts: list[Any], ratio: float, top: int
) -> None:
    a = np.asarray(amounts, dtype=np.float64)
    got, want = wall_levels(a, ratio, top), ref.wall_levels(a, ratio, top)
    assert got[0].dtype == want[0].dtype == np.int64
    assert got[0].tolist() == want[0].tolist()
    assert same(got[1].tolist(), want[1].tolist())
    assert a.tolist() == np.asarray(amounts, dtype=np.float64).tolist()  # input untouched


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(AMOUNT, st.integers(1, 9)), min_size=1, max_size=500))
def test_ccxt_book_sides_are_read_as_they_are(levels: list[tuple[Any, int]]) -> None:
    """ccxt's own side classes, kept sorted by price, with [price, amount] levels and
    with a third column (Binance-style books have two, counted books a count)."""
    bids = Bids([[100.0 - 0.01 * i, a] for i, (a, _) in enumerate(levels) if a])
    asks = Asks([[100.0 + 0.01 * i, a] for i, (a, _) in enumerate(levels) if a])
    counted = CountedBids([[100.0 - 0.01 * i, a, c] for i, (a, c) in enumerate(levels) if a])
    for side in (bids, asks, counted):
        assert same(normalize._walls(side, 0.01), ref.walls(side, 0.01))
