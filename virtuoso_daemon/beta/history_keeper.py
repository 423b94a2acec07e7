"""The beta history the actor keeps: a bounded ring per series in memory, mirrored to disk.

Its own module because it is the actor's one piece of persistence: loaded from
:class:`.history.BetaHistoryStore` on start, extended after every recompute (one point
per candle close, never rewriting the past) and written in a worker thread. When the
file cannot be opened or written the history stays in memory and ``state`` says why:
memory-only is better than no beta at all.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import anyio

from virtuoso_daemon.beta.compute import Computation, history_points
from virtuoso_daemon.beta.history import BetaHistoryStore, HistoryError, HistoryKey, HistoryPoint
from virtuoso_daemon.beta.point_ring import PointRing

log = logging.getLogger("virtuoso.beta")


class HistoryKeeper:
    """The rings of every (exchange, symbol, timeframe, window) and their SQLite file.

    ``counters`` is the actor's counter dict: writes and failed writes are counted
    there (``history_writes``, ``history_errors``) so they show in its stats.
    """

    def __init__(self, state_dir: Path, counters: dict[str, int]) -> None:
        self.store = BetaHistoryStore.in_state_dir(state_dir)
        self.rings: dict[HistoryKey, PointRing] = {}
        self.state = "not opened"
        self.counters = counters

    async def open(self, limit: int) -> None:
        """Open the file and load the newest ``limit`` points of every series."""

        def open_and_load() -> dict[HistoryKey, list[HistoryPoint]]:
            self.store.open()
            return self.store.load(limit)

        try:
            loaded = await anyio.to_thread.run_sync(open_and_load)
        except HistoryError as exc:
            # memory-only is better than no beta at all; status shows why
            self.state = f"error: {exc}"
            self.store.close()
            log.error("beta history not persisted: %s", exc)
            return
        for key, points in loaded.items():
            self.rings[key] = PointRing(limit, points)
        self.state = "ok"
        if loaded:
            log.info(
                "loaded beta history: %d series, %d points from %s",
                len(loaded),
                sum(len(p) for p in loaded.values()),
                self.store.path,
            )

    def close(self) -> None:
        self.store.close()

    def resize(self, limit: int) -> None:
        """``beta.history`` changed: every ring keeps its newest ``limit`` points."""
        for key, ring in self.rings.items():
            self.rings[key] = ring.resized(limit)

    def tail(self, key: HistoryKey, points: int) -> list[list[float | int | None]]:
        """The newest ``points`` rows of one series (empty when it has none)."""
        ring = self.rings.get(key)
        return ring.tail(points) if ring is not None else []

    async def record(self, comp: Computation, limit: int) -> None:
        """Add what one computation says to the rings, then write it to the file."""
        points = history_points(comp)
        keep_from: dict[HistoryKey, int] = {}
        for key, point in points:
            ring = self.rings.get(key)
            if ring is None:
                ring = self.rings[key] = PointRing(limit)
            last = ring.last_ts()
            if last == point.ts:
                ring.replace_last(point)  # the same candle close recomputed: replace
            elif last is not None and last > point.ts:
                continue  # never rewrite the past
            else:
                ring.append(point)
            first = ring.first_ts()
            if ring.full and first is not None:
                keep_from[key] = first
        if not self.store.is_open or not points:
            return
        try:
            await anyio.to_thread.run_sync(self.store.write, points, keep_from)
        except HistoryError as exc:
            self.counters["history_errors"] += 1
            self.state = f"error: {exc}"
            log.error("could not persist beta history: %s", exc)
            return
        self.counters["history_writes"] += 1
        self.state = "ok"

    def stats(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "file": str(self.store.path),
            "series": len(self.rings),
            "points": sum(len(d) for d in self.rings.values()),
        }
