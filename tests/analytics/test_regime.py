"""Market regime: each documented rule fires on inputs built for it, in order."""

from __future__ import annotations

import math
from typing import Any

import pytest

from virtuoso_daemon.analytics.risk import (
    RegimeThresholds,
    market_regime,
    regime_from_changes,
    served_inputs,
)


def test_correlated_selloff_when_btc_falls_hard_breadth_collapses_and_alts_move_with_it() -> None:
    r = market_regime(btc_return=-0.05, breadth=0.1, avg_correlation=0.8, avg_change=-0.07)
    assert (r.label, r.rule) == ("correlated sell-off", "correlated_selloff")
    # the explanation names the inputs as they are served: changes in percent
    assert "btc_change_pct=-5 <= -3" in r.explanation


def test_a_selloff_without_high_correlation_is_plain_risk_off() -> None:
    r = market_regime(btc_return=-0.05, breadth=0.1, avg_correlation=0.3, avg_change=-0.07)
    assert (r.label, r.rule) == ("risk-off", "risk_off_btc")


def test_a_selloff_with_unknown_correlation_is_plain_risk_off() -> None:
    r = market_regime(btc_return=-0.05, breadth=0.1, avg_correlation=None, avg_change=-0.07)
    assert (r.label, r.rule) == ("risk-off", "risk_off_btc")


def test_risk_off_when_btc_falls_and_most_symbols_fall() -> None:
    r = market_regime(btc_return=-0.015, breadth=0.35, avg_correlation=0.5, avg_change=-0.01)
    assert (r.label, r.rule) == ("risk-off", "risk_off_btc")


def test_risk_off_when_alts_bleed_while_btc_holds() -> None:
    r = market_regime(btc_return=0.002, breadth=0.2, avg_correlation=0.4, avg_change=-0.03)
    assert (r.label, r.rule) == ("risk-off", "risk_off_breadth")


def test_risk_on_when_btc_rises_with_broad_participation() -> None:
    r = market_regime(btc_return=0.02, breadth=0.65, avg_correlation=0.6, avg_change=0.01)
    assert (r.label, r.rule) == ("risk-on", "risk_on_btc")


def test_risk_on_when_alts_rally_broadly_while_btc_is_flat() -> None:
    r = market_regime(btc_return=0.0, breadth=0.8, avg_correlation=0.4, avg_change=0.03)
    assert (r.label, r.rule) == ("risk-on", "risk_on_breadth")


def test_neutral_when_no_rule_fires() -> None:
    r = market_regime(btc_return=0.004, breadth=0.5, avg_correlation=0.5, avg_change=0.001)
    assert (r.label, r.rule) == ("neutral", "neutral")


@pytest.mark.parametrize("missing", ["btc_return", "breadth"])
def test_unknown_when_btc_return_or_breadth_is_missing(missing: str) -> None:
    inputs: dict[str, Any] = {
        "btc_return": -0.05,
        "breadth": 0.1,
        "avg_correlation": 0.9,
        "avg_change": -0.05,
    }
    inputs[missing] = math.nan
    r = market_regime(**inputs)
    assert (r.label, r.rule) == ("unknown", "insufficient_data")
    assert r.inputs[missing] is None


def test_the_result_reports_every_input_it_saw() -> None:
    r = market_regime(btc_return=0.02, breadth=0.65, avg_correlation=None, avg_change=0.01)
    assert r.inputs == {
        "btc_return": 0.02,
        "breadth": 0.65,
        "avg_correlation": None,
        "avg_change": 0.01,
    }


def test_thresholds_are_configurable() -> None:
    loose = RegimeThresholds(risk_on_btc_return=0.001, risk_on_btc_breadth=0.5)
    r = market_regime(btc_return=0.004, breadth=0.5, thresholds=loose)
    assert r.rule == "risk_on_btc"


def test_regime_inputs_can_come_straight_from_per_symbol_arrays() -> None:
    changes = [-0.05, -0.08, -0.06, -0.07, 0.01, float("nan")]  # BTC first
    correlations = [1.0, 0.9, 0.8, 0.85, 0.55, float("nan")]
    r = regime_from_changes(changes, 0, correlations)
    assert r.label == "correlated sell-off"
    assert r.inputs["btc_return"] == -0.05
    assert r.inputs["breadth"] == pytest.approx(1 / 5)
    assert r.inputs["avg_change"] == pytest.approx(-0.25 / 5)
    assert r.inputs["avg_correlation"] == pytest.approx(3.1 / 4)  # BTC's own 1.0 left out


def test_served_inputs_name_their_unit() -> None:
    r = market_regime(btc_return=0.00516, breadth=0.6, avg_correlation=0.675, avg_change=0.01)
    assert served_inputs(r.inputs) == {
        "btc_change_pct": 0.516,
        "breadth": 0.6,
        "avg_correlation": 0.675,
        "avg_change_pct": 1.0,
    }
