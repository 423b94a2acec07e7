"""A restart resumes backfill from the candles the market store persisted."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from typing import Any

import anyio
import msgspec
import pytest

from tests.feeds.env import DIALECTS, sim_exchange
from tests.harness import DaemonHandle, running_daemon, short_tmpdir, test_config
from tests.market.helpers import market_config, market_specs
from virtuoso_daemon.core.runtime import Runtime
from virtuoso_daemon.core.supervisor import ActorSpec
from virtuoso_daemon.feeds import feed_specs
from virtuoso_daemon.feeds.backfill import resume_since
from virtuoso_daemon.read import market as queries
from virtuoso_daemon.read.market_answers import Ohlcv
from virtuoso_daemon.sim import SimConfig, Simulator

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


def _backfill(d: DaemonHandle, feed: str) -> dict[str, Any]:
    """The feed's backfill counters ({} until its backfiller exists)."""
    stats: dict[str, Any] = d.runtime.stats[f"feeds:{feed}"]()["backfill"] or {}
    return stats


async def _wait_backfilled(d: DaemonHandle, feed: str, series: int) -> dict[str, Any]:
    with anyio.fail_after(60):
        while _backfill(d, feed).get("series_done", 0) < series:
            await anyio.sleep(0.05)
    return _backfill(d, feed)


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
        cold = await _wait_backfilled(first, "sim-spot", series)
    # leaving the block stops the store, which persists every series on shutdown
    async with running_daemon(cfg) as second:
        warm = await _wait_backfilled(second, "sim-spot", series)
    assert cold["resumed"] == 0
    assert warm["resumed"] == series
    # at most one short page per series (none when nothing closed in between)
    assert warm["pages"] <= series
    assert warm["candles"] < cold["candles"] / 50


MIN = 60_000
SYMBOLS = ["BTC/USDT", "ETH/USDT"]


def _closed_rows(answer: Ohlcv) -> list[list[float]]:
    rows = [list(r) for r in answer.candles]
    return rows[:-1] if answer.open_candle else rows


def _truth(sim: Simulator, symbol: str, open_time: int) -> list[float]:
    """The candle the exchange serves for ``open_time`` (the engine's, formatted)."""
    mk = next(m for m in sim.engine.markets if m.symbol == symbol)
    series = sim.engine.series["1m"]
    i = (open_time - series.start_ms) // series.step_ms
    o, h, lo, c, v = (float(series.data[f][i, mk.index]) for f in ("o", "h", "l", "c", "v"))
    return [*(float(mk.fmt_price(x)) for x in (o, h, lo, c)), float(mk.fmt_qty(v))]


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_no_candle_is_lost_across_a_restart(dialect: str) -> None:
    """The exchange runs on while the daemon is down: candles close unseen. The second
    start pages only from the newest stored closed candle (a short page a series), and
    the stored series then runs from the first start's history to the present
    without a hole, every closed candle the exchange's."""
    sim = Simulator(SimConfig(seed=5, n_alts=1, speed=240.0, perpetuals=False, dialects=DIALECTS))
    tmp = short_tmpdir()
    try:
        async with sim.running() as url:
            feed = sim_exchange(
                sim, url, "x", "spot", dialect, symbols=SYMBOLS, kinds=["ohlcv"],
                backfill_candles=30, rate_limit_ms=10,
            )  # fmt: skip
            cfg = msgspec.structs.replace(market_config(tmp), exchanges=[feed])

            def specs(runtime: Runtime) -> list[ActorSpec]:
                return [*feed_specs(runtime), *market_specs(http=False, cache=False)]

            async def stored(
                rt: Runtime, done: Callable[[list[list[float]]], bool]
            ) -> dict[str, list[list[float]]]:
                """Each symbol's closed candles in the store, once ``done`` accepts them
                (the feed publishes them; the store takes them a moment later)."""
                out: dict[str, list[list[float]]] = {}
                with anyio.fail_after(10):
                    for symbol in SYMBOLS:
                        while True:
                            q = await queries.ohlcv(rt, symbol, "1m", limit=1440, exchange="x")
                            out[symbol] = _closed_rows(q)
                            if out[symbol] and done(out[symbol]):
                                break
                            await anyio.sleep(0.05)
                return out

            async with running_daemon(cfg, specs) as first:
                cold = await _wait_backfilled(first, "x", len(SYMBOLS))
                before = await stored(first.runtime, lambda rows: len(rows) >= 29)
            last_closed = {s: int(rows[-1][0]) for s, rows in before.items()}
            # at least two candles close while nothing watches (a quarter second each)
            with anyio.fail_after(10):
                while sim.now_ms() < max(last_closed.values()) + 4 * MIN:
                    await anyio.sleep(0.05)
            async with running_daemon(cfg, specs) as second:
                warm = await _wait_backfilled(second, "x", len(SYMBOLS))
                missed = max(last_closed.values()) + 3 * MIN
                after = await stored(second.runtime, lambda rows: rows[-1][0] >= missed)
        assert (cold["resumed"], warm["resumed"]) == (0, len(SYMBOLS))
        # one page a series from where the first start stopped, and a catch-up page when
        # the stream's first candle came after one more had closed (a quarter second here)
        assert warm["pages"] <= len(SYMBOLS) + warm["catch_ups"], warm
        assert warm["candles"] <= 10 * len(SYMBOLS), warm  # cold: 30 a series
        for symbol, rows in after.items():
            times = [int(r[0]) for r in rows]
            assert times[0] == before[symbol][0][0], symbol  # the first start's history
            assert times == list(range(times[0], times[-1] + MIN, MIN)), symbol  # no hole
            for t, *values in rows:
                assert values == pytest.approx(_truth(sim, symbol, int(t)), rel=1e-9), t
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
