"""Aligning many symbols on one grid, log returns, the gap rule and minimum observations."""

from __future__ import annotations

import math

import numpy as np
import pytest

from virtuoso_daemon.analytics.returns import (
    align_closes,
    annualised_volatility,
    log_returns,
    observation_counts,
    sufficient,
)

H = 3_600_000  # one hour in ms
T0 = 1_700_000_000_000 - 1_700_000_000_000 % H


def test_symbols_of_unequal_length_share_one_grid_with_nan_for_missing_candles() -> None:
    aligned = align_closes(
        {
            "BTC/USDT": ([T0, T0 + H, T0 + 2 * H, T0 + 3 * H], [10.0, 11.0, 12.0, 13.0]),
            "ETH/USDT": ([T0 + H, T0 + 3 * H], [1.0, 3.0]),
        },
        "1h",
    )
    assert aligned.symbols == ("BTC/USDT", "ETH/USDT")
    np.testing.assert_array_equal(aligned.open_times, T0 + H * np.arange(4))
    np.testing.assert_array_equal(
        aligned.closes, [[10.0, np.nan], [11.0, 1.0], [12.0, np.nan], [13.0, 3.0]]
    )


def test_a_candle_missing_for_every_symbol_stays_a_nan_row_on_the_grid() -> None:
    aligned = align_closes({"A": ([T0, T0 + 2 * H], [1.0, 2.0])}, "1h")
    np.testing.assert_array_equal(aligned.open_times, [T0, T0 + H, T0 + 2 * H])
    assert math.isnan(aligned.closes[1, 0])


def test_unsorted_input_is_placed_by_open_time() -> None:
    aligned = align_closes({"A": ([T0 + 2 * H, T0, T0 + H], [3.0, 1.0, 2.0])}, "1h")
    np.testing.assert_array_equal(aligned.closes[:, 0], [1.0, 2.0, 3.0])


def test_a_duplicated_open_time_keeps_the_last_close() -> None:
    aligned = align_closes({"A": ([T0, T0 + H, T0 + H], [1.0, 2.0, 2.5])}, "1h")
    np.testing.assert_array_equal(aligned.closes[:, 0], [1.0, 2.5])


def test_an_open_time_off_the_timeframe_grid_is_an_error() -> None:
    with pytest.raises(ValueError, match="not on the 1h grid"):
        align_closes({"A": ([T0, T0 + H + 60_000], [1.0, 2.0])}, "1h")


def test_end_ms_leaves_out_the_candle_still_forming() -> None:
    aligned = align_closes({"A": ([T0, T0 + H, T0 + 2 * H], [1.0, 2.0, 3.0])}, "1h", end_ms=T0 + H)
    np.testing.assert_array_equal(aligned.open_times, [T0, T0 + H])


def test_length_keeps_exactly_that_many_rows_ending_at_the_latest_candle() -> None:
    aligned = align_closes({"A": (T0 + H * np.arange(10), np.arange(1.0, 11.0))}, "1h", length=3)
    np.testing.assert_array_equal(aligned.closes[:, 0], [8.0, 9.0, 10.0])
    aligned = align_closes({"A": ([T0 + 9 * H], [10.0])}, "1h", length=3)
    np.testing.assert_array_equal(aligned.closes[:, 0], [np.nan, np.nan, 10.0])


def test_start_ms_drops_older_candles() -> None:
    aligned = align_closes(
        {"A": (T0 + H * np.arange(5), np.arange(1.0, 6.0))}, "1h", start_ms=T0 + 3 * H
    )
    np.testing.assert_array_equal(aligned.closes[:, 0], [4.0, 5.0])


def test_no_data_gives_an_empty_grid() -> None:
    aligned = align_closes({"A": ([], [])}, "1h")
    assert aligned.closes.shape == (0, 1)


def test_non_positive_and_non_finite_closes_count_as_missing() -> None:
    aligned = align_closes({"A": (T0 + H * np.arange(4), [1.0, 0.0, -2.0, np.inf])}, "1h")
    np.testing.assert_array_equal(aligned.closes[:, 0], [1.0, np.nan, np.nan, np.nan])


def test_log_return_is_log_of_the_close_ratio() -> None:
    r = log_returns(np.array([100.0, 110.0, 99.0]))
    np.testing.assert_allclose(r, [math.log(1.1), math.log(0.9)], rtol=1e-15)


def test_a_return_across_a_gap_is_nan_not_a_multi_period_move() -> None:
    closes = np.array([[100.0], [np.nan], [120.0], [132.0]])
    r = log_returns(closes)
    assert np.isnan(r[0, 0]) and np.isnan(r[1, 0])
    assert r[2, 0] == pytest.approx(math.log(1.1))


def test_returns_are_stamped_with_the_open_time_of_the_later_candle() -> None:
    aligned = align_closes({"A": (T0 + H * np.arange(3), [1.0, 2.0, 4.0])}, "1h")
    matrix = aligned.log_returns()
    np.testing.assert_array_equal(matrix.times, [T0 + H, T0 + 2 * H])
    np.testing.assert_allclose(matrix.column("A"), [math.log(2.0)] * 2)


def test_fewer_than_two_closes_give_no_returns() -> None:
    assert log_returns(np.array([[1.0, 2.0]])).shape == (0, 2)


def test_minimum_observations_marks_short_columns_insufficient() -> None:
    r = np.full((40, 2), 0.01)
    r[:15, 1] = np.nan
    np.testing.assert_array_equal(observation_counts(r), [40, 25])
    np.testing.assert_array_equal(sufficient(r, 30), [True, False])


@pytest.mark.parametrize(("timeframe", "per_year"), [("1h", 8760), ("4h", 2190), ("1d", 365)])
def test_annualised_volatility_scales_std_by_sqrt_of_periods_per_year(
    timeframe: str, per_year: int
) -> None:
    rng = np.random.default_rng(7)
    r = rng.normal(0, 0.01, (200, 3))
    r[rng.random((200, 3)) < 0.2] = np.nan
    expected = [np.std(c[np.isfinite(c)], ddof=1) * math.sqrt(per_year) for c in r.T]
    np.testing.assert_allclose(annualised_volatility(r, timeframe), expected, rtol=1e-12)


def test_annualised_volatility_is_nan_below_minimum_observations() -> None:
    r = np.full((10, 1), 0.01)
    assert np.isnan(annualised_volatility(r, "1h", min_obs=30)[0])


def test_select_and_tail_pick_columns_and_last_rows() -> None:
    aligned = align_closes(
        {
            "A": (T0 + H * np.arange(5), np.arange(1.0, 6.0)),
            "B": (T0 + H * np.arange(5), np.arange(2.0, 7.0)),
        },
        "1h",
    )
    m = aligned.log_returns().select(["B"]).tail(2)
    assert m.symbols == ("B",)
    np.testing.assert_allclose(m.returns[:, 0], np.log([5.0 / 4.0, 6.0 / 5.0]))
    with pytest.raises(KeyError):
        m.column("A")


def test_log_returns_treat_non_positive_and_infinite_closes_as_missing() -> None:
    closes = np.array([[1.0, 1.0], [0.0, -1.0], [2.0, -2.0], [np.inf, 4.0], [4.0, 8.0]])
    r = log_returns(closes)
    np.testing.assert_array_equal(np.isnan(r), [[1, 1], [1, 1], [1, 1], [1, 0]])
    assert r[3, 1] == pytest.approx(math.log(2.0))
