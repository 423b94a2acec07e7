"""Where the beta actor's results go: the views (per exchange and the default alias)
and the bus.

Its own module because the publishing rules are the actor's contract with every
reader (``read/analytics.py``, the control socket, the TUI): which view keys exist,
which exchange the alias ``beta.<tf>.<window>`` points at (the first in config order
that has one), and that only the alias goes on the bus (the snapshot messages carry
no exchange; subscribers key them by timeframe and window).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from virtuoso_daemon.beta.compute import (
    Computation,
    CorrelationView,
    correlation_body,
    slim_correlation,
    view_key,
)
from virtuoso_daemon.core.bus import Topics
from virtuoso_daemon.core.exchanges import exchange_configs
from virtuoso_daemon.core.messages import RegimeSnapshot, SentimentSnapshot
from virtuoso_daemon.core.runtime import Runtime

STATUS_VIEW = "analytics.status"
SENTIMENT_VIEW = "sentiment"
REGIME_VIEW = "regime"
SENTIMENT_DOC_VIEW = "sentiment.overview"


def is_default(rt: Runtime, kind: str, exchange: str, tf: str, window: str) -> bool:
    """True when no exchange before ``exchange`` (config order) has this snapshot."""
    for ex in exchange_configs(rt):
        if ex.name == exchange:
            return True
        if rt.views.get(view_key(kind, tf, window, ex.name)) is not None:
            return False
    return False


def publish_computation(rt: Runtime, comp: Computation) -> None:
    """Every window's beta and correlation snapshot: its exchange's views, and the
    alias views and the bus when this exchange is the default one."""
    views, bus = rt.views, rt.bus
    ex, tf = comp.exchange, comp.timeframe
    pairs: list[tuple[str, str, Any, Any, bytes | Callable[[], bytes]]] = [
        *(("beta", s.window, s, s, b) for s, b in zip(comp.betas, comp.beta_bodies, strict=True)),
    ]
    for snap, values in zip(comp.correlations, comp.correlation_values, strict=True):
        view = CorrelationView(slim_correlation(snap), values)
        encoder = functools.partial(correlation_body, view)
        pairs.append(("correlation", snap.window, snap, view, encoder))
    for kind, window, snap, value, body in pairs:
        views.publish(view_key(kind, tf, window, ex), value, body=body)
        if is_default(rt, kind, ex, tf, window):
            views.publish(view_key(kind, tf, window), value, body=body)
            bus.publish_nowait(Topics.BETA if kind == "beta" else Topics.CORRELATION, snap)


def publish_sentiment(
    rt: Runtime,
    sentiment: SentimentSnapshot,
    regime: RegimeSnapshot,
    document: dict[str, Any],
) -> None:
    """Sentiment and regime: their views, the explained document, and the bus."""
    views, bus = rt.views, rt.bus
    views.publish(SENTIMENT_VIEW, sentiment)
    views.publish(REGIME_VIEW, regime)
    views.publish(SENTIMENT_DOC_VIEW, document)
    bus.publish_nowait(Topics.SENTIMENT, sentiment)
    bus.publish_nowait(Topics.SENTIMENT, regime)
