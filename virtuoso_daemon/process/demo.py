"""Demo mode: the simulated exchange inside the daemon, for ``virtuoso-daemon --demo``.

Demo mode is resolved before the supervisor starts, by :func:`simulated_exchanges`:
it starts :class:`~virtuoso_daemon.sim.Simulator` on loopback with the ``[demo]``
config and gives back a resolver that replaces the config's exchanges with the
simulator's, real URLs included (:func:`demo_exchanges`: a Binance spot feed
``sim-spot`` over every simulated market and, with perpetuals on, a perpetuals
feed ``sim-perp``: Binance USD-M, or OKX v5 USDT swaps with
``demo.perp_dialect = "okx"``, two exchanges of one simulated market in one
daemon). The process applies it to the start-up config and keeps it on the runtime
for reloads, so no reader ever checks ``daemon.demo``: the feeds, the store and the
queries see an ordinary config. The feeds run their real ccxt code against the
simulator; nothing here is a shortcut.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import anyio
import msgspec

from virtuoso_daemon.core.config import Config, DemoConfig, ExchangeConfig, MarketType
from virtuoso_daemon.core.runtime import Runtime

if TYPE_CHECKING:  # the simulator is imported only when the demo runs (~5 MB)
    from virtuoso_daemon.sim.universe import Kind

log = logging.getLogger("virtuoso.demo")

SPOT_FEED = "sim-spot"
PERP_FEED = "sim-perp"


def sim_config(demo: DemoConfig) -> Any:
    from virtuoso_daemon.sim import SimConfig

    return SimConfig(
        seed=demo.seed,
        n_alts=demo.n_alts,
        speed=demo.speed,
        perpetuals=demo.perpetuals,
        dialects=("binance", "okx") if demo.perp_dialect == "okx" else ("binance",),
    )


def demo_feed_names(demo: DemoConfig) -> list[str]:
    return [SPOT_FEED, PERP_FEED] if demo.perpetuals else [SPOT_FEED]


def demo_exchanges(base_url: str, demo: DemoConfig) -> list[ExchangeConfig]:
    """The feeds that watch the in-process simulator at ``base_url``."""
    from virtuoso_daemon.sim import ccxt_overrides, okx_overrides
    from virtuoso_daemon.sim.universe import Universe

    universe = Universe(sim_config(demo))
    feeds: list[tuple[str, MarketType, str, Kind]] = [(SPOT_FEED, "spot", "binance", "spot")]
    if demo.perpetuals:
        perp_id = "okx" if demo.perp_dialect == "okx" else "binanceusdm"
        feeds.append((PERP_FEED, "linear", perp_id, "futures"))
    out = []
    for name, market, ccxt_id, kind in feeds:
        if ccxt_id == "okx":
            overrides = okx_overrides(base_url, market)
        else:
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
                # open interest once per simulated minute (the manipulation score's
                # resolution), however fast the simulator runs
                derivatives_refresh=max(2.0, 60.0 / demo.speed),
            )
        )
    return out


BASE_URL_VIEW = "demo.base_url"


class Resolution:
    """Applied to every config loaded from the file (start-up and reloads)."""

    def __init__(self, base_url: str | None = None, demo: DemoConfig | None = None) -> None:
        self.base_url = base_url
        self._demo = demo

    def __call__(self, config: Config) -> Config:
        if self.base_url is None or self._demo is None:
            return config
        # the [demo] section at start-up decides the universe; a reload keeps the
        # simulator's exchanges (demo settings need a restart)
        return msgspec.structs.replace(config, exchanges=demo_exchanges(self.base_url, self._demo))

    def attach(self, runtime: Runtime) -> None:
        """Make ``runtime`` run on the resolved config, now and on every reload."""
        runtime.resolve_config = self
        runtime.config = self(runtime.config)
        if self.base_url is not None:
            runtime.views.publish(BASE_URL_VIEW, self.base_url)
            base_url = self.base_url
            runtime.stats["demo"] = lambda: {"base_url": base_url}


@asynccontextmanager
async def simulated_exchanges(config: Config) -> AsyncIterator[Resolution]:
    """In demo mode, run the simulator for the body of the block and yield the
    resolution that points a config's exchanges at it; otherwise a no-op one."""
    if not config.daemon.demo:
        yield Resolution()
        return
    from virtuoso_daemon.sim import Simulator

    demo = config.demo
    sim = Simulator(sim_config(demo))
    async with anyio.create_task_group() as tg:
        base_url: str = await tg.start(sim.serve, "127.0.0.1", demo.port)
        log.info("simulated exchange at %s (seed %d)", base_url, demo.seed)
        try:
            yield Resolution(base_url, demo)
        finally:
            tg.cancel_scope.cancel()
