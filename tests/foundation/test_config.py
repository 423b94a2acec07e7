"""Config: typed, strict, overridable, and failing with one line that names the key."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.harness import REPO
from virtuoso_daemon.core.config import ConfigError, load_config, redacted


def test_shipped_config_file_loads_with_documented_defaults() -> None:
    cfg = load_config(REPO / "config" / "virtuoso.toml", environ={})
    assert cfg.daemon.port == 8003
    assert cfg.daemon.host == "127.0.0.1"


def test_unknown_key_names_the_key(tmp_path: Path) -> None:
    p = tmp_path / "v.toml"
    p.write_text("[daemon]\nprot = 8003\n")
    with pytest.raises(ConfigError) as err:
        load_config(p, environ={})
    assert str(err.value) == "daemon.prot: unknown key (check spelling; see config/virtuoso.toml)"


def test_wrong_type_names_the_key_and_the_expected_type(tmp_path: Path) -> None:
    p = tmp_path / "v.toml"
    p.write_text('[memcached]\nttl = "soon"\n')
    with pytest.raises(ConfigError, match=r"^memcached\.ttl: expected int, got str$"):
        load_config(p, environ={})


def test_out_of_range_value_names_the_key(tmp_path: Path) -> None:
    p = tmp_path / "v.toml"
    p.write_text("[daemon]\nport = 70000\n")
    with pytest.raises(ConfigError, match=r"^daemon\.port: expected 0\.\.65535"):
        load_config(p, environ={})


def test_invalid_toml_is_one_line_with_position(tmp_path: Path) -> None:
    p = tmp_path / "v.toml"
    p.write_text("[daemon\n")
    with pytest.raises(ConfigError) as err:
        load_config(p, environ={})
    assert "invalid TOML" in str(err.value) and "\n" not in str(err.value)


def test_environment_overrides_file_and_is_typed(tmp_path: Path) -> None:
    p = tmp_path / "v.toml"
    p.write_text("[daemon]\nport = 9000\n")
    cfg = load_config(
        p, environ={"VIRTUOSO_DAEMON__PORT": "9100", "VIRTUOSO_MEMCACHED__ENABLED": "false"}
    )
    assert cfg.daemon.port == 9100
    assert cfg.memcached.enabled is False


def test_negative_gc_interval_names_the_key() -> None:
    with pytest.raises(ConfigError, match=r"^daemon\.gc_every: expected seconds >= 0, got -1"):
        load_config(None, environ={"VIRTUOSO_DAEMON__GC_EVERY": "-1"})


def test_bad_environment_value_names_the_key() -> None:
    with pytest.raises(ConfigError, match=r"^daemon\.port: expected int, got str$"):
        load_config(None, environ={"VIRTUOSO_DAEMON__PORT": "eighty"})


def test_flags_override_environment() -> None:
    cfg = load_config(
        None, environ={"VIRTUOSO_DAEMON__PORT": "9100"}, overrides={"daemon": {"port": 9200}}
    )
    assert cfg.daemon.port == 9200


def test_secret_from_file_is_loaded_and_redacted(tmp_path: Path) -> None:
    secret = tmp_path / "token"
    secret.write_text("s3cret-token\n")
    cfg = load_config(None, environ={"VIRTUOSO_API__TOKEN_FILE": str(secret)})
    assert cfg.api.token == "s3cret-token"
    shown = redacted(cfg)
    assert shown["api"]["token"] == "***"
    assert "s3cret-token" not in repr(shown)


def test_missing_secret_file_names_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^api\.token_file: cannot read secret file"):
        load_config(None, environ={"VIRTUOSO_API__TOKEN_FILE": str(tmp_path / "nope")})


def test_daemon_cli_prints_one_line_and_exits_2_on_bad_config(tmp_path: Path) -> None:
    p = tmp_path / "v.toml"
    p.write_text("[daemon]\nport = 'x'\n")
    proc = subprocess.run(
        [sys.executable, "-m", "virtuoso_daemon", "--config", str(p)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "virtuoso-daemon: config error: daemon.port: expected int, got str"
    ]


def test_unknown_ccxt_exchange_id_names_the_key() -> None:
    with pytest.raises(ConfigError, match=r"^exchanges\[0\]\.ccxt_id: 'binanse' is not a ccxt"):
        load_config(
            None,
            environ={},
            overrides={"exchanges": [{"name": "b", "ccxt_id": "binanse", "symbols": ["BTC/USDT"]}]},
        )


def test_unknown_data_kind_names_the_key() -> None:
    with pytest.raises(ConfigError, match=r"^exchanges\[0\]\.kinds: unknown candles"):
        load_config(
            None,
            environ={},
            overrides={"exchanges": [{"name": "b", "symbols": ["BTC/USDT"], "kinds": ["candles"]}]},
        )


@pytest.mark.parametrize(
    ("conflate", "message"),
    [
        ({"klines": 1.0}, r"^exchanges\[0\]\.conflate: unknown klines; expected some of"),
        ({"ohlcv": -1.0}, r"^exchanges\[0\]\.conflate\.ohlcv: expected 0\.\.60 seconds, got -1"),
        ({"trades": "fast"}, r"^exchanges\[0\]\.conflate\[\.\.\.\]: expected float, got str"),
    ],
)
def test_bad_conflate_setting_names_the_key(conflate: dict, message: str) -> None:
    ex = {"name": "b", "symbols": ["BTC/USDT"], "conflate": conflate}
    with pytest.raises(ConfigError, match=message):
        load_config(None, environ={}, overrides={"exchanges": [ex]})


@pytest.mark.parametrize(
    ("candles", "message"),
    [
        (0, r"store\.candles: expected >= 1, got 0"),
        ({"1m": 0, "*": 2400}, r"store\.candles\.1m: expected >= 1, got 0"),
    ],
)
def test_bad_store_candles_names_the_key(candles: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(None, environ={}, overrides={"store": {"candles": candles}})


def test_store_candles_per_timeframe_fall_back_to_the_star_entry() -> None:
    cfg = load_config(None, environ={}, overrides={"store": {"candles": {"1m": 60, "*": 500}}})
    assert (cfg.store.candles_for("1m"), cfg.store.candles_for("4h")) == (60, 500)
    default = load_config(None, environ={}).store
    assert (default.candles_for("1m"), default.candles_for("1h")) == (1440, 2400)


@pytest.mark.parametrize(
    ("backfill", "message"),
    [
        (-1, r"^exchanges\[0\]\.backfill_candles: expected >= 0, got -1"),
        ({"1h": -5, "*": 100}, r"^exchanges\[0\]\.backfill_candles\.1h: expected >= 0, got -5"),
    ],
)
def test_bad_backfill_candles_names_the_key(backfill: object, message: str) -> None:
    ex = {"name": "b", "symbols": ["BTC/USDT"], "backfill_candles": backfill}
    with pytest.raises(ConfigError, match=message):
        load_config(None, environ={}, overrides={"exchanges": [ex]})
