"""Shared test data and slow-but-obvious reference implementations."""

from __future__ import annotations

import numpy as np

from virtuoso_daemon.analytics._types import FloatArray


def market(
    seed: int,
    rows: int = 400,
    cols: int = 12,
    *,
    gaps: float = 0.1,
    benchmark_gaps: float = 0.05,
) -> tuple[FloatArray, FloatArray]:
    """Random returns ``(rows, cols)`` with gaps; column 0 is the benchmark itself.

    Returns ``(matrix, benchmark)`` where ``benchmark is matrix[:, 0]`` in value.
    Symbols load on the benchmark with betas in [-0.5, 2.5] plus idiosyncratic noise
    and a drift, so alpha is not zero.
    """
    rng = np.random.default_rng(seed)
    x = rng.normal(0.0005, 0.02, rows)
    betas = rng.uniform(-0.5, 2.5, cols)
    drift = rng.normal(0.0, 0.002, cols)
    y = (
        drift
        + x[:, None] * betas
        + rng.normal(0.0, 0.015, (rows, cols)) * rng.uniform(0.2, 2.0, cols)
    )
    y[rng.random((rows, cols)) < gaps] = np.nan
    x[rng.random(rows) < benchmark_gaps] = np.nan
    y[:, 0] = x
    return y, x.copy()


def pairs(x: FloatArray, y: FloatArray) -> tuple[FloatArray, FloatArray]:
    """The pairwise-complete rows of two series."""
    ok = np.isfinite(x) & np.isfinite(y)
    return x[ok], y[ok]
