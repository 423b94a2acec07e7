"""Demo mode: the simulator runs inside the daemon and the feeds are pointed at it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio

from tests.harness import running_daemon, test_config
from virtuoso_daemon.core.bus import Topics
from virtuoso_daemon.core.config import DemoConfig, load_config
from virtuoso_daemon.core.messages import Ticker
from virtuoso_daemon.core.supervisor import ActorSpec
from virtuoso_daemon.feeds import feed_specs
from virtuoso_daemon.feeds.requests import ListFeeds
from virtuoso_daemon.process.demo import demo_exchanges

REPO = Path(__file__).resolve().parents[2]


def test_demo_exchanges_cover_every_simulated_market() -> None:
    feeds = demo_exchanges("http://127.0.0.1:1", DemoConfig(n_alts=3))
    assert [(f.name, f.ccxt_id, f.market) for f in feeds] == [
        ("sim-spot", "binance", "spot"),
        ("sim-perp", "binanceusdm", "linear"),
    ]
    assert feeds[0].symbols == ["BTC/USDT", "ETH/USDT", "SOL/USDT", "BNB/USDT"]
    assert feeds[1].symbols[0] == "BTC/USDT:USDT"
    assert feeds[0].urls["api"]["public"] == "http://127.0.0.1:1/api/v3"
    spot_only = demo_exchanges("http://127.0.0.1:1", DemoConfig(n_alts=3, perpetuals=False))
    assert [f.name for f in spot_only] == ["sim-spot"]


async def test_demo_mode_feeds_read_the_in_process_simulator() -> None:
    cfg = test_config(
        daemon={"demo": True}, demo={"n_alts": 3, "speed": 60.0, "seed": 5, "port": 0}
    )
    seen: dict[str, set[str]] = {}

    def specs(runtime: Any) -> list[ActorSpec]:
        return feed_specs(runtime)

    async with running_daemon(cfg, specs) as d:
        # resolved before the supervisor: the effective config carries the simulator
        base_url = d.runtime.config.exchanges[0].urls["api"]["public"]
        assert base_url.startswith("http://127.0.0.1:") and not base_url.startswith(
            "http://127.0.0.1:0/"
        )
        with d.runtime.bus.subscribe(Topics.TICKERS, name="test", maxsize=100_000) as sub:
            with anyio.fail_after(20):
                while sum(len(v) for v in seen.values()) < 8:
                    t = await sub.receive()
                    if isinstance(t, Ticker):
                        seen.setdefault(t.exchange, set()).add(t.symbol)
        assert seen == {
            "sim-spot": {"BTC/USDT", "ETH/USDT", "SOL/USDT", "BNB/USDT"},
            "sim-perp": {"BTC/USDT:USDT", "ETH/USDT:USDT", "SOL/USDT:USDT", "BNB/USDT:USDT"},
        }
        listed = await d.runtime.bus.request(Topics.FEED_COMMANDS, ListFeeds())
        assert [s["exchange"] for s in listed] == ["sim-spot", "sim-perp"]
        assert all(r.restarts == 0 for r in d.supervisor.runners.values())


def test_the_okx_demo_runs_binance_spot_and_okx_swaps() -> None:
    feeds = demo_exchanges("http://127.0.0.1:1", DemoConfig(n_alts=3, perp_dialect="okx"))
    assert [(f.name, f.ccxt_id, f.market) for f in feeds] == [
        ("sim-spot", "binance", "spot"),
        ("sim-perp", "okx", "linear"),
    ]
    assert feeds[1].urls == {"api": {"rest": "http://127.0.0.1:1", "ws": "ws://127.0.0.1:1/ws/v5"}}
    cfg = load_config(REPO / "config" / "demo-okx.toml", environ={})
    assert cfg.daemon.demo and cfg.demo.perp_dialect == "okx"
