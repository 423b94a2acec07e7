"""The beta actor on synthetic candles: per-exchange benchmarks, views, triggers, sentiment.

The market is a factor model with known betas (``tests/beta/helpers.py``) published as
history pages on the bus, so every expected number can be recomputed here exactly.
"""

from __future__ import annotations

import msgspec
import numpy as np
import pytest

from tests.beta.helpers import (
    HOUR,
    PERP,
    SPOT,
    batch,
    beta_config,
    beta_specs,
    beta_stats,
    closed_candle,
    factor_closes,
    last_closed_hour,
    publish_market,
)
from tests.harness import running_daemon
from tests.market.helpers import exchange_cfg, market_config, wait_until
from virtuoso_daemon import analytics
from virtuoso_daemon.beta.compute import CorrelationView
from virtuoso_daemon.beta.publish import STATUS_VIEW
from virtuoso_daemon.core.bus import Topics
from virtuoso_daemon.core.messages import BetaSnapshot, CorrelationSnapshot
from virtuoso_daemon.core.runtime import Runtime
from virtuoso_daemon.read import analytics as analytics_queries


def status(rt: Runtime, exchange: str, tf: str = "1h") -> dict[str, object]:
    value = rt.views.value(STATUS_VIEW) or {}
    st: dict[str, object] = value["exchanges"][exchange]["timeframes"][tf]
    return st


def computed(rt: Runtime, *exchanges: str) -> bool:
    return all(rt.views.get(f"beta.{ex}.1h.7d") is not None for ex in exchanges)


async def test_each_exchange_is_measured_against_its_own_benchmark() -> None:
    async with running_daemon(beta_config(), beta_specs(http=False)) as d:
        rt = d.runtime
        with rt.bus.subscribe(Topics.BETA, name="test", maxsize=100) as sub:
            end = last_closed_hour()
            closes = publish_market(rt.bus, n=200, seed=7, end_open=end, short={"NEW": 15})
            await wait_until(lambda: computed(rt, "spot", "perp"), timeout=10)
            seen = []
            while sub.pending():
                seen.append(sub.receive_nowait())

        spot = rt.views.value("beta.spot.1h.7d")
        perp = rt.views.value("beta.perp.1h.7d")
        assert isinstance(spot, BetaSnapshot) and isinstance(perp, BetaSnapshot)
        assert spot.benchmark == "BTC/USDT" and perp.benchmark == "BTC/USDT:USDT"
        assert [r.symbol for r in spot.rows] == SPOT and [r.symbol for r in perp.rows] == PERP
        # the alias is the first exchange in config order, and so is what goes on the bus
        assert rt.views.get("beta.1h.7d").body == rt.views.get("beta.spot.1h.7d").body
        assert any(isinstance(m, BetaSnapshot) and m.benchmark == "BTC/USDT" for m in seen)
        assert status(rt, "spot")["as_of"] == end and status(rt, "spot")["state"] == "ok"

        # exactly the analytics library's numbers on the same closes
        bases = [s.split("/")[0] for s in SPOT]
        times = end - HOUR * np.arange(199, -1, -1)
        series = {s: (times, closes[b]) for s, b in zip(SPOT, bases, strict=True)}
        series["NEW/USDT"] = (times[-15:], closes["NEW"][-15:])
        ref = analytics.compute_beta(
            analytics.align_closes(series, "1h").log_returns(), "7d", min_obs=20
        )
        rows = {r.symbol: r for r in spot.rows}
        for sym in ("ETH/USDT", "SOL/USDT", "DOGE/USDT"):
            assert rows[sym].beta == pytest.approx(ref.row(sym).beta, rel=1e-12)
            assert rows[sym].n_obs == 168
        new = rows["NEW/USDT"]  # 14 returns < min_obs 20: no beta, never 1.0
        assert new.beta is None and new.n_obs == 14 and new.risk_bucket == "insufficient"
        assert rows["SOL/USDT"].risk_bucket == "high"

        view = rt.views.get("correlation.perp.1h.7d")
        assert view is not None and isinstance(view.value, CorrelationView)
        assert view.value.snapshot.symbols == PERP and view.value.snapshot.matrix == []
        m = view.value.values
        assert np.array_equal(m, m.T) and np.all(np.diag(m) == 1.0)
        # the view's JSON is the whole snapshot, matrix included
        corr = msgspec.json.decode(view.body, type=CorrelationSnapshot)
        assert corr.symbols == PERP and np.array_equal(np.array(corr.matrix, dtype=float), m)
        # perps carry the same returns as spot here: the same betas against their own BTC
        perp_rows = {r.symbol: r.beta for r in perp.rows}
        assert perp_rows["ETH/USDT:USDT"] == pytest.approx(rows["ETH/USDT"].beta, rel=1e-12)


