"""Feed commands through the bus, as the control socket, TUI and API send them."""

from __future__ import annotations

import logging
import re

import anyio
import msgspec
import pytest

from tests.feeds.env import feed_env
from virtuoso_daemon.core.bus import RequestError, Topics
from virtuoso_daemon.core.messages import Ticker
from virtuoso_daemon.feeds.requests import FeedRequest
from virtuoso_daemon.market.store_requests import Coverage


def _tickers_since(env: object, mark: int, symbol: str) -> int:
    got = env.rec.get(Topics.TICKERS)[mark:]  # type: ignore[attr-defined]
    return sum(1 for t in got if isinstance(t, Ticker) and t.symbol == symbol)


async def test_pause_resume_add_remove_and_errors() -> None:
    opts = {"kinds": ["tickers"], "symbols": ["BTC/USDT", "ETH/USDT"], "backfill_candles": 0}
    others = {"kinds": ["tickers"], "symbols": ["BTC/USDT"]}
    async with feed_env(("spot", "spot", opts), ("other", "spot", others)) as env:
        bus = env.runtime.bus

        async def cmd(command: str, **args: object) -> object:
            body = msgspec.convert({"request": command, **args}, FeedRequest)
            return await bus.request(Topics.FEED_COMMANDS, body)

        await env.wait_for(lambda: _tickers_since(env, 0, "ETH/USDT") >= 2, 15, "ETH tickers")
        listed = await cmd("feeds.list")
        assert isinstance(listed, list)
        assert [s["exchange"] for s in listed] == ["spot", "other"]
        assert listed[0]["symbols"] == ["BTC/USDT", "ETH/USDT"]
        assert listed[0]["timeframes"] == []  # no candles collected: none offered

        # pause one symbol: its tickers stop, the others keep flowing
        reply = await cmd("feeds.pause", exchange="spot", symbol="eth-usdt")
        assert isinstance(reply, dict) and reply["paused_symbols"] == ["ETH/USDT"]
        mark = len(env.rec.get(Topics.TICKERS))
        await env.wait_for(lambda: _tickers_since(env, mark, "BTC/USDT") >= 10, 10, "BTC on")
        assert _tickers_since(env, mark, "ETH/USDT") == 0
        await cmd("feeds.resume", exchange="spot", symbol="ETH/USDT")
        mark = len(env.rec.get(Topics.TICKERS))
        await env.wait_for(lambda: _tickers_since(env, mark, "ETH/USDT") >= 2, 10, "ETH back")

        # pause the whole exchange: state paused, streams closed, nothing published
        reply = await cmd("feeds.pause", exchange="spot")
        assert isinstance(reply, dict) and reply["state"] == "paused"
        feed = env.feed("spot")
        await env.wait_for(lambda: len(feed.ctx.factory.live) == 1, 5, "streams closed")
        mark = len([t for t in env.rec.get(Topics.TICKERS) if t.exchange == "spot"])
        await anyio.sleep(1.0)  # an observation window: absence needs time to show
        after = [t for t in env.rec.get(Topics.TICKERS) if t.exchange == "spot"]
        assert len(after) == mark
        assert env.status("spot").state == "paused"
        assert env.status("other").state == "connected"  # the other feed is untouched
        await cmd("feeds.resume", exchange="spot")
        mark = len(env.rec.get(Topics.TICKERS))
        await env.wait_for(lambda: _tickers_since(env, mark, "ETH/USDT") >= 2, 10, "resumed")
        await env.wait_for(lambda: env.status("spot").state == "connected", 5, "connected")

        # add and remove symbols, validated against the loaded markets
        added = await cmd("symbols.add", exchange="spot", symbols=["SOLUSDT"])
        assert added == {
            "exchange": "spot",
            "added": ["SOL/USDT"],
            "symbols": ["BTC/USDT", "ETH/USDT", "SOL/USDT"],
        }
        mark = len(env.rec.get(Topics.TICKERS))
        await env.wait_for(lambda: _tickers_since(env, mark, "SOL/USDT") >= 2, 10, "SOL")
        with pytest.raises(RequestError) as err:
            await cmd("symbols.add", exchange="spot", symbols=["NOPE/USDT"])
        assert err.value.code == "unknown_symbol"
        removed = await cmd("symbols.remove", exchange="spot", symbols=["ETH/USDT"])
        assert isinstance(removed, dict) and removed["symbols"] == ["BTC/USDT", "SOL/USDT"]
        await env.wait_for(
            lambda: env.status("spot").symbols == ["BTC/USDT", "SOL/USDT"], 5, "status symbols"
        )
        with pytest.raises(RequestError) as err:
            await cmd("symbols.remove", exchange="spot", symbols=["ETH/USDT"])
        assert err.value.code == "unknown_symbol"
        # the beta benchmark stays: without it every beta of the exchange would stop
        with pytest.raises(RequestError) as err:
            await cmd("symbols.remove", exchange="spot", symbols=["SOL/USDT", "BTC/USDT"])
        assert err.value.code == "benchmark_symbol" and "beta.benchmark" in err.value.message
        assert env.status("spot").symbols == ["BTC/USDT", "SOL/USDT"]
        with pytest.raises(RequestError) as err:
            await cmd("feeds.pause", exchange="spot", symbol="DOGE/USDT")
        assert err.value.code == "unknown_symbol"

        # routing errors
        with pytest.raises(RequestError) as err:
            await cmd("feeds.pause", exchange="nope")
        assert err.value.code == "unknown_exchange"
        with pytest.raises(RequestError) as err:
            await bus.request(Topics.FEED_COMMANDS, Coverage())  # not a feeds request
        assert err.value.code == "unknown_command"
        # malformed requests cannot be built at all: typed at the boundary (the socket
        # answers these bad_args when it decodes the frame)
        for command, args in [
            ("feeds.pause", {}),
            ("symbols.add", {"exchange": "spot", "symbols": []}),
            ("feeds.explode", {"exchange": "spot"}),
        ]:
            with pytest.raises(msgspec.ValidationError):
                await cmd(command, **args)
        assert env.restarts() == {"feeds:spot": 0, "feeds:other": 0, "feeds": 0}


