"""A real simulator and a real daemon running feed actors, wired over loopback.

``async with feed_env(...) as env:`` starts :class:`Simulator` in-process, builds one
:class:`ExchangeConfig` per requested feed from the simulator's ccxt overrides, and
runs the feed actors plus the ``feeds`` registry under the real supervisor. The
recording subscriptions are made before any actor starts, so nothing published
during start-up (backfill pages) is missed; they are big enough not to drop.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import anyio
import msgspec

from tests.harness import DaemonHandle, running_daemon, test_config
from virtuoso_daemon.core.bus import Subscription, Topics
from virtuoso_daemon.core.config import ExchangeConfig
from virtuoso_daemon.feeds import feed_specs
from virtuoso_daemon.sim import SimConfig, Simulator, ccxt_overrides, okx_overrides

DIALECTS = ("binance", "okx")  # the simulator serves both; a feed picks one

RECORDED = (
    Topics.TICKERS,
    Topics.CANDLES,
    Topics.CANDLE_HISTORY,
    Topics.TRADES,
    Topics.ORDERBOOK,
    Topics.FUNDING,
    Topics.OPEN_INTEREST,
    Topics.FEED_STATUS,
)


def sim_exchange(
    sim: Simulator, base_url: str, name: str, market: str, dialect: str = "binance", **kw: Any
) -> ExchangeConfig:
    """An exchange feed on the simulator: every market of the kind unless symbols given;
    ``dialect`` "okx" runs ccxt's ``okx`` on the simulator's OKX API."""
    kind = "spot" if market == "spot" else "futures"
    if dialect == "okx":
        ov = okx_overrides(base_url, market)  # type: ignore[arg-type]
        ccxt_id = "okx"
    else:
        ov = ccxt_overrides(base_url, market)  # type: ignore[arg-type]
        ccxt_id = "binance" if market == "spot" else "binanceusdm"
    fields: dict[str, Any] = {
        "name": name,
        "ccxt_id": ccxt_id,
        "market": market,
        "symbols": [m.symbol for m in sim.engine.universe.kind_markets(kind)],
        "urls": ov["urls"],
        "options": ov["options"],
        "timeframes": ["1m"],
        "backfill_candles": 100,
        "poll_interval": 0.5,
        "silent_timeout": 3.0,
        "backoff_initial": 0.2,
        "backoff_max": 1.0,
        "timeout_ms": 3000,
        "stream_retry": 60.0,
    }
    fields.update(kw)
    return msgspec.convert(fields, ExchangeConfig)


@dataclass
class Recorder:
    """Drains the recording subscriptions into lists the test can inspect."""

    subs: dict[str, Subscription[Any]] = field(default_factory=dict)
    seen: dict[str, list[Any]] = field(default_factory=dict)
    # live candles and history pages in the order they were published (two topics)
    candles_in_order: list[Any] = field(default_factory=list)

    def drain(self) -> None:
        for topic, sub in self.subs.items():
            box = self.seen.setdefault(topic, [])
            while True:
                try:
                    box.append(sub.receive_nowait())
                except anyio.WouldBlock:
                    break

    def get(self, topic: str) -> list[Any]:
        self.drain()
        return self.seen.setdefault(topic, [])

    def clear(self) -> None:
        self.drain()
        self.seen.clear()


@dataclass
class FeedEnv:
    sim: Simulator
    base_url: str
    daemon: DaemonHandle
    rec: Recorder
    http: aiohttp.ClientSession

    @property
    def runtime(self) -> Any:
        return self.daemon.runtime

    def feed(self, name: str) -> Any:
        return self.daemon.supervisor.actor(f"feeds:{name}")

    def restarts(self) -> dict[str, int]:
        return {n: r.restarts for n, r in self.daemon.supervisor.runners.items()}

    def status(self, name: str) -> Any:
        return (self.runtime.views.value("feeds.status") or {}).get(name)

    async def wait_for(self, predicate: Callable[[], Any], timeout: float, what: str) -> Any:
        """Poll observable state under a deadline (never a bare sleep)."""
        try:
            with anyio.fail_after(timeout):
                while True:
                    value = predicate()
                    if value:
                        return value
                    await anyio.sleep(0.05)
        except TimeoutError:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}") from None

    async def sim_get(self, path: str, **params: Any) -> Any:
        async with self.http.get(self.base_url + path, params=params) as resp:
            assert resp.status == 200, (path, resp.status, await resp.text())
            return await resp.json()

    async def inject(self, **fault: Any) -> int:
        async with self.http.post(self.base_url + "/__sim/faults", json=fault) as resp:
            assert resp.status == 200, await resp.text()
            body = await resp.json()
            return int(body["ids"][0])

    async def clear_faults(self) -> dict[str, Any]:
        async with self.http.delete(self.base_url + "/__sim/faults") as resp:
            result: dict[str, Any] = await resp.json()
            return result


@contextlib.asynccontextmanager
async def feed_env(
    *feeds: tuple[str, str, dict[str, Any]],
    sim_config: SimConfig | None = None,
    setup: Callable[[Simulator], Any] | None = None,
) -> AsyncIterator[FeedEnv]:
    """``feeds``: ``(name, "spot"|"linear", ExchangeConfig overrides)`` per feed;
    ``setup(sim)`` runs before the daemon starts (faults its first requests meet)."""
    sim = Simulator(sim_config or SimConfig(seed=11, n_alts=5, speed=60.0, dialects=DIALECTS))
    async with sim.running() as base_url, aiohttp.ClientSession() as http:
        if setup is not None:
            setup(sim)
        exchanges = [sim_exchange(sim, base_url, n, m, **kw) for n, m, kw in feeds]
        cfg = msgspec.structs.replace(test_config(), exchanges=exchanges)
        rec = Recorder()

        def specs(runtime: Any) -> Any:
            for topic in RECORDED:
                rec.subs[topic] = runtime.bus.subscribe(topic, name="test", maxsize=500_000)
            for topic in (Topics.CANDLES, Topics.CANDLE_HISTORY):
                runtime.bus.tap(topic, rec.candles_in_order.append, name="test-order")
            return feed_specs(runtime)

        try:
            async with running_daemon(cfg, specs) as daemon:
                yield FeedEnv(sim, base_url, daemon, rec, http)
        finally:
            for sub in rec.subs.values():
                sub.close()


def by_symbol(messages: list[Any], kind: type) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for m in messages:
        if isinstance(m, kind):
            out.setdefault(m.symbol, []).append(m)
    return out


def now() -> float:
    return time.time()
