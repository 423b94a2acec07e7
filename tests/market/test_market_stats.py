"""Overview and movers math on constructed tickers (no daemon)."""

from __future__ import annotations

import pytest

from tests.market.helpers import make_ticker
from virtuoso_daemon.read.market_stats import movers, overview


def test_risk_off_when_btc_falls_and_breadth_is_weak() -> None:
    tickers = [
        make_ticker("BTC/USDT", 90.0, change_pct=-3.0, quote_volume=500.0),
        make_ticker("ETH/USDT", 10.0, change_pct=-5.0, quote_volume=300.0),
        make_ticker("SOL/USDT", 1.0, change_pct=-2.0, quote_volume=100.0),
        make_ticker("XRP/USDT", 1.0, change_pct=1.0, quote_volume=100.0),
    ]
    ov = overview(tickers, "BTC/USDT")
    assert (ov["advancers"], ov["decliners"]) == (1, 3)
    assert ov["avg_change_pct"] == pytest.approx(-2.25)
    assert ov["btc_dominance_pct"] == pytest.approx(50.0)
    # btc -3 % with breadth 0.25: the sell-off rule needs a correlation input, so risk-off
    assert ov["regime"]["label"] == "risk-off" and ov["regime"]["rule"] == "risk_off_btc"


def test_missing_data_gives_nones_and_an_unknown_regime() -> None:
    ov = overview([], "BTC/USDT")
    assert ov["symbols"] == 0 and ov["breadth"] is None and ov["avg_change_pct"] is None
    assert ov["btc_dominance_pct"] is None and ov["regime"]["label"] == "unknown"
    only_alts = [make_ticker("ETH/USDT", 1.0, change_pct=None, quote_volume=None)]
    ov = overview(only_alts, "BTC/USDT")
    assert ov["volatility"]["dispersion_pct"] is None and ov["benchmark_change_pct"] is None


def test_movers_rank_and_skip_missing_values() -> None:
    tickers = [
        make_ticker("A/USDT", 1.0, change_pct=5.0, quote_volume=10.0),
        make_ticker("B/USDT", 1.0, change_pct=-7.0, quote_volume=None),
        make_ticker("C/USDT", 1.0, change_pct=None, quote_volume=99.0),
        make_ticker("D/USDT", 1.0, change_pct=9.0, quote_volume=5.0),
        make_ticker("E/USDT", 1.0, change_pct=-1.0, quote_volume=50.0),
    ]
    mv = movers(tickers, 2)
    assert [m.symbol for m in mv["gainers"]] == ["D/USDT", "A/USDT"]
    assert [m.symbol for m in mv["losers"]] == ["B/USDT", "E/USDT"]
    assert [m.symbol for m in mv["volume"]] == ["C/USDT", "E/USDT"]
