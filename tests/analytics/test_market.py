"""Market overview helpers: breadth, average change, dominance, movers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from virtuoso_daemon.analytics.market import (
    average_change,
    breadth,
    movers,
    pct_changes,
    volume_dominance,
)


def test_pct_changes_skip_missing_prices() -> None:
    np.testing.assert_allclose(
        pct_changes([100.0, 0.0, np.nan], [110.0, 5.0, 1.0]), [0.1, np.nan, np.nan]
    )


def test_breadth_counts_advancers_decliners_and_unchanged_ignoring_nan() -> None:
    b = breadth([0.02, -0.01, 0.0, 0.05, math.nan])
    assert (b.advancers, b.decliners, b.unchanged, b.total) == (2, 1, 1, 4)
    assert b.advancers_fraction == pytest.approx(0.5)
    assert breadth([math.nan]).advancers_fraction is None


def test_average_change_plain_and_volume_weighted() -> None:
    assert average_change([0.02, -0.01, math.nan]) == pytest.approx(0.005)
    assert average_change([0.02, -0.01], [3.0, 1.0]) == pytest.approx(0.0125)
    assert average_change([]) is None


def test_volume_dominance_is_the_share_of_total_quote_volume() -> None:
    assert volume_dominance([600.0, 300.0, 100.0, math.nan], 0) == pytest.approx(0.6)
    assert volume_dominance([math.nan, 1.0], 0) is None


def test_movers_rank_gainers_losers_and_volume() -> None:
    symbols = ["A", "B", "C", "D", "E"]
    m = movers(symbols, [0.05, -0.03, 0.10, math.nan, -0.08], [10.0, 50.0, 5.0, 99.0, 1.0], n=2)
    assert [x.symbol for x in m.gainers] == ["C", "A"]
    assert [x.symbol for x in m.losers] == ["E", "B"]
    assert [x.symbol for x in m.volume] == ["D", "B"]
    assert m.volume[0].change is None


def test_gainers_only_rose_and_losers_only_fell() -> None:
    m = movers(["A", "B"], [0.01, 0.02], n=5)
    assert [x.symbol for x in m.gainers] == ["B", "A"]
    assert m.losers == ()
