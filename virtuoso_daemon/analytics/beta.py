"""Beta, alpha, correlation and volatility of every symbol against one benchmark.

All symbols are computed at once from a returns matrix ``(T, N)`` and the
benchmark's returns ``(T,)`` (usually BTC, which is also one of the columns).

Sample
    Each symbol uses its *pairwise-complete* observations: the rows where both its
    return and the benchmark's return are finite (see the gap rule in
    :mod:`.returns`). Every statistic of a symbol -- beta, alpha, correlation,
    volatility -- comes from that same sample, so ``beta == correlation *
    volatility / benchmark_volatility`` holds exactly. ``n_obs`` is its size.

Minimum observations
    A symbol with ``n_obs < min_obs`` gets NaN for every statistic; it is never
    given a default beta of 1.0. Downside beta needs ``min_down_obs`` (default:
    ``min_obs``) down periods of its own. A flat benchmark (zero variance) gives
    NaN beta; a flat symbol gives beta 0 and NaN correlation.

Degrees of freedom (one convention)
    Variances and covariances divide by ``n - 1`` (ddof=1). Beta is
    ``cov(x, y) / var(x)``, so the divisor cancels and beta is the OLS slope
    whatever the convention; correlation and R-squared are ratios too. Volatility
    is ``std(ddof=1) * sqrt(periods_per_year)``. The standard error of beta is the
    OLS one with ``n - 2`` residual degrees of freedom:
    ``sqrt(SSR / (n - 2) / Sxx)``, identical to ``scipy.stats.linregress``.

Annualisation
    ``periods_per_year`` comes from the timeframe (8760 for 1h, 2190 for 4h, 365
    for 1d; see :mod:`.timeframes`), never 252. Alpha is the OLS intercept in log
    return per period; ``alpha_annual = alpha * periods_per_year`` (log returns add
    over time, so the intercept scales linearly; it is not compounded).

Downside beta
    The OLS slope over the rows where the benchmark return is negative (and both
    returns are valid), with its own means.

Windows
    A window of ``w`` periods is the last ``w`` rows of the matrix. Several windows
    are computed in one pass over the longest one: the sums every statistic needs
    are weighted row sums, so all windows (and the downside subset) come from
    one matrix product of a ``(windows x 6, T)`` weight matrix with the masked
    data (accumulated over cache-sized row blocks).
    If the matrix holds fewer than ``w`` rows, the missing rows count as missing
    observations (``n_obs`` shows it); nothing is silently shortened.

Rolling beta
    :func:`rolling_beta` gives one beta per row from the window ending at that row,
    via cumulative sums (no Python loop over windows). Rows before the first full
    window, and windows with fewer than ``min_obs`` valid pairs, are NaN.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from virtuoso_daemon.analytics._types import BoolArray, FloatArray, IntArray
from virtuoso_daemon.analytics.returns import DEFAULT_MIN_OBS, ReturnsMatrix
from virtuoso_daemon.analytics.timeframes import periods_per_year as _periods_per_year
from virtuoso_daemon.analytics.timeframes import window_candles

_BLOCK_ELEMENTS = 65_536
"""Matrix elements per row block in :func:`beta_windows` (512 KiB of float64)."""

_REL_EPS = 1e-10
"""A centred sum of squares below this fraction of the raw one is zero (flat series)."""


class BetaStats(NamedTuple):
    """One symbol's row of a :class:`BetaTable`, NaN turned into None."""

    symbol: str
    beta: float | None
    alpha: float | None
    alpha_annual: float | None
    correlation: float | None
    r_squared: float | None
    beta_se: float | None
    volatility: float | None
    downside_beta: float | None
    n_obs: int


def _opt(v: np.floating | float) -> float | None:
    f = float(v)
    return f if np.isfinite(f) else None


