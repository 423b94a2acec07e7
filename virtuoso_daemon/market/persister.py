"""Candle series to and from the state directory: load on start, write what changed.

Its own module because persistence has its own state (which ring version was last
written, run statistics) and its own rules (copy on the event loop, write in a worker
thread in batches, one directory fsync per run) apart from how the rings are updated.
The file format is :mod:`.persistence`.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import anyio

from virtuoso_daemon.core import malloc
from virtuoso_daemon.market import persistence as disk
from virtuoso_daemon.market.ringbuffer import CandleRing
from virtuoso_daemon.market.state import MarketData, SeriesKey

log = logging.getLogger("virtuoso.store")

PERSIST_BATCH = 64  # series copied and written per worker-thread call (see persist)


class SeriesPersister:
    """Writes the series of :class:`.state.MarketData` whose closed candles changed, and
    loads the stored ones on start."""

    def __init__(self, state_dir: Path, data: MarketData) -> None:
        self.state_dir = state_dir
        self.data = data
        self._persisted: dict[SeriesKey, int] = {}  # closed_version last written
        self._lock = anyio.Lock()
        self.persist_stats: dict[str, Any] = {
            "runs": 0,
            "files": 0,
            "bytes": 0,
            "errors": 0,
            "last_error": None,
            "last_ts": None,
            "last_seconds": None,
        }
        self.load_stats: dict[str, Any] = {
            "series": 0,
            "candles": 0,
            "corrupt": 0,
            "discarded": 0,  # rows of readable files that failed disk.sane
            "seconds": 0.0,
        }

    def forget(self, key: SeriesKey) -> None:
        """The ring of ``key`` was replaced: write it again at the next run."""
        self._persisted.pop(key, None)

    async def load(self, wanted: list[tuple[str, str, int]]) -> None:
        """Load the files of ``wanted`` (exchange, timeframe, timeframe ms) into the rings."""
        started = time.perf_counter()
        store_cfg, state_dir = self.data.store_cfg, self.state_dir

        def load() -> tuple[dict[SeriesKey, CandleRing], int, int]:
            disk.remove_stale_temp(state_dir)
            rings: dict[SeriesKey, CandleRing] = {}
            corrupt = discarded = 0
            for exchange, tf, ms in wanted:
                for path in disk.iter_series_files(state_dir, exchange, tf):
                    try:
                        data = disk.load_series(path)
                    except disk.CorruptSeries as exc:
                        log.warning("ignoring unreadable candle file: %s", exc)
                        corrupt += 1
                        continue
                    if data.meta.exchange != exchange or data.meta.timeframe != tf:
                        log.warning("ignoring candle file in the wrong place: %s", path)
                        corrupt += 1
                        continue
                    data, dropped = disk.sane(data, ms)
                    if dropped:
                        log.warning(
                            "dropped %d of the candles in %s: off the %s grid, out of "
                            "range or order, or not finite",
                            dropped,
                            path,
                            tf,
                        )
                        discarded += dropped
                    ring = CandleRing(store_cfg.candles_for(tf), ms)
                    ring.update_many(data.times, data.values, data.closed)
                    rings[(exchange, data.meta.symbol, tf)] = ring
            return rings, corrupt, discarded

        rings, corrupt, discarded = await anyio.to_thread.run_sync(load)
        self.data.series.update(rings)
        for key, ring in rings.items():
            self._persisted[key] = ring.closed_version
        self.load_stats = {
            "series": len(rings),
            "candles": sum(r.count() for r in rings.values()),
            "corrupt": corrupt,
            "discarded": discarded,
            "seconds": round(time.perf_counter() - started, 3),
        }
        if rings or corrupt:
            log.info(
                "loaded %d candle series (%d candles) from %s in %.2fs",
                len(rings),
                self.load_stats["candles"],
                disk.candles_dir(state_dir),
                self.load_stats["seconds"],
            )

    async def persist(self) -> dict[str, int]:
        """Write every series whose closed candles changed since its last write.

        The series are copied on the event loop (the rings change there) and written in
        a worker thread, :data:`PERSIST_BATCH` at a time: the copies of a whole run
        (every 1m series changes each minute: ~10 MB at 300 markets) would otherwise
        all be alive at once and stay resident after it.
        """
        async with self._lock:
            started = time.perf_counter()
            dirty = [
                key
                for key, ring in self.data.series.items()
                if self._persisted.get(key) != ring.closed_version
            ]
            if not dirty:
                return {"files": 0, "bytes": 0}
            done: list[tuple[SeriesKey, int]] = []
            errors: list[str] = []
            dirs: set[Path] = set()
            written = 0
            for i in range(0, len(dirty), PERSIST_BATCH):
                jobs = self._persist_jobs(dirty[i : i + PERSIST_BATCH])
                n = await anyio.to_thread.run_sync(
                    self._write_jobs, jobs, done, errors, dirs, abandon_on_cancel=True
                )
                written += n
                del jobs

            def finish() -> None:
                try:
                    disk.sync_dirs(dirs)
                except OSError as exc:
                    errors.append(f"fsync: {exc}")
                malloc.trim()  # the copies and write buffers of the run (see malloc.py)

            await anyio.to_thread.run_sync(finish, abandon_on_cancel=True)
            for key, version in done:
                self._persisted[key] = version
            ps = self.persist_stats
            ps["runs"] += 1
            ps["files"] += len(done)
            ps["bytes"] += written
            ps["last_ts"] = time.time()
            ps["last_seconds"] = round(time.perf_counter() - started, 3)
            if errors:
                ps["errors"] += len(errors)
                ps["last_error"] = errors[-1]
                log.error("could not persist %d candle series, e.g. %s", len(errors), errors[0])
            log.debug("persisted %d candle series (%d bytes)", len(done), written)
            return {"files": len(done), "bytes": written}

    def _persist_jobs(self, keys: list[SeriesKey]) -> list[tuple[SeriesKey, int, Any, Any, Any]]:
        """Copies of the closed-candle state of ``keys`` (those still in the store)."""
        jobs = []
        for key in keys:
            ring = self.data.series.get(key)
            if ring is not None:
                times, values, closed, valid = ring.window()
                jobs.append((key, ring.closed_version, times[valid], values[valid], closed[valid]))
        return jobs

    def _write_jobs(
        self,
        jobs: list[tuple[SeriesKey, int, Any, Any, Any]],
        done: list[tuple[SeriesKey, int]],
        errors: list[str],
        dirs: set[Path],
    ) -> int:
        """Write ``jobs`` (worker thread); note what was written and what failed."""
        written = 0
        for key, version, times, values, closed in jobs:
            exchange, symbol, tf = key
            path = disk.series_path(self.state_dir, exchange, symbol, tf)
            try:
                written += disk.save_series(
                    path,
                    exchange=exchange,
                    symbol=symbol,
                    timeframe=tf,
                    times=times,
                    values=values,
                    closed=closed,
                    sync_dir=False,
                )
            except OSError as exc:
                errors.append(f"{path}: {exc}")
                continue
            dirs.add(path.parent)
            done.append((key, version))
        return written
