"""Symbol resolution the review found untested: spot first when an exchange lists both
a spot market and its perpetual, and compact spellings with long stablecoin quotes."""

from __future__ import annotations

import pytest

from virtuoso_daemon.core.config import ExchangeConfig
from virtuoso_daemon.core.symbols import SymbolIndex
from virtuoso_daemon.feeds.symbols import resolve

PAIRS = [
    ("b", "BTC/USDT"),
    ("b", "BTC/USDT:USDT"),
    ("b", "BTC/FDUSD"),
    ("b", "ETH/TUSD"),
    ("b", "BTC/USDC"),
    ("b", "ETH/USDT"),
]


def test_spot_is_preferred_when_one_exchange_lists_spot_and_perpetual() -> None:
    index = SymbolIndex(PAIRS, ["b"])
    for raw in ("BTCUSDT", "BTC/USDT", "btc-usdt"):
        assert index.candidates(raw) == [("b", "BTC/USDT")], raw
    assert index.candidates("BTC-USDT-PERP") == [("b", "BTC/USDT:USDT")]


@pytest.mark.parametrize(
    ("raw", "unified"),
    [
        ("BTCFDUSD", "BTC/FDUSD"),
        ("ETHTUSD", "ETH/TUSD"),
        ("BTCUSDC", "BTC/USDC"),
        ("ethtusd", "ETH/TUSD"),
    ],
)
def test_compact_spellings_with_long_stablecoin_quotes(raw: str, unified: str) -> None:
    assert SymbolIndex(PAIRS, ["b"]).candidates(raw)[0] == ("b", unified)
    markets = {
        u: {"id": u.replace("/", ""), "symbol": u, "spot": True} for _, u in PAIRS if ":" not in u
    }
    assert resolve(markets, ExchangeConfig(name="b"), raw) == unified
