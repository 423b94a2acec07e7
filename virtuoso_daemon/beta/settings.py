"""The ``[beta]`` section as the beta actor uses it: windows parsed into candle counts.

Its own module because every part of the actor reads it (the scheduler which series
exist, the recompute ``min_obs``, the history its length, the queries and the
sentiment their windows) and a reload replaces it as a whole.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from virtuoso_daemon.beta.compute import parse_windows
from virtuoso_daemon.core.config import BetaConfig


@dataclass
class BetaSettings:
    """The effective beta settings; ``problems`` lists the windows left out and why."""

    benchmark: str
    min_obs: int
    history: int
    windows: dict[str, tuple[tuple[str, int], ...]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @classmethod
    def from_config(cls, cfg: BetaConfig) -> BetaSettings:
        windows, problems = parse_windows(cfg.windows)
        return cls(
            benchmark=cfg.benchmark,
            min_obs=max(3, cfg.min_obs),
            history=max(1, cfg.history),
            windows=windows,
            problems=problems,
        )

    def regime_window(self) -> tuple[str, str] | None:
        """First configured timeframe, its shortest window (sentiment volatility, regime)."""
        for tf, wins in self.windows.items():
            label, _ = min(wins, key=lambda w: w[1])
            return tf, label
        return None

    def windows_text(self) -> str:
        """``1h: 7d/30d, 4h: 30d`` for the log."""
        return ", ".join(
            f"{tf}: {'/'.join(w for w, _ in wins)}" for tf, wins in self.windows.items()
        )
