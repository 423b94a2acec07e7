"""The daemon on the simulator: served betas agree with the simulator's ground truth.

Tolerance. The simulator's market is an exact factor model at every timeframe:
``r_i = beta_i * r_BTC + eps_i`` with annualised volatilities ``btc_vol`` (0.6) for BTC
and ``idio_vol_i`` (drawn in [0.3, 1.0]) for the independent noise (``GET
/__sim/truth``). Per 1h candle both scale by ``sqrt(1 / 8760)``, which cancels in the
OLS standard error of the slope::

    SE(beta_i) ~= sigma_eps / (sigma_BTC * sqrt(n)) = idio_vol_i / (btc_vol * sqrt(n))

With n = 720 returns (a 30d window of 1h candles, all inside the >= 1000 candles the
simulator backfills) that is 0.019 for the quietest coin and 0.062 for the noisiest.
The estimator is unbiased, so each served beta must lie within 4.5 SE of the truth:
a false failure has probability 2 * P(Z > 4.5) ~= 7e-6 per symbol, ~6e-5 for the
eight alts of a run (the path differs per run: it is seeded, but anchored at the wall
clock). BTC against itself is exactly 1. The served ``beta_se`` must match the formula
within 15 % (its sampling error at n = 720 is about 1 / sqrt(2n) ~= 2.6 %, plus the
same again from the sample variance of BTC). Correlation with BTC: the truth is
``corr_btc``; SE(r) ~= (1 - rho^2) / sqrt(n), same 4.5 SE bound.

Speed: the feeds backfill the simulator's 1h history at start; the beta actor computes
as soon as those history pages are in (no waiting for a live candle close), so the
test takes a few seconds. Perpetuals double the feeds' backfill (the simulated futures
API is rate-limited the way Binance's is, ~25 s), so the perpetual variant is
``slow``; its benchmark is ``BTC/USDT:USDT``.
"""

from __future__ import annotations

import math
from typing import Any

import aiohttp
import numpy as np
import pytest

from tests.beta.helpers import get
from tests.harness import DaemonHandle, running_daemon, test_config
from tests.market.helpers import eventually
from virtuoso_daemon.beta.actor import BetaActor
from virtuoso_daemon.core.runtime import Runtime
from virtuoso_daemon.core.supervisor import ActorSpec
from virtuoso_daemon.process.assembly import build_specs

N_ALTS = 8
WINDOW_N = 720  # 30d of 1h candles


def specs_with_beta(runtime: Runtime) -> list[ActorSpec]:
    """The real actor tree plus the beta actor (before the readers), as the lead wires it."""
    specs = build_specs(runtime)
    if any(s.name == "beta" for s in specs):
        return specs
    at = next(i for i, s in enumerate(specs) if s.name == "http_api")
    return [*specs[:at], ActorSpec("beta", BetaActor, depends_on=("market_store",)), *specs[at:]]


async def truth(d: DaemonHandle, http: aiohttp.ClientSession) -> dict[str, Any]:
    base = d.runtime.views.value("demo.base_url")
    async with http.get(f"{base}/__sim/truth") as resp:
        doc: dict[str, Any] = await resp.json()
    return doc


def full_window(status_body: tuple[int, Any]) -> bool:
    status, body = status_body
    return status == 200 and all(r["n_obs"] >= WINDOW_N for r in body["rows"])


