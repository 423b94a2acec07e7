"""Every control command through the real socket of a real daemon.

Feed commands (feeds.list/pause/resume, symbols.add/remove) are answered by
:class:`tests.control.helpers.FakeFeeds`, a small responder on ``Topics.FEED_COMMANDS``:
the real feeds actor is tested in ``tests/feeds``; here what matters is that the
socket forwards the right command and arguments and relays answers, refusals,
absence and silence.
"""

from __future__ import annotations

import functools
import os
import time
from pathlib import Path
from typing import Any

import aiohttp
import anyio
import msgspec
import numpy as np
import pytest

from tests.control.helpers import FakeFeeds, control_specs, ticker, wait_until
from tests.harness import running_daemon, test_config
from virtuoso_daemon.beta.compute import CorrelationView, correlation_body
from virtuoso_daemon.control.registry import forward, unregister
from virtuoso_daemon.core.bus import Topics
from virtuoso_daemon.core.config import ExchangeConfig
from virtuoso_daemon.core.messages import BetaRow, BetaSnapshot, CandleBatch, CorrelationSnapshot
from virtuoso_daemon.core.supervisor import ActorSpec
from virtuoso_daemon.feeds.requests import PauseFeed
from virtuoso_daemon.market.actor import MarketStoreActor
from virtuoso_daemon.protocol import (
    BYE_TOPIC,
    PROTOCOL_VERSION,
    CommandError,
    ConnectionClosed,
    ControlClient,
    Hello,
)
from virtuoso_daemon.tickers.actor import TickerCacheActor


async def test_the_daemon_greets_with_its_versions_and_hello_checks_the_protocol() -> None:
    async with running_daemon(test_config(), control_specs()) as d:
        async with ControlClient.connect(d.runtime.socket_path) as client:
            assert client.hello is not None
            assert client.hello.protocol == PROTOCOL_VERSION
            assert client.hello.version == d.runtime.version
            assert "status" in client.hello.commands and "tickers" in client.hello.topics
            again = await client.call("hello", protocol=PROTOCOL_VERSION, client="test")
            assert again["version"] == d.runtime.version
            with pytest.raises(CommandError) as info:
                await client.call("hello", protocol=PROTOCOL_VERSION + 1)
            assert info.value.code == "protocol_mismatch"


async def test_help_topics_and_clients_describe_the_socket() -> None:
    async with running_daemon(test_config(), control_specs()) as d:
        async with ControlClient.connect(d.runtime.socket_path) as client:
            listing = await client.call("help")
            pause = next(c for c in listing if c["name"] == "feeds.pause")
            assert pause["args"][0] == {"name": "exchange", "type": "str", "required": True}
            assert (await client.call("help", command="status"))["name"] == "status"
            topics = {t["name"]: t for t in await client.call("topics")}
            assert topics["tickers"]["throttle"] and not topics["logs"]["throttle"]
            await client.subscribe("lifecycle")
            (me,) = await client.call("clients")
            assert me["subscriptions"] == ["lifecycle"] and me["commands"] >= 4


async def test_status_is_the_same_document_as_the_http_api() -> None:
    async with (
        running_daemon(test_config(), control_specs()) as d,
        aiohttp.ClientSession() as http,
        ControlClient.connect(d.runtime.socket_path) as client,
    ):
        over_socket = await client.call("status")
        async with http.get(f"{d.base_url}/api/system/status") as resp:
            over_http = await resp.json()
    assert set(over_socket) == set(over_http)
    assert over_socket["version"] == over_http["version"]
    assert [(a["name"], a["state"]) for a in over_socket["actors"]] == [
        ("http_api", "running"),
        ("control", "running"),
    ]
    assert over_socket["stats"]["control"]["clients"] == 1


async def test_config_get_is_redacted() -> None:
    cfg = test_config(api={"token": "s3cret-token"})
    async with (
        running_daemon(cfg, control_specs()) as d,
        ControlClient.connect(d.runtime.socket_path) as client,
    ):
        doc = await client.call("config.get")
    assert doc["api"]["token"] == "***"
    assert "s3cret-token" not in msgspec.json.encode(doc).decode()
    assert doc["daemon"]["socket"] == str(d.runtime.socket_path)


async def test_config_reload_reports_changed_sections_and_rejects_a_bad_file(
    tmp_path: Path,
) -> None:
    cfg = test_config()
    async with (
        running_daemon(cfg, control_specs()) as d,
        ControlClient.connect(d.runtime.socket_path) as client,
    ):
        path = tmp_path / "virtuoso.toml"
        path.write_text("[bus]\nlossy_queue = 4096\n")
        d.runtime.config_path = path
        # keep the test's own sections (socket, ports) as command-line overrides would
        d.runtime.overrides = {
            k: v for k, v in msgspec.to_builtins(cfg).items() if k not in ("bus", "exchanges")
        }
        assert await client.call("config.reload") == {
            "changed": ["bus"],
            "restart_required": ["bus.lossy_queue"],
        }
        assert d.runtime.config.bus.lossy_queue == 4096
        path.write_text("[bus]\nlossy_queue = 'many'\n")
        with pytest.raises(CommandError) as info:
            await client.call("config.reload")
        assert info.value.code == "config_error" and "bus.lossy_queue" in info.value.message
        assert d.runtime.config.bus.lossy_queue == 4096


