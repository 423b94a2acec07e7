"""Properties every beta must have, whatever the data (hypothesis)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from virtuoso_daemon.analytics.beta import beta_windows
from virtuoso_daemon.analytics.returns import log_returns

PROPS = settings(max_examples=60, deadline=None, database=None)


@st.composite
def benchmark_returns(draw: st.DrawFn, min_rows: int = 40) -> np.ndarray:
    """A benchmark return series with a random share of gaps, at least 35 valid."""
    rows = draw(st.integers(min_rows, 300))
    seed = draw(st.integers(0, 2**32 - 1))
    scale = draw(st.sampled_from([1e-4, 1e-3, 1e-2, 0.1]))
    drift = draw(st.floats(-2.0, 2.0)) * scale
    gaps = draw(st.floats(0.0, 0.5))
    rng = np.random.default_rng(seed)
    x = rng.normal(drift, scale, rows)
    x[rng.random(rows) < gaps] = np.nan
    keep = rng.choice(rows, 35, replace=False)  # enough valid pairs to have a beta
    x[keep] = rng.normal(drift, scale, 35)
    return x


@PROPS
@given(benchmark_returns())
def test_the_benchmark_against_itself_has_beta_one_and_correlation_one(x: np.ndarray) -> None:
    (t,) = beta_windows(x[:, None], x, timeframe="1h", min_obs=30)
    np.testing.assert_allclose(t.beta, 1.0, rtol=0, atol=1e-10)
    np.testing.assert_allclose(t.correlation, 1.0, rtol=0, atol=1e-10)
    np.testing.assert_allclose(t.r_squared, 1.0, rtol=0, atol=1e-10)


@PROPS
@given(
    benchmark_returns(),
    st.integers(0, 2**32 - 1),
    st.floats(1e-6, 1e6),
    st.floats(1e-3, 1e5),
)
def test_beta_does_not_change_when_prices_are_scaled(
    x: np.ndarray, seed: int, scale: float, base: float
) -> None:
    rng = np.random.default_rng(seed)
    y = 1.3 * np.nan_to_num(x) + rng.normal(0, 0.01, x.size)
    closes = base * np.exp(np.cumsum(np.column_stack([np.nan_to_num(x), y]), axis=0))
    closes[np.isnan(x), 0] = np.nan  # the benchmark's gaps are missing candles
    r1, r2 = log_returns(closes), log_returns(closes * scale)
    (t1,) = beta_windows(r1, r1[:, 0], timeframe="1h", min_obs=10)
    (t2,) = beta_windows(r2, r2[:, 0], timeframe="1h", min_obs=10)
    np.testing.assert_array_equal(t1.n_obs, t2.n_obs)
    np.testing.assert_allclose(t2.beta, t1.beta, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(t2.correlation, t1.correlation, rtol=1e-9, atol=1e-12)


@PROPS
@given(
    benchmark_returns(),
    st.one_of(st.just(0.0), st.floats(1e-3, 10.0), st.floats(-10.0, -1e-3)),
)
def test_a_symbol_made_of_k_times_the_benchmark_returns_has_beta_k(x: np.ndarray, k: float) -> None:
    (t,) = beta_windows((k * x)[:, None], x, timeframe="1h", min_obs=30, min_down_obs=3)
    np.testing.assert_allclose(t.beta[0], k, rtol=1e-9, atol=1e-12)
    if t.n_down[0] >= 3:
        np.testing.assert_allclose(t.downside_beta[0], k, rtol=1e-9, atol=1e-12)
    else:
        assert np.isnan(t.downside_beta[0])
    if k != 0.0:
        np.testing.assert_allclose(t.correlation[0], np.sign(k), atol=1e-10)


@PROPS
@given(
    st.integers(0, 2**32 - 1),
    st.integers(3, 60),
    st.data(),
)
def test_beta_with_too_few_observations_is_nan_never_one(
    seed: int, min_obs: int, data: st.DataObject
) -> None:
    valid = data.draw(st.integers(0, min_obs - 1), label="valid")
    rows = data.draw(st.integers(max(valid, 2), 200), label="rows")
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 0.02, rows)
    x[rng.permutation(rows)[valid:]] = np.nan
    y = np.column_stack([x, 2.0 * x + rng.normal(0, 0.01, rows)])
    (t,) = beta_windows(y, x, timeframe="1h", min_obs=min_obs)
    np.testing.assert_array_equal(t.n_obs, [valid, valid])
    assert np.isnan(t.beta).all()  # not even the benchmark itself gets 1.0
    assert np.isnan(t.correlation).all()
    assert np.isnan(t.volatility).all()
    assert all(row.beta is None for row in t.rows())
