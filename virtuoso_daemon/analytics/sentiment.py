"""Market sentiment composite from the data the feeds actually deliver.

Each component maps a raw value to a score in [-1, 1] (-1 = fear, +1 = greed)
with one linear rule, ``score = clip(direction * (f(value) - centre) / scale, -1, 1)``:

=================  ==============================  ========  ==========  =========  ======
component          value                            f         centre      scale      weight
=================  ==============================  ========  ==========  =========  ======
funding_rate       mean funding rate per 8 h         x         0.0001      0.0004     0.25
oi_change          open-interest change (fraction)   x         0           0.10       0.15
breadth            fraction of symbols that rose     x         0.5         0.3        0.20
volatility         annualised volatility (fraction)  x         0.6         0.4 (-)    0.15
flow_imbalance     (buy - sell) / (buy + sell) vol   x         0           0.2        0.15
long_short_ratio   long / short accounts             ln x      0           ln 2       0.10
=================  ==============================  ========  ==========  =========  ======

So: funding at the exchanges' 0.01 %/8 h baseline is neutral and +0.05 % is full
greed; +10 % open interest is full greed; 80 % of symbols up is full greed;
60 % annualised volatility is neutral, 100 % full fear and 20 % full greed
(volatility is the one inverted component); a 20 % buy-side volume imbalance is
full greed; twice as many longs as shorts is full greed.

A component whose value is missing (None or NaN) drops out: its weight becomes
0 and the remaining weights are renormalised to sum to 1; each component reports
its value, score, base weight and effective weight. The composite ``score`` is
the weighted mean in [-1, 1] and ``index = 50 * (score + 1)`` in [0, 100].
Labels by index: < 20 extreme fear, < 40 fear, <= 60 neutral, <= 80 greed,
> 80 extreme greed; ``unknown`` (score None) when every component is missing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike


@dataclass(frozen=True, slots=True)
class ComponentRule:
    """How one component's value becomes a score (see the module table)."""

    name: str
    centre: float
    scale: float
    direction: float
    weight: float
    log: bool = False

    def score(self, value: float) -> float:
        """``clip(direction * (f(value) - centre) / scale, -1, 1)``; NaN if f is undefined."""
        x = value
        if self.log:
            if value <= 0:
                return math.nan
            x = math.log(value)
        return max(-1.0, min(1.0, self.direction * (x - self.centre) / self.scale))


COMPONENT_RULES: tuple[ComponentRule, ...] = (
    ComponentRule("funding_rate", centre=0.0001, scale=0.0004, direction=1.0, weight=0.25),
    ComponentRule("oi_change", centre=0.0, scale=0.10, direction=1.0, weight=0.15),
    ComponentRule("breadth", centre=0.5, scale=0.3, direction=1.0, weight=0.20),
    ComponentRule("volatility", centre=0.6, scale=0.4, direction=-1.0, weight=0.15),
    ComponentRule("flow_imbalance", centre=0.0, scale=0.2, direction=1.0, weight=0.15),
    ComponentRule(
        "long_short_ratio", centre=0.0, scale=math.log(2.0), direction=1.0, weight=0.10, log=True
    ),
)
"""The documented mapping, in report order."""


@dataclass(frozen=True, slots=True)
class SentimentComponent:
    """One input of the composite: raw value, score in [-1, 1], and its weights.

    ``weight`` is the effective (renormalised) weight, 0 when the value is missing;
    ``base_weight`` is the configured one.
    """

    name: str
    value: float | None
    score: float | None
    weight: float
    base_weight: float


@dataclass(frozen=True, slots=True)
class Sentiment:
    """The composite: score in [-1, 1], index in [0, 100], label and components."""

    score: float | None
    index: float | None
    label: str
    components: tuple[SentimentComponent, ...]


def sentiment_label(index: float | None) -> str:
    """Band of a 0..100 index (see the module docstring)."""
    if index is None or not math.isfinite(index):
        return "unknown"
    if index < 20.0:
        return "extreme fear"
    if index < 40.0:
        return "fear"
    if index <= 60.0:
        return "neutral"
    if index <= 80.0:
        return "greed"
    return "extreme greed"


def _clean(v: float | None) -> float | None:
    if v is None:
        return None
    f = float(v)
    return f if math.isfinite(f) else None


def sentiment(
    *,
    funding_rate: float | None = None,
    oi_change: float | None = None,
    breadth: float | None = None,
    volatility: float | None = None,
    flow_imbalance: float | None = None,
    long_short_ratio: float | None = None,
    weights: Mapping[str, float] | None = None,
) -> Sentiment:
    """Combine whichever components are available into one score and label.

    ``weights`` overrides base weights by component name (non-negative).
    """
    values = {
        "funding_rate": funding_rate,
        "oi_change": oi_change,
        "breadth": breadth,
        "volatility": volatility,
        "flow_imbalance": flow_imbalance,
        "long_short_ratio": long_short_ratio,
    }
    overrides = dict(weights or {})
    unknown = set(overrides) - set(values)
    if unknown:
        raise ValueError(f"unknown sentiment components: {sorted(unknown)}")
    if any(w < 0 or not math.isfinite(w) for w in overrides.values()):
        raise ValueError("sentiment weights must be finite and non-negative")

    rows: list[tuple[ComponentRule, float | None, float | None, float]] = []
    for rule in COMPONENT_RULES:
        value = _clean(values[rule.name])
        score = None if value is None else _clean(rule.score(value))
        rows.append((rule, value, score, overrides.get(rule.name, rule.weight)))
    total = sum(w for _, _, s, w in rows if s is not None)
    components = tuple(
        SentimentComponent(
            name=rule.name,
            value=value,
            score=score,
            weight=(w / total) if (score is not None and total > 0) else 0.0,
            base_weight=w,
        )
        for rule, value, score, w in rows
    )
    if total <= 0:
        return Sentiment(None, None, "unknown", components)
    composite = sum(c.score * c.weight for c in components if c.score is not None)
    composite = max(-1.0, min(1.0, composite))
    index = 50.0 * (composite + 1.0)
    return Sentiment(composite, index, sentiment_label(index), components)


def flow_imbalance(buy_volume: float, sell_volume: float) -> float | None:
    """``(buy - sell) / (buy + sell)`` in [-1, 1]; None when there was no volume."""
    total = buy_volume + sell_volume
    if not math.isfinite(total) or total <= 0:
        return None
    return (buy_volume - sell_volume) / total


def weighted_mean(values: ArrayLike, weights: ArrayLike | None = None) -> float | None:
    """NaN-aware (weighted) mean, e.g. funding rates weighted by open interest.

    Entries whose value or weight is missing are skipped; None if nothing is left.
    """
    v = np.asarray(values, dtype=np.float64).ravel()
    w = np.ones_like(v) if weights is None else np.asarray(weights, dtype=np.float64).ravel()
    if w.shape != v.shape:
        raise ValueError("values and weights differ in length")
    ok = np.isfinite(v) & np.isfinite(w) & (w > 0)
    if not ok.any():
        return None
    return float(np.dot(v[ok], w[ok]) / w[ok].sum())


__all__ = [
    "COMPONENT_RULES",
    "ComponentRule",
    "Sentiment",
    "SentimentComponent",
    "flow_imbalance",
    "sentiment",
    "sentiment_label",
    "weighted_mean",
]
