"""Correlation matrices of many symbols, and a clustering order to display them.

Matrix
    :func:`correlation_matrix` correlates every pair of columns of a returns matrix
    over the rows where *both* are finite (pairwise-complete), with the same
    gap rule and ddof convention as :mod:`.beta` (the divisor cancels in a
    correlation). A pair with fewer than ``min_obs`` common observations, or where
    either series is flat on the common rows, is NaN. The result is exactly
    symmetric, has 1.0 on the diagonal for every column with enough data (NaN for
    the rest) and is clipped to [-1, 1]. With no missing data it equals
    ``numpy.corrcoef``. All pairs come from four matrix products, no loops.

Clustering order
    :func:`cluster_order` orders symbols so related ones sit together: agglomerative
    clustering with *average linkage* (UPGMA) on the distance ``1 - correlation``,
    then the leaves of the tree read left to right. A NaN correlation counts as 0
    (distance 1, "unrelated"). When two clusters merge, the one holding the lower
    original column index goes first, so the order is deterministic.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from virtuoso_daemon.analytics._types import FloatArray, IntArray
from virtuoso_daemon.analytics.returns import DEFAULT_MIN_OBS, ReturnsMatrix

_REL_EPS = 1e-10


@dataclass(frozen=True, slots=True, eq=False)
class CorrelationResult:
    """A correlation matrix with its symbols, pair counts and clustering order.

    ``matrix[i, j]`` correlates ``symbols[i]`` with ``symbols[j]``; ``n_obs[i, j]``
    is the number of rows both had; ``order`` is a permutation of the columns
    (identity when clustering was not asked for).
    """

    symbols: tuple[str, ...]
    timeframe: str
    min_obs: int
    matrix: FloatArray
    n_obs: IntArray
    order: IntArray

    def ordered(self) -> tuple[tuple[str, ...], FloatArray]:
        """Symbols and matrix permuted into ``order``."""
        idx = self.order
        return tuple(self.symbols[i] for i in idx), self.matrix[np.ix_(idx, idx)]


def correlation_matrix(
    returns: FloatArray, *, min_obs: int = DEFAULT_MIN_OBS
) -> tuple[FloatArray, IntArray]:
    """Pairwise-complete correlation of the columns of ``returns`` ``(T, N)``.

    Returns ``(matrix, counts)``, both ``(N, N)``; see the module docstring.
    """
    y = np.asarray(returns, dtype=np.float64)
    if y.ndim != 2:
        raise ValueError("returns must be 2-D (T, N)")
    if min_obs < 2:
        raise ValueError("min_obs must be at least 2")
    valid = np.isfinite(y)
    mf = valid.astype(np.float64)
    cnt = mf.sum(axis=0)
    mean = np.where(valid, y, 0.0).sum(axis=0) / np.maximum(cnt, 1.0)
    z = np.where(valid, y - mean, 0.0)  # centred, so raw sums stay well scaled

    n = mf.T @ mf
    p = z.T @ z
    if valid.all():
        s1 = np.broadcast_to(z.sum(axis=0)[:, None], p.shape)
        s2 = np.broadcast_to((z * z).sum(axis=0)[:, None], p.shape)
    else:
        s1 = z.T @ mf  # s1[i, j]: sum of column i over rows where j is valid too
        s2 = (z * z).T @ mf
    safe_n = np.maximum(n, 1.0)
    cov = p - s1 * s1.T / safe_n
    var_i = s2 - s1 * s1 / safe_n
    var_i = np.where(var_i > _REL_EPS * s2, var_i, 0.0)
    var_j = var_i.T
    ok = (n >= min_obs) & (var_i > 0) & (var_j > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        corr = np.where(ok, cov / np.sqrt(var_i * var_j), np.nan)
    corr = np.clip(corr, -1.0, 1.0)
    upper = np.triu(corr)
    corr = upper + np.triu(corr, 1).T
    diag = np.diagonal(ok).copy()
    np.fill_diagonal(corr, np.where(diag, 1.0, np.nan))
    counts = np.rint(n).astype(np.int64)
    return corr, counts


def average_linkage(distance: FloatArray) -> FloatArray:
    """Average-linkage (UPGMA) clustering of a symmetric distance matrix.

    Returns an ``(N - 1, 4)`` linkage matrix in the ``scipy.cluster.hierarchy``
    format: ``[cluster_a, cluster_b, height, size]``, with new clusters numbered
    ``N, N + 1, ...`` in merge order and ``cluster_a < cluster_b``.
    """
    d = np.array(distance, dtype=np.float64)
    size = d.shape[0]
    if d.shape != (size, size):
        raise ValueError("distance must be a square matrix")
    if size < 2:
        return np.empty((0, 4))
    d = np.where(np.isfinite(d), d, np.inf)
    np.fill_diagonal(d, np.inf)
    ids = np.arange(size)
    counts = np.ones(size)
    out = np.empty((size - 1, 4))
    for step in range(size - 1):
        flat = int(np.argmin(d))
        i, j = divmod(flat, size)
        if i > j:
            i, j = j, i
        height = d[i, j]
        merged = (counts[i] * d[i] + counts[j] * d[j]) / (counts[i] + counts[j])
        a, b = sorted((int(ids[i]), int(ids[j])))
        out[step] = (a, b, height, counts[i] + counts[j])
        d[i, :] = merged
        d[:, i] = merged
        d[i, i] = np.inf
        d[j, :] = np.inf
        d[:, j] = np.inf
        counts[i] += counts[j]
        ids[i] = size + step
    return out


def leaf_order(linkage: FloatArray, size: int) -> IntArray:
    """Leaves of a linkage matrix read left to right.

    At each merge the cluster holding the lowest original column index goes first.
    """
    if size == 0:
        return np.empty(0, dtype=np.int64)
    members: dict[int, list[int]] = {i: [i] for i in range(size)}
    for step, row in enumerate(linkage):
        first, second = members.pop(int(row[0])), members.pop(int(row[1]))
        if min(second) < min(first):
            first, second = second, first
        members[size + step] = first + second
    order = [leaf for cluster in members.values() for leaf in cluster]
    return np.asarray(order, dtype=np.int64)


def cluster_order(corr: FloatArray) -> IntArray:
    """A permutation of the columns that puts correlated symbols next to each other."""
    c = np.asarray(corr, dtype=np.float64)
    dist = 1.0 - np.where(np.isfinite(c), c, 0.0)
    dist = np.clip(dist, 0.0, 2.0)
    np.fill_diagonal(dist, 0.0)
    return leaf_order(average_linkage(dist), c.shape[0])


def correlation_snapshot(
    matrix: ReturnsMatrix,
    symbols: Sequence[str] | None = None,
    *,
    window: int | None = None,
    min_obs: int = DEFAULT_MIN_OBS,
    cluster: bool = True,
) -> CorrelationResult:
    """Correlation of ``symbols`` (default: all) over the last ``window`` rows.

    ``order`` is the clustering order when ``cluster`` is true, else the identity.
    """
    m = matrix if symbols is None else matrix.select(symbols)
    if window is not None:
        m = m.tail(window)
    corr, counts = correlation_matrix(m.returns, min_obs=min_obs)
    order = cluster_order(corr) if cluster else np.arange(len(m.symbols), dtype=np.int64)
    return CorrelationResult(
        symbols=m.symbols,
        timeframe=m.timeframe,
        min_obs=min_obs,
        matrix=corr,
        n_obs=counts,
        order=order,
    )


__all__ = [
    "CorrelationResult",
    "average_linkage",
    "cluster_order",
    "correlation_matrix",
    "correlation_snapshot",
    "leaf_order",
]
