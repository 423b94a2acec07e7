"""Config reload is all or nothing: every owning actor checks its part before anything
is applied; a refusal or a failed apply leaves the old config everywhere and says why
(issue 16: a reload that an actor could not apply half-applied or killed the daemon)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, ClassVar

import anyio
import anyio.abc
import msgspec
import pytest

from tests.harness import DaemonHandle, running_daemon, short_tmpdir, test_config
from virtuoso_daemon.core.bus import Topics
from virtuoso_daemon.core.config import Config, ConfigError
from virtuoso_daemon.core.messages import ConfigReloaded
from virtuoso_daemon.core.supervisor import ActorSpec


class _Idle:
    name = "idle"

    def __init__(self, runtime: Any) -> None:
        self.applied: list[Config] = []

    async def run(self, *, task_status: anyio.abc.TaskStatus[None]) -> None:
        task_status.started()
        await anyio.sleep_forever()


class MemcachedOwner(_Idle):
    """Takes [memcached] live and remembers every config it was handed."""

    config_sections: ClassVar[tuple[str, ...]] = ("memcached",)

    async def reconfigure(self, config: Config) -> None:
        self.applied.append(config)


class StoreOwner(_Idle):
    """Owns [store]: refuses 7 trades when asked first, fails applying 9."""

    config_sections: ClassVar[tuple[str, ...]] = ("store",)

    def check_config(self, config: Config) -> None:
        if config.store.trades == 7:
            raise ConfigError("store.trades: this store cannot keep 7")

    async def reconfigure(self, config: Config) -> None:
        if config.store.trades == 9:
            raise RuntimeError("ran out of something")
        self.applied.append(config)


SPECS = [ActorSpec("memcached_owner", MemcachedOwner), ActorSpec("store_owner", StoreOwner)]


@asynccontextmanager
async def reloadable(specs: list[ActorSpec] = SPECS) -> AsyncIterator[tuple[DaemonHandle, Path]]:
    """A daemon whose reloads read a file the test writes (its own keys kept)."""
    tmp = short_tmpdir()
    cfg = test_config(tmp)
    async with running_daemon(cfg, specs) as d:
        path = tmp / "virtuoso.toml"
        path.write_text("")
        d.runtime.config_path = path
        d.runtime.overrides = {
            k: v for k, v in msgspec.to_builtins(cfg).items() if k in ("daemon", "supervisor")
        }
        yield d, path


def applied(d: DaemonHandle, name: str) -> list[Config]:
    return d.supervisor.actor(name).applied  # type: ignore[no-any-return]


async def test_a_reload_an_actor_refuses_changes_nothing_and_says_why() -> None:
    async with reloadable() as (d, path):
        before = d.runtime.config
        path.write_text("[store]\ntrades = 7\n[memcached]\nttl = 42\n")
        with pytest.raises(ConfigError, match=r"store\.trades: this store cannot keep 7"):
            await d.supervisor.reload_config()
        assert d.runtime.config is before
        assert applied(d, "memcached_owner") == []


async def test_a_failed_apply_is_rolled_back_everywhere() -> None:
    async with reloadable() as (d, path):
        before = d.runtime.config
        path.write_text("[store]\ntrades = 9\n[memcached]\nttl = 42\n")
        with pytest.raises(ConfigError, match=r"store_owner.*ran out of something"):
            await d.supervisor.reload_config()
        assert d.runtime.config is before
        # the actor that had taken the new config was handed the old one back
        ttls = [c.memcached.ttl for c in applied(d, "memcached_owner")]
        assert ttls == [42, before.memcached.ttl]
        assert d.supervisor.runners["store_owner"].state == "running"


async def test_a_refused_reload_publishes_nothing() -> None:
    async with reloadable() as (d, path):
        with d.runtime.bus.subscribe(Topics.CONFIG, name="test", lossy=False) as sub:
            path.write_text("[store]\ntrades = 7\n")
            with pytest.raises(ConfigError):
                await d.supervisor.reload_config()
            path.write_text("[memcached]\nttl = 42\n")
            await d.supervisor.reload_config()
            with anyio.fail_after(5):
                first = await sub.receive()
        assert isinstance(first, ConfigReloaded) and first.sections == ["memcached"]


async def test_the_reply_and_the_event_name_the_settings_that_need_a_restart() -> None:
    async with reloadable() as (d, path):
        with d.runtime.bus.subscribe(Topics.CONFIG, name="test", lossy=False) as sub:
            path.write_text("[memcached]\nttl = 42\n[bus]\nlossy_queue = 99\n")
            result = await d.supervisor.reload_config()
            with anyio.fail_after(5):
                event = await sub.receive()
        assert result.changed == ["bus", "memcached"]
        assert result.restart_required == ["bus.lossy_queue"]
        assert isinstance(event, ConfigReloaded)
        assert event.restart_required == ["bus.lossy_queue"]
        assert d.runtime.config.memcached.ttl == 42


async def test_a_changed_daemon_port_is_reported_as_needing_a_restart() -> None:
    async with reloadable() as (d, _):
        d.runtime.overrides["daemon"] = {**d.runtime.overrides["daemon"], "port": 1}
        result = await d.supervisor.reload_config()
        assert result.restart_required == ["daemon.port"]


async def test_the_log_level_is_applied_on_reload() -> None:
    root = logging.getLogger()
    level = root.level
    try:
        async with reloadable() as (d, _):
            d.runtime.overrides["daemon"] = {**d.runtime.overrides["daemon"], "log_level": "error"}
            result = await d.supervisor.reload_config()
            assert root.level == logging.ERROR
            assert "daemon.log_level" not in result.restart_required
    finally:
        root.setLevel(level)


async def test_a_section_no_actor_takes_live_is_reported_as_needing_a_restart() -> None:
    async with reloadable([ActorSpec("memcached_owner", MemcachedOwner)]) as (d, path):
        path.write_text("[store]\ntrades = 9\n")
        result = await d.supervisor.reload_config()
        assert result.restart_required == ["store.trades"]
