"""The wall scan as it was before it was made cheap (2026-12-05): the plain reading
of the rule (every level into an array, ``np.median``, ratios, the largest first).
Kept as the reference that the fast ``normalize._walls`` and
``detectors.wall_levels`` must match exactly (tests/feeds/test_walls_equivalence.py)
and as the baseline of ``scripts/bench_walls.py``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from virtuoso_daemon.analytics._types import FloatArray, IntArray


def wall_levels(amounts: FloatArray, min_ratio: float, top: int = 3) -> tuple[IntArray, FloatArray]:
    a = np.asarray(amounts, dtype=np.float64)
    if a.size < 3:
        return np.empty(0, dtype=np.int64), np.empty(0)
    med = float(np.median(a))
    if not med > 0:
        return np.empty(0, dtype=np.int64), np.empty(0)
    ratios = a / med
    idx = np.flatnonzero(ratios >= min_ratio)
    if idx.size > top:
        idx = idx[np.argsort(-ratios[idx], kind="stable")[:top]]
    else:
        idx = idx[np.argsort(-ratios[idx], kind="stable")]
    return idx.astype(np.int64), ratios[idx]


def walls(
    side: Sequence[Sequence[Any]],
    size: float = 1.0,
    ratio: float = 10.0,
    top: int = 5,
) -> tuple[list[tuple[float, float, float]], float | None]:
    if not side:
        return [], None
    levels = np.asarray([(lv[0], lv[1]) for lv in side], dtype=np.float64)
    idx, ratios = wall_levels(levels[:, 1], ratio, top)
    found = [
        (float(levels[i, 0]), float(levels[i, 1]) * size, round(float(r), 2))
        for i, r in zip(idx.tolist(), ratios.tolist(), strict=True)
    ]
    return found, float(levels[-1, 0])
