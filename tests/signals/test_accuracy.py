"""Detector accuracy against the simulator's ground truth (see ``accuracy.py``).

The default-suite run is short (about 15 simulated minutes at 25x, with whales and
walls made frequent and three episodes scripted early) and checks the same bars as
the slow run, which plays two simulated hours of the default market and the default
``[signals]`` thresholds: whales recall >= 0.95, walls recall >= 0.9, fewer than one
false alert per symbol-hour, every finished episode detected in its window.
"""

from __future__ import annotations

import pytest

from tests.signals.accuracy import run
from virtuoso_daemon.sim import SimConfig


def check(sc_summary: str, sc: object) -> None:
    from tests.signals.accuracy import Score

    assert isinstance(sc, Score)
    assert sc.whales >= 10 and sc.whale_recall >= 0.95, sc_summary
    assert sc.walls >= 5 and sc.wall_recall >= 0.9, sc_summary
    assert sc.outcomes_right == sc.walls_ended, sc_summary
    assert sc.episodes and not sc.missed_episodes, sc_summary
    assert sc.false_per_symbol_hour < 1.0, (sc_summary, sc.false_alerts)


async def test_detectors_find_the_simulators_whales_walls_and_episodes() -> None:
    cfg = SimConfig(
        seed=21,
        n_alts=4,
        speed=25.0,
        whale_rate=40.0,
        wall_rate=15.0,
        wall_duration=180.0,
        episode_first=150.0,
        episode_every=150.0,
        episode_kinds=["move", "volume", "spoof"],
    )
    sc, _ = await run(cfg, wall_seconds=36.0)
    print(sc.summary())
    check(sc.summary(), sc)
    assert {e["kind"] for e in sc.episodes} == {"move", "volume", "spoof"}


@pytest.mark.slow
@pytest.mark.timeout(1200)
async def test_two_simulated_hours_on_the_default_config() -> None:
    """Default market and thresholds; 20 alts (42 markets) at 12x: 10 minutes."""
    cfg = SimConfig(seed=33, n_alts=20, speed=12.0)
    sc, info = await run(cfg, wall_seconds=615.0)
    print(sc.summary())
    print(info["stats"])
    assert sc.hours >= 2.0
    check(sc.summary(), sc)
    assert {e["kind"] for e in sc.episodes} == {"move", "volume", "spoof", "pump"}
