"""Order-book walls and bid/ask imbalance.

Wall
    A level whose size is at least ``min_ratio`` times the median level size of its
    side (over the levels scanned). The median, because a book's level sizes are
    skewed and the wall itself must not move the yardstick. ``wall_levels`` returns
    the indices of the ``top`` largest such levels, largest first. The feed computes
    candidates from the full book (:func:`wall_levels` with a low ratio) and puts them
    in ``OrderBookTop.bid_walls``/``ask_walls`` as ``(price, amount, ratio)``; the
    signals actor applies its own (higher) threshold.

Wall end: pulled or filled
    When a wall is no longer in the book, :func:`wall_outcome` decides what happened
    from where the touch is now: a bid wall whose price the best bid has reached or
    crossed (the price came down to it) was *filled*; one the price never reached was
    *pulled* (cancelled: the classic spoof). Asks mirror this. A wall whose price is
    now beyond the depth the feed scans is *out_of_view*: not seen to go, not
    reported as pulled.

Imbalance
    ``(bid_depth - ask_depth) / (bid_depth + ask_depth)`` over the feed's depth band:
    +1 all bids (accumulation), -1 all asks (distribution), NaN with an empty band.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np

from virtuoso_daemon.analytics._types import FloatArray, IntArray

WallOutcome = Literal["pulled", "filled", "out_of_view"]


def wall_levels(amounts: FloatArray, min_ratio: float, top: int = 3) -> tuple[IntArray, FloatArray]:
    """``(indices, ratios)`` of up to ``top`` levels with size >= ``min_ratio`` x median.

    Runs on every order-book message of every market, so it does only what
    ``np.median`` would do, without its generic overhead (axis handling, ``mean`` of
    the middle pair): one partition at the middle index (the middle pair when the
    count is even, whose median is their mean ``(lo + hi) / 2``, bit for bit what
    ``np.median`` returns) and at the last index, where a NaN would sort, because a
    side holding a NaN has a NaN median and so no walls, as with ``np.median``.
    """
    a = np.asarray(amounts, dtype=np.float64)
    n = a.size
    if n < 3:
        return np.empty(0, dtype=np.int64), np.empty(0)
    half = n // 2
    if n % 2:
        part = np.partition(a, (half, n - 1))
        med = float(part[half])
    else:
        part = np.partition(a, (half - 1, half, n - 1))
        med = (float(part[half - 1]) + float(part[half])) / 2.0
    if not med > 0 or math.isnan(part[-1]):
        return np.empty(0, dtype=np.int64), np.empty(0)
    ratios = a / med
    idx = np.flatnonzero(ratios >= min_ratio)
    if idx.size > 1:
        # the largest `top`, largest first; ties keep book order
        idx = idx[np.argsort(-ratios[idx], kind="stable")]
    idx = idx[:top]
    return idx.astype(np.int64, copy=False), ratios[idx]


def wall_outcome(
    side: Literal["bid", "ask"],
    price: float,
    best_bid: float | None,
    best_ask: float | None,
    view_edge: float | None,
) -> WallOutcome:
    """What became of a wall that left the book (see the module doc).

    ``view_edge``: the farthest price of that side the feed scanned (lowest bid,
    highest ask), None when unknown.
    """
    if side == "bid":
        if best_bid is not None and best_bid <= price:
            return "filled"
        if view_edge is not None and price < view_edge:
            return "out_of_view"
        return "pulled"
    if best_ask is not None and best_ask >= price:
        return "filled"
    if view_edge is not None and price > view_edge:
        return "out_of_view"
    return "pulled"


def book_imbalance(bid_depth: float, ask_depth: float) -> float:
    """``(bid - ask) / (bid + ask)`` in [-1, 1]; NaN when both are zero or unknown."""
    total = bid_depth + ask_depth
    if not (math.isfinite(total) and total > 0):
        return math.nan
    return (bid_depth - ask_depth) / total
