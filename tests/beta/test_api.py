"""``/api/market/beta``, ``beta/{symbol}``, ``correlation``, ``sentiment`` over real HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import numpy as np
import pytest

from tests.beta.helpers import (
    PERP,
    SPOT,
    beta_config,
    beta_specs,
    get,
    last_closed_hour,
    publish_market,
)
from tests.harness import DaemonHandle, running_daemon
from tests.market.helpers import wait_until

BAD_REQUESTS = [
    ("/api/market/beta?timeframe=2h", 400, "invalid_timeframe"),
    ("/api/market/beta?timeframe=banana", 400, "invalid_timeframe"),
    ("/api/market/beta?window=30d", 400, "invalid_parameter"),  # not configured for 1h
    ("/api/market/beta?window=7x", 400, "invalid_parameter"),
    ("/api/market/beta?sort=alpha", 400, "invalid_parameter"),
    ("/api/market/beta?order=sideways", 400, "invalid_parameter"),
    ("/api/market/beta?limit=0", 400, "invalid_parameter"),
    ("/api/market/beta?limit=ten", 400, "invalid_parameter"),
    ("/api/market/beta?limit=100001", 400, "invalid_parameter"),
    ("/api/market/beta?exchange=kraken", 404, "unknown_exchange"),
    ("/api/market/beta?colour=red", 400, "invalid_parameter"),
    ("/api/market/beta/!!!", 400, "invalid_symbol"),
    ("/api/market/beta/XRP-USDT", 404, "unknown_symbol"),
    ("/api/market/beta/ETH-USDT?points=0", 400, "invalid_parameter"),
    ("/api/market/beta/ETH-USDT?timeframe=4h", 400, "invalid_timeframe"),
    ("/api/market/beta/ETH-USDT?window=90d", 400, "invalid_parameter"),
    ("/api/market/correlation?order=random", 400, "invalid_parameter"),
    ("/api/market/correlation?timeframe=1d", 400, "invalid_timeframe"),
    ("/api/market/correlation?symbols=,,", 400, "invalid_parameter"),
    ("/api/market/sentiment?verbose=1", 400, "invalid_parameter"),
]


@asynccontextmanager
async def api(data: bool) -> AsyncIterator[tuple[DaemonHandle, aiohttp.ClientSession]]:
    async with running_daemon(beta_config(), beta_specs()) as d, aiohttp.ClientSession() as http:
        if data:
            publish_market(d.runtime.bus, n=200, seed=11, short={"NEW": 15})
            await wait_until(
                lambda: (
                    all(
                        d.runtime.views.get(f"beta.{ex}.1h.{w}") is not None
                        for ex in ("spot", "perp")
                        for w in ("2d", "7d")
                    )
                    and d.runtime.views.get("sentiment.overview") is not None
                ),
                timeout=10,
            )
        yield d, http


async def test_before_the_first_computation_every_endpoint_is_503_not_ready() -> None:
    async with api(data=False) as (d, http):
        await wait_until(lambda: d.runtime.views.get("analytics.status") is not None)
        for path in (
            "/api/market/beta",
            "/api/market/beta?timeframe=1h&window=7d&exchange=perp",
            "/api/market/beta/BTC-USDT",
            "/api/market/correlation",
            "/api/market/sentiment",
        ):
            status, body = await get(http, d, path)
            assert status == 503, path
            assert body["error"]["code"] == "not_ready"
            assert "not been computed yet" in body["error"]["message"]
        status, body = await get(http, d, "/api/market/beta")
        assert "waiting for candle history" in body["error"]["message"]


async def test_bad_input_is_4xx_even_before_anything_is_computed() -> None:
    async with api(data=False) as (d, http):
        for path, want_status, want_code in BAD_REQUESTS:
            if path.startswith("/api/market/correlation?symbols"):
                continue  # parsed after readiness (it needs the matrix's symbols)
            status, body = await get(http, d, path)
            assert (status, body["error"]["code"]) == (want_status, want_code), path


async def test_bad_input_is_4xx_json_with_data() -> None:
    async with api(data=True) as (d, http):
        for path, want_status, want_code in BAD_REQUESTS:
            status, body = await get(http, d, path)
            assert (status, body["error"]["code"]) == (want_status, want_code), path
            assert body["error"]["message"]
        status, body = await get(http, d, "/api/market/correlation?symbols=BTC/USDT,XRP/USDT")
        assert (status, body["error"]["code"]) == (404, "unknown_symbol")


async def test_beta_list_sorts_filters_and_limits() -> None:
    async with api(data=True) as (d, http):
        status, body = await get(http, d, "/api/market/beta")
        assert status == 200
        assert (body["exchange"], body["timeframe"], body["window"]) == ("spot", "1h", "2d")
        assert body["benchmark"] == "BTC/USDT" and body["as_of"] == last_closed_hour()
        betas = [r["beta"] for r in body["rows"]]
        assert betas[:-1] == sorted(betas[:-1], reverse=True) and betas[-1] is None  # NEW last
        assert body["rows"][-1]["symbol"] == "NEW/USDT" and body["rows"][-1]["n_obs"] == 14

        _, body = await get(http, d, "/api/market/beta?sort=symbol&window=7d")
        assert [r["symbol"] for r in body["rows"]] == sorted(SPOT)
        _, body = await get(http, d, "/api/market/beta?sort=volatility&order=asc&limit=2")
        assert body["count"] == 2 and body["total"] == len(SPOT)
        assert body["rows"][0]["volatility"] <= body["rows"][1]["volatility"]
        _, body = await get(http, d, "/api/market/beta?exchange=perp&sort=r_squared")
        assert body["benchmark"] == "BTC/USDT:USDT"
        assert body["rows"][0]["symbol"] == "BTC/USDT:USDT"  # R² = 1 with itself
        for row in body["rows"]:
            assert set(row) >= {"beta", "alpha", "correlation", "r_squared", "beta_se"}
            assert set(row) >= {"volatility", "downside_beta", "n_obs", "risk_bucket"}


async def test_correlation_matrix_full_subset_and_orders() -> None:
    async with api(data=True) as (d, http):
        status, full = await get(http, d, "/api/market/correlation?window=7d")
        assert status == 200 and sorted(full["symbols"]) == sorted(SPOT)
        m = np.array(
            [[np.nan if v is None else v for v in row] for row in full["matrix"]], dtype=float
        )
        ok = [i for i, s in enumerate(full["symbols"]) if s != "NEW/USDT"]
        sub = m[np.ix_(ok, ok)]
        assert np.array_equal(sub, sub.T) and np.all(np.diag(sub) == 1.0)
        assert [full["input"][i] for i in full["order"]] == full["symbols"]

        q = "symbols=DOGE-USDT,ETHUSDT,btc/usdt&order=input&exchange=spot&window=7d"
        _, body = await get(http, d, f"/api/market/correlation?{q}")
        assert body["symbols"] == ["DOGE/USDT", "ETH/USDT", "BTC/USDT"]
        assert body["order"] == [0, 1, 2] and len(body["matrix"]) == 3
        i, j = full["symbols"].index("ETH/USDT"), full["symbols"].index("BTC/USDT")
        assert body["matrix"][1][2] == full["matrix"][i][j]

        _, body = await get(
            http, d, "/api/market/correlation?exchange=perp&symbols=SOLUSDT,BTCUSDT,ETHUSDT"
        )
        assert body["exchange"] == "perp" and sorted(body["symbols"]) == sorted(PERP)


def _rows_by_window(body: dict[str, Any]) -> dict[tuple[str, str], Any]:
    return {(w["timeframe"], w["window"]): w["row"] for w in body["windows"]}


async def test_beta_of_one_symbol_has_every_window_history_and_rolling_series() -> None:
    async with api(data=True) as (d, http):
        status, body = await get(http, d, "/api/market/beta/ETHUSDT")
        assert status == 200
        assert (body["exchange"], body["symbol"], body["benchmark"]) == (
            "spot",
            "ETH/USDT",
            "BTC/USDT",
        )
        rows = _rows_by_window(body)
        assert set(rows) == {("1h", "2d"), ("1h", "7d")}
        assert rows[("1h", "7d")]["n_obs"] == 168
        history = {(s["timeframe"], s["window"]): s["rows"] for s in body["history"]["series"]}
        assert body["history"]["columns"][:2] == ["ts", "beta"]
        assert history[("1h", "7d")][-1][0] == last_closed_hour()
        assert history[("1h", "7d")][-1][1] == pytest.approx(rows[("1h", "7d")]["beta"])

        rolling = body["rolling"]
        assert (rolling["timeframe"], rolling["window"]) == ("1h", "2d")  # shortest window
        assert rolling["columns"] == ["open_time", "beta", "correlation", "n_obs"]
        # the rolling series spans the longest window: 7d = 168 points of 2d windows
        assert len(rolling["rows"]) >= 168
        last = rolling["rows"][-1]
        assert last[0] == last_closed_hour() and last[3] == 48
        assert last[1] == pytest.approx(rows[("1h", "2d")]["beta"], rel=1e-9)

        _, body = await get(http, d, "/api/market/beta/ETH-USDT-PERP?window=7d&points=5")
        assert body["exchange"] == "perp" and body["symbol"] == "ETH/USDT:USDT"
        assert body["benchmark"] == "BTC/USDT:USDT"
        assert len(body["rolling"]["rows"]) == 5 and body["rolling"]["window"] == "7d"


async def test_sentiment_serves_score_components_and_regime() -> None:
    async with api(data=True) as (d, http):
        status, body = await get(http, d, "/api/market/sentiment")
        assert status == 200
        assert set(body) >= {"score", "index", "label", "components", "regime", "sources"}
        for c in body["components"]:
            assert set(c) >= {"name", "value", "score", "weight"}
        assert set(body["regime"]) >= {"label", "rule", "explanation", "inputs"}
