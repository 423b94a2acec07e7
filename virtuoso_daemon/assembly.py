"""Which actors make up a daemon, in what dependency order.

This is the one place that knows the whole tree:

    demo (only with --demo: the simulated exchange, in-process)
    market_store, ticker_cache      subscribe before any feed publishes
    beta                            recomputes on closed candles, queries the store
    feeds:<name> ...                one per exchange; feeds (command registry)
    http_api, control               readers; start last so they never serve a half-built daemon
"""

from __future__ import annotations

import dataclasses

from .actors.beta import BetaActor
from .actors.control.server import ControlActor
from .actors.demo import DemoActor
from .actors.feeds import feed_specs
from .actors.http_api import HttpApiActor
from .actors.market_store import MarketStoreActor
from .actors.ticker_cache import TickerCacheActor
from .runtime import Runtime
from .supervisor import ActorSpec

STORES = ("market_store", "ticker_cache")


def build_specs(runtime: Runtime) -> list[ActorSpec]:
    specs: list[ActorSpec] = []
    if runtime.config.daemon.demo:
        specs.append(ActorSpec("demo", DemoActor))
    specs.append(ActorSpec("market_store", MarketStoreActor))
    specs.append(ActorSpec("ticker_cache", TickerCacheActor))
    # before the feeds, so it sees the first history pages and computes right after backfill
    specs.append(ActorSpec("beta", BetaActor, depends_on=("market_store",)))
    for spec in feed_specs(runtime):
        specs.append(dataclasses.replace(spec, depends_on=(*spec.depends_on, *STORES)))
    specs.append(ActorSpec("http_api", HttpApiActor, depends_on=STORES))
    specs.append(ActorSpec("control", ControlActor))
    return specs
