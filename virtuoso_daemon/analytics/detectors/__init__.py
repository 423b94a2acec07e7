"""Signal detectors: pure numpy functions over windows of market data.

Each function here takes arrays (closes, volumes, trade sizes, book levels, open
interest) and returns numbers or masks; none keeps state, reads a clock or does I/O.
The signals actor (:mod:`virtuoso_daemon.signals`) keeps the windows and turns what
these functions say into :class:`~virtuoso_daemon.core.messages.Condition` messages.
Every rule (what counts as a move, a spike, a whale, a wall, a manipulation score) is
documented in its module and tested against a naive reference implementation in
``tests/analytics/test_detectors_*.py``.
"""

from __future__ import annotations

from virtuoso_daemon.analytics.detectors.book import (
    WallOutcome,
    book_imbalance,
    wall_levels,
    wall_outcome,
)
from virtuoso_daemon.analytics.detectors.derivatives import (
    beta_changes,
    funding_severity,
)
from virtuoso_daemon.analytics.detectors.manipulation import (
    COMPONENTS,
    ManipulationComponent,
    ManipulationScore,
    ManipulationWeights,
    manipulation_score,
)
from virtuoso_daemon.analytics.detectors.moves import (
    pct_moves,
    volatility_ratio,
    volume_ratio,
)
from virtuoso_daemon.analytics.detectors.trades import (
    log_size_stats,
    same_side_sums,
    size_sigmas,
    whale_mask,
)

__all__ = [
    "COMPONENTS",
    "ManipulationComponent",
    "ManipulationScore",
    "ManipulationWeights",
    "WallOutcome",
    "beta_changes",
    "book_imbalance",
    "funding_severity",
    "log_size_stats",
    "manipulation_score",
    "pct_moves",
    "same_side_sums",
    "size_sigmas",
    "volatility_ratio",
    "volume_ratio",
    "wall_levels",
    "wall_outcome",
    "whale_mask",
]
