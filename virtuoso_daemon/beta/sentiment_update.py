"""One sentiment update: the beta actor's runtime inputs handed to :func:`.sentiment.build`.

Its own module because it is the one place the actor reads other actors' views
(tickers, funding, open interest) and its own latest computations together: it picks
the primary exchange (the first in config order with tickers, else the first with
betas) and the regime window's benchmark volatility and correlations.
:mod:`.sentiment` stays pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from virtuoso_daemon.beta import sentiment as beta_sentiment
from virtuoso_daemon.beta.compute import Computation, finite_or_none
from virtuoso_daemon.beta.settings import BetaSettings
from virtuoso_daemon.core.exchanges import exchange_configs
from virtuoso_daemon.core.messages import RegimeSnapshot, SentimentSnapshot
from virtuoso_daemon.core.runtime import Runtime
from virtuoso_daemon.tickers.table import ticker_snapshot


def regime_window(
    settings: BetaSettings, results: Mapping[tuple[str, str], Computation], primary: str | None
) -> beta_sentiment.RegimeWindow | None:
    """The primary exchange's regime-window table, as the regime reads it."""
    rw = settings.regime_window()
    if primary is None or rw is None:
        return None
    tf, window = rw
    comp = results.get((primary, tf))
    if comp is None:
        return None
    table = next((t for t in comp.tables if t.label == window), None)
    if table is None:
        return None
    vol = table.volatility[table.symbols.index(comp.benchmark)]
    return beta_sentiment.RegimeWindow(
        exchange=primary,
        timeframe=tf,
        window=window,
        benchmark=comp.benchmark,
        benchmark_volatility=finite_or_none(float(vol)),
        correlations=comp.correlation_rows.get(window, {}),
    )


def build_sentiment(
    rt: Runtime,
    settings: BetaSettings,
    results: Mapping[tuple[str, str], Computation],
    benchmarks: Mapping[str, str],
    flow: beta_sentiment.TradeFlow,
    oi: beta_sentiment.OpenInterestHistory,
    now: float,
) -> tuple[SentimentSnapshot, RegimeSnapshot, dict[str, Any]]:
    """Sentiment, regime and the explained document, from what the daemon has now."""
    snap = ticker_snapshot(rt)
    with_tickers = {t.exchange for t in snap.tickers}
    names = [ex.name for ex in exchange_configs(rt)]
    primary = next((n for n in names if n in with_tickers), None)
    if primary is None:  # no tickers yet: the exchange whose betas we have
        primary = next((n for n in names if any(k[0] == n for k in results)), None)
    tickers = [t for t in snap.tickers if t.exchange == primary]
    return beta_sentiment.build(
        exchange=primary,
        tickers=tickers,
        benchmark=benchmarks.get(primary or "", settings.benchmark),
        funding=rt.views.value("market.funding") or [],
        open_interest=rt.views.value("market.open_interest") or [],
        oi_change=oi.change(),
        flow=flow.totals(now),
        regime_window=regime_window(settings, results, primary),
        now=now,
    )
