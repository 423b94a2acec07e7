"""Timeframes, annualisation and window sizes.

Crypto trades 24 hours a day, 365 days a year, so a year holds
``365 * 86400 / timeframe_seconds`` candles: 8760 for ``1h``, 2190 for ``4h``,
365 for ``1d``, 525600 for ``1m``. The stock-market convention of 252 trading days
is wrong here for every candle size, including daily.

Windows are written like timeframes (``"7d"``, ``"30d"``, ``"90d"``, ``"12h"``,
``"2w"``) and measure time, not candles: a ``90d`` window is 2160 one-hour candles,
540 four-hour candles or 90 daily candles. A window of N candles holds N returns
and needs N + 1 closes, so ``90d`` on ``1h`` needs 2161 closes -- more than the
1000-candle limit of a single exchange request. :class:`WindowSpec` says how many
candles and how many requests that takes.

Units: ``s`` seconds, ``m`` minutes, ``h`` hours, ``d`` days, ``w`` weeks
(case-sensitive; ``M`` for months is rejected because a month has no fixed length).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache

SECONDS_PER_YEAR = 365 * 86_400
"""One calendar year of a 24/7 market, in seconds (365 days; leap days are ignored)."""

_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3_600, "d": 86_400, "w": 604_800}
_SPEC = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")


@lru_cache(maxsize=256)
def _parse_seconds(spec: str) -> int:
    m = _SPEC.match(spec)
    if m is None:
        raise ValueError(
            f"invalid duration {spec!r}: expected <count><unit> with unit one of s, m, h, d, w "
            "(e.g. '1h', '4h', '1d', '90d')"
        )
    count = int(m.group(1))
    if count <= 0:
        raise ValueError(f"invalid duration {spec!r}: count must be positive")
    return count * _UNIT_SECONDS[m.group(2)]


def timeframe_seconds(timeframe: str) -> int:
    """Length of one candle in seconds: ``"1h"`` -> 3600, ``"1d"`` -> 86400."""
    return _parse_seconds(timeframe)


def timeframe_ms(timeframe: str) -> int:
    """Length of one candle in milliseconds (the unit of ccxt open times)."""
    return _parse_seconds(timeframe) * 1000


def periods_per_year(timeframe: str) -> float:
    """Candles in a 365-day year: ``1h`` -> 8760, ``4h`` -> 2190, ``1d`` -> 365, ``1w`` -> 52.14."""
    return SECONDS_PER_YEAR / _parse_seconds(timeframe)


def window_seconds(window: str) -> int:
    """Length of a window such as ``"90d"`` in seconds."""
    return _parse_seconds(window)


def window_candles(window: str, timeframe: str) -> int:
    """Candles (= returns) in ``window`` at ``timeframe``: ``("90d", "1h")`` -> 2160.

    Raises ``ValueError`` when the window is shorter than one candle or is not a
    whole number of candles (``"7d"`` on ``"3d"``): a silently rounded window would
    be a different window from the one on the label.
    """
    w, tf = window_seconds(window), timeframe_seconds(timeframe)
    if w < tf:
        raise ValueError(f"window {window!r} is shorter than one {timeframe!r} candle")
    if w % tf:
        raise ValueError(f"window {window!r} is not a whole number of {timeframe!r} candles")
    return w // tf


@dataclass(frozen=True, slots=True)
class WindowSpec:
    """How much data one (timeframe, window) pair needs.

    ``candles`` is the number of returns in the window; ``closes_needed`` is one
    more, because a return needs the close before it. ``requests(limit)`` is the
    number of exchange requests of at most ``limit`` candles needed to fetch them.
    """

    timeframe: str
    window: str
    candles: int
    closes_needed: int
    timeframe_seconds: int
    periods_per_year: float

    def requests(self, limit: int) -> int:
        """Exchange requests needed to fetch ``closes_needed`` candles ``limit`` at a time."""
        if limit <= 0:
            raise ValueError("limit must be positive")
        return math.ceil(self.closes_needed / limit)

    def fits(self, limit: int) -> bool:
        """True when one request of ``limit`` candles fills the window."""
        return self.closes_needed <= limit


def window_spec(window: str, timeframe: str) -> WindowSpec:
    """Describe ``window`` at ``timeframe``; ``window_spec("90d", "1h").candles == 2160``."""
    n = window_candles(window, timeframe)
    return WindowSpec(
        timeframe=timeframe,
        window=window,
        candles=n,
        closes_needed=n + 1,
        timeframe_seconds=timeframe_seconds(timeframe),
        periods_per_year=periods_per_year(timeframe),
    )


__all__ = [
    "SECONDS_PER_YEAR",
    "WindowSpec",
    "periods_per_year",
    "timeframe_ms",
    "timeframe_seconds",
    "window_candles",
    "window_seconds",
    "window_spec",
]
