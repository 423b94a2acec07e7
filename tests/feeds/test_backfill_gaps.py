"""Backfill never accepts a hole silently (simulator faults ``kline_hole``, ``kline_short``).

A page cut short before the present does not end a series; a range the exchange does
not return is asked for once more and then reported per series in the feed's status
(``FeedStatus.gaps``), with where it is (head, inside, tail) and how many candles.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from tests.feeds.env import by_symbol, feed_env
from virtuoso_daemon.core.bus import Topics
from virtuoso_daemon.core.messages import CandleBatch, CandleGap
from virtuoso_daemon.feeds.coverage import find_gaps
from virtuoso_daemon.sim import SimConfig
from virtuoso_daemon.sim.faults import Fault
from virtuoso_daemon.sim.server import Simulator

MIN = 60_000
SYMBOLS = ["BTC/USDT", "ETH/USDT"]
FEED = {"symbols": SYMBOLS, "kinds": ["ohlcv"], "timeframes": ["1m"], "backfill_candles": 900}


def sim_config() -> SimConfig:
    return SimConfig(
        seed=3,
        n_alts=2,
        speed=60.0,
        perpetuals=False,
        history_candles=1500,
        dialects=("binance", "okx"),
    )


def open_times(env: Any, symbol: str) -> list[int]:
    batches = by_symbol(env.rec.get(Topics.CANDLE_HISTORY), CandleBatch).get(symbol, [])
    return sorted({r[0] for b in batches for r in b.rows})


def first_closed(sim: Simulator, k: int) -> int:
    """Open time of the k-th candle of the 900 the backfill will ask for."""
    series = sim.engine.series["1m"]
    return series.start_ms + (series.n - 900 + k) * MIN


def test_find_gaps_names_head_inside_and_tail() -> None:
    times = [5 * MIN, 6 * MIN, 9 * MIN]
    assert find_gaps(times, 3 * MIN, 12 * MIN, MIN) == [
        CandleGap(start=3 * MIN, end=5 * MIN, missing=2, where="head"),
        CandleGap(start=7 * MIN, end=9 * MIN, missing=2, where="inside"),
        CandleGap(start=10 * MIN, end=12 * MIN, missing=2, where="tail"),
    ]
    assert find_gaps(range(0, 10 * MIN, MIN), 0, 10 * MIN, MIN) == []
    assert find_gaps([], 0, 3 * MIN, MIN) == [
        CandleGap(start=0, end=3 * MIN, missing=3, where="head")
    ]


@pytest.mark.parametrize("dialect", ["binance", "okx"])
async def test_pages_cut_short_mid_history_do_not_end_the_backfill(dialect: str) -> None:
    def setup(sim: Simulator) -> None:
        sim.inject(Fault(kind="kline_short", rows=200))  # every answer: 200 rows at most

    feed = {**FEED, "dialect": dialect}
    async with feed_env(("spot", "spot", feed), sim_config=sim_config(), setup=setup) as env:

        def complete() -> bool:
            return all(len(open_times(env, s)) >= 900 for s in SYMBOLS)

        await env.wait_for(complete, 20, "900 candles per symbol through 200-row pages")
        for s in SYMBOLS:
            times = open_times(env, s)
            assert all(b - a == MIN for a, b in itertools.pairwise(times)), s
        await env.wait_for(lambda: env.status("spot").gaps == {}, 5, "no gaps reported")


@pytest.mark.parametrize(("dialect", "length"), [("binance", 20), ("okx", 20), ("okx", 400)])
async def test_a_hole_the_exchange_keeps_is_reported_with_its_range(
    dialect: str, length: int
) -> None:
    # okx pages by time window: a hole longer than a page is an empty page mid-history
    hole: dict[str, int] = {}

    def setup(sim: Simulator) -> None:
        hole["start"], hole["end"] = first_closed(sim, 300), first_closed(sim, 300 + length)
        sim.inject(Fault(kind="kline_hole", start_ms=hole["start"], end_ms=hole["end"]))

    feed = {**FEED, "dialect": dialect}
    async with feed_env(("spot", "spot", feed), sim_config=sim_config(), setup=setup) as env:

        def reported() -> Any:
            gaps = env.status("spot").gaps
            return all(s in gaps for s in SYMBOLS) and gaps

        gaps = await env.wait_for(reported, 20, "the hole in every symbol's status")
        for s in SYMBOLS:
            assert gaps[s]["1m"] == [
                CandleGap(start=hole["start"], end=hole["end"], missing=length, where="inside")
            ]
            times = open_times(env, s)
            assert not any(hole["start"] <= t < hole["end"] for t in times)
            # everything after the hole arrived: the short page did not end the series
            assert len([t for t in times if t >= hole["end"]]) >= 900 - 300 - length
        env.sim.clear_faults()
        body = await env.sim_get("/__sim/faults")
        assert body["counters"]["kline_hole"] >= 2 * len(SYMBOLS)  # asked twice each


async def test_a_passing_hole_is_filled_by_the_retry_and_not_reported() -> None:
    def setup(sim: Simulator) -> None:
        start = first_closed(sim, 100)
        # only the first kline answer loses the range
        sim.inject(Fault(kind="kline_hole", start_ms=start, end_ms=start + 50 * MIN, count=1))

    feed = {**FEED, "symbols": ["BTC/USDT"]}
    async with feed_env(("spot", "spot", feed), sim_config=sim_config(), setup=setup) as env:
        await env.wait_for(lambda: len(open_times(env, "BTC/USDT")) >= 900, 20, "900 candles")
        times = open_times(env, "BTC/USDT")
        assert all(b - a == MIN for a, b in itertools.pairwise(times))
        assert env.status("spot").gaps == {}


async def test_history_that_starts_later_than_asked_is_a_head_gap() -> None:
    feed = {**FEED, "symbols": ["BTC/USDT"], "backfill_candles": 1700}  # the sim has ~1500
    async with feed_env(("spot", "spot", feed), sim_config=sim_config()) as env:
        gaps = await env.wait_for(
            lambda: env.status("spot").gaps.get("BTC/USDT"), 20, "a head gap reported"
        )
        (gap,) = gaps["1m"]
        assert gap.where == "head" and 150 <= gap.missing <= 200
        assert gap.end == open_times(env, "BTC/USDT")[0]


async def test_a_configured_symbol_the_exchange_does_not_list_is_in_the_status() -> None:
    feed = {**FEED, "symbols": ["BTC/USDT", "FOO/USDT", "ethusdt"], "backfill_candles": 10}
    async with feed_env(("spot", "spot", feed), sim_config=sim_config()) as env:
        status = await env.wait_for(
            lambda: (st := env.status("spot")) is not None and st.symbols and st, 15, "symbols"
        )
        assert status.symbols == ["BTC/USDT", "ETH/USDT"]
        assert status.unknown_symbols == ["FOO/USDT"]


KLINES = {"binance": "/api/v3/klines", "okx": "/api/v5/market/candles"}


@pytest.mark.parametrize("dialect", ["binance", "okx"])
async def test_candles_that_close_before_the_stream_starts_are_not_lost(dialect: str) -> None:
    # The backfill stops before the candle open when it starts and leaves that one to
    # the stream; here the stream says nothing for 1.5 s (1.5 candles at speed 60)
    # and the backfill's page takes 2.5 s, so the stream's first candle comes after
    # candles nobody fetched closed, and before the backfill is done.
    def setup(sim: Simulator) -> None:
        sim.inject(Fault(kind="slow", delay=2.5, path=KLINES[dialect], count=1))
        sim.inject(Fault(kind="ws_silent", duration=1.5))

    feed = {**FEED, "dialect": dialect, "symbols": ["BTC/USDT"], "backfill_candles": 20}
    async with feed_env(("spot", "spot", feed), sim_config=sim_config(), setup=setup) as env:

        def series() -> list[int]:
            closed = {c.open_time for c in env.rec.get(Topics.CANDLES) if c.closed}
            return sorted(set(open_times(env, "BTC/USDT")) | closed)

        await env.wait_for(lambda: len(series()) >= 23, 20, "history and live candles")

        def no_hole() -> bool:
            times = series()
            return all(b - a == MIN for a, b in itertools.pairwise(times))

        await env.wait_for(no_hole, 10, "the candles between history and stream fetched")