@dataclass(frozen=True, slots=True, eq=False)
class BetaTable:
    """Regression of every symbol on the benchmark over one window (struct of arrays).

    Every array has one entry per symbol, in ``symbols`` order. ``window`` is the
    number of periods asked for and ``label`` how it was asked (``"90d"``, or the
    number of periods); ``n_obs`` is the valid pairs actually found in it.
    """

    symbols: tuple[str, ...]
    benchmark: str
    timeframe: str
    window: int
    label: str
    periods_per_year: float
    min_obs: int
    n_obs: IntArray
    n_down: IntArray
    beta: FloatArray
    alpha: FloatArray
    alpha_annual: FloatArray
    correlation: FloatArray
    r_squared: FloatArray
    beta_se: FloatArray
    volatility: FloatArray
    benchmark_volatility: FloatArray
    downside_beta: FloatArray

    @property
    def sufficient(self) -> BoolArray:
        """True where the symbol had at least ``min_obs`` valid pairs."""
        mask: BoolArray = self.n_obs >= self.min_obs
        return mask

    def row(self, symbol: str) -> BetaStats:
        """The statistics of one symbol."""
        return self._row(self.symbols.index(symbol))

    def rows(self) -> list[BetaStats]:
        """The statistics of every symbol, in ``symbols`` order."""
        return [self._row(j) for j in range(len(self.symbols))]

    def _row(self, j: int) -> BetaStats:
        return BetaStats(
            symbol=self.symbols[j],
            beta=_opt(self.beta[j]),
            alpha=_opt(self.alpha[j]),
            alpha_annual=_opt(self.alpha_annual[j]),
            correlation=_opt(self.correlation[j]),
            r_squared=_opt(self.r_squared[j]),
            beta_se=_opt(self.beta_se[j]),
            volatility=_opt(self.volatility[j]),
            downside_beta=_opt(self.downside_beta[j]),
            n_obs=int(self.n_obs[j]),
        )


class RollingBeta(NamedTuple):
    """Rolling regression on the benchmark; row ``t`` is the window ending at row ``t``."""

    beta: FloatArray
    alpha: FloatArray
    correlation: FloatArray
    n_obs: IntArray


def _check(
    returns: FloatArray, benchmark: FloatArray, min_obs: int
) -> tuple[FloatArray, FloatArray]:
    y = np.asarray(returns, dtype=np.float64)
    x = np.asarray(benchmark, dtype=np.float64)
    if y.ndim not in (1, 2):
        raise ValueError("returns must be 1-D (T,) or 2-D (T, N)")
    if x.ndim != 1 or x.shape[0] != y.shape[0]:
        raise ValueError(f"benchmark must have shape ({y.shape[0]},), got {x.shape}")
    if min_obs < 3:
        raise ValueError("min_obs must be at least 3 (the standard error needs n - 2 > 0)")
    return y, x


def _centre(x: FloatArray) -> tuple[FloatArray, float]:
    """Benchmark minus its mean (NaN -> 0) and that mean; keeps raw sums well scaled."""
    fx = np.isfinite(x)
    c = float(x[fx].mean()) if fx.any() else 0.0
    xc: FloatArray = np.where(fx, x - c, 0.0)
    return xc, c


def _flat_to_zero(centred: FloatArray, raw: FloatArray) -> FloatArray:
    """A centred sum of squares that is rounding noise of the raw one becomes exactly 0."""
    out: FloatArray = np.where(centred > _REL_EPS * raw, centred, 0.0)
    return out


