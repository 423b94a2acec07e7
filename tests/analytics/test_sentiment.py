"""Sentiment composite: documented component mapping, missing data, labels."""

from __future__ import annotations

import math
from typing import Any

import pytest

from virtuoso_daemon.analytics.sentiment import (
    COMPONENT_RULES,
    flow_imbalance,
    sentiment,
    sentiment_label,
    weighted_mean,
)

ALL: dict[str, Any] = {
    "funding_rate": 0.0001,
    "oi_change": 0.0,
    "breadth": 0.5,
    "volatility": 0.6,
    "flow_imbalance": 0.0,
    "long_short_ratio": 1.0,
}


def score_of(name: str, value: float) -> float | None:
    kwargs: dict[str, Any] = {name: value}
    comp = {c.name: c for c in sentiment(**kwargs).components}[name]
    return comp.score


def test_default_weights_sum_to_one() -> None:
    assert sum(r.weight for r in COMPONENT_RULES) == pytest.approx(1.0)


def test_every_component_at_its_centre_is_neutral() -> None:
    s = sentiment(**ALL)
    assert all(c.score == pytest.approx(0.0) for c in s.components)
    assert s.score == pytest.approx(0.0) and s.index == pytest.approx(50.0)
    assert s.label == "neutral"


@pytest.mark.parametrize(
    ("name", "greed", "fear"),
    [
        ("funding_rate", 0.0005, -0.0003),
        ("oi_change", 0.10, -0.10),
        ("breadth", 0.8, 0.2),
        ("volatility", 0.2, 1.0),
        ("flow_imbalance", 0.2, -0.2),
        ("long_short_ratio", 2.0, 0.5),
    ],
)
def test_each_component_reaches_full_greed_and_full_fear_at_its_documented_values(
    name: str, greed: float, fear: float
) -> None:
    assert score_of(name, greed) == pytest.approx(1.0)
    assert score_of(name, fear) == pytest.approx(-1.0)


def test_scores_are_linear_between_and_clipped_beyond() -> None:
    assert score_of("funding_rate", 0.0003) == pytest.approx(0.5)
    assert score_of("funding_rate", 0.01) == 1.0
    assert score_of("breadth", 0.0) == -1.0


def test_high_volatility_is_fear() -> None:
    assert score_of("volatility", 0.8) == pytest.approx(-0.5)


def test_missing_components_drop_out_and_the_rest_renormalise() -> None:
    s = sentiment(funding_rate=0.0005, breadth=0.2, long_short_ratio=None, volatility=math.nan)
    weights = {c.name: c.weight for c in s.components}
    assert weights["funding_rate"] == pytest.approx(0.25 / 0.45)
    assert weights["breadth"] == pytest.approx(0.20 / 0.45)
    assert weights["volatility"] == 0.0 and weights["long_short_ratio"] == 0.0
    assert sum(weights.values()) == pytest.approx(1.0)
    assert s.score == pytest.approx((0.25 - 0.20) / 0.45)
    missing = {c.name for c in s.components if c.score is None}
    assert missing == {"oi_change", "volatility", "flow_imbalance", "long_short_ratio"}


def test_each_component_reports_value_score_and_both_weights() -> None:
    s = sentiment(oi_change=0.05)
    (oi,) = [c for c in s.components if c.name == "oi_change"]
    assert (oi.value, oi.score, oi.weight, oi.base_weight) == (0.05, pytest.approx(0.5), 1.0, 0.15)


def test_nothing_available_is_unknown_not_neutral() -> None:
    s = sentiment()
    assert (s.score, s.index, s.label) == (None, None, "unknown")
    assert all(c.weight == 0.0 for c in s.components)


def test_weights_can_be_overridden_by_name() -> None:
    s = sentiment(funding_rate=0.0005, breadth=0.2, weights={"funding_rate": 0.0})
    assert s.score == pytest.approx(-1.0)
    with pytest.raises(ValueError, match="unknown"):
        sentiment(weights={"fear_index": 1.0})


def test_a_non_positive_long_short_ratio_has_no_score() -> None:
    assert score_of("long_short_ratio", 0.0) is None


@pytest.mark.parametrize(
    ("index", "label"),
    [
        (0, "extreme fear"),
        (19.9, "extreme fear"),
        (20, "fear"),
        (39.9, "fear"),
        (40, "neutral"),
        (60, "neutral"),
        (60.1, "greed"),
        (80, "greed"),
        (80.1, "extreme greed"),
        (100, "extreme greed"),
        (None, "unknown"),
    ],
)
def test_labels_by_index_band(index: float | None, label: str) -> None:
    assert sentiment_label(index) == label


def test_flow_imbalance_is_buy_minus_sell_over_total() -> None:
    assert flow_imbalance(75.0, 25.0) == pytest.approx(0.5)
    assert flow_imbalance(0.0, 0.0) is None


def test_weighted_mean_skips_missing_values() -> None:
    assert weighted_mean([0.0001, math.nan, 0.0003], [1.0, 5.0, 3.0]) == pytest.approx(0.00025)
    assert weighted_mean([math.nan]) is None
