"""Symbol spellings -> unified symbols, and resolution against known symbols."""

from __future__ import annotations

import pytest

from virtuoso_daemon.core.symbols import SymbolError, SymbolIndex, key_form, normalize


@pytest.mark.parametrize(
    ("raw", "unified"),
    [
        ("BTC/USDT", "BTC/USDT"),
        ("btc-usdt", "BTC/USDT"),
        ("BTC_USDT", "BTC/USDT"),
        ("BTCUSDT", "BTC/USDT"),
        (" ethbtc ", "ETH/BTC"),
        ("1000PEPEUSDT", "1000PEPE/USDT"),
        ("BTC/USDT:USDT", "BTC/USDT:USDT"),
        ("BTC-USDT-USDT", "BTC/USDT:USDT"),
        ("BTC-USDT-PERP", "BTC/USDT:USDT"),
        ("BTCUSDT-PERP", "BTC/USDT:USDT"),
        ("BTCUSDT.P", "BTC/USDT:USDT"),
        ("eth_usdt_swap", "ETH/USDT:USDT"),
        ("BTC/USD:BTC", "BTC/USD:BTC"),
    ],
)
def test_every_documented_spelling_normalizes(raw: str, unified: str) -> None:
    assert normalize(raw) == unified


@pytest.mark.parametrize(
    "raw", ["", "BTC USDT", "BTC//USDT", "A/B/C/D", "../etc", "BTC/USDT:", "€/USDT", "XYZ"]
)
def test_garbage_is_rejected(raw: str) -> None:
    with pytest.raises(SymbolError):
        normalize(raw)


def test_key_form_round_trips() -> None:
    for unified in ("BTC/USDT", "BTC/USDT:USDT", "1000PEPE/USDT"):
        assert normalize(key_form(unified)) == unified
    assert key_form("BTC/USDT:USDT") == "BTC-USDT-USDT"


def test_index_prefers_the_first_exchange_and_spot_without_a_perp_marker() -> None:
    idx = SymbolIndex(
        [
            ("perp", "BTC/USDT:USDT"),
            ("spot", "BTC/USDT"),
            ("perp", "ETH/USDT:USDT"),
            ("spot", "1000PEPE/USDT"),
            ("spot", "AB/CD"),
            ("spot", "ABC/D"),
        ],
        ["spot", "perp"],
    )
    assert idx.resolve("BTCUSDT") == ("spot", "BTC/USDT")
    assert idx.candidates("BTCUSDT") == [("spot", "BTC/USDT"), ("perp", "BTC/USDT:USDT")]
    assert idx.resolve("BTC-USDT-PERP") == ("perp", "BTC/USDT:USDT")
    assert idx.resolve("BTCUSDT", "perp") == ("perp", "BTC/USDT:USDT")
    assert idx.resolve("ETHUSDT") == ("perp", "ETH/USDT:USDT")  # only listed as a perp
    assert idx.resolve("1000pepeusdt") == ("spot", "1000PEPE/USDT")
    # separators disambiguate what a compact spelling cannot
    assert idx.resolve("AB/CD") == ("spot", "AB/CD")
    assert idx.resolve("ABC-D") == ("spot", "ABC/D")
    assert len(idx.candidates("ABCD")) == 2
    assert idx.resolve("XRPUSDT") is None
    assert idx.resolve("BTC/USDT:USDC") is None
    assert idx.exchanges == ["spot", "perp"]
