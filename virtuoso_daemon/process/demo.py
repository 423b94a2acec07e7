"""The demo actor: the simulated exchange inside the daemon, for ``virtuoso-daemon --demo``.

It starts :class:`~virtuoso_daemon.sim.Simulator` on loopback with the ``[demo]``
config, publishes its base URL in the ``demo.base_url`` view *before* reporting
ready, and the feed actors (which depend on this one) read that URL to build their
exchange config with :func:`demo_exchanges`: a Binance spot feed ``sim-spot`` over
every simulated market and, with perpetuals on, a USD-M feed ``sim-perp``. The
feeds run their real ccxt code against it; nothing here is a shortcut.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import anyio
import anyio.abc

from virtuoso_daemon.core.config import DemoConfig, ExchangeConfig, MarketType
from virtuoso_daemon.core.runtime import Runtime

if TYPE_CHECKING:  # the simulator is imported only when the demo runs (~5 MB)
    from virtuoso_daemon.sim.universe import Kind

log = logging.getLogger("virtuoso.demo")

BASE_URL_VIEW = "demo.base_url"
SPOT_FEED = "sim-spot"
PERP_FEED = "sim-perp"


def sim_config(demo: DemoConfig) -> Any:
    from virtuoso_daemon.sim import SimConfig

    return SimConfig(
        seed=demo.seed, n_alts=demo.n_alts, speed=demo.speed, perpetuals=demo.perpetuals
    )


def demo_feed_names(demo: DemoConfig) -> list[str]:
    return [SPOT_FEED, PERP_FEED] if demo.perpetuals else [SPOT_FEED]


def demo_exchanges(base_url: str, demo: DemoConfig) -> list[ExchangeConfig]:
    """The feeds that watch the in-process simulator at ``base_url``."""
    from virtuoso_daemon.sim import ccxt_overrides
    from virtuoso_daemon.sim.universe import Universe

    universe = Universe(sim_config(demo))
    feeds: list[tuple[str, MarketType, str, Kind]] = [(SPOT_FEED, "spot", "binance", "spot")]
    if demo.perpetuals:
        feeds.append((PERP_FEED, "linear", "binanceusdm", "futures"))
    out = []
    for name, market, ccxt_id, kind in feeds:
        overrides = ccxt_overrides(base_url, market)
        out.append(
            ExchangeConfig(
                name=name,
                ccxt_id=ccxt_id,
                market=market,
                symbols=[m.symbol for m in universe.kind_markets(kind)],
                urls=overrides.get("urls", {}),
                options=overrides.get("options", {}),
                # a local exchange: notice trouble quickly, come back quickly
                silent_timeout=10.0,
                backoff_max=10.0,
            )
        )
    return out


class DemoActor:
    """Runs the simulator for as long as the daemon runs."""

    name = "demo"

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.base_url: str | None = None

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        from virtuoso_daemon.sim import Simulator

        demo = self.runtime.config.demo
        sim = Simulator(sim_config(demo))
        async with anyio.create_task_group() as tg:
            self.base_url = await tg.start(sim.serve, "127.0.0.1", demo.port)
            self.runtime.views.publish(BASE_URL_VIEW, self.base_url)
            self.runtime.stats[self.name] = lambda: {"base_url": self.base_url}
            log.info("simulated exchange at %s (seed %d)", self.base_url, demo.seed)
            task_status.started()
