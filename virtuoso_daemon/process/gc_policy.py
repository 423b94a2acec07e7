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

A frozen object is never collected, so whoever drops long-lived cyclic objects (a
feed's reconnect drops its ccxt instances) asks for them to be reclaimed
(:mod:`virtuoso_daemon.core.reclaim`): the next quiet moment after such a request
unfreezes and collects everything, whatever the policy. What is alive is frozen again
only at the first periodic pass ``REFREEZE_AFTER`` seconds or more after that (with
``every = 0`` a pass is run then), after one more collection: an old connection still
being torn down at the reclaim (a socket's read loop ending, a close callback) is
garbage by then, and freezing it at once would have kept it for good. That costs a
few scans of the whole heap per reconnect burst; without it every reconnect of a
connection older than the freeze kept the old connection's memory for good.
"""

from __future__ import annotations

import gc
import logging
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import anyio

from virtuoso_daemon.core import malloc, reclaim

log = logging.getLogger("virtuoso.gc")

#: a generation-2 threshold CPython never reaches (counted in generation-1 passes)
NEVER = 1 << 30
#: how often the bus is sampled while waiting for a quiet moment
SAMPLE = 0.002
#: how often a reclaim request is looked for, and how long the rest of its burst (the
#: other instances of a reconnect, the other feeds of ``fix connection``) is waited for
RECLAIM_POLL = 0.5
RECLAIM_SETTLE = 1.0
#: the heap is frozen again at the first pass this long after a reclaim (with
#: ``every = 0``, which has no periodic passes, a pass is run then)
REFREEZE_AFTER = 30.0


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
    frozen: int = 0  # objects in the permanent generation (start-up, then each reclaim)
    reclaims: int = 0  # passes over the frozen objects too (core.reclaim requests)
    reclaimed: int = 0  # ... and the unreachable objects they found
    policy: str = "quiet"  # or "cpython" (gc_every = 0: start-up frozen, reclaims only)
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
            "reclaims": self.reclaims,
            "reclaimed": self.reclaimed,
            "median_wait_ms": round(waits[len(waits) // 2], 1) if waits else 0.0,
        }


class QuietCollector:
    """Runs CPython's full collections when the bus is quiet (see the module docstring).

    ``activity`` returns a number that changes whenever work arrives (the bus's count
    of published messages); a moment is quiet when it has not changed for ``quiet``
    seconds. ``every = 0`` only freezes what start-up built (and serves reclaims).
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
        self.refreeze = False  # a reclaim unfroze the heap: freeze it again later
        self.thawed_at = 0.0  # ... when (not before REFREEZE_AFTER seconds from then)

    async def run(self, ready: anyio.Event | None = None) -> None:
        """Take over full collections until cancelled (then hand them back to CPython)."""
        if ready is not None:
            await ready.wait()
        quiet = self.every > 0
        if quiet:
            gc.collect()  # what start-up left behind, before freezing the rest
        gc.freeze()  # see the module docstring: what start-up built lives as long
        self.stats.frozen = gc.get_freeze_count()
        young, middle, old = gc.get_threshold()
        if quiet:
            gc.set_threshold(young, middle, NEVER)
            log.info(
                "full garbage collections every %gs at a quiet moment (%d start-up objects frozen)",
                self.every,
                self.stats.frozen,
            )
        seen = reclaim.requested()
        try:
            while True:
                seen, thaw = await self._next_pass(seen)
                await self.collect_when_quiet(thaw=thaw)
        finally:
            gc.set_threshold(young, middle, old)

    async def _next_pass(self, seen: int) -> tuple[int, bool]:
        """Wait until a pass is due: ``(requests seen, True)`` after a reclaim request,
        ``(seen, False)`` when ``every`` seconds are up (with ``every = 0`` only to
        freeze again after a reclaim)."""
        period = self.every if self.every > 0 else REFREEZE_AFTER if self.refreeze else math.inf
        due = time.monotonic() + period
        while True:
            await anyio.sleep(min(RECLAIM_POLL, max(0.0, due - time.monotonic())))
            if reclaim.requested() != seen:
                await anyio.sleep(RECLAIM_SETTLE)  # the rest of the burst: one pass for all
                return reclaim.requested(), True
            if time.monotonic() >= due:
                return seen, False

    async def collect_when_quiet(self, thaw: bool = False) -> None:
        """Wait for a quiet moment (at most ``patience`` seconds), then collect fully:
        with ``thaw`` the frozen objects too (see the module docstring), and the first
        pass after that freezes what is alive again."""
        started = time.monotonic()
        forced = not await self.wait_quiet()
        waited = time.monotonic() - started
        t0 = time.perf_counter()
        if thaw:
            gc.unfreeze()
        found = gc.collect()
        if thaw:
            self.refreeze, self.thawed_at = True, time.monotonic()
        refreeze = (
            self.refreeze and not thaw and time.monotonic() - self.thawed_at >= REFREEZE_AFTER
        )
        if refreeze:
            gc.freeze()
            self.refreeze = False
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
        if thaw:
            s.reclaims += 1
            s.reclaimed += found
            s.frozen = 0
            log.info("reclaimed %d unreachable objects, frozen ones included (%.1f ms)", found, ms)
        elif refreeze:
            s.frozen = gc.get_freeze_count()
            log.info("%d objects frozen again after a reclaim", s.frozen)
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
