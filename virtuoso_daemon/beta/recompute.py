"""One recompute of one (exchange, timeframe): closes from the market store, numpy in a
worker thread, the snapshots published, and the status an operator reads about it.

Its own module because this is the actor's expensive step with the most ways to not
happen (no benchmark symbol, the store not answering, too little history, a numerical
surprise), each of which must leave a clear ``analytics.status`` entry instead of a
made-up number. The actor decides *when* (:class:`.compute.Coalescer`); this decides
*what comes out* and keeps the latest result per series for the sentiment and the
queries.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import time
from dataclasses import dataclass
from typing import Any

import anyio
import numpy as np

from virtuoso_daemon.beta.compute import (
    Computation,
    Universe,
    compute,
    pick_benchmark,
    slim_correlation,
)
from virtuoso_daemon.beta.publish import publish_computation
from virtuoso_daemon.beta.settings import BetaSettings
from virtuoso_daemon.core import malloc
from virtuoso_daemon.core.config import ExchangeConfig
from virtuoso_daemon.core.errors import QueryError
from virtuoso_daemon.core.messages import FeedStatus
from virtuoso_daemon.core.runtime import Runtime
from virtuoso_daemon.core.symbols import split_unified
from virtuoso_daemon.market import requests

log = logging.getLogger("virtuoso.beta")


class StoreUnavailable(Exception):
    """The market store did not answer; the status says so, the caller retries later."""


@dataclass
class SeriesState:
    """What ``analytics.status`` says about one (exchange, timeframe)."""

    state: str = "pending"  # pending | waiting | ok | no_benchmark | error
    detail: str = "not computed yet"
    as_of: int | None = None
    computed_at: float | None = None
    compute_ms: float | None = None
    symbols: int = 0


@dataclass
class Timing:
    """Compute times (whole recompute and its numpy part), for the stats."""

    count: int = 0
    last_ms: float | None = None
    max_ms: float = 0.0
    total_ms: float = 0.0
    last_numpy_ms: float | None = None

    def add(self, total_ms: float, numpy_ms: float) -> None:
        self.count += 1
        self.last_ms = total_ms
        self.last_numpy_ms = numpy_ms
        self.max_ms = max(self.max_ms, total_ms)
        self.total_ms += total_ms

    def as_dict(self) -> dict[str, float | None]:
        mean = self.total_ms / self.count if self.count else None
        return {
            "last": self.last_ms,
            "last_numpy": self.last_numpy_ms,
            "max": self.max_ms if self.count else None,
            "mean": mean,
        }


def _fmt_ms(ms: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.gmtime(ms / 1000))


def _compute_and_trim(*args: Any, **kwargs: Any) -> Computation:
    """:func:`compute`, then give its temporaries' memory back to the system.

    A recompute of a few hundred symbols builds tens of MB of numpy temporaries in
    the worker thread; without the trim that peak stays resident (see malloc.py).
    """
    try:
        return compute(*args, **kwargs)
    finally:
        malloc.trim()


class Recomputer:
    """Runs recomputes and keeps what they leave: the latest computation, the
    benchmark of every exchange, the status of every series and the timings.

    ``counters`` is the actor's counter dict (``computes``, ``waiting``, ``errors``).
    """

    def __init__(self, rt: Runtime, counters: dict[str, int]) -> None:
        self.rt = rt
        self.counters = counters
        self.results: dict[tuple[str, str], Computation] = {}
        self.benchmarks: dict[str, str] = {}
        self.series: dict[tuple[str, str], SeriesState] = {}
        self.timing = Timing()
        self.last_computed_at: float | None = None
        self._capped: set[str] = set()

    def universe(self, ex: ExchangeConfig, benchmark: str) -> Universe:
        """The exchange's symbols (feed's current list, else configured, else stored)."""
        feeds = self.rt.views.value("feeds.status")
        status = feeds.get(ex.name) if isinstance(feeds, dict) else None
        if isinstance(status, FeedStatus) and status.symbols:
            symbols = list(status.symbols)
        elif ex.symbols:
            symbols = list(ex.symbols)
        else:
            stored = self.rt.views.value("market.store.series") or {}
            symbols = sorted(stored.get(ex.name, {}))
        symbols = list(dict.fromkeys(symbols))
        return Universe(
            ex.name,
            ex.market,
            tuple(symbols),
            pick_benchmark(benchmark, ex.market, symbols),
        )

    def state(self, exchange: str, tf: str) -> SeriesState:
        key = (exchange, tf)
        st = self.series.get(key)
        if st is None:
            st = self.series[key] = SeriesState()
        return st

    async def run(
        self,
        ex: ExchangeConfig,
        tf: str,
        wins: tuple[tuple[str, int], ...],
        settings: BetaSettings,
    ) -> Computation | None:
        """Recompute and publish every window of ``tf`` on ``ex``; None when nothing came
        out (the series' status says why). Raises :class:`StoreUnavailable` when the market
        store did not answer."""
        exchange = ex.name
        st = self.state(exchange, tf)
        uni = self.universe(ex, settings.benchmark)
        st.symbols = len(uni.symbols)
        if uni.benchmark is None:
            st.state = "no_benchmark"
            st.detail = (
                f"{exchange} lists no {split_unified(settings.benchmark)[0]} symbol to measure "
                f"against (beta.benchmark = {settings.benchmark!r})"
            )
            return None
        self.benchmarks[exchange] = uni.benchmark
        started = time.perf_counter()
        capacity = self.rt.config.store.candles_for(tf)
        need = max(c for _, c in wins) + 1
        if need > capacity and f"{exchange}/{tf}" not in self._capped:
            self._capped.add(f"{exchange}/{tf}")
            log.warning(
                "%s %s: the longest window needs %d closes but store.candles keeps %d; "
                "n_obs will show the shortfall",
                exchange,
                tf,
                need,
                capacity,
            )
        # one shortest window more than the longest: the rolling series then spans
        # the longest window (the tables only read the tail they need)
        rows = min(capacity, need + min(c for _, c in wins))
        try:
            times, closes = await requests.closes(self.rt, exchange, tf, uni.symbols, rows)
        except QueryError as exc:
            self.counters["errors"] += 1
            st.state, st.detail = "error", f"market store: {exc.message}"
            raise StoreUnavailable(exc.message) from exc
        bench = closes[uni.symbols.index(uni.benchmark)] if times.size else np.empty(0)
        bench_obs = int(np.count_nonzero(np.isfinite(bench[1:]) & np.isfinite(bench[:-1])))
        if bench_obs < settings.min_obs:
            self.counters["waiting"] += 1
            st.state = "waiting"
            st.detail = (
                f"waiting for candle history: {uni.benchmark} has {bench_obs} {tf} returns "
                f"on {exchange}, {settings.min_obs} needed (beta.min_obs)"
            )
            return None
        labels = [w for w, _ in wins]
        job = functools.partial(
            _compute_and_trim,
            uni,
            tf,
            labels,
            times,
            closes,
            min_obs=settings.min_obs,
            computed_at=time.time(),
        )
        numpy_started = time.perf_counter()
        try:
            comp = await anyio.to_thread.run_sync(job, abandon_on_cancel=True)
        except Exception as exc:  # a numerical surprise must not stop the other series
            self.counters["errors"] += 1
            st.state, st.detail = "error", f"{type(exc).__name__}: {exc}"
            log.exception("beta computation failed for %s %s", exchange, tf)
            return None
        numpy_ms = (time.perf_counter() - numpy_started) * 1000
        publish_computation(self.rt, comp)
        # kept for the sentiment and for on-demand queries, without what only the bus
        # publication needed (the correlation matrices as Python floats) and without
        # the returns of every symbol (7.5 MB at 300 markets; a rolling beta query
        # reads its two series back from the store)
        self.results[(exchange, tf)] = dataclasses.replace(
            comp,
            correlations=tuple(slim_correlation(c) for c in comp.correlations),
            matrix=dataclasses.replace(
                comp.matrix, returns=np.empty((comp.matrix.times.size, 0), dtype=np.float64)
            ),
        )
        total_ms = (time.perf_counter() - started) * 1000
        self.timing.add(total_ms, numpy_ms)
        self.counters["computes"] += 1
        self.last_computed_at = comp.computed_at
        st.state, st.as_of, st.computed_at = "ok", comp.as_of, comp.computed_at
        st.compute_ms = round(total_ms, 3)
        st.detail = f"{len(uni.symbols)} symbols against {uni.benchmark}"
        log.info(
            "beta %s %s: %d symbols x %s as of %s in %.1f ms (numpy %.1f ms; most obs %s)",
            exchange,
            tf,
            len(uni.symbols),
            "/".join(labels),
            _fmt_ms(comp.as_of),
            total_ms,
            numpy_ms,
            "/".join(str(int(t.n_obs.max(initial=0))) for t in comp.tables),
        )
        return comp
