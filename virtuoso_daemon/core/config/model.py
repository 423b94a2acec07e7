"""The whole configuration (one struct of the sections) and the places it resolves to:
the state directory, the control socket and the memcached key prefix."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from pathlib import Path

import msgspec

from virtuoso_daemon.core.config.daemon import (
    ApiConfig,
    BusConfig,
    ControlConfig,
    DaemonConfig,
    MemcachedConfig,
    SupervisorConfig,
)
from virtuoso_daemon.core.config.market import BetaConfig, DemoConfig, ExchangeConfig, StoreConfig
from virtuoso_daemon.core.config.operations import AlertsConfig, BackupConfig, HealthConfig
from virtuoso_daemon.core.config.signals import SignalsConfig


class Config(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """The whole daemon configuration."""

    daemon: DaemonConfig = msgspec.field(default_factory=DaemonConfig)
    supervisor: SupervisorConfig = msgspec.field(default_factory=SupervisorConfig)
    bus: BusConfig = msgspec.field(default_factory=BusConfig)
    api: ApiConfig = msgspec.field(default_factory=ApiConfig)
    control: ControlConfig = msgspec.field(default_factory=ControlConfig)
    memcached: MemcachedConfig = msgspec.field(default_factory=MemcachedConfig)
    store: StoreConfig = msgspec.field(default_factory=StoreConfig)
    beta: BetaConfig = msgspec.field(default_factory=BetaConfig)
    demo: DemoConfig = msgspec.field(default_factory=DemoConfig)
    backup: BackupConfig = msgspec.field(default_factory=BackupConfig)
    alerts: AlertsConfig = msgspec.field(default_factory=AlertsConfig)
    health: HealthConfig = msgspec.field(default_factory=HealthConfig)
    signals: SignalsConfig = msgspec.field(default_factory=SignalsConfig)
    exchanges: list[ExchangeConfig] = []


def changed_sections(old: Config, new: Config) -> set[str]:
    """Names of top-level sections whose values differ (what a reload must hand on)."""
    return {f for f in Config.__struct_fields__ if getattr(old, f) != getattr(new, f)}


def default_state_dir(environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    if env.get("STATE_DIRECTORY"):  # systemd StateDirectory=
        return Path(env["STATE_DIRECTORY"].split(":")[0])
    base = env.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "virtuoso"


def default_socket_path(environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    if env.get("XDG_RUNTIME_DIR"):
        return Path(env["XDG_RUNTIME_DIR"]) / "virtuoso" / "control.sock"
    if os.geteuid() == 0:
        return Path("/run/virtuoso/control.sock")
    return Path(f"/tmp/virtuoso-{os.geteuid()}") / "control.sock"


def state_dir(cfg: Config) -> Path:
    return Path(cfg.daemon.state_dir).expanduser() if cfg.daemon.state_dir else default_state_dir()


def memcached_prefix(cfg: Config) -> str:
    """``memcached.key_prefix``, or one derived from this instance's state dir."""
    if cfg.memcached.key_prefix:
        return cfg.memcached.key_prefix
    digest = hashlib.sha256(str(state_dir(cfg).resolve()).encode()).hexdigest()[:8]
    return f"virtuoso:{digest}:"


def socket_path(cfg: Config) -> Path:
    return Path(cfg.daemon.socket).expanduser() if cfg.daemon.socket else default_socket_path()
