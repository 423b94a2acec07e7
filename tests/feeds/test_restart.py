"""A restart resumes backfill from the candles the market store persisted."""

from __future__ import annotations

from typing import Any

import anyio

from tests.harness import DaemonHandle, running_daemon, short_tmpdir, test_config
from virtuoso_daemon.feeds.backfill import resume_since

HOUR = 3_600_000


def test_resume_starts_after_the_newest_stored_closed_candle() -> None:
    since = 100 * HOUR
    stored = {"first": 100 * HOUR, "last": 150 * HOUR, "last_closed": 149 * HOUR, "count": 50}
    assert resume_since(since, HOUR, stored) == 150 * HOUR


def test_resume_continues_an_interrupted_backfill_from_its_last_page() -> None:
    stored = {"first": 100 * HOUR, "last": 110 * HOUR, "last_closed": 110 * HOUR, "count": 11}
    assert resume_since(100 * HOUR, HOUR, stored) == 111 * HOUR


def test_resume_never_starts_before_the_window() -> None:
    stored = {"first": 10 * HOUR, "last": 50 * HOUR, "last_closed": 50 * HOUR, "count": 41}
    assert resume_since(100 * HOUR, HOUR, stored) == 100 * HOUR


def test_resume_without_stored_candles_is_a_full_backfill() -> None:
    assert resume_since(100 * HOUR, HOUR, None) == 100 * HOUR
    assert resume_since(100 * HOUR, HOUR, {"first": 0, "last_closed": None}) == 100 * HOUR


def _backfill(d: DaemonHandle) -> dict[str, Any]:
    stats: dict[str, Any] = d.runtime.stats["feeds:sim-spot"]()["backfill"]
    return stats


async def _wait_backfilled(d: DaemonHandle, series: int) -> dict[str, Any]:
    with anyio.fail_after(60):
        while _backfill(d)["series_done"] < series:
            await anyio.sleep(0.05)
    return _backfill(d)


async def test_second_start_fetches_only_what_it_missed() -> None:
    tmp = short_tmpdir()
    cfg = test_config(
        tmp,
        daemon={"demo": True},
        demo={"n_alts": 2, "perpetuals": False, "seed": 3},
        beta={"windows": {}},
    )
    series = 3 * 4  # BTC + 2 alts, timeframes 1m/1h/4h/1d
    async with running_daemon(cfg) as first:
        cold = await _wait_backfilled(first, series)
    # leaving the block stops the store, which persists every series on shutdown
    async with running_daemon(cfg) as second:
        warm = await _wait_backfilled(second, series)
    assert cold["resumed"] == 0
    assert warm["resumed"] == series
    # at most one short page per series (none when nothing closed in between)
    assert warm["pages"] <= series
    assert warm["candles"] < cold["candles"] / 50
