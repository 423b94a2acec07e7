"""Rounding derived numbers to a sensible precision before they are served.

A derived float (an average, a product, a percentage) carries binary noise in its
last digits (``0.0051600000000000005``, ``19.991327000000002``) that every client
then has to round itself. Rounding to 12 significant digits removes the noise and
keeps every digit that means anything (prices and amounts have at most ~10). The
type never changes: a float stays a float, ``None`` stays ``None``, ints are kept.
"""

from __future__ import annotations

import math
from typing import Any

SIGNIFICANT = 12


def round_sig(value: float, digits: int = SIGNIFICANT) -> float:
    """``value`` rounded to ``digits`` significant digits (inf/NaN/0 unchanged)."""
    if value == 0 or not math.isfinite(value):
        return value
    return round(value, digits - 1 - math.floor(math.log10(abs(value))))


def round_opt(value: float | None, digits: int = SIGNIFICANT) -> float | None:
    return None if value is None else round_sig(value, digits)


def rounded(doc: Any, digits: int = SIGNIFICANT) -> Any:
    """A copy of a JSON-like document (dicts, lists, tuples) with every float rounded."""
    if isinstance(doc, float):
        return round_sig(doc, digits)
    if isinstance(doc, dict):
        return {k: rounded(v, digits) for k, v in doc.items()}
    if isinstance(doc, list | tuple):
        return [rounded(v, digits) for v in doc]
    return doc