async def test_one_recompute_per_candle_close_however_many_symbols_close() -> None:
    async with running_daemon(beta_config(), beta_specs(http=False)) as d:
        rt = d.runtime
        end = last_closed_hour() - HOUR
        closes = publish_market(rt.bus, n=200, seed=3, end_open=end)
        await wait_until(lambda: computed(rt, "spot", "perp"), timeout=10)
        await wait_until(lambda: not beta_stats(d)["pending"])
        before = beta_stats(d)
        # the next hour closes: every alt of the spot exchange first, the benchmark last
        for sym in [*SPOT[1:], SPOT[0]]:
            price = float(closes[sym.split("/")[0]][-1]) * 1.01
            rt.bus.publish_nowait(Topics.CANDLES, closed_candle("spot", sym, end + HOUR, price))
        await wait_until(lambda: status(rt, "spot")["as_of"] == end + HOUR, timeout=5)
        await wait_until(lambda: not beta_stats(d)["pending"])
        after = beta_stats(d)
        assert after["candle_triggers"] == before["candle_triggers"] + len(SPOT)
        assert after["computes"] == before["computes"] + 1  # five closes, one recompute
        assert status(rt, "perp")["as_of"] == end  # the other exchange was left alone


async def test_nothing_is_published_until_the_benchmark_has_history() -> None:
    cfg = market_config(
        exchanges=[
            exchange_cfg("spot", SPOT, timeframes=["1h"]),
            exchange_cfg("alts", ["ETH/USDT", "SOL/USDT"], timeframes=["1h"]),
        ],
        beta={"windows": {"1h": ["7d"]}, "min_obs": 20},
    )
    async with running_daemon(cfg, beta_specs(http=False)) as d:
        rt = d.runtime
        await wait_until(lambda: status(rt, "alts")["state"] == "no_benchmark")
        assert "lists no BTC symbol" in str(status(rt, "alts")["detail"])
        # alts only on spot: the benchmark has no history yet
        data = factor_closes(["ETH"], 100, 1)
        rt.bus.publish_nowait(
            Topics.CANDLES, batch("spot", "ETH/USDT", data["ETH"], last_closed_hour())
        )
        await wait_until(lambda: beta_stats(d)["waiting"] >= 2, timeout=5)
        assert status(rt, "spot")["state"] == "waiting"
        assert "BTC/USDT has 0 1h returns" in str(status(rt, "spot")["detail"])
        assert rt.views.get("beta.spot.1h.7d") is None
        with pytest.raises(analytics_queries.QueryError) as exc:
            analytics_queries.beta(rt)
        assert exc.value.status == 503 and exc.value.code == "not_ready"
        assert "BTC/USDT has 0 1h returns" in exc.value.message


async def test_sentiment_and_regime_follow_the_first_computation() -> None:
    async with running_daemon(beta_config(), beta_specs(http=False)) as d:
        rt = d.runtime
        publish_market(rt.bus, n=200, seed=5)
        await wait_until(lambda: rt.views.get("sentiment.overview") is not None, timeout=10)
        doc = msgspec.to_builtins(analytics_queries.sentiment(rt))  # as the API serves it
        vol = next(c for c in doc["components"] if c["name"] == "volatility")
        assert vol["value"] is not None and vol["weight"] == 1.0  # the only input here
        assert doc["sources"]["volatility"] == {
            "symbol": "BTC/USDT",
            "timeframe": "1h",
            "window": "2d",
        }
        assert doc["regime"]["label"] == "unknown"  # no tickers: no 24 h change
        assert rt.views.value("regime").rule == "insufficient_data"


async def test_a_reload_with_new_windows_recomputes_at_once() -> None:
    cfg = beta_config()
    async with running_daemon(cfg, beta_specs(http=False)) as d:
        rt = d.runtime
        publish_market(rt.bus, n=200, seed=2)
        await wait_until(lambda: computed(rt, "spot", "perp"), timeout=10)
        windows = {"1h": ["2d", "7d", "3d", "2x"]}
        new = msgspec.structs.replace(cfg, beta=msgspec.structs.replace(cfg.beta, windows=windows))
        await d.supervisor.actor("beta").reconfigure(new)
        await wait_until(lambda: rt.views.get("beta.perp.1h.3d") is not None, timeout=5)
        snap = rt.views.value("beta.spot.1h.3d")
        assert {r.n_obs for r in snap.rows if r.symbol != "NEW/USDT"} == {72}
        problems = beta_stats(d)["config_problems"]  # reported, not silently reinterpreted
        assert len(problems) == 1 and "'2x'" in problems[0]
