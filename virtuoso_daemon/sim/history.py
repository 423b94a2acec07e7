"""Deterministic, vectorised candle history for backfill, consistent across timeframes.

The log price of base ``b`` is ``beta_b * X_0(t) + X_b(t)`` where ``X_0`` (the BTC factor)
and ``X_b`` (idiosyncratic) are independent Brownian motions with the configured
annual variances. The paths are built coarse to fine: ``history_candles`` daily
points first, then every finer timeframe over its own (shorter, more recent) span as
Brownian bridges pinned to the coarser points, plus a free walk past the last coarse
boundary. Because a bridge is linear in the increments, the factor structure holds
exactly at every timeframe, and closes agree wherever timeframes overlap.

Highs, lows and volumes are built fine to coarse: a coarse candle covered by finer
candles takes their max/min/sum; an uncovered one samples the exact distribution of a
Brownian bridge's maximum, ``(a+b+sqrt((b-a)^2 - 2 s^2 ln U))/2``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from virtuoso_daemon.sim.universe import SECONDS_PER_YEAR, Universe

# stored timeframes, fine to coarse; every one divides the next
TIMEFRAMES: dict[str, int] = {
    "1m": 60,
    "5m": 300,
    "15m": 900,
    "1h": 3600,
    "4h": 14_400,
    "1d": 86_400,
}


@dataclass
class TfHistory:
    """Closed candles ``[n, bases]`` of one timeframe, plus the open candle ``[bases]``."""

    step: int  # seconds
    start: int  # open time (unix seconds) of candle 0
    o: np.ndarray
    h: np.ndarray
    low: np.ndarray
    c: np.ndarray
    v: np.ndarray  # base volume (spot)
    open_o: np.ndarray
    open_h: np.ndarray
    open_l: np.ndarray
    open_c: np.ndarray
    open_v: np.ndarray

    @property
    def n(self) -> int:
        return int(self.o.shape[0])


@dataclass
class History:
    """Every timeframe's history, and where the live model continues from."""

    end: int  # unix seconds, a minute boundary; the live model starts here
    frames: dict[str, TfHistory]
    log_price: np.ndarray  # [bases] at ``end``
    factor: np.ndarray  # [bases] X values at ``end`` (X_0 for BTC, eps for alts)


