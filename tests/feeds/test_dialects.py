"""The feeds on both simulator dialects (Binance and OKX v5), spot and perpetuals.

The same behaviour is asked of each: every kind streams for every symbol, the
backfill pages the simulator's history, perpetuals get funding and open interest,
and the feed's status says ``connected`` with every kind on its stream.
"""

from __future__ import annotations

import functools
import itertools
from typing import Any

import msgspec
import pytest

from tests.feeds.env import by_symbol, feed_env
from virtuoso_daemon.core.bus import Topics
from virtuoso_daemon.core.messages import (
    Candle,
    CandleBatch,
    Funding,
    OpenInterest,
    OrderBookTop,
    Ticker,
    Trade,
)
from virtuoso_daemon.sim import SimConfig

SPOT = ["BTC/USDT", "ETH/USDT", "SOL/USDT"]
PERPS = ["BTC/USDT:USDT", "ETH/USDT:USDT", "SOL/USDT:USDT"]
KINDS = ("tickers", "ohlcv", "trades", "orderbook")


def sim_config() -> SimConfig:
    return SimConfig(seed=9, n_alts=2, speed=60.0, dialects=("binance", "okx"))


def _every(env: Any, topic: str, kind: type, symbols: list[str], n: int) -> bool:
    got = by_symbol(env.rec.get(topic), kind)
    return all(len(got.get(s, [])) >= n for s in symbols)


@pytest.mark.parametrize("dialect", ["binance", "okx"])
async def test_every_kind_streams_and_history_is_backfilled(dialect: str) -> None:
    feed = {"dialect": dialect, "backfill_candles": 400, "derivatives_refresh": 0.5}
    feeds = (
        ("spot", "spot", {**feed, "symbols": SPOT}),
        ("perp", "linear", {**feed, "symbols": PERPS}),
    )
    symbols = SPOT + PERPS
    async with feed_env(*feeds, sim_config=sim_config()) as env:
        for topic, kind, n in (
            (Topics.TICKERS, Ticker, 5),
            (Topics.TRADES, Trade, 5),
            (Topics.ORDERBOOK, OrderBookTop, 3),
            (Topics.CANDLES, Candle, 3),
        ):
            await env.wait_for(
                functools.partial(_every, env, topic, kind, symbols, n), 20, kind.__name__
            )
        for top in by_symbol(env.rec.get(Topics.ORDERBOOK), OrderBookTop).values():
            assert top[-1].bids[0][0] < top[-1].asks[0][0] and len(top[-1].bids) == 5

        def history() -> bool:
            got = by_symbol(env.rec.get(Topics.CANDLE_HISTORY), CandleBatch)
            return all(sum(len(b.rows) for b in got.get(s, [])) >= 399 for s in symbols)

        await env.wait_for(history, 20, "400 candles of history per symbol")
        await env.wait_for(lambda: _every(env, Topics.FUNDING, Funding, PERPS, 1), 15, "funding")
        await env.wait_for(
            lambda: _every(env, Topics.OPEN_INTEREST, OpenInterest, PERPS, 1), 15, "OI"
        )
        for name in ("spot", "perp"):
            status = env.status(name)
            assert {k: status.modes[k] for k in KINDS} == dict.fromkeys(KINDS, "stream"), status
            assert status.state == "connected", status.detail
            assert status.gaps == {} and status.unknown_symbols == []


async def test_okx_history_older_than_its_1440_recent_candles_is_backfilled_without_gaps() -> None:
    # OKX's /market/candles reaches back 1,440 candles; older pages must come from
    # /market/history-candles (ccxt switches when the backfill pages by since)
    deep = msgspec.structs.replace(sim_config(), history_candles=2000, perpetuals=False)
    feed = {"dialect": "okx", "symbols": ["ETH/USDT"], "kinds": ["ohlcv"], "backfill_candles": 1800}
    async with feed_env(("x", "spot", feed), sim_config=deep) as env:

        def times() -> list[int]:
            got = by_symbol(env.rec.get(Topics.CANDLE_HISTORY), CandleBatch).get("ETH/USDT", [])
            return sorted({r[0] for b in got for r in b.rows})

        await env.wait_for(lambda: len(times()) >= 1799, 20, "1,800 candles of history")
        assert all(b - a == 60_000 for a, b in itertools.pairwise(times()))
        assert env.status("x").gaps == {}


