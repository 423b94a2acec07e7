"""What the beta actor answers on its request topic: one symbol's beta history and a
rolling beta series.

Its own module because answering is separate from computing: it reads what the
recomputes left (the history rings, the latest computation per exchange and
timeframe) and asks the market store again for the two close series a rolling beta
needs, since the returns of every symbol are not kept after a recompute.
:mod:`virtuoso_daemon.read.analytics` wraps it for HTTP and the socket.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from virtuoso_daemon import analytics
from virtuoso_daemon.beta.compute import Computation, finite_or_none
from virtuoso_daemon.beta.history import HISTORY_COLUMNS, HistoryKey
from virtuoso_daemon.beta.history_keeper import HistoryKeeper
from virtuoso_daemon.beta.settings import BetaSettings
from virtuoso_daemon.core.errors import QueryError
from virtuoso_daemon.core.runtime import Runtime
from virtuoso_daemon.market import requests

BETA_QUERIES = "beta_queries"  # request topic of this actor (lossless)
ROLLING_COLUMNS = ("open_time", "beta", "correlation", "n_obs")


async def symbol_detail(
    rt: Runtime,
    settings: BetaSettings,
    history: HistoryKeeper,
    results: Mapping[tuple[str, str], Computation],
    exchange: str,
    symbol: str,
    timeframe: str | None = None,
    window: str | None = None,
    points: int = 500,
) -> dict[str, Any]:
    """History of every timeframe/window and a rolling beta series for one symbol."""
    rows = [
        {
            "timeframe": tf,
            "window": label,
            "rows": history.tail(HistoryKey(exchange, symbol, tf, label), points),
        }
        for tf, wins in settings.windows.items()
        for label, _ in wins
    ]
    return {
        "history_columns": list(HISTORY_COLUMNS),
        "history": rows,
        "rolling": await rolling(
            rt, settings.min_obs, results, exchange, symbol, timeframe, window, points
        ),
    }


async def rolling(
    rt: Runtime,
    min_obs: int,
    results: Mapping[tuple[str, str], Computation],
    exchange: str,
    symbol: str,
    tf: str | None,
    window: str | None,
    points: int,
) -> dict[str, Any] | None:
    """The rolling beta of ``symbol`` against its exchange's benchmark, newest
    ``points`` rows, over the candles the latest computation used."""
    if tf is None or window is None:
        return None
    out: dict[str, Any] = {
        "timeframe": tf,
        "window": window,
        "columns": list(ROLLING_COLUMNS),
        "rows": [],
    }
    comp = results.get((exchange, tf))
    if comp is None or symbol not in comp.matrix.symbols:
        out["note"] = f"no {tf} returns of {symbol} on {exchange} computed yet"
        return out
    # the closes the computation used (same rows, same newest candle), read back
    # from the store: the returns matrix of every symbol is not kept for this
    rows = comp.matrix.times.size + 1
    try:
        times, closes = await requests.closes(
            rt, exchange, tf, [symbol, comp.benchmark], rows, end=comp.as_of
        )
    except QueryError as exc:
        out["note"] = f"market store: {exc.message}"
        return out
    returns = analytics.log_returns(closes.T)
    size = analytics.window_candles(window, tf)
    rb = analytics.rolling_beta(returns[:, 0], returns[:, 1], size, min_obs=min_obs)
    return_times = times[1:]
    idx = np.flatnonzero(rb.n_obs > 0)[-points:]
    out["rows"] = [
        [
            int(return_times[i]),
            finite_or_none(float(rb.beta[i])),
            finite_or_none(float(rb.correlation[i])),
            int(rb.n_obs[i]),
        ]
        for i in idx.tolist()
    ]
    if not out["rows"]:
        out["note"] = f"{return_times.size} {tf} returns, fewer than one {window} window"
    return out
