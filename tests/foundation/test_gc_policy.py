"""Full garbage collections run by QuietCollector: when, and that they still happen."""

from __future__ import annotations

import gc
import time
import weakref
from collections.abc import Iterator

import anyio
import pytest

from virtuoso_daemon.core import reclaim
from virtuoso_daemon.process import gc_policy
from virtuoso_daemon.process.gc_policy import NEVER, RECLAIM_POLL, QuietCollector


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
        async with anyio.create_task_group() as tg:
            tg.start_soon(collector.run, ready)
            while collector.stats.frozen == 0:
                await anyio.sleep(0.005)
            assert gc.get_threshold() == before  # CPython keeps its full passes
            await anyio.sleep(RECLAIM_POLL * 2)  # nothing periodic of its own
            assert collector.stats.collections == 0
            tg.cancel_scope.cancel()
    assert gc.get_threshold() == before
    assert collector.stats.as_dict()["policy"] == "cpython"


@pytest.mark.parametrize("every", [0.05, 0.0], ids=["quiet", "cpython"])
async def test_a_reclaim_request_frees_a_cycle_that_was_frozen_at_start_up(every: float) -> None:
    collector = QuietCollector(lambda: 0, every=every, quiet=0.005)
    node = Node()
    freed = weakref.ref(node)
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(collector.run, None)
            while collector.stats.frozen == 0:
                await anyio.sleep(0.005)
            del node  # dropped after the freeze: the ordinary passes never see it
            gc.collect()
            await anyio.sleep(0.2)  # a few of the quiet policy's own passes
            assert freed() is not None
            reclaim.request()
            while freed() is not None:
                await anyio.sleep(0.01)
            assert collector.stats.reclaims == 1 and collector.stats.reclaimed >= 1
            tg.cancel_scope.cancel()


async def test_after_a_reclaim_a_later_pass_frees_what_was_alive_then_and_freezes_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(gc_policy, "REFREEZE_AFTER", 1.0)  # the daemon waits 30 s
    collector = QuietCollector(lambda: 0, every=0.3, quiet=0.005)
    node = Node()
    freed = weakref.ref(node)
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(collector.run, None)
            while collector.stats.frozen == 0:
                await anyio.sleep(0.005)
            reclaim.request()
            while collector.stats.reclaims == 0:
                await anyio.sleep(0.005)
            # alive during the reclaim (a connection still being torn down), dropped after
            assert gc.get_freeze_count() == 0 and freed() is not None
            del node
            while freed() is not None:
                await anyio.sleep(0.01)
            thawed = time.monotonic()
            while gc.get_freeze_count() == 0:  # the heap is frozen again, not too soon
                await anyio.sleep(0.01)
            assert collector.stats.frozen > 0 and time.monotonic() - thawed > 0.5
            tg.cancel_scope.cancel()
