"""Same question, same answer: every catalog query over HTTP and over the socket.

For each row of :data:`virtuoso_daemon.read.catalog.CATALOG` the test asks the same
thing on both surfaces of one running daemon (market store, beta, HTTP, socket, with
published candles and tickers) -- good arguments and bad ones -- and compares the
data, or the error code, of the two answers.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest

from tests.beta.helpers import beta_config, beta_specs, publish_market
from tests.harness import DaemonHandle, running_daemon, test_config
from tests.market.helpers import make_ticker, wait_until
from virtuoso_daemon.control import ControlActor
from virtuoso_daemon.core.bus import Topics
from virtuoso_daemon.core.supervisor import ActorSpec
from virtuoso_daemon.http.server import HttpApiActor
from virtuoso_daemon.protocol import CommandError, ControlClient
from virtuoso_daemon.read.catalog import CATALOG

# (command, args): every catalog row at least once with good arguments and once with bad
CASES: list[tuple[str, dict[str, Any]]] = [
    ("exchanges", {}),
    ("ticker", {"symbol": "ETH-USDT"}),
    ("ticker", {"symbol": "ETH/USDT", "exchange": "spot"}),
    ("ticker", {"symbol": "XRP-USDT"}),
    ("ticker", {"symbol": "!!!"}),
    ("ohlcv", {"symbol": "ETH-USDT", "limit": 5}),
    ("ohlcv", {"symbol": "ETH-USDT", "timeframe": "1h", "since": 0, "limit": 3}),
    ("ohlcv", {"symbol": "ETH-USDT", "timeframe": "5m"}),
    ("ohlcv", {"symbol": "ETH-USDT", "limit": 0}),
    ("orderbook", {"symbol": "ETH-USDT"}),
    ("orderbook", {"symbol": "ETH-USDT", "history": -1}),
    ("trades", {"symbol": "SOL-USDT", "limit": 10}),
    ("trades", {"symbol": "SOL-USDT", "exchange": "kraken"}),
    ("funding", {}),
    ("funding", {"exchange": "perp"}),
    ("funding", {"exchange": "nope"}),
    ("open_interest", {"symbol": "ETH/USDT:USDT"}),
    ("overview", {}),
    ("overview", {"exchange": "spot"}),
    ("movers", {"limit": 2}),
    ("movers", {"limit": 0}),
    ("cache", {}),
    ("sentiment", {}),
    ("beta", {}),
    ("beta", {"exchange": "perp", "sort": "symbol", "limit": 2}),
    ("beta", {"timeframe": "2h"}),
    ("beta", {"sort": "alpha"}),
    ("beta", {"symbol": "ETH-USDT", "exchange": "perp"}),
    ("beta", {"symbol": "XRP-USDT"}),
    ("beta.symbol", {"symbol": "ETH-USDT", "points": 5}),
    ("beta.symbol", {"symbol": "XRP-USDT"}),
    ("beta.symbol", {"symbol": "ETH-USDT", "window": "90d"}),
    ("correlation", {}),
    ("correlation", {"symbols": "ETH/USDT,SOL/USDT", "order": "input"}),
    ("correlation", {"order": "random"}),
    ("correlation", {"top": 3}),
]

SPECS = {spec.command: spec for spec in CATALOG}


def _url(command: str, args: dict[str, Any]) -> str:
    spec = SPECS[command]
    args = dict(args)
    path = spec.path
    if "{symbol}" in path:
        path = path.replace("{symbol}", urllib.parse.quote(args.pop("symbol"), safe=""))
    query = urllib.parse.urlencode({k: str(v) for k, v in args.items()})
    return f"{path}?{query}" if query else path


def test_every_catalog_row_is_asked_on_both_surfaces() -> None:
    assert {command for command, _ in CASES} == set(SPECS)


def _timeless(value: Any) -> Any:
    """``value`` without ``age`` fields (seconds since, computed when asked)."""
    if isinstance(value, dict):
        return {k: _timeless(v) for k, v in value.items() if k != "age"}
    if isinstance(value, list):
        return [_timeless(v) for v in value]
    return value


@asynccontextmanager
async def daemon() -> AsyncIterator[DaemonHandle]:
    specs = [*beta_specs(), ActorSpec("control", ControlActor)]
    async with running_daemon(beta_config(), specs) as d:
        publish_market(d.runtime.bus, n=200, seed=11)
        for i, symbol in enumerate(("BTC/USDT", "ETH/USDT", "SOL/USDT", "DOGE/USDT")):
            d.runtime.bus.publish_nowait(
                Topics.TICKERS, make_ticker(symbol, 100.0 + i, exchange="spot", change_pct=i)
            )
        await wait_until(
            lambda: (
                all(d.runtime.views.get(f"beta.{ex}.1h.7d") is not None for ex in ("spot", "perp"))
                and d.runtime.views.get("sentiment.overview") is not None
                and len(getattr(d.runtime.views.value("market.tickers"), "tickers", ())) >= 4
            ),
            timeout=15,
        )
        yield d


async def test_http_and_socket_give_the_same_data_and_error_codes() -> None:
    async with (
        daemon() as d,
        aiohttp.ClientSession() as http,
        ControlClient.connect(d.runtime.socket_path) as client,
    ):
        answered = failed = 0
        for command, args in CASES:
            async with http.get(f"{d.base_url}{_url(command, args)}") as resp:
                assert resp.content_type == "application/json", (command, args)
                status, body = resp.status, await resp.json()
            try:
                got = await client.call(command, **args)
            except CommandError as exc:
                assert status >= 400, (command, args, body)
                assert body["error"]["code"] == exc.code, (command, args)
                assert body["error"]["message"] == exc.message, (command, args)
                failed += 1
            else:
                assert status == 200, (command, args, body)
                assert _timeless(got) == _timeless(body), (command, args)
                answered += 1
        # the cases cover both outcomes broadly, so neither comparison is vacuous
        assert answered >= 18 and failed >= 12, (answered, failed)


# Arguments that do not fit a query's struct, outside the catalog: a wrong type, a value
# outside its range, pattern or choices, an unknown one. (command, method, HTTP path,
# args): HTTP sends the args as strings, the socket as JSON values.
ARGUMENT_ERRORS: list[tuple[str, str, str, dict[str, Any]]] = [
    ("alerts.get", "GET", "/api/signals/alerts/not-an-id", {"id": "not-an-id"}),
    ("alerts.ack", "POST", "/api/signals/alerts/nope/ack", {"id": "nope"}),
    ("alerts.list", "GET", "/api/signals/alerts?colour=red", {"colour": "red"}),
    ("alerts.silences", "GET", "/api/signals/silences?all=maybe", {"all": "maybe"}),
    ("backup.list", "GET", "/api/system/backups?limit=0", {"limit": 0}),
    ("backup.list", "GET", "/api/system/backups?kind=everything", {"kind": "everything"}),
    ("logs.recent", "GET", "/api/system/logs?level=loud", {"level": "loud"}),
    ("logs.recent", "GET", "/api/system/logs?limit=0", {"limit": 0}),
    ("health", "GET", "/health?transitions=many", {"transitions": "many"}),
    ("signals.whales", "GET", "/api/signals/whales?min_usd=lots", {"min_usd": "lots"}),
    ("dashboard.overview", "GET", "/api/dashboard/overview?colour=red", {"colour": "red"}),
    ("tickers", "GET", "/api/market/tickers?limit=ten", {"limit": "ten"}),
    (
        "ohlcv",
        "GET",
        "/api/market/ohlcv/ETH-USDT?limit=ten",
        {"symbol": "ETH-USDT", "limit": "ten"},
    ),
]


async def test_argument_errors_are_the_same_code_and_message_on_both_surfaces() -> None:
    """A query's arguments that do not fit its struct are ``invalid_parameter`` with the
    same message on HTTP and on the socket (the socket used to answer ``bad_args`` for
    what msgspec refused while decoding the frame: an alert id of the wrong shape, a
    limit out of a ``Meta`` range, a level not in its ``Literal``)."""
    specs = [ActorSpec("http_api", HttpApiActor), ActorSpec("control", ControlActor)]
    async with (
        running_daemon(test_config(), specs) as d,
        aiohttp.ClientSession(d.base_url) as http,
        ControlClient.connect(d.runtime.socket_path) as client,
    ):
        for command, method, path, args in ARGUMENT_ERRORS:
            async with http.request(method, path) as resp:
                status, body = resp.status, await resp.json()
            with pytest.raises(CommandError) as err:
                await client.call(command, **args)
            assert status == 400, (command, args, body)
            assert body["error"]["code"] == err.value.code == "invalid_parameter", (command, args)
            assert body["error"]["message"] == err.value.message, (command, args)