async def test_feed_commands_are_forwarded_to_the_feeds_actor() -> None:
    async with (
        running_daemon(test_config(), control_specs()) as d,
        anyio.create_task_group() as tg,
    ):
        feeds = FakeFeeds(d.runtime.bus)
        await tg.start(feeds.run)
        async with ControlClient.connect(d.runtime.socket_path) as client:
            assert await client.call("feeds.pause", exchange="binance", symbol="BTC/USDT")
            await client.call("feeds.pause", exchange="binance")
            await client.call("feeds.resume", exchange="binance")
            added = await client.call("symbols.add", exchange="binance", symbols=["SOL/USDT"])
            assert added["symbols"] == ["BTC/USDT", "ETH/USDT", "SOL/USDT"]
            await client.call("symbols.remove", exchange="binance", symbols=["ETH/USDT"])
            (feed,) = await client.call("feeds.list")
            assert feed == {
                "exchange": "binance",
                "state": "connected",
                "symbols": ["BTC/USDT", "SOL/USDT"],
                "paused_symbols": ["BTC/USDT"],
            }
            with pytest.raises(CommandError) as info:
                await client.call("feeds.resume", exchange="kraken")
            assert info.value.code == "unknown_exchange"
            with pytest.raises(CommandError) as info:
                await client.call("symbols.add", exchange="binance", symbols=[])
            assert info.value.code == "bad_args"
        tg.cancel_scope.cancel()
    assert feeds.seen[:3] == [
        ("feeds.pause", {"exchange": "binance", "symbol": "BTC/USDT"}),
        ("feeds.pause", {"exchange": "binance", "symbol": None}),
        ("feeds.resume", {"exchange": "binance", "symbol": None}),
    ]
    assert ("symbols.add", {"exchange": "binance", "symbols": ["SOL/USDT"]}) in feeds.seen


async def test_feed_commands_without_a_feeds_actor_or_an_answer_fail_cleanly() -> None:
    forward("test.hang", Topics.FEED_COMMANDS, args=PauseFeed, timeout=0.2)
    try:
        async with (
            running_daemon(test_config(), control_specs()) as d,
            ControlClient.connect(d.runtime.socket_path) as client,
        ):
            with pytest.raises(CommandError) as info:
                await client.call("feeds.list")
            assert info.value.code == "unavailable"
            async with anyio.create_task_group() as tg:
                feeds = FakeFeeds(d.runtime.bus)
                await tg.start(feeds.run)
                with pytest.raises(CommandError) as info:
                    await client.call("test.hang", exchange="hang")
                assert info.value.code == "timeout"
                assert await client.call("feeds.list")  # the connection is still fine
                tg.cancel_scope.cancel()
    finally:
        unregister("test.hang")


def _market_specs() -> list[ActorSpec]:
    return [
        ActorSpec("market_store", MarketStoreActor),
        ActorSpec("ticker_cache", TickerCacheActor),
        *control_specs(),
    ]


async def test_tickers_ticker_and_ohlcv_answer_from_the_market_actors() -> None:
    cfg = msgspec.structs.replace(
        test_config(),
        exchanges=[
            ExchangeConfig(name="binance", symbols=["BTC/USDT", "ETH/USDT"], timeframes=["1h"])
        ],
    )
    async with (
        running_daemon(cfg, _market_specs()) as d,
        ControlClient.connect(d.runtime.socket_path) as client,
    ):
        bus = d.runtime.bus
        bus.publish_nowait(Topics.TICKERS, ticker("BTC/USDT", 60_000.0))
        bus.publish_nowait(Topics.TICKERS, ticker("ETH/USDT", 3_000.0))
        hour = 3_600_000
        now_h = int(time.time() * 1000) // hour * hour
        rows = [(now_h + k * hour, 1.0, 2.0, 0.5, 1.5, 3.0) for k in range(-4, 1)]
        bus.publish_nowait(
            Topics.CANDLES,
            CandleBatch(
                exchange="binance", symbol="BTC/USDT", timeframe="1h", rows=rows, recv_ts=0.0
            ),
        )

        async def count() -> int:
            return int((await client.call("tickers"))["count"])

        with anyio.fail_after(5):
            while await count() < 2:
                await anyio.sleep(0.01)
        everything = await client.call("tickers")
        assert [t["symbol"] for t in everything["tickers"]] == ["BTC/USDT", "ETH/USDT"]
        top = await client.call("tickers", sort="price", limit=1)
        assert [t["symbol"] for t in top["tickers"]] == ["BTC/USDT"]
        one = await client.call("ticker", symbol="ETHUSDT")
        assert one["symbol"] == "ETH/USDT" and one["ticker"]["last"] == 3_000.0
        with pytest.raises(CommandError) as info:
            await client.call("ticker", symbol="DOGE/USDT")
        assert info.value.code == "unknown_symbol"
        with anyio.fail_after(5):
            while True:
                candles = await client.call("ohlcv", symbol="BTC/USDT", timeframe="1h")
                if candles["count"] == 5:
                    break
                await anyio.sleep(0.01)
        assert candles["candles"][0] == [now_h - 4 * hour, 1.0, 2.0, 0.5, 1.5, 3.0]
        with pytest.raises(CommandError) as info:
            await client.call("ohlcv", symbol="BTC/USDT", timeframe="3w")
        assert info.value.code == "invalid_timeframe"