def _centred(
    n: FloatArray, sx: FloatArray, sxx: FloatArray, sy: FloatArray, sxy: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """From raw sums: mean_x, mean_y, Sxx = sum((x - mx)^2) and Sxy = sum((x - mx)(y - my))."""
    safe_n = np.maximum(n, 1.0)
    mx = sx / safe_n
    my = sy / safe_n
    cxx = _flat_to_zero(sxx - sx * mx, sxx)
    cxy = sxy - sx * my
    return mx, my, cxx, cxy


def _stats_from_sums(
    n: FloatArray,
    sx: FloatArray,
    sxx: FloatArray,
    sy: FloatArray,
    sxy: FloatArray,
    syy: FloatArray,
    x_shift: float,
    ppy: float,
    min_obs: int,
) -> dict[str, FloatArray]:
    mx, my, cxx, cxy = _centred(n, sx, sxx, sy, sxy)
    cyy = _flat_to_zero(syy - sy * my, syy)
    ok = (n >= min_obs) & (cxx > 0)
    enough = n >= min_obs
    with np.errstate(divide="ignore", invalid="ignore"):
        beta = np.where(ok, cxy / cxx, np.nan)
        alpha = my - beta * (mx + x_shift)
        corr = np.clip(np.where(ok & (cyy > 0), cxy / np.sqrt(cxx * cyy), np.nan), -1.0, 1.0)
        ssr = np.maximum(cyy - beta * cxy, 0.0)
        se = np.sqrt(ssr / ((n - 2.0) * cxx))
        vol = np.where(enough, np.sqrt(cyy / (n - 1.0) * ppy), np.nan)
        bvol = np.where(enough, np.sqrt(cxx / (n - 1.0) * ppy), np.nan)
    return {
        "beta": beta,
        "alpha": alpha,
        "alpha_annual": alpha * ppy,
        "correlation": corr,
        "r_squared": corr * corr,
        "beta_se": se,
        "volatility": vol,
        "benchmark_volatility": bvol,
    }


def _slope(
    n: FloatArray,
    sx: FloatArray,
    sxx: FloatArray,
    sy: FloatArray,
    sxy: FloatArray,
    min_obs: int,
) -> FloatArray:
    _, _, cxx, cxy = _centred(n, sx, sxx, sy, sxy)
    ok = (n >= min_obs) & (cxx > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        out: FloatArray = np.where(ok, cxy / cxx, np.nan)
    return out


def beta_windows(
    returns: FloatArray,
    benchmark_returns: FloatArray,
    windows: Sequence[int | str] | None = None,
    *,
    symbols: Sequence[str] | None = None,
    timeframe: str,
    benchmark: str = "BTC/USDT",
    min_obs: int = DEFAULT_MIN_OBS,
    min_down_obs: int | None = None,
) -> tuple[BetaTable, ...]:
    """Regress every column of ``returns`` ``(T, N)`` on ``benchmark_returns`` ``(T,)``.

    One :class:`BetaTable` per entry of ``windows`` (periods counted back from the
    last row, or durations such as ``"30d"``); ``None`` means one window of all
    ``T`` rows. ``symbols`` names the columns (default ``"0"``, ``"1"``, ...).
    See the module docstring for the rules.
    """
    y, x = _check(returns, benchmark_returns, min_obs)
    if y.ndim == 1:
        y = y[:, None]
    total, ncols = y.shape
    asked: list[int | str] = [total] if windows is None else list(windows)
    wins = [window_candles(w, timeframe) if isinstance(w, str) else int(w) for w in asked]
    if not wins or (windows is not None and min(wins) <= 0):
        raise ValueError("windows must be positive")
    names = tuple(symbols) if symbols is not None else tuple(str(j) for j in range(ncols))
    if len(names) != ncols:
        raise ValueError(f"{len(names)} symbols for {ncols} columns")
    down_min = min_obs if min_down_obs is None else min_down_obs
    if down_min < 2:
        raise ValueError("min_down_obs must be at least 2")
    ppy = _periods_per_year(timeframe)

    # Only the longest window's tail is touched; shorter windows are nested in it.
    tail = min(max(wins), total)
    y = y[total - tail :]
    x = x[total - tail :]
    xc, shift = _centre(x)
    fx = np.isfinite(x)

    # Row weights: for each window k, indicator I_k (row inside the window) and
    # D = I_k & (benchmark < 0). Sums over a window are weights @ masked data.
    pos = np.arange(tail)
    inside = (pos[None, :] >= tail - np.asarray(wins)[:, None]).astype(np.float64)  # (k, tail)
    down = inside * (fx & (x < 0))
    xi, xd = inside * xc, down * xc
    w_mask = np.concatenate([inside, xi, xi * xc, down, xd, xd * xc])  # (6k, tail)
    w_data = np.concatenate([inside, xi, down, xd, inside])  # (5k, tail)
    k = len(wins)
    a = np.zeros((6 * k, ncols))
    b = np.zeros((5 * k, ncols))
    # Row blocks of ~512 KiB keep the masked temporaries in cache; the products
    # of each block are added up, so the result is the same as one big product.
    step = max(16, _BLOCK_ELEMENTS // max(ncols, 1))
    for r0 in range(0, tail, step):
        r1 = min(r0 + step, tail)
        valid = np.isfinite(y[r0:r1])
        valid &= fx[r0:r1, None]
        yz = np.where(valid, y[r0:r1], 0.0)
        a += w_mask[:, r0:r1] @ valid.astype(np.float64)
        b[: 4 * k] += w_data[: 4 * k, r0:r1] @ yz
        b[4 * k :] += w_data[4 * k :, r0:r1] @ np.square(yz, out=yz)

    n, sx, sxx, nd, sxd, sxxd = a.reshape(6, k, ncols)
    sy, sxy, syd, sxyd, syy = b.reshape(5, k, ncols)
    stats = _stats_from_sums(n, sx, sxx, sy, sxy, syy, shift, ppy, min_obs)
    downside = _slope(nd, sxd, sxxd, syd, sxyd, down_min)
    n_int = np.rint(n).astype(np.int64)
    nd_int = np.rint(nd).astype(np.int64)
    return tuple(
        BetaTable(
            symbols=names,
            benchmark=benchmark,
            timeframe=timeframe,
            window=w,
            label=str(spec),
            periods_per_year=ppy,
            min_obs=min_obs,
            n_obs=n_int[i],
            n_down=nd_int[i],
            downside_beta=downside[i],
            **{name: arr[i] for name, arr in stats.items()},
        )
        for i, (w, spec) in enumerate(zip(wins, asked, strict=True))
    )


def compute_betas(
    matrix: ReturnsMatrix,
    windows: Sequence[int | str] | None = None,
    *,
    benchmark: str = "BTC/USDT",
    min_obs: int = DEFAULT_MIN_OBS,
    min_down_obs: int | None = None,
) -> tuple[BetaTable, ...]:
    """:func:`beta_windows` on a :class:`ReturnsMatrix`, benchmark taken from its columns."""
    return beta_windows(
        matrix.returns,
        matrix.column(benchmark),
        windows,
        symbols=matrix.symbols,
        timeframe=matrix.timeframe,
        benchmark=benchmark,
        min_obs=min_obs,
        min_down_obs=min_down_obs,
    )


def compute_beta(
    matrix: ReturnsMatrix,
    window: int | str | None = None,
    *,
    benchmark: str = "BTC/USDT",
    min_obs: int = DEFAULT_MIN_OBS,
    min_down_obs: int | None = None,
) -> BetaTable:
    """One window of :func:`compute_betas` (all rows when ``window`` is None)."""
    return compute_betas(
        matrix,
        None if window is None else [window],
        benchmark=benchmark,
        min_obs=min_obs,
        min_down_obs=min_down_obs,
    )[0]


def rolling_beta(
    returns: FloatArray,
    benchmark_returns: FloatArray,
    window: int,
    *,
    min_obs: int = DEFAULT_MIN_OBS,
) -> RollingBeta:
    """Beta, alpha (per period), correlation and pair count over a sliding window.

    ``returns`` is ``(T,)`` or ``(T, N)``; outputs have the same shape. Row ``t``
    uses rows ``t - window + 1 .. t``; it is NaN (count 0) before the first full
    window, and NaN when the window has fewer than ``min_obs`` valid pairs.
    Computed from cumulative sums of mean-centred data (a window's sum is the
    difference of two prefix sums), so there is no loop over windows and the cost
    does not depend on ``window``.
    """
    y, x = _check(returns, benchmark_returns, min_obs)
    if window <= 0:
        raise ValueError("window must be positive")
    one_d = y.ndim == 1
    if one_d:
        y = y[:, None]
    total, ncols = y.shape
    beta = np.full((ncols, total), np.nan)
    alpha = np.full((ncols, total), np.nan)
    corr = np.full((ncols, total), np.nan)
    counts = np.zeros((ncols, total), dtype=np.int64)
    if total >= window:
        # Work in (symbol, time) layout: prefix sums run along contiguous memory.
        yt = np.ascontiguousarray(y.T)
        xc, shift = _centre(x)
        valid = np.isfinite(yt) & np.isfinite(x)
        mf = valid.astype(np.float64)
        ymean = np.where(valid, yt, 0.0).sum(axis=1) / np.maximum(mf.sum(axis=1), 1.0)
        yz = np.where(valid, yt - ymean[:, None], 0.0)
        prefix = np.zeros((6, ncols, total + 1))
        body = prefix[:, :, 1:]
        np.multiply(mf, 1.0, out=body[0])
        np.multiply(mf, xc, out=body[1])
        np.multiply(body[1], xc, out=body[2])
        np.multiply(yz, 1.0, out=body[3])
        np.multiply(yz, xc, out=body[4])
        np.multiply(yz, yz, out=body[5])
        np.cumsum(body, axis=2, out=body)
        n, sx, sxx, sy, sxy, syy = prefix[:, :, window:] - prefix[:, :, :-window]
        mx, my, cxx, cxy = _centred(n, sx, sxx, sy, sxy)
        cyy = _flat_to_zero(syy - sy * my, syy)
        ok = (n >= min_obs) & (cxx > 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            b = np.where(ok, cxy / cxx, np.nan)
            beta[:, window - 1 :] = b
            alpha[:, window - 1 :] = np.where(ok, (my + ymean[:, None]) - b * (mx + shift), np.nan)
            corr[:, window - 1 :] = np.clip(
                np.where(ok & (cyy > 0), cxy / np.sqrt(cxx * cyy), np.nan), -1.0, 1.0
            )
        counts[:, window - 1 :] = np.rint(n).astype(np.int64)
    if one_d:
        return RollingBeta(beta[0], alpha[0], corr[0], counts[0])
    return RollingBeta(beta.T, alpha.T, corr.T, counts.T)


__all__ = [
    "BetaStats",
    "BetaTable",
    "RollingBeta",
    "beta_windows",
    "compute_beta",
    "compute_betas",
    "rolling_beta",
]
