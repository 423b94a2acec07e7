"""Risk buckets per symbol and a market regime label, from documented rules.

Risk buckets
    From a symbol's beta against BTC (first) and its annualised volatility
    (second), with :class:`RiskThresholds` defaults:

    ============  ===================
    bucket        beta
    ============  ===================
    defensive     beta < 0.5 (negative betas included)
    moderate      0.5 <= beta < 1.0
    aggressive    1.0 <= beta < 1.5
    high          beta >= 1.5
    ============  ===================

    Volatility escalation: annualised volatility >= 1.5 (150 %) moves the bucket
    up one step (``high`` stays ``high``), because a low beta from a noisy,
    weakly correlated coin does not make it safe. Missing volatility escalates
    nothing. A symbol without a beta (insufficient data) is ``insufficient``.

Market regime
    :func:`market_regime` checks the rules of :data:`REGIME_RULES` in order and
    returns the first that fires, with the inputs it saw and the rule's text.
    Inputs are measured over one window chosen by the caller (e.g. 24 h):
    ``btc_return`` (fractional change of BTC, 0.01 = 1 %), ``breadth`` (fraction
    of symbols that rose, 0..1), ``avg_correlation`` (mean correlation of the
    alts with BTC) and ``avg_change`` (mean fractional change of all symbols).
    A condition whose input is missing (None/NaN) is false. With the default
    :class:`RegimeThresholds`:

    1. ``insufficient_data`` -> ``unknown``: btc_return or breadth is missing.
    2. ``correlated_selloff`` -> ``correlated sell-off``: btc_return <= -3 %,
       breadth <= 0.25 and avg_correlation >= 0.6 (everything falls together).
    3. ``risk_off_btc`` -> ``risk-off``: btc_return <= -1 % and breadth <= 0.4.
    4. ``risk_off_breadth`` -> ``risk-off``: breadth <= 0.3 and avg_change <= -2 %
       (alts bleed even if BTC holds).
    5. ``risk_on_btc`` -> ``risk-on``: btc_return >= +1 % and breadth >= 0.6.
    6. ``risk_on_breadth`` -> ``risk-on``: breadth >= 0.7 and avg_change >= +2 %.
    7. ``neutral`` -> ``neutral``: none of the above.

    :func:`regime_from_changes` builds the inputs from per-symbol arrays:
    ``btc_return`` is the benchmark's own change, ``breadth`` the advancers'
    fraction of all symbols with a change (:func:`.market.breadth`), ``avg_change``
    their equal-weighted mean, and ``avg_correlation`` the mean correlation with
    the benchmark of every *other* symbol that has one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from virtuoso_daemon.analytics.market import average_change, breadth

RISK_BUCKETS: tuple[str, ...] = ("defensive", "moderate", "aggressive", "high")
"""Bucket names, index = bucket code."""

INSUFFICIENT = "insufficient"
"""Bucket of a symbol without a beta (code -1)."""


@dataclass(frozen=True, slots=True)
class RiskThresholds:
    """Beta cut-offs between buckets and the volatility that escalates one step."""

    moderate_beta: float = 0.5
    aggressive_beta: float = 1.0
    high_beta: float = 1.5
    escalate_volatility: float = 1.5


def risk_bucket_codes(
    beta: ArrayLike,
    volatility: ArrayLike | None = None,
    thresholds: RiskThresholds = RiskThresholds(),
) -> NDArray[np.int8]:
    """Bucket codes (index into :data:`RISK_BUCKETS`; -1 = insufficient) for arrays."""
    b = np.asarray(beta, dtype=np.float64)
    cuts = np.array([thresholds.moderate_beta, thresholds.aggressive_beta, thresholds.high_beta])
    codes = np.searchsorted(cuts, np.where(np.isfinite(b), b, 0.0), side="right")
    if volatility is not None:
        v = np.asarray(volatility, dtype=np.float64)
        loud = np.isfinite(v) & (v >= thresholds.escalate_volatility)
        codes = np.minimum(codes + loud, len(RISK_BUCKETS) - 1)
    out: NDArray[np.int8] = np.where(np.isfinite(b), codes, -1).astype(np.int8)
    return out


def risk_buckets(
    beta: ArrayLike,
    volatility: ArrayLike | None = None,
    thresholds: RiskThresholds = RiskThresholds(),
) -> list[str]:
    """Bucket names for arrays of beta (and volatility), one per symbol."""
    codes = np.atleast_1d(risk_bucket_codes(beta, volatility, thresholds))
    return [RISK_BUCKETS[c] if c >= 0 else INSUFFICIENT for c in codes.tolist()]


def risk_bucket(
    beta: float | None,
    volatility: float | None = None,
    thresholds: RiskThresholds = RiskThresholds(),
) -> str:
    """Bucket name of one symbol."""
    b = math.nan if beta is None else beta
    v = math.nan if volatility is None else volatility
    return risk_buckets([b], [v], thresholds)[0]


# --- market regime ------------------------------------------------------------------

RegimeLabel = Literal["risk-on", "risk-off", "correlated sell-off", "neutral", "unknown"]
RegimeInput = Literal["btc_return", "breadth", "avg_correlation", "avg_change"]


@dataclass(frozen=True, slots=True)
class RegimeThresholds:
    """The numbers the regime rules compare with (fractions: 0.01 = 1 %)."""

    selloff_btc_return: float = -0.03
    selloff_breadth: float = 0.25
    selloff_correlation: float = 0.6
    risk_off_btc_return: float = -0.01
    risk_off_btc_breadth: float = 0.4
    risk_off_breadth: float = 0.3
    risk_off_avg_change: float = -0.02
    risk_on_btc_return: float = 0.01
    risk_on_btc_breadth: float = 0.6
    risk_on_breadth: float = 0.7
    risk_on_avg_change: float = 0.02


@dataclass(frozen=True, slots=True)
class Condition:
    """``input op threshold``; ``threshold`` names a :class:`RegimeThresholds` field."""

    input: RegimeInput
    op: Literal["<=", ">="]
    threshold: str


@dataclass(frozen=True, slots=True)
class RegimeRule:
    """A named rule: when all its conditions hold, the regime is ``label``."""

    name: str
    label: RegimeLabel
    conditions: tuple[Condition, ...] = field(default_factory=tuple)


REGIME_RULES: tuple[RegimeRule, ...] = (
    RegimeRule(
        "correlated_selloff",
        "correlated sell-off",
        (
            Condition("btc_return", "<=", "selloff_btc_return"),
            Condition("breadth", "<=", "selloff_breadth"),
            Condition("avg_correlation", ">=", "selloff_correlation"),
        ),
    ),
    RegimeRule(
        "risk_off_btc",
        "risk-off",
        (
            Condition("btc_return", "<=", "risk_off_btc_return"),
            Condition("breadth", "<=", "risk_off_btc_breadth"),
        ),
    ),
    RegimeRule(
        "risk_off_breadth",
        "risk-off",
        (
            Condition("breadth", "<=", "risk_off_breadth"),
            Condition("avg_change", "<=", "risk_off_avg_change"),
        ),
    ),
    RegimeRule(
        "risk_on_btc",
        "risk-on",
        (
            Condition("btc_return", ">=", "risk_on_btc_return"),
            Condition("breadth", ">=", "risk_on_btc_breadth"),
        ),
    ),
    RegimeRule(
        "risk_on_breadth",
        "risk-on",
        (
            Condition("breadth", ">=", "risk_on_breadth"),
            Condition("avg_change", ">=", "risk_on_avg_change"),
        ),
    ),
)
"""Rules tried in order after the insufficient-data check; ``neutral`` if none fires."""


@dataclass(frozen=True, slots=True)
class Regime:
    """The regime label, the rule that fired, why, and every input it was given."""

    label: RegimeLabel
    rule: str
    explanation: str
    inputs: dict[str, float | None]


def _clean(v: float | None) -> float | None:
    if v is None:
        return None
    f = float(v)
    return f if math.isfinite(f) else None


def _holds(c: Condition, inputs: dict[str, float | None], th: RegimeThresholds) -> bool:
    value = inputs[c.input]
    if value is None:
        return False
    limit = float(getattr(th, c.threshold))
    return value <= limit if c.op == "<=" else value >= limit


# How the inputs are served: one unit per kind of number, named in the field. Price
# changes are percent (``_pct``, as ``change_pct`` everywhere); breadth is a fraction
# 0..1 and correlation -1..1, as in the beta rows.
SERVED_INPUTS: dict[str, tuple[str, float]] = {
    "btc_return": ("btc_change_pct", 100.0),
    "breadth": ("breadth", 1.0),
    "avg_correlation": ("avg_correlation", 1.0),
    "avg_change": ("avg_change_pct", 100.0),
}


def served_inputs(inputs: dict[str, float | None]) -> dict[str, float | None]:
    """The regime's inputs as the API and the socket serve them (see SERVED_INPUTS)."""
    out: dict[str, float | None] = {}
    for key, value in inputs.items():
        name, scale = SERVED_INPUTS.get(key, (key, 1.0))
        out[name] = None if value is None else round(value * scale, 10)
    return out