#: a fault on OKX's swaps (the simulator's "futures" market) -> what OKX's feed says
FAULTS = {
    # nothing answers: every kind fails
    "outage": ({"kind": "outage"}, "down", "unavailable"),
    # REST answers 429: the streams go on, the polled funding/OI fail and say why
    "429": ({"kind": "http_429", "retry_after": 1}, "degraded", "rate_limit"),
    # the socket stays open but says nothing: after three silent sessions REST takes
    # over (and the feed says so), and streaming resumes once the socket talks again
    "silent": ({"kind": "ws_silent"}, "degraded", "no data for"),
}


@pytest.mark.parametrize("fault", FAULTS)
async def test_a_fault_on_okx_swaps_leaves_binance_spot_flowing_and_each_status_right(
    fault: str,
) -> None:
    inject, okx_state, reason = FAULTS[fault]
    spot = {"symbols": SPOT, "kinds": ["tickers"], "backfill_candles": 0}
    perps = {
        "dialect": "okx",
        "symbols": PERPS,
        "kinds": ["tickers"],
        "backfill_candles": 0,
        "derivatives_refresh": 0.5,
        "silent_timeout": 0.5,
        "backoff_max": 0.4,
        "poll_interval": 0.3,
        "stream_retry": 2.0,
    }
    async with feed_env(
        ("bin-spot", "spot", spot), ("okx-perp", "linear", perps), sim_config=sim_config()
    ) as env:

        def state(name: str) -> str:
            st = env.status(name)
            return st.state if st is not None else "none"

        def mode(name: str) -> str:
            return str(env.status(name).modes.get("tickers"))

        await env.wait_for(
            lambda: state("bin-spot") == state("okx-perp") == "connected", 20, "both connected"
        )
        await env.inject(**inject, market="futures")  # OKX swaps only

        def says_so() -> bool:
            st = env.status("okx-perp")
            return st.state == okx_state and reason in st.detail

        await env.wait_for(says_so, 20, f"okx {okx_state} with {reason!r} in its detail")
        if fault == "silent":
            await env.wait_for(lambda: mode("okx-perp") == "rest", 20, "okx tickers on REST")
            env.rec.clear()
            await env.wait_for(
                lambda: _every(env, Topics.TICKERS, Ticker, PERPS, 2), 10, "okx REST tickers"
            )
        env.rec.clear()
        await env.wait_for(
            lambda: _every(env, Topics.TICKERS, Ticker, SPOT, 3), 10, "spot tickers meanwhile"
        )
        assert state("bin-spot") == "connected"
        if fault == "outage":
            assert not any(t.exchange == "okx-perp" for t in env.rec.get(Topics.TICKERS))
        await env.clear_faults()
        await env.wait_for(lambda: state("okx-perp") == "connected", 30, "okx recovers")
        assert mode("okx-perp") == "stream"


async def test_silent_streams_fall_back_to_rest_and_come_back() -> None:
    # Binance here; OKX's way to REST and back: the "silent" fault above
    feed = {
        "symbols": SPOT,
        "kinds": ["tickers"],
        "backfill_candles": 0,
        "silent_timeout": 0.5,
        "backoff_max": 0.4,
        "stream_retry": 2.0,
        "poll_interval": 0.3,
    }
    async with feed_env(("x", "spot", feed), sim_config=sim_config()) as env:

        def mode() -> str | None:
            st = env.status("x")
            return st.modes.get("tickers") if st is not None else None

        await env.wait_for(
            lambda: mode() == "stream" and env.status("x").last_message_ts, 15, "stream"
        )
        await env.inject(kind="ws_silent")
        # three silent sessions in a row: REST takes over, and says so
        await env.wait_for(lambda: mode() == "rest", 20, "REST fallback")
        # REST data flows, but not as wanted
        await env.wait_for(lambda: env.status("x").state == "degraded", 10, "degraded")
        env.rec.clear()
        await env.wait_for(lambda: _every(env, Topics.TICKERS, Ticker, SPOT, 2), 10, "REST tickers")
        await env.clear_faults()
        # stream_retry later it streams again
        await env.wait_for(lambda: mode() == "stream", 15, "back to streaming")
        await env.wait_for(lambda: env.status("x").state == "connected", 10, "connected")
