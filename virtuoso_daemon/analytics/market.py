"""Market overview helpers over arrays of all symbols: breadth, changes, movers.

Conventions: changes are fractions (0.01 = +1 %); NaN means "no data" and is
left out of every count, mean and ranking.

* Breadth: ``advancers`` rose (change > 0), ``decliners`` fell (< 0),
  ``unchanged`` are exactly 0; ``advancers_fraction = advancers / total`` where
  ``total`` counts symbols with a change (None when there are none).
* Average change: the plain mean of the valid changes, or the weighted mean when
  weights (e.g. quote volume) are given.
* Volume dominance: one symbol's share of the total quote volume of all symbols
  (e.g. BTC's share), in [0, 1].
* Movers: top gainers (largest positive changes), top losers (most negative
  changes) and top volume; ties keep the input order.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike

from virtuoso_daemon.analytics._types import FloatArray, IntArray


class Breadth(NamedTuple):
    """Advancers, decliners and unchanged among the symbols with a valid change."""

    advancers: int
    decliners: int
    unchanged: int
    total: int
    advancers_fraction: float | None


class Mover(NamedTuple):
    """One row of a movers list."""

    symbol: str
    change: float | None
    volume: float | None


class Movers(NamedTuple):
    """Top gainers, top losers and top volume, best first."""

    gainers: tuple[Mover, ...]
    losers: tuple[Mover, ...]
    volume: tuple[Mover, ...]


def _f(a: ArrayLike) -> FloatArray:
    out: FloatArray = np.asarray(a, dtype=np.float64).ravel()
    return out


def pct_changes(reference: ArrayLike, last: ArrayLike) -> FloatArray:
    """``last / reference - 1`` per symbol; NaN where either price is missing or <= 0."""
    ref, cur = _f(reference), _f(last)
    ok = np.isfinite(ref) & np.isfinite(cur) & (ref > 0) & (cur > 0)
    out: FloatArray = np.full(ref.shape, np.nan)
    out[ok] = cur[ok] / ref[ok] - 1.0
    return out


def breadth(changes: ArrayLike) -> Breadth:
    """Count advancers, decliners and unchanged symbols (NaN ignored)."""
    c = _f(changes)
    c = c[np.isfinite(c)]
    adv, dec = int((c > 0).sum()), int((c < 0).sum())
    total = int(c.size)
    return Breadth(adv, dec, total - adv - dec, total, adv / total if total else None)


def average_change(changes: ArrayLike, weights: ArrayLike | None = None) -> float | None:
    """Mean of the valid changes, weighted when ``weights`` is given; None if none."""
    c = _f(changes)
    w = np.ones_like(c) if weights is None else _f(weights)
    if w.shape != c.shape:
        raise ValueError("changes and weights differ in length")
    ok = np.isfinite(c) & np.isfinite(w) & (w > 0)
    if not ok.any():
        return None
    return float(np.dot(c[ok], w[ok]) / w[ok].sum())


def volume_dominance(quote_volumes: ArrayLike, index: int) -> float | None:
    """Share of symbol ``index`` in the total quote volume (NaN volumes ignored)."""
    v = _f(quote_volumes)
    ok = np.isfinite(v) & (v >= 0)
    total = float(v[ok].sum())
    if total <= 0 or not ok[index]:
        return None
    return float(v[index]) / total


def _top(key: FloatArray, n: int, largest: bool) -> IntArray:
    idx = np.flatnonzero(np.isfinite(key))
    k = key[idx]
    order = np.argsort(-k if largest else k, kind="stable")
    out: IntArray = idx[order[:n]].astype(np.int64)
    return out


def movers(
    symbols: Sequence[str],
    changes: ArrayLike,
    quote_volumes: ArrayLike | None = None,
    n: int = 5,
) -> Movers:
    """Top ``n`` gainers (change > 0), losers (change < 0) and volume leaders."""
    c = _f(changes)
    if len(symbols) != c.size:
        raise ValueError("symbols and changes differ in length")
    v = np.full(c.shape, np.nan) if quote_volumes is None else _f(quote_volumes)

    def row(i: int) -> Mover:
        ci, vi = float(c[i]), float(v[i])
        return Mover(symbols[i], ci if np.isfinite(ci) else None, vi if np.isfinite(vi) else None)

    gain_key = np.where(c > 0, c, np.nan)
    loss_key = np.where(c < 0, c, np.nan)
    return Movers(
        gainers=tuple(row(i) for i in _top(gain_key, n, largest=True)),
        losers=tuple(row(i) for i in _top(loss_key, n, largest=False)),
        volume=tuple(row(i) for i in _top(v, n, largest=True)),
    )


__all__ = [
    "Breadth",
    "Mover",
    "Movers",
    "average_change",
    "breadth",
    "movers",
    "pct_changes",
    "volume_dominance",
]