def _describe(c: Condition, inputs: dict[str, float | None], th: RegimeThresholds) -> str:
    name, scale = SERVED_INPUTS.get(c.input, (c.input, 1.0))
    value = inputs[c.input]
    threshold = float(getattr(th, c.threshold))
    if value is None:
        return f"{name} missing"
    return f"{name}={value * scale:.6g} {c.op} {threshold * scale:.6g}"


def market_regime(
    *,
    btc_return: float | None,
    breadth: float | None,
    avg_correlation: float | None = None,
    avg_change: float | None = None,
    thresholds: RegimeThresholds = RegimeThresholds(),
    rules: Sequence[RegimeRule] = REGIME_RULES,
) -> Regime:
    """Label the market from the documented rules (see the module docstring)."""
    inputs: dict[str, float | None] = {
        "btc_return": _clean(btc_return),
        "breadth": _clean(breadth),
        "avg_correlation": _clean(avg_correlation),
        "avg_change": _clean(avg_change),
    }
    missing = [k for k in ("btc_return", "breadth") if inputs[k] is None]
    if missing:
        return Regime("unknown", "insufficient_data", f"missing {', '.join(missing)}", inputs)
    for rule in rules:
        if all(_holds(c, inputs, thresholds) for c in rule.conditions):
            why = " and ".join(_describe(c, inputs, thresholds) for c in rule.conditions)
            return Regime(rule.label, rule.name, why, inputs)
    return Regime("neutral", "neutral", "no risk-on, risk-off or sell-off rule fired", inputs)


