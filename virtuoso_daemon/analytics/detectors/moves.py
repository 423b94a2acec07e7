"""Price moves over several windows, volatility breakouts and volume spikes.

Input is a matrix of 1-minute candles, oldest row first, one column per symbol; the
last row is the newest *closed* candle. Missing candles are NaN.

Price move
    ``pct_moves(closes, lags)[k, j]`` is the percent change of symbol ``j`` from the
    close ``lags[k]`` candles back to the newest close: ``100 * (c[-1] / c[-1-lag] - 1)``.
    NaN when either close is missing or the window is longer than the data. The
    detector fires when ``|move| >= threshold`` of that window (5, 15, 60 minutes).

Volatility breakout
    ``volatility_ratio(closes, recent, baseline)`` is the root-mean-square of the last
    ``recent`` one-minute log returns over the RMS of the ``baseline`` returns before
    them (RMS, not stdev: over a few minutes the mean return is noise, and a steady
    trend is exactly what a breakout is). Under an unchanged random walk the ratio
    squared is an F(recent, baseline) variable, so a ratio of 3 over 5 returns has a
    probability of about 1e-8: it fires on a real change of regime, not on noise.
    NaN with fewer than ``min_obs`` valid baseline returns or a zero baseline.

Volume spike
    ``volume_ratio(volumes, baseline)`` is the newest candle's volume over the median
    of the ``baseline`` candles before it (median: one earlier spike must not raise
    the bar for the next). NaN with fewer than ``min_obs`` baseline candles or a zero
    median.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from virtuoso_daemon.analytics._types import FloatArray


def _as_2d(x: FloatArray) -> FloatArray:
    arr = np.asarray(x, dtype=np.float64)
    return arr[:, None] if arr.ndim == 1 else arr


def pct_moves(closes: FloatArray, lags: Sequence[int]) -> FloatArray:
    """``[len(lags), symbols]`` percent changes from ``lag`` candles back to the newest."""
    c = _as_2d(closes)
    n, s = c.shape
    out = np.full((len(lags), s), np.nan)
    if n == 0:
        return out
    last = c[-1]
    for k, lag in enumerate(lags):
        if lag < 1 or lag >= n:
            continue
        ref = c[-1 - lag]
        with np.errstate(divide="ignore", invalid="ignore"):
            move = 100.0 * (last / ref - 1.0)
        move[~(np.isfinite(move) & (ref > 0))] = np.nan
        out[k] = move
    return out


def volatility_ratio(
    closes: FloatArray, recent: int = 5, baseline: int = 60, min_obs: int = 20
) -> FloatArray:
    """``[symbols]``: RMS of the last ``recent`` log returns over the baseline's RMS."""
    c = _as_2d(closes)
    n, s = c.shape
    out = np.full(s, np.nan)
    need = recent + baseline + 1
    if n < recent + min_obs + 1:
        return out
    window = c[-min(need, n) :]
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.diff(np.log(np.where(window > 0, window, np.nan)), axis=0)
    rec, base = r[-recent:], r[:-recent]
    n_base = np.sum(np.isfinite(base), axis=0)
    n_rec = np.sum(np.isfinite(rec), axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        rms_base = np.sqrt(np.nansum(base**2, axis=0) / n_base)
        rms_rec = np.sqrt(np.nansum(rec**2, axis=0) / n_rec)
        ratio = rms_rec / rms_base
    ok = (n_base >= min_obs) & (n_rec >= 1) & (rms_base > 0)
    out[ok] = ratio[ok]
    return out


def volume_ratio(volumes: FloatArray, baseline: int = 60, min_obs: int = 20) -> FloatArray:
    """``[symbols]``: the newest volume over the median of the ``baseline`` before it."""
    v = _as_2d(volumes)
    n, s = v.shape
    out = np.full(s, np.nan)
    if n < min_obs + 1:
        return out
    base = v[-1 - min(baseline, n - 1) : -1]
    n_base = np.sum(np.isfinite(base), axis=0)
    valid = n_base >= min_obs
    if not valid.any():
        return out
    med = np.full(s, np.nan)
    med[valid] = np.nanmedian(base[:, valid], axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = v[-1] / med
    ok = valid & (med > 0) & np.isfinite(v[-1])
    out[ok] = ratio[ok]
    return out