async def test_a_config_reload_reconnects_with_the_new_settings() -> None:
    opts = {"kinds": ["tickers"], "symbols": ["BTC/USDT"], "backfill_candles": 0}
    async with feed_env(("spot", "spot", opts)) as env:
        await env.wait_for(lambda: _tickers_since(env, 0, "BTC/USDT") >= 2, 15, "BTC")
        feed = env.feed("spot")
        cfg = env.runtime.config
        new_ex = msgspec.structs.replace(cfg.exchanges[0], symbols=["BTC/USDT", "XRP/USDT"])
        env.runtime.config = msgspec.structs.replace(cfg, exchanges=[new_ex])
        await feed.reconfigure(env.runtime.config)
        mark = len(env.rec.get(Topics.TICKERS))
        await env.wait_for(lambda: _tickers_since(env, mark, "XRP/USDT") >= 2, 10, "XRP")
        assert env.status("spot").symbols == ["BTC/USDT", "XRP/USDT"]
        await feed.reconfigure(env.runtime.config)  # unchanged: nothing happens
        assert feed.cfg == new_ex
        assert env.restarts() == {"feeds:spot": 0, "feeds": 0}


async def test_each_backfill_logs_its_own_counts_not_running_totals(
    caplog: pytest.LogCaptureFixture,
) -> None:
    opts = {"kinds": ["ohlcv"], "symbols": ["BTC/USDT"], "backfill_candles": 30}
    caplog.set_level(logging.INFO, logger="virtuoso.feeds")

    def backfill_lines() -> list[str]:
        return [r.getMessage() for r in caplog.records if ": backfilled " in r.getMessage()]

    async with feed_env(("spot", "spot", opts)) as env:
        await env.wait_for(lambda: len(backfill_lines()) == 1, 15, "first backfill")
        # what the TUI's chart offers: the timeframes this feed keeps, from the daemon
        assert env.status("spot").timeframes == ["1m"]
        body = msgspec.convert(
            {"request": "symbols.add", "exchange": "spot", "symbols": ["ETH/USDT"]}, FeedRequest
        )
        await env.runtime.bus.request(Topics.FEED_COMMANDS, body)
        await env.wait_for(lambda: len(backfill_lines()) == 2, 15, "second backfill")
    first, second = backfill_lines()
    assert "backfilled 1 series" in first and "backfilled 1 series" in second
    # one series of 30 candles each time: the second line does not add the first's
    assert re.search(r"\b30 candles\b", first) and re.search(r"\b30 candles\b", second), (
        first,
        second,
    )
