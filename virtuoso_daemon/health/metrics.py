"""What ``/metrics`` shows besides the request instruments: read from the runtime at
scrape time, so nothing on a hot path pays for it and nothing can drift from the
daemon's own state.

Sources, each optional (an actor that is not in the tree, or not started yet, adds
nothing): the feeds' ``stats`` and the ``feeds.status`` view (messages and errors by
exchange and kind, data age per exchange and kind, state, reconnects), the ticker
cache (memcached hits, misses, errors, up), the bus (published, drops), the
supervisor (actor state and restarts), the health report (status per check), the
alert manager's stats (alerts by event, deliveries by destination), the signal
detectors' (conditions by kind, whales, bursts, walls by outcome, messages read) and
the backup actor's (runs by result and kind). Labels are bounded: exchanges, kinds and checks
come from the config, socket clients' drop counters are folded into one ``control``
subscriber, and no label is per symbol.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from virtuoso_daemon.core.messages import ActorState, FeedState, FeedStatus, HealthReport
from virtuoso_daemon.core.runtime import Runtime
from virtuoso_daemon.feeds.actor import STATUS_VIEW
from virtuoso_daemon.health.actor import CACHE_VIEW, REPORT_VIEW
from virtuoso_daemon.health.hold import RANK

FEED_STATES: tuple[FeedState, ...] = ("starting", "connected", "degraded", "down", "paused")
ACTOR_STATES: tuple[ActorState, ...] = (
    "pending",
    "starting",
    "running",
    "restarting",
    "failed",
    "stopped",
)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _subscriber(name: str) -> str:
    """Socket clients are ``control#<n>``: one label for all of them (bounded)."""
    return "control" if name.startswith("control#") else name


# the signals actor's counters (signals/actor.py stats) exported as labels
SIGNAL_EVENTS = (
    "whales",
    "bursts",
    "walls_appeared",
    "walls_pulled",
    "walls_filled",
    "walls_out_of_view",
)
SIGNAL_INPUTS = ("trades", "books", "candles", "open_interest", "funding", "snapshots")


