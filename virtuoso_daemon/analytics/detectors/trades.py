"""Whale trades: single trades and same-side bursts that stand out by USD value and size.

Trade sizes are heavy-tailed (roughly log-normal), so the yardstick is the symbol's
recent *log* trade values: their median and a robust sigma (1.4826 x the median
absolute deviation, which equals the standard deviation for normal data and is not
inflated by the whales it is meant to find).

Single whale
    ``whale_mask(values, median_log, sigma_log, min_usd=..., k_sigma=...)`` is true for
    a trade whose quote value is at least ``min_usd`` **and** at least ``k_sigma``
    robust sigmas above the recent median. Both, because either alone misfires: a
    fixed USD line is crossed every minute by ordinary trades on BTC and never on a
    small coin, and a sigma line alone flags a 500 USD trade on an illiquid market.
    ``k_sigma=0`` means USD only; ``min_usd=0`` means sigma only. Without statistics
    (NaN: too few recent trades) only the USD line applies.

Burst
    ``same_side_sums(ts, values, buy, window)`` gives, for every trade, the summed value
    of same-side trades in the ``window`` seconds ending at it (itself included):
    many trades on one side that add up to a whale. The actor flags a burst when that
    sum reaches its ``burst_min_usd`` and ``burst_factor`` times the side's usual
    flow over such a window.
"""

from __future__ import annotations

import math

import numpy as np

from virtuoso_daemon.analytics._types import BoolArray, FloatArray

MAD_SCALE = 1.4826  # MAD -> standard deviation for normally distributed data


def log_size_stats(values: FloatArray, min_obs: int = 30) -> tuple[float, float]:
    """``(median, robust sigma)`` of ``log(values)`` over the positive finite values."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v) & (v > 0)]
    if v.size < min_obs:
        return math.nan, math.nan
    lv = np.log(v)
    med = float(np.median(lv))
    sigma = MAD_SCALE * float(np.median(np.abs(lv - med)))
    return med, sigma if sigma > 0 else math.nan


def size_sigmas(values: FloatArray, median_log: float, sigma_log: float) -> FloatArray:
    """How many robust sigmas each value's log lies above the median (NaN if unknown)."""
    v = np.asarray(values, dtype=np.float64)
    if not (math.isfinite(median_log) and math.isfinite(sigma_log) and sigma_log > 0):
        return np.full(v.shape, np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        return (np.log(v) - median_log) / sigma_log


def whale_mask(
    values: FloatArray,
    median_log: float,
    sigma_log: float,
    *,
    min_usd: float,
    k_sigma: float,
) -> BoolArray:
    """True for trades at least ``min_usd`` and ``k_sigma`` robust sigmas above median."""
    v = np.asarray(values, dtype=np.float64)
    big = np.isfinite(v) & (v >= min_usd) & (v > 0)
    if k_sigma <= 0:
        return big
    z = size_sigmas(v, median_log, sigma_log)
    unknown = np.isnan(z)
    return big & (unknown | (z >= k_sigma))


def same_side_sums(ts: FloatArray, values: FloatArray, buy: BoolArray, window: float) -> FloatArray:
    """For trade ``i`` (sorted by ``ts``): summed ``values`` of trades on its side in
    ``(ts[i] - window, ts[i]]``."""
    t = np.asarray(ts, dtype=np.float64)
    v = np.asarray(values, dtype=np.float64)
    b = np.asarray(buy, dtype=bool)
    out = np.zeros(t.shape)
    for side in (True, False):
        idx = np.flatnonzero(b == side)
        if idx.size == 0:
            continue
        ts_s = t[idx]
        csum = np.concatenate(([0.0], np.cumsum(v[idx])))
        start = np.searchsorted(ts_s, ts_s - window, side="right")
        end = np.searchsorted(ts_s, ts_s, side="right")  # trades at the same time count
        out[idx] = csum[end] - csum[start]
    return out
