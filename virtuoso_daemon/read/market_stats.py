"""Market overview and movers from a list of tickers (pure; no I/O, no aiohttp).

Inputs are the newest tickers of one exchange. A ticker's ``change_pct`` is the
exchange's 24 h change in percent; the numbers below come from the analytics
helpers (:mod:`..analytics.market`, :mod:`..analytics.risk`), which work in
fractions, and are reported back in percent where the name ends in ``_pct``.

Overview fields:

* ``advancers`` / ``decliners`` / ``unchanged`` / ``breadth``: symbols whose 24 h
  change is > 0 / < 0 / == 0, and advancers over all symbols with a change.
* ``avg_change_pct``: plain mean of the 24 h changes; ``vw_avg_change_pct``: the
  mean weighted by quote volume.
* ``volatility``: ``dispersion_pct`` = cross-sectional standard deviation of the
  24 h changes (how differently coins moved), ``avg_range_pct`` = mean 24 h range
  ``(high - low) / low`` (how much they moved intraday).
* ``btc_dominance_pct``: volume-weighted BTC dominance = quote volume of the
  symbols with base BTC over the quote volume of all symbols, counted among the
  symbols quoted in the same currency as the benchmark (``beta.benchmark``, e.g.
  USDT) so that volumes in different currencies are never added up.
* ``regime``: the daemon's one market regime, the one ``/api/market/sentiment``
  serves (computed by the beta actor with the correlation input; ``source``
  ``"analytics"``). Until that exists, :func:`..analytics.risk.market_regime` from
  the tickers alone (``source`` ``"tickers"``: the benchmark's 24 h change, breadth
  and average change, no correlation, so "correlated sell-off" cannot fire). Inputs
  are named by unit (``btc_change_pct`` percent, ``breadth`` a fraction).

Movers: top gainers (largest positive change), losers (most negative) and volume
leaders (largest quote volume), from :func:`..analytics.market.movers`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from virtuoso_daemon.analytics import market as mkt
from virtuoso_daemon.analytics.risk import market_regime, served_inputs
from virtuoso_daemon.core.messages import Ticker
from virtuoso_daemon.core.symbols import split_unified
from virtuoso_daemon.read.market_answers import MoverRow


def _arr(values: Sequence[float | None]) -> np.ndarray[Any, np.dtype[np.float64]]:
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)


def _pct(x: float | None) -> float | None:
    return None if x is None else x * 100.0


def overview(tickers: Sequence[Ticker], benchmark: str) -> dict[str, Any]:
    """The overview document for one exchange's tickers (see the module docstring)."""
    changes = _arr([t.change_pct for t in tickers]) / 100.0
    volumes = _arr([t.quote_volume for t in tickers])
    b = mkt.breadth(changes)
    avg = mkt.average_change(changes)
    vw_avg = mkt.average_change(changes, volumes)
    valid = changes[np.isfinite(changes)]
    dispersion = float(valid.std()) if valid.size >= 2 else None
    ranges = [
        (t.high - t.low) / t.low
        for t in tickers
        if t.high is not None and t.low is not None and t.low > 0
    ]
    avg_range = float(np.mean(ranges)) if ranges else None

    bench_base, bench_quote, _ = split_unified(benchmark)
    same_quote = [t for t in tickers if split_unified(t.symbol)[1] == bench_quote]
    qv = _arr([t.quote_volume for t in same_quote])
    ok = np.isfinite(qv) & (qv >= 0)
    total = float(qv[ok].sum())
    is_btc = np.array([split_unified(t.symbol)[0] == bench_base for t in same_quote], dtype=bool)
    dominance = float(qv[ok & is_btc].sum()) / total if total > 0 and (ok & is_btc).any() else None

    bench = next((t for t in tickers if t.symbol == benchmark), None)
    if bench is None:  # perpetuals: BTC/USDT:USDT stands in for BTC/USDT
        bench = next((t for t in tickers if t.symbol.split(":")[0] == benchmark), None)
    btc_return = None if bench is None or bench.change_pct is None else bench.change_pct / 100.0
    regime = market_regime(btc_return=btc_return, breadth=b.advancers_fraction, avg_change=avg)
    return {
        "symbols": len(tickers),
        "advancers": b.advancers,
        "decliners": b.decliners,
        "unchanged": b.unchanged,
        "breadth": b.advancers_fraction,
        "avg_change_pct": _pct(avg),
        "vw_avg_change_pct": _pct(vw_avg),
        "volatility": {"dispersion_pct": _pct(dispersion), "avg_range_pct": _pct(avg_range)},
        "btc_dominance_pct": _pct(dominance),
        "benchmark": bench.symbol if bench is not None else benchmark,
        "benchmark_change_pct": None if bench is None else bench.change_pct,
        "regime": {
            "label": regime.label,
            "rule": regime.rule,
            "explanation": regime.explanation,
            "inputs": served_inputs(regime.inputs),
            "source": "tickers",
        },
    }


def _mover_rows(rows: Sequence[mkt.Mover], by_symbol: dict[str, Ticker]) -> list[MoverRow]:
    out = []
    for m in rows:
        t = by_symbol[m.symbol]
        out.append(
            MoverRow(
                symbol=t.symbol, last=t.last, change_pct=t.change_pct, quote_volume=t.quote_volume
            )
        )
    return out


def movers(tickers: Sequence[Ticker], n: int) -> dict[str, list[MoverRow]]:
    """Top ``n`` gainers, losers and volume leaders among one exchange's tickers."""
    symbols = [t.symbol for t in tickers]
    changes = _arr([t.change_pct for t in tickers]) / 100.0
    volumes = _arr([t.quote_volume for t in tickers])
    result = mkt.movers(symbols, changes, volumes, n)
    by_symbol = {t.symbol: t for t in tickers}
    return {
        "gainers": _mover_rows(result.gainers, by_symbol),
        "losers": _mover_rows(result.losers, by_symbol),
        "volume": _mover_rows(result.volume, by_symbol),
    }
