"""When backups run: cron expressions per kind (croniter), in local time, on a clock.

The clock is a parameter so tests drive the schedule by moving time instead of
waiting for 03:00 (:class:`ManualClock`). The system clock sleeps in slices of at
most a minute and re-reads the time, so a suspended machine or a wall-clock step
(NTP, DST) is noticed instead of sleeping past a backup.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Protocol

import anyio
from croniter import croniter  # type: ignore[import-untyped]

MAX_SLEEP = 60.0


class Clock(Protocol):
    def now(self) -> float: ...

    async def sleep_until(self, deadline: float) -> None: ...


class SystemClock:
    """Wall-clock time (epoch seconds)."""

    def now(self) -> float:
        return time.time()

    async def sleep_until(self, deadline: float) -> None:
        # re-reading the wall clock each slice is the point (see the module docstring)
        while (left := deadline - time.time()) > 0:  # noqa: ASYNC110
            await anyio.sleep(min(left, MAX_SLEEP))


class ManualClock:
    """A clock that moves only when told to (:meth:`advance`); for tests and benches."""

    def __init__(self, now: float) -> None:
        self._now = now
        self._moved = anyio.Event()
        self.sleepers = 0  # tasks waiting in sleep_until now
        self.waits = 0  # times a sleeper (re)started waiting: a test sees the loop went back

    def now(self) -> float:
        return self._now

    async def sleep_until(self, deadline: float) -> None:
        while self._now < deadline:
            self.sleepers += 1
            self.waits += 1
            try:
                await self._moved.wait()
            finally:
                self.sleepers -= 1

    def advance(self, seconds: float) -> None:
        self._now += seconds
        moved, self._moved = self._moved, anyio.Event()
        moved.set()


def next_fire(expr: str, after: float) -> float:
    """The first time after ``after`` (epoch seconds) that ``expr`` matches, local time."""
    start = datetime.fromtimestamp(after).astimezone()  # aware: croniter handles DST
    return float(croniter(expr, start).get_next(float))


def next_fires(schedule: dict[str, str], after: float) -> dict[str, float]:
    return {kind: next_fire(expr, after) for kind, expr in schedule.items()}


def fires_between(expr: str, after: float, until: float, limit: int) -> list[float]:
    """The times ``expr`` matched in ``(after, until]``, oldest first, at most ``limit``
    (the health monitor counts missed runs; it needs no more than its threshold)."""
    out: list[float] = []
    if until <= after:
        return out
    it = croniter(expr, datetime.fromtimestamp(after).astimezone())
    while len(out) < limit:
        at = float(it.get_next(float))
        if at > until:
            break
        out.append(at)
    return out
