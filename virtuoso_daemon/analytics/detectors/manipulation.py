"""Manipulation score: open interest, volume, price and OI/price divergence, explained.

Inputs are one symbol's aligned 1-minute series, oldest first, newest last: closes,
volumes and open interest (polled over REST, forward-filled onto the minute grid).
For each window ``w`` (default 5, 15 and 60 minutes) four components are measured:

==============  ==========================================================  ==========
component       value                                                       score = 1 at
==============  ==========================================================  ==========
``oi_change``   percent change of open interest over the window             ``oi_scale``
``volume``      window volume over ``w`` x the median minute volume of the  ``volume_scale``
                ``baseline`` minutes before the window (1 = usual)          (score is
                                                                            ``(v-1)/(s-1)``)
``price``       percent change of the close over the window                 ``price_scale``
``divergence``  the part of the OI move that price does not follow:         ``divergence_scale``
                ``|oi|`` when OI and price move in opposite directions,
                else ``max(0, |oi| - |price|)`` (percent)
==============  ==========================================================  ==========

Each component's score is its value over its scale, clipped to [0, 1] (absolute
values for the percent changes); the percent scales are given for 15 minutes and
grow with the square root of the window (a random walk's spread). The window's score
is the weighted sum of the four scores (weights sum to 1: by default 0.3 OI, 0.2
volume, 0.2 price, 0.3 divergence), so it lies in [0, 1]. The symbol's score is the
highest window score; the result reports every window and the components of the
highest with value, score and weight. A window without data (too short, missing
OI) scores NaN and is skipped; with no usable window the score is NaN.

Why these: a pump-and-dump or a squeeze shows as leverage piling in (OI up) before
or against the price, on abnormal volume; an ordinary trend moves price and OI
together on ordinary volume and so scores low on divergence and volume.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from virtuoso_daemon.analytics._types import FloatArray

COMPONENTS = ("oi_change", "volume", "price", "divergence")
REFERENCE_WINDOW = 15  # minutes at which the percent scales apply


@dataclass(frozen=True)
class ManipulationWeights:
    """Weights (summing to 1) and full-score scales of the four components."""

    oi_change: float = 0.3
    volume: float = 0.2
    price: float = 0.2
    divergence: float = 0.3
    oi_scale: float = 6.0  # percent over 15 minutes
    volume_scale: float = 5.0  # times the usual volume
    price_scale: float = 4.0  # percent over 15 minutes
    divergence_scale: float = 5.0  # percent over 15 minutes

    def weight(self, name: str) -> float:
        value: float = getattr(self, name)
        return value


@dataclass(frozen=True)
class ManipulationComponent:
    name: str
    value: float  # percent change, volume multiple, or percent (see the module doc)
    score: float  # in [0, 1]
    weight: float


@dataclass(frozen=True)
class ManipulationScore:
    score: float  # highest window score, in [0, 1]; NaN when no window had data
    window: int | None  # minutes of the highest window
    components: tuple[ManipulationComponent, ...]  # of that window
    windows: dict[int, float]  # every window's score (NaN without data)


def _pct(series: FloatArray, w: int) -> float:
    if w >= series.size:
        return math.nan
    a, b = float(series[-1 - w]), float(series[-1])
    if not (math.isfinite(a) and math.isfinite(b) and a > 0):
        return math.nan
    return 100.0 * (b / a - 1.0)


def _volume_multiple(volumes: FloatArray, w: int, baseline: int) -> float:
    if w + 5 > volumes.size:
        return math.nan
    win = volumes[-w:]
    base = volumes[-w - baseline : -w]
    base = base[np.isfinite(base)]
    if base.size < 5 or not np.isfinite(win).all():
        return math.nan
    med = float(np.median(base))
    if med <= 0:
        return math.nan
    return float(win.sum()) / (w * med)


def _divergence(oi: float, price: float) -> float:
    if (oi > 0) != (price > 0) and oi != 0 and price != 0:
        return abs(oi)
    return max(0.0, abs(oi) - abs(price))


def window_components(
    closes: FloatArray,
    volumes: FloatArray,
    oi: FloatArray,
    window: int,
    *,
    baseline: int = 60,
    weights: ManipulationWeights | None = None,
) -> tuple[float, tuple[ManipulationComponent, ...]]:
    """One window's ``(score, components)``; score NaN when a value is missing."""
    wts = weights or ManipulationWeights()
    c = np.asarray(closes, dtype=np.float64)
    v = np.asarray(volumes, dtype=np.float64)
    o = np.asarray(oi, dtype=np.float64)
    oi_pct = _pct(o, window)
    price_pct = _pct(c, window)
    vol_mult = _volume_multiple(v, window, baseline)
    growth = math.sqrt(window / REFERENCE_WINDOW)
    values = {
        "oi_change": oi_pct,
        "volume": vol_mult,
        "price": price_pct,
        "divergence": _divergence(oi_pct, price_pct)
        if math.isfinite(oi_pct) and math.isfinite(price_pct)
        else math.nan,
    }
    scores = {
        "oi_change": abs(oi_pct) / (wts.oi_scale * growth),
        "volume": (vol_mult - 1.0) / (wts.volume_scale - 1.0),
        "price": abs(price_pct) / (wts.price_scale * growth),
        "divergence": values["divergence"] / (wts.divergence_scale * growth),
    }
    comps = tuple(
        ManipulationComponent(
            name,
            values[name],
            min(1.0, max(0.0, scores[name])) if math.isfinite(scores[name]) else math.nan,
            wts.weight(name),
        )
        for name in COMPONENTS
    )
    total = sum(cm.score * cm.weight for cm in comps)
    return (total if math.isfinite(total) else math.nan), comps


def manipulation_score(
    closes: FloatArray,
    volumes: FloatArray,
    oi: FloatArray,
    windows: Sequence[int] = (5, 15, 60),
    *,
    baseline: int = 60,
    weights: ManipulationWeights | None = None,
) -> ManipulationScore:
    """The symbol's score over ``windows`` (see the module doc)."""
    best: tuple[float, int, tuple[ManipulationComponent, ...]] | None = None
    per: dict[int, float] = {}
    for w in windows:
        score, comps = window_components(closes, volumes, oi, w, baseline=baseline, weights=weights)
        per[w] = score
        if math.isfinite(score) and (best is None or score > best[0]):
            best = (score, w, comps)
    if best is None:
        return ManipulationScore(math.nan, None, (), per)
    return ManipulationScore(best[0], best[1], best[2], per)
