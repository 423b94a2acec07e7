"""Full garbage collections run by QuietCollector: when, and that they still happen."""

from __future__ import annotations

import gc
import time
import weakref
from collections.abc import Iterator

import anyio
import pytest

from virtuoso_daemon.process.gc_policy import NEVER, QuietCollector


class Busy:
    """A counter bumped every millisecond while ``busy``: stands in for the bus."""

    def __init__(self) -> None:
        self.count = 0
        self.stopped_at = 0.0

    async def run(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.count += 1
            await anyio.sleep(0.001)
        self.stopped_at = time.monotonic()


@pytest.fixture(autouse=True)
def _gc_restored() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.set_threshold(*thresholds)
    gc.unfreeze()


async def test_a_quiet_moment_is_found_only_after_the_activity_stops() -> None:
    busy = Busy()
    collector = QuietCollector(lambda: busy.count, every=1.0, quiet=0.02, patience=5.0)
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(busy.run, 0.2)
            assert await collector.wait_quiet() is True
            found_at = time.monotonic()
    assert busy.stopped_at and found_at - busy.stopped_at >= 0.02


async def test_without_a_quiet_moment_it_gives_up_after_the_patience() -> None:
    busy = Busy()
    collector = QuietCollector(lambda: busy.count, every=1.0, quiet=0.05, patience=0.2)
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(busy.run, 1.0)
            started = time.monotonic()
            assert await collector.wait_quiet() is False
            assert 0.2 <= time.monotonic() - started < 0.9
            await collector.collect_when_quiet()
            tg.cancel_scope.cancel()
    assert collector.stats.collections == 1 and collector.stats.forced == 1


class Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only a collection of its generation frees it


async def test_it_takes_over_full_collections_and_still_frees_cycles() -> None:
    ready = anyio.Event()
    collector = QuietCollector(lambda: 0, every=0.05, quiet=0.005)
    before = gc.get_threshold()
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(collector.run, ready)
            ready.set()
            while collector.stats.frozen == 0:
                await anyio.sleep(0.005)
            # CPython's automatic full passes are off; its young collections are not
            assert gc.get_threshold() == (before[0], before[1], NEVER)
            node = Node()
            freed = weakref.ref(node)
            gc.collect(1)  # it survives into the oldest generation: young passes skip it
            del node
            while freed() is not None:
                await anyio.sleep(0.01)
            assert collector.stats.collections >= 1 and collector.stats.collected >= 1
            tg.cancel_scope.cancel()
    assert gc.get_threshold() == before  # handed back on shutdown
    assert collector.stats.as_dict()["policy"] == "quiet"


async def test_with_gc_every_0_it_only_freezes_start_up_and_leaves_cpython_in_charge() -> None:
    ready = anyio.Event()
    collector = QuietCollector(lambda: 0, every=0)
    before = gc.get_threshold()
    ready.set()
    with anyio.fail_after(5):
        await collector.run(ready)  # returns: nothing to run periodically
    assert gc.get_threshold() == before
    assert collector.stats.frozen > 0 and collector.stats.collections == 0
    assert collector.stats.as_dict()["policy"] == "cpython"
