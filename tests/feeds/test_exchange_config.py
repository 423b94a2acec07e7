"""Per-exchange ccxt settings: urls (validated against the exchange's own), options,
proxies, headers and sandbox reach ccxt as the operator wrote them."""

from __future__ import annotations

from pathlib import Path

import pytest

from virtuoso_daemon.core.config import ConfigError, ExchangeConfig, load_config
from virtuoso_daemon.feeds.backoff import RateGate
from virtuoso_daemon.feeds.ccxt_factory import ExchangeFactory, ccxt_config


def load(tmp_path: Path, body: str) -> list[ExchangeConfig]:
    path = tmp_path / "virtuoso.toml"
    path.write_text(body)
    return load_config(path, environ={}).exchanges


HEAD = '[[exchanges]]\nname = "x"\nsymbols = ["BTC/USDT"]\n'


def test_a_mistyped_key_inside_urls_is_a_config_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError, match=r"exchanges\[0\]\.urls\.api\.publc: not a key of binance"
    ):
        load(tmp_path, HEAD + 'urls = { api = { publc = "http://127.0.0.1:9/api/v3" } }\n')
    with pytest.raises(
        ConfigError, match=r"exchanges\[0\]\.urls\.api\.ws\.spt: not a key of bybit"
    ):
        load(tmp_path, HEAD + 'ccxt_id = "bybit"\nurls = { api = { ws = { spt = "ws://h" } } }\n')


@pytest.mark.parametrize(
    ("ccxt_id", "urls"),
    [
        ("binance", '{ api = { public = "http://127.0.0.1:9/api/v3" } }'),
        ("bybit", '{ api = { public = "http://127.0.0.1:9" } }'),
        ("okx", '{ api = { rest = "http://127.0.0.1:9", ws = "ws://127.0.0.1:9/ws/v5" } }'),
    ],
)
def test_the_documented_url_overrides_are_accepted(tmp_path: Path, ccxt_id: str, urls: str) -> None:
    (ex,) = load(tmp_path, HEAD + f'ccxt_id = "{ccxt_id}"\nurls = {urls}\n')
    assert ex.urls["api"]


def test_proxies_headers_and_options_reach_the_ccxt_constructor(tmp_path: Path) -> None:
    (ex,) = load(
        tmp_path,
        HEAD + 'https_proxy = "http://proxy:3128"\nws_proxy = "http://proxy:3128"\n'
        'headers = { "X-Desk" = "a" }\noptions = { recvWindow = 5000 }\n',
    )
    conf = ccxt_config(ex)
    assert conf["httpsProxy"] == conf["wsProxy"] == "http://proxy:3128"
    assert conf["headers"] == {"X-Desk": "a"} and conf["options"]["recvWindow"] == 5000


def test_two_rest_proxies_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"exchanges\[0\]\.socks_proxy: ccxt takes one REST"):
        load(tmp_path, HEAD + 'https_proxy = "http://p:1"\nsocks_proxy = "socks5://p:2"\n')


async def test_sandbox_switches_to_the_testnet_and_urls_still_win(tmp_path: Path) -> None:
    (ex,) = load(tmp_path, HEAD + "sandbox = true\n")
    factory = ExchangeFactory(ex, RateGate())
    inst = factory.create()
    try:
        assert "testnet" in inst.urls["api"]["public"]
    finally:
        await factory.close_all()
    (ex,) = load(
        tmp_path, HEAD + 'sandbox = true\nurls = { api = { public = "http://h/api/v3" } }\n'
    )
    factory = ExchangeFactory(ex, RateGate())
    inst = factory.create()
    try:
        assert inst.urls["api"]["public"] == "http://h/api/v3"
        assert "testnet" in inst.urls["api"]["private"]  # the rest is the testnet's
    finally:
        await factory.close_all()
