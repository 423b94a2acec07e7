"""A feed reconnect frees the connections it replaces, under the daemon's collector.

The daemon freezes what start-up built and runs full collections itself
(``process/gc_policy.py``). A ccxt instance is a web of reference cycles, so one that
was frozen with start-up was never freed when a reconnect replaced it: the 30-minute
soak's RSS rose in steps at each injected fault. Here the daemon's collector runs over
a real feed on the simulator, and the instances and the feed context a reconnect
replaces must be freed soon after, without waiting for the periodic full pass.
"""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio

from tests.feeds.env import FeedEnv, feed_env
from virtuoso_daemon.core.bus import Topics
from virtuoso_daemon.core.config import ExchangeConfig
from virtuoso_daemon.feeds.backoff import RateGate
from virtuoso_daemon.feeds.ccxt_factory import ExchangeFactory
from virtuoso_daemon.feeds.requests import ReconnectFeed
from virtuoso_daemon.process.gc_policy import QuietCollector

REPO = Path(__file__).resolve().parents[2]
KINDS = {"tickers", "ohlcv", "trades", "orderbook"}
FEED = ("sim-spot", "spot", {"kinds": sorted(KINDS)})
EVERY = 2.0  # the periodic full pass (the daemon: 30 s), which freezes again after a reclaim


@asynccontextmanager
async def daemon_collector(env: FeedEnv) -> AsyncIterator[QuietCollector]:
    """The daemon's collector, started once the feed streams (as at ready)."""
    bus = env.runtime.bus
    collector = QuietCollector(lambda: sum(bus.published.values()), every=EVERY)
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(collector.run, None)
            await env.wait_for(lambda: collector.stats.frozen > 0, 5, "start-up frozen")
            yield collector
            tg.cancel_scope.cancel()
    finally:
        gc.unfreeze()


def streaming(env: FeedEnv, other_than: Any = None) -> bool:
    ctx = env.feed("sim-spot").ctx
    return ctx is not None and ctx is not other_than and set(ctx.health.last_by_kind) >= KINDS


def _in_fresh_interpreter(scenario: str) -> None:
    """Run one of this module's scenarios in a new interpreter, as the daemon runs."""
    code = f"import anyio, tests.feeds.test_reconnect_memory as t; anyio.run(t.{scenario})"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=90
    )
    assert done.returncode == 0, done.stderr[-3000:]


def test_a_reconnect_frees_the_ccxt_instances_it_replaces_though_frozen() -> None:
    """Run in a fresh interpreter, as the daemon is: freezing the heap of a test
    process that ran hundreds of tests before also freezes what they left behind, and
    in the full suite a replaced instance stayed reachable (not found yet which earlier
    test's leftovers hold it; alone, and with all of tests/feeds, it passes)."""
    _in_fresh_interpreter("reconnect_scenario")


async def reconnect_scenario() -> None:
    async with feed_env(FEED) as env:
        await env.wait_for(lambda: streaming(env), 15, "every kind streaming")
        async with daemon_collector(env) as collector:
            ctx = env.feed("sim-spot").ctx
            assert len(ctx.factory.live) >= 2  # REST plus the streams
            instances = [weakref.ref(ex) for ex in ctx.factory.live]
            old_ctx = weakref.ref(ctx)
            del ctx
            await env.runtime.bus.request(
                f"{Topics.FEED_COMMANDS}:sim-spot", ReconnectFeed(exchange="sim-spot"), timeout=5
            )
            await env.wait_for(
                lambda: streaming(env, other_than=old_ctx()), 15, "streaming after the reconnect"
            )
            await env.wait_for(
                lambda: old_ctx() is None and all(r() is None for r in instances),
                10,
                "the replaced feed context and ccxt instances freed",
            )
            assert collector.stats.reclaims >= 1


def test_a_stream_the_exchange_closed_frees_its_instance_while_the_next_one_runs() -> None:
    """The error that ended a session (here the server closing the websockets) has a
    traceback through ccxt's frames of the closed instance; the stream loop held it
    while the next session ran, so the instance lived on, and was frozen at the next
    refreeze (a 30-minute soak: +11 MB at one websocket-close fault)."""
    _in_fresh_interpreter("ws_close_scenario")


async def ws_close_scenario() -> None:
    async with feed_env(FEED) as env:
        await env.wait_for(lambda: streaming(env), 15, "every kind streaming")
        async with daemon_collector(env) as collector:
            ctx = env.feed("sim-spot").ctx
            streams = [weakref.ref(ex) for ex in ctx.factory.live if ex is not ctx.rest]
            live = ctx.factory.live
            await env.inject(kind="ws_close", duration=1.0)
            await env.wait_for(
                lambda: not any(r() in live for r in streams),
                15,
                "every stream closed by the server and replaced",
            )
            await env.wait_for(lambda: streaming(env), 15, "streaming again")
            await env.wait_for(
                lambda: all(r() is None for r in streams),
                10,
                "the instances of the closed streams freed",
            )
            assert collector.stats.reclaims >= 1


async def test_closing_an_instance_cancels_the_tasks_ccxt_spawned_for_it() -> None:
    factory = ExchangeFactory(ExchangeConfig(name="x", symbols=["BTC/USDT"]), RateGate())
    ex = factory.create()
    started, never = anyio.Event(), anyio.Event()
    finished: list[str] = []

    async def snapshot_fetch() -> None:  # stands in for a fetch queued in the rate limiter
        started.set()
        try:
            await never.wait()
        except anyio.get_cancelled_exc_class():
            finished.append("cancelled")
            raise
        finished.append("ended")

    ex.open()  # what ccxt does before its first request (binds the event loop)
    ex.spawn(snapshot_fetch)
    with anyio.fail_after(5):
        await started.wait()
        await factory.close(ex)
        while not finished:
            await anyio.sleep(0.01)
    assert finished == ["cancelled"]