class RuntimeCollector(Collector):
    """A prometheus-client collector over one runtime (see the module docstring)."""

    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime

    def _stats(self, name: str) -> Mapping[str, Any] | None:
        fn = self.rt.stats.get(name)
        if fn is None:
            return None
        try:
            value = fn()
        except Exception:  # a stats function of a stopping actor: skip it this scrape
            return None
        return value if isinstance(value, Mapping) else None

    def collect(self) -> Iterator[Metric]:
        yield from self._feeds()
        yield from self._cache()
        yield from self._bus()
        yield from self._actors()
        yield from self._health()
        yield from self._alerts()
        yield from self._signals()
        yield from self._backups()

    # --- feeds ----------------------------------------------------------------------

    def _feeds(self) -> Iterator[Metric]:
        messages = CounterMetricFamily(
            "virtuoso_feed_messages", "Messages published by a feed", labels=["exchange", "kind"]
        )
        errors = CounterMetricFamily(
            "virtuoso_feed_errors", "Errors of a feed, by error kind", labels=["exchange", "kind"]
        )
        reconnects = CounterMetricFamily(
            "virtuoso_feed_reconnects", "Stream reconnects of a feed", labels=["exchange"]
        )
        requests = CounterMetricFamily(
            "virtuoso_feed_rest_requests", "REST calls made by a feed", labels=["exchange"]
        )
        for ex in self.rt.config.exchanges:
            st = self._stats(f"feeds:{ex.name}")
            if not st:
                continue
            for kind, n in (st.get("messages") or {}).items():
                messages.add_metric([ex.name, str(kind)], float(n))
            for kind, n in (st.get("errors") or {}).items():
                errors.add_metric([ex.name, str(kind)], float(n))
            if _number(st.get("reconnects")) is not None:
                reconnects.add_metric([ex.name], float(st["reconnects"]))
            if _number(st.get("requests")) is not None:
                requests.add_metric([ex.name], float(st["requests"]))
        yield from (messages, errors, reconnects, requests)

        age = GaugeMetricFamily(
            "virtuoso_feed_data_age_seconds",
            "Age of the newest message, by exchange and data kind",
            labels=["exchange", "kind"],
        )
        state = GaugeMetricFamily(
            "virtuoso_feed_state", "1 for the feed's current state", labels=["exchange", "state"]
        )
        latency = GaugeMetricFamily(
            "virtuoso_feed_latency_seconds",
            "Exchange timestamp to receive time, moving average",
            labels=["exchange"],
        )
        missing = GaugeMetricFamily(
            "virtuoso_feed_missing_candles",
            "Candles a backfill asked for and the exchange did not return, by timeframe",
            labels=["exchange", "timeframe"],
        )
        unknown = GaugeMetricFamily(
            "virtuoso_feed_unknown_symbols",
            "Configured symbols the exchange does not list",
            labels=["exchange"],
        )
        statuses: Mapping[str, FeedStatus] = self.rt.views.value(STATUS_VIEW) or {}
        now = time.time()
        for name, status in statuses.items():
            by_tf: dict[str, int] = {}
            for gaps in status.gaps.values():
                for tf, lst in gaps.items():
                    by_tf[tf] = by_tf.get(tf, 0) + sum(g.missing for g in lst)
            for tf, n in by_tf.items():
                missing.add_metric([name, tf], float(n))
            unknown.add_metric([name], float(len(status.unknown_symbols)))
            for kind, ts in status.last_by_kind.items():
                age.add_metric([name, kind], max(0.0, now - ts))
            for s in FEED_STATES:
                state.add_metric([name, s], 1.0 if status.state == s else 0.0)
            if status.latency_ms is not None:
                latency.add_metric([name], status.latency_ms / 1000.0)
        yield from (age, state, latency, missing, unknown)

    # --- cache, bus, actors -----------------------------------------------------------

    def _cache(self) -> Iterator[Metric]:
        doc = self.rt.views.value(CACHE_VIEW)
        if not isinstance(doc, Mapping):
            return
        for key, help_ in (
            ("hits", "memcached reads that found our keys"),
            ("misses", "memcached reads that did not (lost or flushed)"),
            ("errors", "memcached operations that failed"),
            ("writes", "tickers written to memcached"),
            ("deletes", "ticker keys deleted from memcached (symbols no longer watched)"),
            ("reconnects", "memcached reconnects"),
        ):
            n = _number(doc.get(key))
            if n is not None:
                family = CounterMetricFamily(f"virtuoso_cache_{key}", help_)
                family.add_metric([], n)
                yield family
        up = GaugeMetricFamily("virtuoso_cache_up", "1 while memcached is up (0: memory only)")
        up.add_metric([], 1.0 if doc.get("state") == "up" else 0.0)
        yield up

    def _bus(self) -> Iterator[Metric]:
        bus = self.rt.bus
        published = CounterMetricFamily(
            "virtuoso_bus_published", "Messages published on the bus", labels=["topic"]
        )
        for topic, n in list(bus.published.items()):
            if not topic.startswith("feed_commands:"):  # per-exchange request topics
                published.add_metric([topic], float(n))
        yield published
        drops = CounterMetricFamily(
            "virtuoso_bus_drops",
            "Messages a full subscriber queue lost (socket clients as one 'control')",
            labels=["subscriber", "topic"],
        )
        folded: dict[tuple[str, str], int] = {}
        for sub, topics in bus.drops().items():
            for topic, n in topics.items():
                key = (_subscriber(sub), topic)
                folded[key] = folded.get(key, 0) + n
        for (sub, topic), n in sorted(folded.items()):
            drops.add_metric([sub, topic], float(n))
        yield drops

    def _actors(self) -> Iterator[Metric]:
        sup = self.rt.supervisor
        if sup is None:
            return
        restarts = CounterMetricFamily(
            "virtuoso_actor_restarts", "Restarts of an actor after a crash", labels=["actor"]
        )
        state = GaugeMetricFamily(
            "virtuoso_actor_state", "1 for the actor's current state", labels=["actor", "state"]
        )
        for a in sup.status():
            restarts.add_metric([a["name"]], float(a["restarts"]))
            for s in ACTOR_STATES:
                state.add_metric([a["name"], s], 1.0 if a["state"] == s else 0.0)
        yield from (restarts, state)

    # --- health, alerts, backups ------------------------------------------------------

    def _health(self) -> Iterator[Metric]:
        report: HealthReport | None = self.rt.views.value(REPORT_VIEW)
        if report is None:
            return
        overall = GaugeMetricFamily(
            "virtuoso_health_status", "Overall health: 0 ok, 1 warning, 2 critical"
        )
        overall.add_metric([], float(RANK[report.status]))
        checks = GaugeMetricFamily(
            "virtuoso_health_check_status",
            "Status of one health check: 0 ok, 1 warning, 2 critical",
            labels=["check", "category"],
        )
        values = GaugeMetricFamily(
            "virtuoso_health_check_value",
            "The value a numeric health check measured (its unit is in the check's name)",
            labels=["check"],
        )
        for c in report.checks:
            checks.add_metric([c.name, c.category], float(RANK[c.status]))
            if isinstance(c.value, int | float):
                values.add_metric([c.name], float(c.value))
        st = self._stats("health") or {}
        lag = GaugeMetricFamily(
            "virtuoso_event_loop_lag_seconds", "How late the event loop ran its last timer"
        )
        lag.add_metric([], float(st.get("loop_lag_ms") or 0.0) / 1000.0)
        yield from (overall, checks, values, lag)

    def _alerts(self) -> Iterator[Metric]:
        st = self._stats("alerts")
        if st is None:
            return
        events = CounterMetricFamily(
            "virtuoso_alerts", "Alert manager events (fired, resolved, muted ...)", labels=["event"]
        )
        for key, value in st.items():
            n = _number(value)
            if (
                n is not None
                and key not in ("open", "silences", "last_tick")
                and "latency" not in key
            ):
                events.add_metric([key], n)
        yield events
        deliveries = CounterMetricFamily(
            "virtuoso_alert_deliveries",
            "Alert deliveries per destination and outcome",
            labels=["destination", "outcome"],
        )
        for dest, d in (st.get("destinations") or {}).items():
            if isinstance(d, Mapping):
                for outcome in ("delivered", "failed", "retries"):
                    n = _number(d.get(outcome))
                    if n is not None:
                        deliveries.add_metric([str(dest), outcome], n)
        for dest, value in (st.get("dropped") or {}).items():  # its destination is gone
            n = _number(value)
            if n is not None:
                deliveries.add_metric([str(dest), "dropped"], n)
        yield deliveries
        open_ = _number(st.get("open"))
        if open_ is not None:
            gauge = GaugeMetricFamily("virtuoso_alerts_open", "Alerts open now")
            gauge.add_metric([], open_)
            yield gauge

    def _signals(self) -> Iterator[Metric]:
        st = self._stats("signals")
        if st is None:
            return
        conditions = CounterMetricFamily(
            "virtuoso_signal_conditions",
            "Conditions the signal detectors published (starts and escalations), by kind",
            labels=["kind"],
        )
        for kind, value in (st.get("conditions_by_kind") or {}).items():
            n = _number(value)
            if n is not None:
                conditions.add_metric([str(kind)], n)
        yield conditions
        events = CounterMetricFamily(
            "virtuoso_signal_events",
            "What the signal detectors found: whales, bursts, walls by outcome",
            labels=["event"],
        )
        for key in SIGNAL_EVENTS:
            n = _number(st.get(key))
            if n is not None:
                events.add_metric([key], n)
        yield events
        seen = CounterMetricFamily(
            "virtuoso_signal_messages", "Messages the signal detectors read", labels=["kind"]
        )
        for key in SIGNAL_INPUTS:
            n = _number(st.get(key))
            if n is not None:
                seen.add_metric([key], n)
        yield seen
        for key, help_ in (
            ("active_conditions", "Signal conditions active now"),
            ("walls_active", "Order-book walls standing now"),
        ):
            n = _number(st.get(key))
            if n is not None:
                gauge = GaugeMetricFamily(f"virtuoso_signal_{key}", help_)
                gauge.add_metric([], n)
                yield gauge

    def _backups(self) -> Iterator[Metric]:
        st = self._stats("backup")
        if st is None:
            return
        runs = CounterMetricFamily(
            "virtuoso_backup_runs", "Backup runs by result and kind", labels=["result", "kind"]
        )
        other = CounterMetricFamily(
            "virtuoso_backup_events", "Other backup counters", labels=["counter"]
        )
        for key, value in (st.get("counters") or {}).items():
            n = _number(value)
            if n is None:
                continue
            name, _, kind = str(key).partition(".")
            if name.startswith("runs_") and kind:
                runs.add_metric([name.removeprefix("runs_"), kind], n)
            else:
                other.add_metric([str(key)], n)
        yield from (runs, other)
