"""Config ranges: a value that would break the daemon is refused by validation, with
one line naming the key, before anything runs (issue 16: values that passed
``--check-config`` and then busy-looped, crash-looped or killed the daemon)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import types
import typing
from pathlib import Path
from typing import Annotated, Any

import msgspec
import pytest

from virtuoso_daemon.core.config import Config, ConfigError, load_config


def _load(**sections: dict[str, Any]) -> Config:
    return load_config(None, environ={}, overrides=sections)


@pytest.mark.parametrize(
    ("sections", "message"),
    [
        ({"store": {"persist_interval": 0}}, "store.persist_interval: expected seconds > 0, got 0"),
        (
            {"store": {"persist_interval": -5.0}},
            "store.persist_interval: expected seconds > 0, got -5.0",
        ),
        (
            {"memcached": {"flush_interval": 0}},
            "memcached.flush_interval: expected seconds > 0, got 0",
        ),
        ({"store": {"trades": 0}}, "store.trades: expected >= 1, got 0"),
        ({"store": {"trades": -3}}, "store.trades: expected >= 1, got -3"),
        ({"demo": {"speed": -1}}, "demo.speed: expected > 0, got -1"),
        ({"daemon": {"port": 70000}}, "daemon.port: expected 0..65535, got 70000"),
        ({"daemon": {"gc_every": -1}}, "daemon.gc_every: expected seconds >= 0, got -1"),
        (
            {"daemon": {"shutdown_timeout": 9}},
            "daemon.shutdown_timeout: expected seconds > 0 and <= 4.5, got 9",
        ),
        ({"bus": {"lossy_queue": 0}}, "bus.lossy_queue: expected >= 1, got 0"),
        ({"supervisor": {"intensity": 0}}, "supervisor.intensity: expected >= 1, got 0"),
        ({"beta": {"history": 0}}, "beta.history: expected >= 1, got 0"),
        ({"memcached": {"pool_size": 0}}, "memcached.pool_size: expected >= 1, got 0"),
    ],
)
def test_an_out_of_range_value_is_refused_naming_the_key(
    sections: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError) as err:
        _load(**sections)
    assert str(err.value) == message


def test_an_out_of_range_exchange_value_names_the_exchange_index() -> None:
    ex = {"name": "b", "symbols": ["BTC/USDT"], "poll_interval": 0}
    with pytest.raises(ConfigError) as err:
        _load(exchanges=[ex])  # type: ignore[arg-type]
    assert str(err.value) == "exchanges[0].poll_interval: expected seconds > 0, got 0"


def _numeric_fields(tp: Any, path: str) -> typing.Iterator[tuple[str, Any]]:
    """Every int/float setting under a struct type, with its annotation (extras kept)."""
    hints = typing.get_type_hints(tp, include_extras=True)
    for name in tp.__struct_fields__:
        hint = hints[name]
        key = f"{path}.{name}" if path else name
        base = typing.get_args(hint)[0] if typing.get_origin(hint) is Annotated else hint
        if base in (int, float):
            yield key, hint
            continue
        inner = base
        while typing.get_origin(inner) in (list, typing.Union, types.UnionType):
            inner = next(a for a in typing.get_args(inner) if a is not type(None))
        if isinstance(inner, type) and issubclass(inner, msgspec.Struct):
            yield from _numeric_fields(inner, key)


def test_every_numeric_setting_has_a_range() -> None:
    unbounded = []
    for key, hint in _numeric_fields(Config, ""):
        metas = [m for m in getattr(hint, "__metadata__", ()) if isinstance(m, msgspec.Meta)]
        if not any(getattr(m, b) is not None for m in metas for b in ("ge", "gt", "le", "lt")):
            unbounded.append(key)
    assert unbounded == []


@pytest.mark.parametrize("host", ["999.1.1.1", "not a host", ""])
def test_a_bad_daemon_host_is_refused(host: str) -> None:
    with pytest.raises(ConfigError, match=r"^daemon\.host: "):
        _load(daemon={"host": host})


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "0.0.0.0", "localhost"])
def test_an_address_or_resolvable_name_is_a_good_daemon_host(host: str) -> None:
    # a non-loopback bind also needs a read token (tests/ops/test_auth.py)
    assert _load(daemon={"host": host}, api={"read_token": "r"}).daemon.host == host


def test_an_unknown_socket_group_is_refused() -> None:
    with pytest.raises(ConfigError) as err:
        _load(daemon={"socket_group": "no-such-group-virtuoso"})
    assert str(err.value) == "daemon.socket_group: no such group 'no-such-group-virtuoso'"


def test_a_socket_path_longer_than_a_unix_socket_allows_is_refused() -> None:
    longest = "/tmp/" + "s" * 95 + "/c.sock"  # 107 bytes
    assert _load(daemon={"socket": longest}).daemon.socket == longest
    with pytest.raises(ConfigError) as err:
        _load(daemon={"socket": longest.replace("/c.", "/cc.")})
    assert str(err.value) == (
        "daemon.socket: the path is 108 bytes; a Unix socket path takes at most 107"
    )


def test_check_config_exits_2_with_one_line_naming_the_key(tmp_path: Path) -> None:
    p = tmp_path / "v.toml"
    p.write_text("[store]\npersist_interval = 0\n")
    proc = subprocess.run(
        [sys.executable, "-m", "virtuoso_daemon", "--config", str(p), "--check-config"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "virtuoso-daemon: config error: store.persist_interval: expected seconds > 0, got 0"
    ]


def test_the_bus_section_sizes_the_queues_of_new_subscriptions() -> None:
    from virtuoso_daemon.core.runtime import Runtime

    rt = Runtime(config=_load(bus={"lossy_queue": 7, "lossless_queue": 3}))
    assert (rt.bus.lossy_queue, rt.bus.lossless_queue) == (7, 3)


def test_check_config_prints_the_paths_the_daemon_will_use(tmp_path: Path) -> None:
    p = tmp_path / "v.toml"
    p.write_text("[daemon]\nlog_level = 'info'\n")  # socket and state_dir left to defaults
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path / "state")}
    env.pop("VIRTUOSO_DAEMON__SOCKET", None)
    env.pop("VIRTUOSO_DAEMON__STATE_DIR", None)
    proc = subprocess.run(
        [sys.executable, "-m", "virtuoso_daemon", "--config", str(p), "--check-config"],
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["daemon"]["state_dir"] == str(tmp_path / "state" / "virtuoso")
    assert doc["daemon"]["socket"].endswith("control.sock")
    assert doc["memcached"]["key_prefix"].startswith("virtuoso:")
