"""Correlation matrix (pairwise-complete) and the clustering order."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.cluster.hierarchy import linkage
from scipy.spatial.distance import squareform

from tests.analytics.support import market, pairs
from virtuoso_daemon.analytics.correlation import (
    average_linkage,
    cluster_order,
    correlation_matrix,
    correlation_snapshot,
)
from virtuoso_daemon.analytics.returns import ReturnsMatrix


def test_matrix_is_exactly_symmetric_with_unit_diagonal() -> None:
    y, _ = market(seed=1, rows=300, cols=20)
    corr, counts = correlation_matrix(y, min_obs=30)
    np.testing.assert_array_equal(corr, corr.T)
    np.testing.assert_array_equal(counts, counts.T)
    np.testing.assert_array_equal(np.diagonal(corr), 1.0)
    assert np.nanmax(np.abs(corr)) <= 1.0


def test_matches_numpy_corrcoef_on_complete_data() -> None:
    y, _ = market(seed=2, rows=300, cols=20, gaps=0.0, benchmark_gaps=0.0)
    corr, counts = correlation_matrix(y)
    np.testing.assert_allclose(corr, np.corrcoef(y, rowvar=False), rtol=1e-12, atol=1e-12)
    assert (counts == 300).all()


def test_each_pair_uses_the_rows_where_both_symbols_have_a_return() -> None:
    y, _ = market(seed=3, rows=200, cols=8, gaps=0.25, benchmark_gaps=0.25)
    corr, counts = correlation_matrix(y, min_obs=30)
    for i in range(8):
        for j in range(i + 1, 8):
            a, b = pairs(y[:, i], y[:, j])
            assert counts[i, j] == a.size
            np.testing.assert_allclose(corr[i, j], np.corrcoef(a, b)[0, 1], rtol=1e-9, atol=1e-9)


def test_pairs_with_too_few_common_rows_are_nan() -> None:
    y, _ = market(seed=4, rows=100, cols=3, gaps=0.0, benchmark_gaps=0.0)
    y[:80, 2] = np.nan  # 20 rows left
    corr, _ = correlation_matrix(y, min_obs=30)
    assert np.isnan(corr[2]).all() and np.isnan(corr[:, 2]).all()
    assert corr[0, 1] == pytest.approx(np.corrcoef(y[:, 0], y[:, 1])[0, 1])


def test_a_flat_series_has_no_correlation() -> None:
    y, _ = market(seed=5, rows=60, cols=3, gaps=0.0, benchmark_gaps=0.0)
    y[:, 1] = 0.002
    corr, _ = correlation_matrix(y)
    assert np.isnan(corr[1]).all()


def test_average_linkage_merges_at_the_same_heights_as_scipy() -> None:
    y, _ = market(seed=6, rows=200, cols=25, gaps=0.0, benchmark_gaps=0.0)
    dist = 1.0 - np.asarray(np.corrcoef(y, rowvar=False))
    np.fill_diagonal(dist, 0.0)
    ours = average_linkage(dist)
    ref = linkage(squareform(dist, checks=False), method="average")
    np.testing.assert_allclose(np.sort(ours[:, 2]), np.sort(ref[:, 2]), rtol=1e-12)
    assert ours[-1, 3] == 25


def test_clustering_order_puts_two_blocks_of_correlated_assets_together() -> None:
    rng = np.random.default_rng(7)
    rows, per_block = 300, 6
    f1, f2 = rng.normal(0, 0.02, rows), rng.normal(0, 0.02, rows)
    block_a = f1[:, None] + rng.normal(0, 0.01, (rows, per_block))
    block_b = f2[:, None] + rng.normal(0, 0.01, (rows, per_block))
    y = np.empty((rows, 2 * per_block))
    y[:, 0::2], y[:, 1::2] = block_a, block_b  # interleaved: A B A B ...
    corr, _ = correlation_matrix(y)
    order = cluster_order(corr)
    assert sorted(order.tolist()) == list(range(2 * per_block))
    in_a = (order % 2 == 0).astype(int)
    assert np.count_nonzero(np.diff(in_a)) == 1  # one boundary: AAAAAA BBBBBB
    assert order[0] == 0  # deterministic: the block holding column 0 comes first


def test_snapshot_selects_symbols_and_window_and_orders_them() -> None:
    y, _ = market(seed=8, rows=200, cols=4, gaps=0.0, benchmark_gaps=0.0)
    names = ("BTC", "ETH", "SOL", "XRP")
    matrix = ReturnsMatrix(names, "1h", np.arange(200, dtype=np.int64), y)
    snap = correlation_snapshot(matrix, ["SOL", "BTC"], window=100)
    assert snap.symbols == ("SOL", "BTC")
    expected = np.corrcoef(y[-100:, 2], y[-100:, 0])[0, 1]
    assert snap.matrix[0, 1] == pytest.approx(expected, rel=1e-12)
    symbols, ordered = snap.ordered()
    assert set(symbols) == {"SOL", "BTC"} and ordered.shape == (2, 2)
    plain = correlation_snapshot(matrix, cluster=False)
    np.testing.assert_array_equal(plain.order, np.arange(4))


def test_single_and_empty_symbol_sets() -> None:
    assert cluster_order(np.ones((1, 1))).tolist() == [0]
    assert cluster_order(np.empty((0, 0))).tolist() == []