def _beta(tf: str, window: str) -> BetaSnapshot:
    row = BetaRow(
        symbol="ETH/USDT",
        beta=1.2,
        alpha=0.0,
        alpha_annual=0.0,
        correlation=0.8,
        r_squared=0.64,
        beta_se=0.05,
        volatility=0.6,
        downside_beta=1.3,
        n_obs=500,
        risk_bucket="high",
    )
    return BetaSnapshot(
        timeframe=tf, window=window, benchmark="BTC/USDT", computed_at=1.0, rows=[row]
    )


def _correlation(exchange: str) -> CorrelationView:
    """What the beta actor publishes as ``correlation.<exchange>.<tf>.<window>``."""
    snap = CorrelationSnapshot(
        timeframe="1h",
        window="30d",
        symbols=["BTC/USDT", "ETH/USDT", "SOL/USDT"],
        matrix=[],
        order=[0, 1, 2],
        computed_at=1.0,
        exchange=exchange,
    )
    return CorrelationView(snap, np.array([[1.0, 0.8, 0.5], [0.8, 1.0, 0.6], [0.5, 0.6, 1.0]]))


def _publish_correlation(d: Any, exchange: str) -> None:
    value = _correlation(exchange)
    body = functools.partial(correlation_body, value)
    d.runtime.views.publish(f"correlation.{exchange}.1h.30d", value, body=body)


def _two_exchanges() -> Any:
    return test_config(
        exchanges=[
            {"name": "spot", "symbols": ["BTC/USDT", "ETH/USDT", "SOL/USDT"]},
            {"name": "perp", "market": "linear", "symbols": ["BTC/USDT:USDT", "ETH/USDT:USDT"]},
        ]
    )


async def test_beta_and_correlation_answer_as_the_http_api_does() -> None:
    async with (
        running_daemon(_two_exchanges(), control_specs()) as d,
        ControlClient.connect(d.runtime.socket_path) as client,
    ):
        with pytest.raises(CommandError) as info:
            await client.call("beta")
        assert info.value.code == "not_ready"  # the code /api/market/beta answers (503)
        views = d.runtime.views
        views.publish("beta.spot.1h.30d", _beta("1h", "30d"))
        _publish_correlation(d, "spot")
        snap = await client.call("beta")  # default: first configured tf, first computed window
        assert (snap["exchange"], snap["window"]) == ("spot", "30d")
        assert snap["rows"][0]["beta"] == 1.2
        # every configured timeframe x window, so a client (the TUI) can load them all
        assert snap["windows"] == {"1h": ["7d", "30d", "90d"], "4h": ["30d", "90d"], "1d": ["90d"]}
        assert (await client.call("beta", timeframe="1h", window="30d")) == snap
        one = await client.call("beta", symbol="ETH/USDT")
        assert one["row"]["risk_bucket"] == "high" and one["benchmark"] == "BTC/USDT"
        with pytest.raises(CommandError) as info:
            await client.call("beta", window="90d")
        assert info.value.code == "not_ready"
        with pytest.raises(CommandError) as info:
            await client.call("beta", window="5d")
        assert info.value.code == "invalid_parameter" and "7d, 30d, 90d" in info.value.message
        with pytest.raises(CommandError) as info:
            await client.call("beta", symbol="SOL/USDT")
        assert info.value.code == "unknown_symbol"
        corr = await client.call("correlation", timeframe="1h", window="30d")
        assert corr["symbols"] == ["BTC/USDT", "ETH/USDT", "SOL/USDT"]
        assert corr["matrix"][0] == [1.0, 0.8, 0.5]