def regime_from_changes(
    changes: ArrayLike,
    benchmark_index: int,
    correlations: ArrayLike | None = None,
    *,
    thresholds: RegimeThresholds = RegimeThresholds(),
    rules: Sequence[RegimeRule] = REGIME_RULES,
) -> Regime:
    """:func:`market_regime` from each symbol's change over the window (benchmark included).

    ``correlations`` (optional) holds each symbol's correlation with the benchmark,
    e.g. ``BetaTable.correlation``; the benchmark's own entry is left out of the mean.
    """
    c = np.asarray(changes, dtype=np.float64).ravel()
    avg_corr: float | None = None
    if correlations is not None:
        r = np.asarray(correlations, dtype=np.float64).ravel().copy()
        if r.shape != c.shape:
            raise ValueError("changes and correlations differ in length")
        r[benchmark_index] = np.nan
        r = r[np.isfinite(r)]
        avg_corr = float(r.mean()) if r.size else None
    return market_regime(
        btc_return=float(c[benchmark_index]),
        breadth=breadth(c).advancers_fraction,
        avg_correlation=avg_corr,
        avg_change=average_change(c),
        thresholds=thresholds,
        rules=rules,
    )


__all__ = [
    "INSUFFICIENT",
    "REGIME_RULES",
    "RISK_BUCKETS",
    "Condition",
    "Regime",
    "RegimeRule",
    "RegimeThresholds",
    "RiskThresholds",
    "market_regime",
    "regime_from_changes",
    "risk_bucket",
    "risk_bucket_codes",
    "risk_buckets",
    "served_inputs",
]
