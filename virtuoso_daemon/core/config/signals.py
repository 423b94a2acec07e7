"""The signals section: which detectors run, their thresholds, per-symbol overrides."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

from virtuoso_daemon.core.config.base import Positive, Seconds, SecondsOrOff, Section
from virtuoso_daemon.core.messages import SIGNAL_KINDS

Ratio = Annotated[float, msgspec.Meta(ge=0)]
Fraction = Annotated[float, msgspec.Meta(ge=0, le=1)]
Minutes = Annotated[int, msgspec.Meta(ge=1, le=1440)]


class PriceMoveThresholds(Section):
    """Percent moves that fire, per window; twice the threshold is critical."""

    pct_5m: Positive = 2.0
    pct_15m: Positive = 3.5
    pct_60m: Positive = 6.0


class VolatilityThresholds(Section):
    ratio: Positive = 3.0  # RMS of recent 1m returns over the baseline's RMS
    recent: Annotated[int, msgspec.Meta(ge=2, le=60)] = 5  # minutes
    baseline: Annotated[int, msgspec.Meta(ge=20, le=720)] = 60  # minutes before them


class VolumeThresholds(Section):
    ratio: Positive = 8.0  # a 1m volume over the baseline's median
    baseline: Annotated[int, msgspec.Meta(ge=20, le=720)] = 60  # minutes


class WhaleThresholds(Section):
    min_usd: Ratio = 100_000.0  # quote value at least this ...
    k_sigma: Ratio = 4.5  # ... and this many robust sigmas above recent log sizes (0 = off)
    sample: Annotated[int, msgspec.Meta(ge=30, le=100_000)] = 500  # recent trades measured
    burst_seconds: Seconds = 10.0  # same-side trades summed over this window ...
    burst_min_usd: Ratio = 500_000.0  # ... fire at this quote value ...
    burst_factor: Positive = 10.0  # ... and this multiple of the side's usual flow


class WallThresholds(Section):
    min_ratio: Positive = 50.0  # level size over the side's median level size
    min_usd: Ratio = 100_000.0  # and at least this quote value
    imbalance: Annotated[float, msgspec.Meta(gt=0, le=1)] = 0.75  # |bid-ask|/(bid+ask)
    imbalance_seconds: SecondsOrOff = 60.0  # held this long before it fires


class ManipulationThresholds(Section):
    warning: Fraction = 0.6  # score in [0, 1]
    critical: Fraction = 0.8
    windows: list[Minutes] = msgspec.field(default_factory=lambda: [5, 15, 60])
    baseline: Annotated[int, msgspec.Meta(ge=10, le=720)] = 60  # minutes of usual volume
    weight_oi: Fraction = 0.3
    weight_volume: Fraction = 0.2
    weight_price: Fraction = 0.2
    weight_divergence: Fraction = 0.3


class BetaChangeThresholds(Section):
    change: Positive = 0.5  # |beta - beta lookback ago|
    lookback: Seconds = 86_400.0


class FundingThresholds(Section):
    warning: Positive = 0.001  # |rate| per funding interval (0.001 = 0.1 %)
    critical: Positive = 0.003


class SignalThresholds(Section):
    """Every detector's thresholds: ``[signals.<detector>]`` and per-symbol overrides."""

    price_move: PriceMoveThresholds = msgspec.field(default_factory=PriceMoveThresholds)
    volatility: VolatilityThresholds = msgspec.field(default_factory=VolatilityThresholds)
    volume: VolumeThresholds = msgspec.field(default_factory=VolumeThresholds)
    whales: WhaleThresholds = msgspec.field(default_factory=WhaleThresholds)
    walls: WallThresholds = msgspec.field(default_factory=WallThresholds)
    manipulation: ManipulationThresholds = msgspec.field(default_factory=ManipulationThresholds)
    beta: BetaChangeThresholds = msgspec.field(default_factory=BetaChangeThresholds)
    funding: FundingThresholds = msgspec.field(default_factory=FundingThresholds)


class SignalsConfig(SignalThresholds):
    """The signals actor: which detectors run and their thresholds.

    ``overrides`` maps a unified symbol to partial detector tables, e.g.
    ``[signals.overrides."BTC/USDT".whales] min_usd = 1000000``; what a symbol's table
    leaves out comes from the section above (:meth:`for_symbol`).
    """

    enabled: bool = True
    detectors: list[str] = msgspec.field(default_factory=lambda: list(SIGNAL_KINDS))
    recent: Annotated[int, msgspec.Meta(ge=1, le=10_000)] = 200  # events kept per view
    overrides: dict[str, dict[str, dict[str, Any]]] = {}

    def for_symbol(self, symbol: str) -> SignalThresholds:
        """The thresholds of ``symbol``: the section's, with its overrides applied."""
        over = self.overrides.get(symbol)
        base = SignalThresholds(**{f: getattr(self, f) for f in SignalThresholds.__struct_fields__})
        if not over:
            return base
        data = msgspec.to_builtins(base)
        for section, values in over.items():
            data[section] = {**data.get(section, {}), **values}
        return msgspec.convert(data, SignalThresholds)
