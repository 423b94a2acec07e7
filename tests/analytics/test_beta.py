"""Beta table: every statistic against a textbook per-symbol reference."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from tests.analytics.support import market, pairs
from virtuoso_daemon.analytics._types import FloatArray
from virtuoso_daemon.analytics.beta import beta_windows, compute_beta, compute_betas
from virtuoso_daemon.analytics.returns import ReturnsMatrix

RTOL = ATOL = 1e-9
Data = tuple[FloatArray, FloatArray]
WINDOWS = [60, 150, 400]


@pytest.fixture(scope="module")
def data() -> Data:
    return market(seed=11, rows=400, cols=15)


def test_beta_alpha_correlation_r_squared_match_polyfit_and_corrcoef(data: Data) -> None:
    y, x = data
    tables = beta_windows(y, x, WINDOWS, timeframe="1h", min_obs=20)
    for table, w in zip(tables, WINDOWS, strict=True):
        assert table.window == w
        for j in range(y.shape[1]):
            xs, ys = pairs(x[-w:], y[-w:, j])
            slope, intercept = np.polyfit(xs, ys, 1)
            r = np.corrcoef(xs, ys)[0, 1]
            assert table.n_obs[j] == xs.size
            np.testing.assert_allclose(table.beta[j], slope, rtol=RTOL, atol=ATOL)
            np.testing.assert_allclose(table.alpha[j], intercept, rtol=RTOL, atol=ATOL)
            np.testing.assert_allclose(table.correlation[j], r, rtol=RTOL, atol=ATOL)
            np.testing.assert_allclose(table.r_squared[j], r * r, rtol=RTOL, atol=ATOL)


def test_standard_error_of_beta_matches_scipy_linregress(data: Data) -> None:
    y, x = data
    (table,) = beta_windows(y, x, timeframe="1h")
    for j in range(1, y.shape[1]):  # column 0 is the benchmark: a perfect fit
        fit = stats.linregress(*pairs(x, y[:, j]))
        np.testing.assert_allclose(table.beta_se[j], fit.stderr, rtol=RTOL, atol=ATOL)
        np.testing.assert_allclose(table.beta[j], fit.slope, rtol=RTOL, atol=ATOL)


def test_the_benchmark_fits_itself_perfectly_with_zero_standard_error(data: Data) -> None:
    y, x = data
    (table,) = beta_windows(y, x, timeframe="1h")
    assert table.beta[0] == pytest.approx(1.0, abs=1e-12)
    assert table.correlation[0] == pytest.approx(1.0, abs=1e-12)
    # SSR of a perfect fit is rounding noise (~1e-16 of Syy); the square root lifts it
    # to ~1e-9, as it does in scipy.stats.linregress.
    assert table.beta_se[0] == pytest.approx(0.0, abs=1e-7)


@pytest.mark.parametrize(
    ("timeframe", "per_year"), [("1m", 525_600), ("1h", 8_760), ("4h", 2_190), ("1d", 365)]
)
def test_volatility_is_std_ddof1_times_sqrt_periods_per_year_of_the_timeframe(
    data: Data, timeframe: str, per_year: int
) -> None:
    y, x = data
    (table,) = beta_windows(y, x, timeframe=timeframe)
    assert table.periods_per_year == per_year
    for j in range(y.shape[1]):
        xs, ys = pairs(x, y[:, j])
        np.testing.assert_allclose(
            table.volatility[j], np.std(ys, ddof=1) * math.sqrt(per_year), rtol=RTOL, atol=ATOL
        )
        expected = np.std(xs, ddof=1) * math.sqrt(per_year)
        np.testing.assert_allclose(table.benchmark_volatility[j], expected, rtol=RTOL, atol=ATOL)


def test_alpha_is_annualised_by_the_periods_per_year_of_the_timeframe(data: Data) -> None:
    y, x = data
    (hourly,) = beta_windows(y, x, timeframe="1h")
    (daily,) = beta_windows(y, x, timeframe="1d")
    np.testing.assert_allclose(hourly.alpha_annual, hourly.alpha * 8760, rtol=1e-15)
    np.testing.assert_allclose(daily.alpha_annual, daily.alpha * 365, rtol=1e-15)
    np.testing.assert_array_equal(hourly.beta, daily.beta)


def test_downside_beta_is_the_slope_over_periods_where_the_benchmark_fell(data: Data) -> None:
    y, x = data
    (table,) = beta_windows(y, x, timeframe="1h", min_obs=20)
    for j in range(y.shape[1]):
        xs, ys = pairs(x, y[:, j])
        down = xs < 0
        slope, _ = np.polyfit(xs[down], ys[down], 1)
        assert table.n_down[j] == down.sum()
        np.testing.assert_allclose(table.downside_beta[j], slope, rtol=RTOL, atol=ATOL)


def test_downside_beta_needs_its_own_minimum_of_down_periods() -> None:
    y, x = market(seed=3, rows=80, cols=3, gaps=0.0, benchmark_gaps=0.0)
    (table,) = beta_windows(y, x, timeframe="1h", min_obs=30, min_down_obs=60)
    assert np.all(np.isfinite(table.beta))
    assert np.all(np.isnan(table.downside_beta))


def test_beta_equals_correlation_times_volatility_ratio(data: Data) -> None:
    y, x = data
    (t,) = beta_windows(y, x, timeframe="4h")
    np.testing.assert_allclose(
        t.beta, t.correlation * t.volatility / t.benchmark_volatility, rtol=1e-10
    )


def test_insufficient_observations_give_nan_for_every_statistic_never_one() -> None:
    y, x = market(seed=5, rows=100, cols=2, gaps=0.0, benchmark_gaps=0.0)
    y[:75, 1] = np.nan  # 25 valid pairs left
    (t,) = beta_windows(y, x, timeframe="1h", min_obs=30)
    assert t.n_obs[1] == 25
    assert not t.sufficient[1]
    for name in (
        "beta",
        "alpha",
        "alpha_annual",
        "correlation",
        "r_squared",
        "beta_se",
        "volatility",
        "downside_beta",
    ):
        assert np.isnan(getattr(t, name)[1]), name
    row = t.row("1")
    assert row.beta is None and row.n_obs == 25


def test_a_window_longer_than_the_data_counts_the_missing_rows_as_missing() -> None:
    y, x = market(seed=8, rows=100, cols=3)
    (long,) = beta_windows(y, x, [2160], timeframe="1h", min_obs=30)
    (whole,) = beta_windows(y, x, timeframe="1h", min_obs=30)
    assert long.window == 2160
    np.testing.assert_array_equal(long.n_obs, whole.n_obs)
    np.testing.assert_allclose(long.beta, whole.beta, rtol=1e-12)


def test_a_flat_benchmark_has_no_beta() -> None:
    x = np.zeros(50)
    y = np.random.default_rng(0).normal(0, 0.01, (50, 2))
    (t,) = beta_windows(y, x, timeframe="1h")
    assert np.all(np.isnan(t.beta))
    assert np.all(np.isfinite(t.volatility))


def test_a_flat_symbol_has_beta_zero_and_no_correlation() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(0, 0.01, 50)
    y = np.column_stack([x, np.full(50, 0.001)])
    (t,) = beta_windows(y, x, timeframe="1h")
    assert t.beta[1] == pytest.approx(0.0, abs=1e-12)
    assert np.isnan(t.correlation[1])
    assert t.volatility[1] == 0.0


def test_compute_betas_takes_the_benchmark_column_by_name(data: Data) -> None:
    y, _ = data
    names = tuple(f"S{j}" for j in range(y.shape[1]))
    matrix = ReturnsMatrix(names, "1h", np.arange(y.shape[0], dtype=np.int64), y)
    tables = compute_betas(matrix, [60, 400], benchmark="S0", min_obs=20)
    assert [t.window for t in tables] == [60, 400]
    assert tables[0].benchmark == "S0" and tables[0].symbols == names
    single = compute_beta(matrix, 60, benchmark="S0", min_obs=20)
    np.testing.assert_allclose(single.beta, tables[0].beta, rtol=1e-12)


def test_rows_turn_nan_into_none_for_the_wire() -> None:
    y, x = market(seed=2, rows=60, cols=2)
    y[:, 1] = np.nan
    (t,) = beta_windows(y, x, symbols=["BTC/USDT", "DEAD/USDT"], timeframe="1h")
    btc, dead = t.rows()
    assert btc.symbol == "BTC/USDT" and btc.beta == pytest.approx(1.0)
    assert dead.beta is None and dead.volatility is None and dead.n_obs == 0


def test_min_obs_below_three_is_rejected() -> None:
    with pytest.raises(ValueError, match="min_obs"):
        beta_windows(np.zeros((10, 1)), np.zeros(10), timeframe="1h", min_obs=2)


def test_windows_can_be_given_as_durations_of_the_matrix_timeframe() -> None:
    y, _ = market(seed=9, rows=800, cols=3)
    names = ("BTC/USDT", "ETH/USDT", "SOL/USDT")
    matrix = ReturnsMatrix(names, "1h", np.arange(800, dtype=np.int64), y)
    week, month = compute_betas(matrix, ["7d", "30d"])
    assert (week.window, week.label) == (168, "7d")
    assert (month.window, month.label) == (720, "30d")
    (by_count,) = compute_betas(matrix, [168])
    np.testing.assert_allclose(by_count.beta, week.beta, rtol=1e-12)
