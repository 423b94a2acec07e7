"""Risk buckets: documented beta cut-offs, volatility escalation, insufficient data."""

from __future__ import annotations

import math

import numpy as np
import pytest

from virtuoso_daemon.analytics.risk import (
    RiskThresholds,
    risk_bucket,
    risk_bucket_codes,
    risk_buckets,
)


@pytest.mark.parametrize(
    ("beta", "bucket"),
    [
        (-0.8, "defensive"),
        (0.0, "defensive"),
        (0.49, "defensive"),
        (0.5, "moderate"),
        (0.99, "moderate"),
        (1.0, "aggressive"),
        (1.49, "aggressive"),
        (1.5, "high"),
        (3.0, "high"),
    ],
)
def test_beta_alone_picks_the_bucket(beta: float, bucket: str) -> None:
    assert risk_bucket(beta, 0.5) == bucket


@pytest.mark.parametrize(
    ("beta", "bucket"),
    [(0.2, "moderate"), (0.7, "aggressive"), (1.2, "high"), (2.0, "high")],
)
def test_volatility_of_150_percent_or_more_raises_the_bucket_one_step(
    beta: float, bucket: str
) -> None:
    assert risk_bucket(beta, 1.5) == bucket


def test_missing_volatility_escalates_nothing() -> None:
    assert risk_bucket(0.2, None) == "defensive"
    assert risk_bucket(0.2, math.nan) == "defensive"


def test_a_symbol_without_beta_is_insufficient_not_guessed() -> None:
    assert risk_bucket(None, 2.0) == "insufficient"
    assert risk_bucket(math.nan) == "insufficient"


def test_arrays_of_symbols_at_once() -> None:
    beta = np.array([0.1, 0.8, 1.2, 1.8, np.nan])
    vol = np.array([0.3, 2.0, 0.5, 0.5, 0.5])
    assert risk_buckets(beta, vol) == [
        "defensive",
        "aggressive",
        "aggressive",
        "high",
        "insufficient",
    ]
    np.testing.assert_array_equal(risk_bucket_codes(beta, vol), [0, 2, 2, 3, -1])


def test_thresholds_are_configurable() -> None:
    strict = RiskThresholds(
        moderate_beta=0.3, aggressive_beta=0.6, high_beta=0.9, escalate_volatility=10.0
    )
    assert risk_buckets([0.35, 0.65, 0.95], None, strict) == ["moderate", "aggressive", "high"]
