"""Beta changes (from the analytics snapshots) and funding-rate extremes.

Beta change
    ``beta_changes(reference, current, threshold)`` compares each symbol's current
    beta with a reference beta (the actor keeps the value it saw ``lookback`` ago)
    and returns the absolute differences and a mask of those at or above
    ``threshold`` (one number, or one per symbol). A symbol without both values is never flagged.

Funding extreme
    ``funding_severity(rate, warning, critical)``: ``|rate|`` (per funding interval,
    e.g. 0.001 = 0.1 %) at or above ``critical`` is "critical", at or above
    ``warning`` is "warning", otherwise None (no condition).
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np

from virtuoso_daemon.analytics._types import BoolArray, FloatArray


def beta_changes(
    reference: FloatArray, current: FloatArray, threshold: float | FloatArray
) -> tuple[FloatArray, BoolArray]:
    """``(|current - reference|, mask of changes >= threshold)``, NaN-safe."""
    ref = np.asarray(reference, dtype=np.float64)
    cur = np.asarray(current, dtype=np.float64)
    diff = np.abs(cur - ref)
    return diff, np.isfinite(diff) & (diff >= threshold)


def funding_severity(
    rate: float | None, warning: float, critical: float
) -> Literal["warning", "critical"] | None:
    """Severity of a funding rate, or None when it is unremarkable or unknown."""
    if rate is None or not math.isfinite(rate):
        return None
    r = abs(rate)
    if r >= critical:
        return "critical"
    if r >= warning:
        return "warning"
    return None