async def check_exchange(
    d: DaemonHandle, http: aiohttp.ClientSession, exchange: str, benchmark: str, timeout: float
) -> None:
    status, body = await eventually(
        lambda: get(http, d, f"/api/market/beta?exchange={exchange}&timeframe=1h&window=30d"),
        full_window,
        timeout=timeout,
    )
    t = await truth(d, http)
    btc_vol = t["btc_vol"]
    assert body["benchmark"] == benchmark
    rows = {r["symbol"]: r for r in body["rows"]}
    assert len(rows) == N_ALTS + 1
    for sym, row in rows.items():
        base = sym.split("/")[0]
        info = t["symbols"][base]
        n = row["n_obs"]
        assert n == WINDOW_N, sym
        if sym == benchmark:
            assert row["beta"] == pytest.approx(1.0, abs=1e-9)
            continue
        se = info["idio_vol"] / (btc_vol * math.sqrt(n))
        assert abs(row["beta"] - info["beta"]) <= 4.5 * se, (sym, row["beta"], info["beta"], se)
        assert row["beta_se"] == pytest.approx(se, rel=0.15), sym
        rho = info["corr_btc"]
        assert abs(row["correlation"] - rho) <= 4.5 * (1 - rho**2) / math.sqrt(n), sym

    status, corr = await get(http, d, f"/api/market/correlation?exchange={exchange}&window=30d")
    assert status == 200 and sorted(corr["symbols"]) == sorted(rows)
    m = np.array(corr["matrix"], dtype=np.float64)
    assert np.array_equal(m, m.T) and np.all(np.diag(m) == 1.0)
    assert np.all(np.abs(m) <= 1.0)


async def test_served_betas_match_the_simulators_truth() -> None:
    cfg = test_config(
        daemon={"demo": True},
        demo={"n_alts": N_ALTS, "seed": 11, "perpetuals": False},
        beta={"windows": {"1h": ["30d"]}},
    )
    async with running_daemon(cfg, specs_with_beta) as d, aiohttp.ClientSession() as http:
        await check_exchange(d, http, "sim-spot", "BTC/USDT", timeout=20)
        # sentiment follows the computation (its regime now has the correlation input)
        _, body = await eventually(
            lambda: get(http, d, "/api/market/sentiment"),
            lambda r: r[0] == 200 and r[1]["regime"]["inputs"]["avg_correlation"] is not None,
            timeout=5,
        )
        assert body["label"] != "unknown" and body["regime"]["label"] != "unknown"
        stats = d.runtime.stats["beta"]()
        assert stats["errors"] == 0 and stats["compute_ms"]["max"] is not None


@pytest.mark.slow
async def test_perpetuals_are_measured_against_the_perpetual_btc() -> None:
    cfg = test_config(
        daemon={"demo": True},
        demo={"n_alts": N_ALTS, "seed": 12},
        beta={"windows": {"1h": ["30d"]}},
    )
    async with running_daemon(cfg, specs_with_beta) as d, aiohttp.ClientSession() as http:
        await check_exchange(d, http, "sim-spot", "BTC/USDT", timeout=30)
        await check_exchange(d, http, "sim-perp", "BTC/USDT:USDT", timeout=90)


async def test_binance_spot_and_okx_swaps_in_one_daemon_serve_both_and_match_the_truth() -> None:
    cfg = test_config(
        daemon={"demo": True},
        demo={"n_alts": N_ALTS, "seed": 13, "perp_dialect": "okx"},
        beta={"windows": {"1h": ["30d"]}},
    )
    async with running_daemon(cfg, specs_with_beta) as d, aiohttp.ClientSession() as http:
        assert [e.ccxt_id for e in d.runtime.config.exchanges] == ["binance", "okx"]
        await check_exchange(d, http, "sim-spot", "BTC/USDT", timeout=30)
        await check_exchange(d, http, "sim-perp", "BTC/USDT:USDT", timeout=60)
        for path in ("funding", "open-interest"):
            await eventually(
                lambda p=path: get(http, d, f"/api/market/{p}?exchange=sim-perp"),
                lambda r: r[0] == 200 and r[1]["count"] == N_ALTS + 1,
                timeout=20,
            )
        for exchange, symbol in (("sim-spot", "BTC/USDT"), ("sim-perp", "BTC/USDT:USDT")):
            status, ticker = await get(http, d, f"/api/market/ticker/{symbol}?exchange={exchange}")
            assert status == 200 and ticker["ticker"]["last"] > 0, ticker
            status, body = await get(
                http, d, f"/api/market/ohlcv/{symbol}?exchange={exchange}&timeframe=1h&limit=720"
            )
            assert status == 200 and body["count"] == 720, body["count"]
        _, ex = await get(http, d, "/api/market/exchanges")
        states = {e["name"]: e["state"] for e in ex["exchanges"]}
        assert states == {"sim-spot": "connected", "sim-perp": "connected"}, ex
