"""The monitor watching real feeds on the simulator: inject a fault, time how long until
``/health`` (the report view) counts it critical. Shared by the tests and
``scripts/bench_health.py`` (which takes the median over several runs)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import msgspec

from tests.feeds.env import sim_exchange
from tests.harness import test_config
from tests.health.env import HealthEnv, health_env
from virtuoso_daemon.feeds import feed_specs
from virtuoso_daemon.sim import SimConfig, Simulator

FEED = "ex"


@contextlib.asynccontextmanager
async def sim_health_env(
    feed: dict[str, Any], health: dict[str, Any], extra_specs: Any = None
) -> AsyncIterator[tuple[HealthEnv, Simulator]]:
    """One spot feed named ``ex`` on a fresh simulator, plus http_api and health."""
    sim = Simulator(SimConfig(seed=11, n_alts=3, speed=60.0))
    async with sim.running() as base_url:
        ex = sim_exchange(sim, base_url, FEED, "spot", **feed)
        cfg = msgspec.structs.replace(test_config(health=health), exchanges=[ex])
        async with health_env(cfg, extra_specs or feed_specs) as env:
            yield env, sim


async def flowing(env: HealthEnv, kinds: tuple[str, ...], timeout: float = 20.0) -> None:
    """Wait until every kind's check and the exchange's are ok (data arriving)."""
    names = (f"exchange:{FEED}", *(f"data:{FEED}:{k}" for k in kinds))

    def all_ok() -> bool:
        checks = [env.check(n) for n in names]
        return all(c is not None and c.status == "ok" and c.raw is None for c in checks)

    await env.wait_for(all_ok, timeout, f"{', '.join(names)} ok")


async def time_to_critical(
    env: HealthEnv, sim: Simulator, fault: dict[str, Any], check: str, timeout: float
) -> float:
    """Inject ``fault``; seconds until ``check`` counts critical in the report."""
    sim.inject(fault)
    started = time.monotonic()
    await env.wait_status(check, "critical", timeout)
    return time.monotonic() - started
