"""Full garbage collections at quiet moments instead of in the middle of a burst.

CPython starts a full (generation 2) collection whenever enough young objects have
survived, which in this daemon means in the middle of an exchange burst: that is
where the allocations are. A full pass holds the GIL for as long as it scans every
tracked object (6-30 ms here with 82-300 markets: ccxt's order books, caches and
parsed messages), so every ticker of that burst and every API request waiting in the
HTTP thread is late by that much; those stalls were the p99 of the pipeline's
push-to-API latency (docs/market.md).

:class:`QuietCollector` keeps CPython's young collections (cheap, and they reclaim
most cycles) but turns off its automatic full ones and runs them itself every
``every`` seconds, at a moment when the bus has been quiet for ``quiet`` seconds (no
message published: the feeds are between two bursts). If no quiet moment comes
within ``patience`` seconds (a daemon busy all the time), it collects anyway: memory
held by cyclic garbage stays bounded either way. It also freezes what start-up built
(markets, history, buffers: they live as long as the process) so that full passes
only scan what changes (with ``every = 0`` that freeze is all it does: CPython keeps
its own full passes). After each pass it hands the heap memory freed since the last
one back to the system (``malloc_trim``, :mod:`.malloc`), in the same quiet moment.
"""

from __future__ import annotations

import gc
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import anyio

from virtuoso_daemon.core import malloc

log = logging.getLogger("virtuoso.gc")

#: a generation-2 threshold CPython never reaches (counted in generation-1 passes)
NEVER = 1 << 30
#: how often the bus is sampled while waiting for a quiet moment
SAMPLE = 0.002


@dataclass
class GcStats:
    """What the collector did, for /api/system/status."""

    collections: int = 0  # full passes run by the collector
    forced: int = 0  # ... of which found no quiet moment within the patience
    last_ms: float = 0.0
    max_ms: float = 0.0
    total_ms: float = 0.0
    collected: int = 0  # unreachable objects found by the full passes
    trim_ms: float = 0.0  # the last malloc_trim after a pass
    frozen: int = 0  # objects moved to the permanent generation at start-up
    policy: str = "quiet"  # or "cpython" (gc_every = 0: start-up frozen, nothing more)
    waited_ms: deque[float] = field(default_factory=lambda: deque(maxlen=64))  # recent waits

    def as_dict(self) -> dict[str, Any]:
        waits = sorted(self.waited_ms)
        return {
            "policy": self.policy,
            "collections": self.collections,
            "forced": self.forced,
            "last_ms": round(self.last_ms, 2),
            "max_ms": round(self.max_ms, 2),
            "mean_ms": round(self.total_ms / self.collections, 2) if self.collections else 0.0,
            "collected": self.collected,
            "trim_ms": round(self.trim_ms, 2),
            "frozen": self.frozen,
            "median_wait_ms": round(waits[len(waits) // 2], 1) if waits else 0.0,
        }


class QuietCollector:
    """Runs CPython's full collections when the bus is quiet (see the module docstring).

    ``activity`` returns a number that changes whenever work arrives (the bus's count
    of published messages); a moment is quiet when it has not changed for ``quiet``
    seconds. ``every = 0`` only freezes what start-up built.
    """

    def __init__(
        self,
        activity: Callable[[], int],
        *,
        every: float,
        quiet: float = 0.008,
        patience: float = 5.0,
    ) -> None:
        self.activity = activity
        self.every = every
        self.quiet = quiet
        self.patience = patience
        self.stats = GcStats(policy="quiet" if every > 0 else "cpython")

    async def run(self, ready: anyio.Event | None = None) -> None:
        """Take over full collections until cancelled (then hand them back to CPython)."""
        if ready is not None:
            await ready.wait()
        if self.every <= 0:
            gc.freeze()  # see the module docstring: what start-up built lives as long
            self.stats.frozen = gc.get_freeze_count()
            return
        gc.collect()  # what start-up left behind, before freezing the rest
        gc.freeze()
        self.stats.frozen = gc.get_freeze_count()
        young, middle, old = gc.get_threshold()
        gc.set_threshold(young, middle, NEVER)
        log.info(
            "full garbage collections every %gs at a quiet moment (%d start-up objects frozen)",
            self.every,
            self.stats.frozen,
        )
        try:
            while True:
                await anyio.sleep(self.every)
                await self.collect_when_quiet()
        finally:
            gc.set_threshold(young, middle, old)

    async def collect_when_quiet(self) -> None:
        """Wait for a quiet moment (at most ``patience`` seconds), then collect fully."""
        started = time.monotonic()
        forced = not await self.wait_quiet()
        waited = time.monotonic() - started
        t0 = time.perf_counter()
        found = gc.collect()
        ms = (time.perf_counter() - t0) * 1000
        t1 = time.perf_counter()
        malloc.trim()
        s = self.stats
        s.trim_ms = (time.perf_counter() - t1) * 1000
        s.collections += 1
        s.forced += forced
        s.last_ms = ms
        s.max_ms = max(s.max_ms, ms)
        s.total_ms += ms
        s.collected += found
        s.waited_ms.append(waited * 1000)
        if forced:
            log.debug("full collection without a quiet moment after %.1fs (%.1f ms)", waited, ms)

    async def wait_quiet(self) -> bool:
        """True once ``activity`` has not changed for ``quiet`` seconds; False on timeout."""
        deadline = time.monotonic() + self.patience
        seen = self.activity()
        since = time.monotonic()
        while True:
            await anyio.sleep(SAMPLE)
            now = time.monotonic()
            current = self.activity()
            if current != seen:
                seen, since = current, now
            elif now - since >= self.quiet:
                return True
            if now >= deadline:
                return False
