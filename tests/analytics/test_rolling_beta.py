"""Rolling beta: the vectorised series equals a per-window loop, NaN rules included."""

from __future__ import annotations

import numpy as np
import pytest

from tests.analytics.support import market, pairs
from virtuoso_daemon.analytics.beta import rolling_beta


def reference(y: np.ndarray, x: np.ndarray, window: int, min_obs: int) -> np.ndarray:
    """(rows, cols, 4): beta, alpha, correlation, count -- one polyfit per window."""
    out = np.full((*y.shape, 4), np.nan)
    for t in range(window - 1, y.shape[0]):
        for j in range(y.shape[1]):
            xs, ys = pairs(x[t - window + 1 : t + 1], y[t - window + 1 : t + 1, j])
            out[t, j, 3] = xs.size
            if xs.size >= min_obs:
                out[t, j, 0], out[t, j, 1] = np.polyfit(xs, ys, 1)
                out[t, j, 2] = np.corrcoef(xs, ys)[0, 1]
    return out


@pytest.mark.parametrize(("window", "min_obs"), [(30, 20), (60, 45), (7, 3)])
def test_rolling_beta_equals_the_per_window_loop_with_gaps(window: int, min_obs: int) -> None:
    y, x = market(seed=window, rows=180, cols=5, gaps=0.15, benchmark_gaps=0.1)
    y[40:90, 2] = np.nan  # a long outage: those windows must come out NaN
    got = rolling_beta(y, x, window, min_obs=min_obs)
    want = reference(y, x, window, min_obs)
    np.testing.assert_allclose(got.beta, want[..., 0], rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(got.alpha, want[..., 1], rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(got.correlation, want[..., 2], rtol=1e-9, atol=1e-9)
    np.testing.assert_array_equal(got.n_obs, np.nan_to_num(want[..., 3]).astype(int))


def test_rows_before_the_first_full_window_are_nan() -> None:
    y, x = market(seed=1, rows=50, cols=2, gaps=0.0, benchmark_gaps=0.0)
    got = rolling_beta(y, x, 30, min_obs=10)
    assert np.isnan(got.beta[:29]).all()
    assert np.isfinite(got.beta[29:]).all()
    assert (got.n_obs[:29] == 0).all()


def test_windows_with_fewer_than_min_obs_pairs_are_nan() -> None:
    y, x = market(seed=2, rows=100, cols=1, gaps=0.0, benchmark_gaps=0.0)
    y[50:, 0] = np.nan
    got = rolling_beta(y[:, 0], x, 20, min_obs=15)
    assert got.beta.shape == (100,)
    assert np.isfinite(got.beta[19:55]).all()  # windows ending at 54 still hold 15 pairs
    assert np.isnan(got.beta[55:]).all()


def test_a_window_longer_than_the_series_is_all_nan() -> None:
    y, x = market(seed=3, rows=20, cols=2)
    assert np.isnan(rolling_beta(y, x, 30, min_obs=5).beta).all()