def _refine(
    coarse_t: np.ndarray,
    coarse_v: np.ndarray,
    step: int,
    end: int,
    start: int,
    var_per_s: np.ndarray,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Values on ``start, start+step, ..., end`` bridged through the coarse points."""
    cstep = int(coarse_t[1] - coarse_t[0])
    r = cstep // step
    i0 = int((start - coarse_t[0]) // cstep)
    k = coarse_v.shape[0]
    va = coarse_v[:, i0:-1]
    vb = coarse_v[:, i0 + 1 :]
    q = va.shape[1]
    sd = np.sqrt(var_per_s * step)[:, None, None]
    w = np.cumsum(rng.standard_normal((k, q, r)) * sd, axis=2)
    frac = (np.arange(1, r + 1) / r)[None, None, :]
    bridged = va[:, :, None] + frac * (vb - va)[:, :, None] + w - frac * w[:, :, -1:]
    parts = [coarse_v[:, i0 : i0 + 1], bridged.reshape(k, q * r)]
    n_free = (end - int(coarse_t[-1])) // step
    if n_free > 0:
        free = np.cumsum(rng.standard_normal((k, n_free)) * sd[:, :, 0], axis=1)
        parts.append(coarse_v[:, -1:] + free)
    values = np.concatenate(parts, axis=1)
    times = start + step * np.arange(values.shape[1], dtype=np.int64)
    return times, values


def _bridge_extreme(
    a: np.ndarray, b: np.ndarray, var: np.ndarray, u: np.ndarray, sign: float
) -> np.ndarray:
    return (a + b + sign * np.sqrt((b - a) ** 2 - 2.0 * var * np.log(u))) / 2.0


def generate_history(universe: Universe, end: int, n_candles: int, seed: int) -> History:
    """Build every timeframe's candles ending at ``end`` (unix seconds, minute-aligned)."""
    rng = np.random.default_rng([seed, 2])
    cfg = universe.config
    bases = universe.bases
    nb = len(bases)
    beta = np.array([b.beta for b in bases])
    var_x = np.array([cfg.btc_vol**2] + [b.idio_vol**2 for b in bases[1:]]) / SECONDS_PER_YEAR
    var_tot = np.array([b.total_vol**2 for b in bases]) / SECONDS_PER_YEAR
    names = list(TIMEFRAMES)
    n = n_candles + 2

    # coarse to fine: X values on each timeframe's grid (a row per process)
    grids: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    prev: str | None = None
    for name in reversed(names):
        step = TIMEFRAMES[name]
        last = end // step * step
        if prev is None:
            t = last - step * np.arange(n, -1, -1, dtype=np.int64)
            x = np.concatenate(
                [
                    np.zeros((nb, 1)),
                    np.cumsum(
                        rng.standard_normal((nb, n)) * np.sqrt(var_x * step)[:, None], axis=1
                    ),
                ],
                axis=1,
            )
            grids[name] = (t, x)
        else:
            cstep = TIMEFRAMES[prev]
            start = (last - n * step) // cstep * cstep
            grids[name] = _refine(*grids[prev], step, last, start, var_x, rng)
        prev = name

    # the path at ``end`` comes from the finest grid; shift so prices end at the references
    fine_t, fine_x = grids[names[0]]
    assert int(fine_t[-1]) == end
    x_btc_end = fine_x[0, -1]
    logp_end = beta * x_btc_end + np.where(np.arange(nb) == 0, 0.0, fine_x[:, -1])
    shift = np.log([b.price for b in bases]) - logp_end

    def to_logp(x: np.ndarray) -> np.ndarray:
        eps = x.copy()
        eps[0] = 0.0
        return shift[:, None] + beta[:, None] * x[0][None, :] + eps

    rate = np.array([b.daily_quote_volume / b.price for b in bases]) / 86_400.0  # base/s
    frames: dict[str, TfHistory] = {}
    finer: TfHistory | None = None
    for name in names:
        step = TIMEFRAMES[name]
        t, x = grids[name]
        lp = to_logp(x)  # [nb, J+1]
        a, b = lp[:, :-1], lp[:, 1:]
        var = (var_tot * step)[:, None]
        hi = _bridge_extreme(a, b, var, 1.0 - rng.random(a.shape), 1.0)
        lo = _bridge_extreme(a, b, var, 1.0 - rng.random(a.shape), -1.0)
        sd = np.sqrt(var)
        noise = 0.6 if finer is None else 0.25
        vol = (
            rate[:, None]
            * step
            * np.exp(rng.normal(-(noise**2) / 2, noise, a.shape))
            * (0.6 + 0.8 * np.abs(b - a) / sd)
        )
        o, c, h, low = np.exp(a), np.exp(b), np.exp(hi), np.exp(lo)
        open_o = open_h = open_l = open_c = np.exp(b[:, -1])
        open_v = np.zeros(nb)
        if finer is not None:
            # candles covered by the finer timeframe take its max / min / sum
            r = step // finer.step
            first = (finer.start - int(t[0])) // step
            q = a.shape[1] - first
            if q > 0:
                fh = finer.h[: q * r].T.reshape(nb, q, r)
                fl = finer.low[: q * r].T.reshape(nb, q, r)
                fv = finer.v[: q * r].T.reshape(nb, q, r)
                h[:, first:] = np.maximum(fh.max(axis=2), np.maximum(o[:, first:], c[:, first:]))
                low[:, first:] = np.minimum(fl.min(axis=2), np.minimum(o[:, first:], c[:, first:]))
                vol[:, first:] = fv.sum(axis=2)
            # the open candle: finer closed candles since the last boundary, plus its open one
            j = (int(t[-1]) - finer.start) // finer.step
            open_o = np.exp(b[:, -1])
            open_h = np.maximum(finer.h[j:].max(axis=0, initial=0.0), finer.open_h)
            open_l = np.minimum(finer.low[j:].min(axis=0, initial=np.inf), finer.open_l)
            open_c = finer.open_c
            open_v = finer.v[j:].sum(axis=0) + finer.open_v
        hist = TfHistory(
            step=step,
            start=int(t[0]),
            o=o.T.copy(),
            h=h.T.copy(),
            low=low.T.copy(),
            c=c.T.copy(),
            v=vol.T.copy(),
            open_o=open_o,
            open_h=np.maximum(open_h, open_o),
            open_l=np.minimum(open_l, open_o),
            open_c=open_c,
            open_v=open_v,
        )
        frames[name] = hist
        finer = hist
    logp_final = shift + logp_end
    return History(end=end, frames=frames, log_price=logp_final, factor=fine_x[:, -1].copy())
