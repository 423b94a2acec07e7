"""Which actors make up a daemon, in what dependency order.

This is the one place that knows the whole tree:

    market_store, ticker_cache      subscribe before any feed publishes
    beta                            recomputes on closed candles, queries the store
    alerts                          conditions -> stored, grouped, delivered alerts
    signals                         detectors: market data + snapshots -> Conditions
    feeds:<name> ...                one per exchange; feeds (command registry)
    backup                          scheduled and requested backups (asks the store to persist)
    http_api, control               readers; start last so they never serve a half-built daemon
    health                          watches all of the above (and probes the HTTP API)
"""

from __future__ import annotations

import dataclasses

from virtuoso_daemon.alerts.actor import AlertManagerActor
from virtuoso_daemon.backup.actor import BackupActor
from virtuoso_daemon.beta.actor import BetaActor
from virtuoso_daemon.control.server import ControlActor
from virtuoso_daemon.core.recent_logs import RecentLogsActor
from virtuoso_daemon.core.runtime import Runtime
from virtuoso_daemon.core.supervisor import ActorSpec
from virtuoso_daemon.feeds import feed_specs
from virtuoso_daemon.health.actor import HealthMonitorActor
from virtuoso_daemon.http.server import HttpApiActor
from virtuoso_daemon.market.actor import MarketStoreActor
from virtuoso_daemon.signals.actor import SignalsActor
from virtuoso_daemon.tickers.actor import TickerCacheActor

STORES = ("market_store", "ticker_cache")


def build_specs(runtime: Runtime) -> list[ActorSpec]:
    specs: list[ActorSpec] = []
    specs.append(ActorSpec("recent_logs", RecentLogsActor))  # first: logs from the start
    specs.append(ActorSpec("market_store", MarketStoreActor))
    specs.append(ActorSpec("ticker_cache", TickerCacheActor))
    # before the feeds, so it sees the first history pages and computes right after backfill
    specs.append(ActorSpec("beta", BetaActor, depends_on=("market_store",)))
    # before the detectors and feeds (no condition is published before it listens)
    specs.append(ActorSpec("alerts", AlertManagerActor))
    # before the feeds too: it reads the 1m history pages to fill its windows
    specs.append(ActorSpec("signals", SignalsActor, depends_on=("alerts",)))
    for spec in feed_specs(runtime):
        specs.append(dataclasses.replace(spec, depends_on=(*spec.depends_on, *STORES)))
    # after the store: a backup of the candles asks it to persist first
    specs.append(ActorSpec("backup", BackupActor, depends_on=("market_store",)))
    specs.append(ActorSpec("http_api", HttpApiActor, depends_on=STORES))
    specs.append(ActorSpec("control", ControlActor))
    specs.append(ActorSpec("health", HealthMonitorActor, depends_on=("http_api",)))
    return specs
