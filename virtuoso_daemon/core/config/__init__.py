"""Configuration: TOML file -> typed msgspec Structs, then env and CLI overrides.

Order of precedence (last wins): built-in defaults, the TOML file, ``VIRTUOSO_*``
environment variables, command-line flags. Every failure is a :class:`ConfigError`
whose message is one line naming the key and what was expected, so an operator sees
``config error: daemon.port: expected int, got str`` instead of a traceback.

Environment overrides use ``VIRTUOSO_<SECTION>__<KEY>`` (double underscore between
levels), e.g. ``VIRTUOSO_DAEMON__PORT=9000`` or ``VIRTUOSO_MEMCACHED__ENABLED=false``.
Values are parsed as TOML literals when they are valid TOML (numbers, booleans,
arrays), otherwise taken as strings.

Secrets (API token, webhook URLs, backup key, exchange keys) may be given inline, by
``*_file`` (read at load time, trailing newline stripped) or by environment variable;
:func:`redacted` replaces them before the config is ever logged or served.

The package: ``base`` (the shared types), the sections by area (``daemon``,
``market``, ``operations``, ``signals``), ``model`` (the whole :class:`Config` and
the paths it resolves to), ``load``, ``validation``, ``errors`` (naming the key) and
``secrecy``. Import from here: every name is re-exported.
"""

from __future__ import annotations

from virtuoso_daemon.core.config.base import (
    ENV_PREFIX,
    REDACTED,
    SECRET_FIELDS,
    UNIX_SOCKET_PATH_MAX,
    Count,
    CountOrNone,
    EventLoopName,
    LogFormat,
    LogLevel,
    MarketType,
    PeerPort,
    Port,
    Positive,
    Seconds,
    SecondsOrOff,
    per_timeframe,
)
from virtuoso_daemon.core.config.daemon import (
    ApiConfig,
    BusConfig,
    ControlConfig,
    DaemonConfig,
    MemcachedConfig,
    SupervisorConfig,
)
from virtuoso_daemon.core.config.errors import (
    ConfigError,
)
from virtuoso_daemon.core.config.load import (
    env_overrides,
    load_config,
)
from virtuoso_daemon.core.config.market import (
    DEFAULT_STORE_CANDLES,
    BetaConfig,
    DemoConfig,
    ExchangeConfig,
    StoreConfig,
)
from virtuoso_daemon.core.config.model import (
    Config,
    changed_sections,
    default_socket_path,
    default_state_dir,
    memcached_prefix,
    socket_path,
    state_dir,
)
from virtuoso_daemon.core.config.operations import (
    BACKUP_KINDS,
    AlertDestination,
    AlertGroupBy,
    AlertsConfig,
    BackupConfig,
    DestinationType,
    HealthConfig,
    Multiple,
    Percent,
)
from virtuoso_daemon.core.config.secrecy import (
    redact,
    redacted,
    resolved,
)
from virtuoso_daemon.core.config.signals import (
    BetaChangeThresholds,
    Fraction,
    FundingThresholds,
    ManipulationThresholds,
    Minutes,
    PriceMoveThresholds,
    Ratio,
    SignalsConfig,
    SignalThresholds,
    VolatilityThresholds,
    VolumeThresholds,
    WallThresholds,
    WhaleThresholds,
)
from virtuoso_daemon.core.config.validation import (
    DATA_KINDS,
    FEED_KINDS,
    is_loopback,
)

__all__ = [
    "BACKUP_KINDS",
    "DATA_KINDS",
    "DEFAULT_STORE_CANDLES",
    "ENV_PREFIX",
    "FEED_KINDS",
    "REDACTED",
    "SECRET_FIELDS",
    "UNIX_SOCKET_PATH_MAX",
    "AlertDestination",
    "AlertGroupBy",
    "AlertsConfig",
    "ApiConfig",
    "BackupConfig",
    "BetaChangeThresholds",
    "BetaConfig",
    "BusConfig",
    "Config",
    "ConfigError",
    "ControlConfig",
    "Count",
    "CountOrNone",
    "DaemonConfig",
    "DemoConfig",
    "DestinationType",
    "EventLoopName",
    "ExchangeConfig",
    "Fraction",
    "FundingThresholds",
    "HealthConfig",
    "LogFormat",
    "LogLevel",
    "ManipulationThresholds",
    "MarketType",
    "MemcachedConfig",
    "Minutes",
    "Multiple",
    "PeerPort",
    "Percent",
    "Port",
    "Positive",
    "PriceMoveThresholds",
    "Ratio",
    "Seconds",
    "SecondsOrOff",
    "SignalThresholds",
    "SignalsConfig",
    "StoreConfig",
    "SupervisorConfig",
    "VolatilityThresholds",
    "VolumeThresholds",
    "WallThresholds",
    "WhaleThresholds",
    "changed_sections",
    "default_socket_path",
    "default_state_dir",
    "env_overrides",
    "is_loopback",
    "load_config",
    "memcached_prefix",
    "per_timeframe",
    "redact",
    "redacted",
    "resolved",
    "socket_path",
    "state_dir",
]
