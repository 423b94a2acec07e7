"""Request metrics of one daemon: what the surfaces record, ``/metrics`` exports and the
health monitor's error-rate check reads.

One :class:`Metrics` per :class:`~virtuoso_daemon.core.runtime.Runtime` (a registry of
its own, so two daemons in one test process never share counters). The HTTP app and
the control socket take a :class:`RouteRecorder` per route or command when they are
built, so recording a request is two pre-bound instrument updates, no label lookup
on the hot path. Everything else ``/metrics`` shows is read from the runtime at
scrape time (``health.metrics``), not pushed here.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics

# no "<name>_created" series next to every counter: a scrape twice the size for a
# start time Prometheus does not need (process-wide; this process exports only ours)
disable_created_metrics()

#: request latency buckets, seconds: the hot reads answer in well under a millisecond
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class RouteRecorder:
    """Records the requests of one route (or socket command) into :class:`Metrics`."""

    __slots__ = ("_by_status", "_hist", "_labels", "_metrics")

    def __init__(self, metrics: Metrics, surface: str, route: str, method: str) -> None:
        self._metrics = metrics
        self._labels = (surface, route, method)
        self._hist: Any = None  # made on the first request: unused routes export nothing
        self._by_status: dict[int | str, Any] = {}

    def observe(self, status: int | str, seconds: float) -> None:
        """One request answered with ``status`` (HTTP code, or a socket error code)."""
        if self._hist is None:
            self._hist = self._metrics.latency.labels(*self._labels)
        self._hist.observe(seconds)
        child = self._by_status.get(status)
        if child is None:
            child = self._by_status[status] = self._metrics.requests.labels(
                *self._labels, str(status)
            )
        child.inc()
        self._metrics.total += 1
        if (isinstance(status, int) and status >= 500) or status == "internal":
            self._metrics.failed += 1


class Metrics:
    """The daemon's request instruments and the registry ``/metrics`` exports."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "virtuoso_api_requests",
            "API requests answered, by surface (http, socket), route and status",
            ["surface", "route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "virtuoso_api_request_duration_seconds",
            "Time from request to answer, by surface and route",
            ["surface", "route", "method"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.total = 0  # requests answered on every surface
        self.failed = 0  # of which failed on our side (HTTP 5xx, socket "internal")
        self._collectors: set[str] = set()

    def route(self, surface: str, route: str, method: str = "") -> RouteRecorder:
        return RouteRecorder(self, surface, route, method)

    def add_collector(self, name: str, collector: Any) -> None:
        """Register a scrape-time collector once (a second app on one runtime reuses it)."""
        if name not in self._collectors:
            self._collectors.add(name)
            self.registry.register(collector)
