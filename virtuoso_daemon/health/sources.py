"""What the health monitor measures itself: CPU, memory, disk, event-loop lag, errors
logged, and one timed request to its own HTTP API.

Each is cheap and never blocks the event loop: CPU is psutil's delta since the last
call (``interval=None``), memory two ``/proc`` reads, the disk probe (a ``statvfs``
and a small write) runs in a worker thread under a timeout, the loop-lag probe is a
sleep that measures how late it woke.
"""

from __future__ import annotations

import logging
import os
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import anyio
import anyio.to_thread
import psutil

#: seconds between two loop-lag samples (each a sleep that measures its own lateness)
LAG_PERIOD = 0.25
#: the loop-lag check reports the worst lag of this many seconds (a 3 s block is
#: still visible to the next sweeps, not only to the sample right after it)
LAG_WINDOW = 30.0
#: seconds the rates (errors, bus drops) are counted over
RATE_WINDOW = 60.0


#: seconds a CPU sample spans at least (CPU times tick in 10 ms: shorter is noise)
CPU_MIN_SPAN = 1.0


class CpuSampler:
    """Process CPU in percent of one core since the previous sample (non-blocking).

    A sample spans at least :data:`CPU_MIN_SPAN` seconds; asked sooner, it answers
    the previous value (0 before the first full span)."""

    def __init__(self) -> None:
        self.proc = psutil.Process()
        self.proc.cpu_percent(None)  # the first call only sets the reference point
        self.taken = time.monotonic()
        self.value = 0.0

    def sample(self) -> float:
        now = time.monotonic()
        if now - self.taken >= CPU_MIN_SPAN:
            self.value = float(self.proc.cpu_percent(None))
            self.taken = now
        return self.value


@dataclass(frozen=True)
class MemoryReading:
    rss_mb: float
    system_pct: float
    system_available_mb: float


def memory(proc: psutil.Process) -> MemoryReading:
    vm = psutil.virtual_memory()
    return MemoryReading(
        rss_mb=proc.memory_info().rss / 2**20,
        system_pct=float(vm.percent),
        system_available_mb=vm.available / 2**20,
    )


@dataclass(frozen=True)
class DiskReading:
    path: str
    free_pct: float | None
    free_mb: float | None
    writable: bool
    error: str | None = None


PROBE_NAME = ".virtuoso-health-probe"


def probe_dir(path: Path) -> DiskReading:
    """Free space and writability of ``path`` (blocking: run it in a thread)."""
    try:
        st = os.statvfs(path)
    except OSError as exc:
        return DiskReading(str(path), None, None, False, f"{exc.strerror or exc}")
    total = st.f_blocks * st.f_frsize
    free = st.f_bavail * st.f_frsize  # what an unprivileged writer can still use
    free_pct = 100.0 * free / total if total else 0.0
    probe = path / PROBE_NAME
    try:
        with open(probe, "wb") as f:
            f.write(b"ok\n")
            f.flush()
            os.fsync(f.fileno())
        probe.unlink()
    except OSError as exc:
        return DiskReading(str(path), free_pct, free / 2**20, False, f"{exc.strerror or exc}")
    return DiskReading(str(path), free_pct, free / 2**20, True)


async def probe_dirs(paths: list[Path], timeout: float) -> list[DiskReading]:
    """:func:`probe_dir` for each path in a worker thread; a hung disk reads as unwritable."""
    out: list[DiskReading] = []
    for path in paths:
        with anyio.move_on_after(timeout):
            out.append(await anyio.to_thread.run_sync(probe_dir, path, abandon_on_cancel=True))
            continue
        out.append(DiskReading(str(path), None, None, False, f"no answer within {timeout:g}s"))
    return out


class LoopLag:
    """How late the event loop runs a timer: sampled every :data:`LAG_PERIOD` seconds."""

    def __init__(self, window: float = LAG_WINDOW) -> None:
        self.window = window
        self.samples: deque[tuple[float, float]] = deque()  # (monotonic, lag seconds)
        self.last = 0.0
        self.last_at: float | None = None

    def record(self, lag: float, now: float) -> None:
        self.last, self.last_at = lag, now
        self.samples.append((now, lag))
        while self.samples and now - self.samples[0][0] > self.window:
            self.samples.popleft()

    def worst(self) -> float:
        return max((lag for _, lag in self.samples), default=0.0)

    async def run(self) -> None:
        clock = time.monotonic
        while True:
            due = clock() + LAG_PERIOD
            await anyio.sleep(LAG_PERIOD)
            now = clock()
            self.record(max(0.0, now - due), now)


class ErrorCounter(logging.Handler):
    """Counts log records at ERROR and above (every thread, every logger)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1


class RateWindow:
    """Increase of a running total over the last :data:`RATE_WINDOW` seconds."""

    def __init__(self, window: float = RATE_WINDOW) -> None:
        self.window = window
        self.points: deque[tuple[float, float]] = deque()

    def add(self, total: float, now: float) -> float:
        """Record ``total`` now; returns its increase within the window."""
        self.points.append((now, total))
        while len(self.points) > 1 and now - self.points[1][0] >= self.window:
            self.points.popleft()
        return total - self.points[0][1]


@dataclass(frozen=True)
class ApiProbe:
    latency_ms: float | None
    status: int | None
    error: str | None


async def probe_api(session: aiohttp.ClientSession, url: str, timeout: float) -> ApiProbe:
    """One timed GET of ``url`` (the daemon's own liveness route)."""
    start = time.perf_counter()
    try:
        with anyio.fail_after(timeout):
            async with session.get(url) as resp:
                await resp.read()
                status = resp.status
    except TimeoutError:
        return ApiProbe(None, None, f"no answer within {timeout:g}s")
    except aiohttp.ClientError as exc:
        return ApiProbe(None, None, f"{type(exc).__name__}: {exc}")
    ms = (time.perf_counter() - start) * 1000.0
    return ApiProbe(ms, status, None if status < 400 else f"HTTP {status}")
