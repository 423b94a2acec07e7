"""What the store loads from disk is checked, not trusted (issue 16): a structurally
valid but crafted ``.npz`` (times near ``-2**63``, out of order, off the timeframe's
grid, non-finite prices) used to load as "not corrupt", fix the ring's phase and empty
that series for good, across restarts. Bad rows are dropped and counted; the good ones
and the live candles after them are kept."""

from __future__ import annotations

import time
from pathlib import Path

import anyio
import numpy as np

from tests.harness import running_daemon, short_tmpdir
from tests.market.helpers import exchange_cfg, market_config
from virtuoso_daemon.core.bus import Topics
from virtuoso_daemon.core.messages import Candle
from virtuoso_daemon.core.supervisor import ActorSpec
from virtuoso_daemon.market import persistence as disk
from virtuoso_daemon.market.actor import MarketStoreActor
from virtuoso_daemon.read import market as queries

HOUR = 3_600_000
NOW_H = int(time.time() * 1000) // HOUR * HOUR


def _write(state: Path, times: list[int], closes: list[float]) -> None:
    n = len(times)
    values = np.array([[c, c + 1, c - 1, c, 1.0] for c in closes], dtype=np.float64)
    disk.save_series(
        disk.series_path(state, "binance", "BTC/USDT", "1h"),
        exchange="binance",
        symbol="BTC/USDT",
        timeframe="1h",
        times=np.array(times, dtype=np.int64),
        values=values.reshape(n, 5),
        closed=np.ones(n, dtype=np.bool_),
    )


def _config(tmp: Path) -> object:
    ex = exchange_cfg("binance", ["BTC/USDT"], timeframes=["1h"])
    return market_config(tmp, exchanges=[ex], store={"persist_interval": 3600.0})


SPECS = [ActorSpec("market_store", MarketStoreActor)]


async def test_crafted_rows_are_dropped_and_the_good_ones_and_live_candles_kept() -> None:
    tmp = short_tmpdir()
    good = [NOW_H - k * HOUR for k in range(5, 0, -1)]  # five closed hours, ascending
    rows = [
        (-(2**63) + 1, 1.0),  # out of any sane range
        (good[0], 100.0),
        (good[1], 101.0),
        (good[1] + 1, 5.0),  # off the hour grid
        (good[0], 7.0),  # out of order (a time already loaded)
        (good[2], float("nan")),  # a poisoned price
        (good[3], 103.0),
        (good[4], 104.0),
        (NOW_H + 400 * HOUR, 9.0),  # far in the future
    ]
    _write(tmp / "state", [t for t, _ in rows], [c for _, c in rows])
    async with running_daemon(_config(tmp), SPECS) as d:  # type: ignore[arg-type]
        rt = d.runtime
        loaded = rt.stats["market_store"]()["loaded"]
        assert (loaded["discarded"], loaded["corrupt"], loaded["candles"]) == (5, 0, 4)
        got = await queries.ohlcv(rt, "BTC/USDT", "1h", limit=4)
        assert [c[0] for c in got.candles] == [good[0], good[1], good[3], good[4]]
        assert [c[4] for c in got.candles] == [100.0, 101.0, 103.0, 104.0]
        live = Candle(
            exchange="binance",
            symbol="BTC/USDT",
            timeframe="1h",
            open_time=NOW_H,
            open=1.0,
            high=2.0,
            low=0.5,
            close=1.5,
            volume=1.0,
            closed=False,
            recv_ts=time.time(),
        )
        await rt.bus.publish(Topics.CANDLES, live)

        async def newest() -> list[object]:
            return list((await queries.ohlcv(rt, "BTC/USDT", "1h", limit=1)).candles[-1])

        with anyio.fail_after(5):
            while (await newest())[0] != NOW_H:
                await anyio.sleep(0.01)
        assert (await newest())[4] == 1.5


def test_a_file_of_nothing_but_bad_rows_loads_as_empty() -> None:
    times = np.array([-(2**63), 2**62, 12345], dtype=np.int64)
    data = disk.SeriesData(
        disk.SeriesMeta(version=1, exchange="b", symbol="X/Y", timeframe="1h", saved_at=0.0),
        times,
        np.ones((3, 5)),
        np.ones(3, dtype=np.bool_),
    )
    kept, dropped = disk.sane(data, HOUR, now_ms=NOW_H)
    assert (len(kept.times), dropped) == (0, 3)


def test_weekly_candles_on_mondays_are_on_their_grid() -> None:
    week = 7 * 24 * HOUR
    monday = 1_700_438_400_000  # 2023-11-20 00:00 UTC, a Monday (not a multiple of a week)
    times = np.array([monday + k * week for k in range(10)], dtype=np.int64)
    data = disk.SeriesData(
        disk.SeriesMeta(version=1, exchange="b", symbol="X/Y", timeframe="1w", saved_at=0.0),
        times,
        np.ones((10, 5)),
        np.ones(10, dtype=np.bool_),
    )
    kept, dropped = disk.sane(data, week, now_ms=NOW_H)
    assert (len(kept.times), dropped) == (10, 0)