async def test_beta_and_correlation_of_a_named_exchange() -> None:
    async with (
        running_daemon(_two_exchanges(), control_specs()) as d,
        ControlClient.connect(d.runtime.socket_path) as client,
    ):
        d.runtime.views.publish("beta.spot.1h.30d", _beta("1h", "30d"))
        perp = msgspec.structs.replace(_beta("1h", "30d"), benchmark="BTC/USDT:USDT")
        d.runtime.views.publish("beta.perp.1h.30d", perp)
        assert (await client.call("beta"))["exchange"] == "spot"
        answer = await client.call("beta", exchange="perp")
        assert (answer["exchange"], answer["benchmark"]) == ("perp", "BTC/USDT:USDT")
        with pytest.raises(CommandError) as info:
            await client.call("correlation", exchange="perp")
        assert info.value.code == "not_ready" and "perp" in info.value.message
        with pytest.raises(CommandError) as info:
            await client.call("beta", exchange="kraken")
        assert info.value.code == "unknown_exchange"


async def test_correlation_of_a_subset_or_the_largest_by_volume() -> None:
    async with (
        running_daemon(_two_exchanges(), control_specs()) as d,
        ControlClient.connect(d.runtime.socket_path) as client,
    ):
        _publish_correlation(d, "spot")
        sub = await client.call("correlation", symbols=["SOL/USDT", "BTC/USDT"], order="input")
        assert sub["symbols"] == ["SOL/USDT", "BTC/USDT"]
        assert sub["matrix"] == [[1.0, 0.5], [0.5, 1.0]]
        # no tickers yet: every volume counts as zero, so top keeps the first N
        top = await client.call("correlation", top=2, order="input")
        assert top["symbols"] == ["BTC/USDT", "ETH/USDT"]
        with pytest.raises(CommandError) as info:
            await client.call("correlation", top=0)
        assert info.value.code == "invalid_parameter"  # what /api/market/correlation?top=0 says


async def test_shutdown_answers_says_bye_stops_the_daemon_and_removes_the_socket(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with running_daemon(test_config(), control_specs()) as d:
        path = d.runtime.socket_path
        async with ControlClient.connect(path) as client:
            assert await client.call("shutdown") == {"stopping": True}
            # like SIGTERM, a socket shutdown is in the log, with who asked
            said = [r.getMessage() for r in caplog.records]
            asked = [m for m in said if "shutdown requested" in m]
            assert asked and f"pid {os.getpid()} (uid {os.getuid()}" in asked[0]
            event = await client.next_event(timeout=5)
            assert event.topic == BYE_TOPIC and event.data.reason == "shutdown"
            with pytest.raises(ConnectionClosed):
                await client.next_event(timeout=5)
        await wait_until(lambda: not path.exists())
        await wait_until(lambda: all(r.state == "stopped" for r in d.supervisor.runners.values()))


async def test_requests_on_one_connection_run_concurrently_and_keep_their_ids() -> None:
    async with (
        running_daemon(test_config(), control_specs()) as d,
        anyio.create_task_group() as tg,
    ):
        feeds = FakeFeeds(d.runtime.bus)
        await tg.start(feeds.run)
        async with ControlClient.connect(d.runtime.socket_path) as client:
            results: dict[str, Any] = {}

            async def slow() -> None:
                try:
                    await client.call("feeds.pause", exchange="hang", timeout=0.5)
                except CommandError as exc:
                    results["slow"] = exc.code

            async def quick() -> None:
                results["quick"] = (await client.call("hello"))["protocol"]
                results["quick_done_first"] = "slow" not in results

            async with anyio.create_task_group() as calls:
                calls.start_soon(slow)
                calls.start_soon(quick)
        feeds.hang.set()
        tg.cancel_scope.cancel()
    assert results == {"quick": PROTOCOL_VERSION, "quick_done_first": True, "slow": "timeout"}


async def test_a_hand_typed_session_works_like_socat() -> None:
    """No id, CRLF, blank lines, end of input right after: the replies still arrive."""
    async with running_daemon(test_config(), control_specs()) as d:
        async with await anyio.connect_unix(d.runtime.socket_path) as stream:
            await stream.send(b'\r\n{"cmd": "hello"}\r\n\n{"cmd":"nope"}\n')
            await stream.send_eof()
            data = b""
            with anyio.fail_after(5):
                while True:
                    try:
                        data += await stream.receive()
                    except anyio.EndOfStream:
                        break
    frames = [msgspec.json.decode(line) for line in data.splitlines()]
    assert frames[0]["topic"] == "_hello"
    assert isinstance(msgspec.convert(frames[0]["data"], Hello), Hello)
    # commands run concurrently, so replies come in completion order (ids tell them apart)
    replies = sorted(frames[1:], key=lambda f: f["ok"])
    assert [(r["id"], r["ok"]) for r in replies] == [(None, False), (None, True)]
    assert replies[0]["error"]["code"] == "unknown_command"
    assert replies[1]["result"]["protocol"] == PROTOCOL_VERSION
