"""Semantic checks the types cannot express: names, cross-key relations (a warning
below its critical), host names, groups, cron expressions, ccxt ids and urls."""

from __future__ import annotations

import grp
import ipaddress
import os
import re
import socket
from collections.abc import Mapping
from typing import Any

import msgspec

from virtuoso_daemon.core.config.base import UNIX_SOCKET_PATH_MAX
from virtuoso_daemon.core.config.errors import ConfigError, format_validation
from virtuoso_daemon.core.config.model import Config, socket_path
from virtuoso_daemon.core.config.operations import BACKUP_KINDS, BackupConfig, HealthConfig
from virtuoso_daemon.core.config.signals import SignalsConfig, SignalThresholds


def _check_per_timeframe(key: str, setting: int | dict[str, int], minimum: int) -> None:
    """Every number of a per-timeframe setting is >= ``minimum``; the error names it."""
    table = {"": setting} if isinstance(setting, int) else {f".{k}": v for k, v in setting.items()}
    for suffix, n in table.items():
        if n < minimum:
            raise ConfigError(f"{key}{suffix}: expected >= {minimum}, got {n}")


def _validate_signals(sig: SignalsConfig) -> None:
    from virtuoso_daemon.core.messages import SIGNAL_KINDS

    bad = sorted(set(sig.detectors) - set(SIGNAL_KINDS))
    if bad:
        raise ConfigError(
            f"signals.detectors: unknown {', '.join(bad)}; expected some of "
            f"{', '.join(SIGNAL_KINDS)}"
        )
    for name in ("manipulation", "funding"):
        t = getattr(sig, name)
        if t.warning > t.critical:
            raise ConfigError(f"signals.{name}.warning: must not exceed signals.{name}.critical")
    for symbol, over in sig.overrides.items():
        where = f'signals.overrides."{symbol}"'
        for section, values in over.items():
            if section not in SignalThresholds.__struct_fields__:
                raise ConfigError(f"{where}.{section}: unknown detector table")
            if not isinstance(values, dict):
                raise ConfigError(f"{where}.{section}: expected a table")
        try:
            sig.for_symbol(symbol)
        except msgspec.ValidationError as exc:
            raise ConfigError(f"{where}.{format_validation(exc, {})}") from None


def validate(cfg: Config) -> None:
    """Semantic checks msgspec's types cannot express."""
    _validate_signals(cfg.signals)
    _check_host("daemon.host", cfg.daemon.host)
    _check_group("daemon.socket_group", cfg.daemon.socket_group)
    path_bytes = len(os.fsencode(socket_path(cfg)))
    if path_bytes > UNIX_SOCKET_PATH_MAX:
        raise ConfigError(
            f"daemon.socket: the path is {path_bytes} bytes; "
            f"a Unix socket path takes at most {UNIX_SOCKET_PATH_MAX}"
        )
    _check_per_timeframe("store.candles", cfg.store.candles, 1)
    _validate_backup(cfg.backup)
    dest_names = [d.name for d in cfg.alerts.destinations]
    for i, dest in enumerate(cfg.alerts.destinations):
        if not dest.name or dest_names.count(dest.name) > 1:
            raise ConfigError(f"alerts.destinations[{i}].name: a unique non-empty name is required")
        if dest.backoff_max < dest.backoff_initial:
            raise ConfigError(f"alerts.destinations[{i}].backoff_max: must be >= backoff_initial")
    _validate_health(cfg.health)
    names = [ex.name for ex in cfg.exchanges]
    for i, ex in enumerate(cfg.exchanges):
        if names.count(ex.name) > 1:
            raise ConfigError(f"exchanges[{i}].name: duplicate exchange name {ex.name!r}")
        if not ex.symbols and ex.top_n <= 0:
            raise ConfigError(f"exchanges[{i}].symbols: give symbols or top_n > 0")
        bad_kinds = sorted(set(ex.kinds) - DATA_KINDS)
        if bad_kinds:
            raise ConfigError(
                f"exchanges[{i}].kinds: unknown {', '.join(bad_kinds)}; "
                f"expected some of {', '.join(sorted(DATA_KINDS))}"
            )
        _check_per_timeframe(f"exchanges[{i}].backfill_candles", ex.backfill_candles, 0)
        bad_conflate = sorted(set(ex.conflate) - DATA_KINDS)
        if bad_conflate:
            raise ConfigError(
                f"exchanges[{i}].conflate: unknown {', '.join(bad_conflate)}; "
                f"expected some of {', '.join(sorted(DATA_KINDS))}"
            )
        for kind, seconds in ex.conflate.items():
            if not 0 <= seconds <= 60:
                raise ConfigError(
                    f"exchanges[{i}].conflate.{kind}: expected 0..60 seconds, got {seconds}"
                )
        if ex.ccxt_id not in _ccxt_exchange_ids():
            raise ConfigError(
                f"exchanges[{i}].ccxt_id: {ex.ccxt_id!r} is not a ccxt exchange id "
                "(see ccxt.exchanges)"
            )
        if ex.urls:
            _check_urls(f"exchanges[{i}].urls", ex.urls, _ccxt_urls(ex.ccxt_id), ex.ccxt_id)
        proxies = [k for k in ("http_proxy", "https_proxy", "socks_proxy") if getattr(ex, k)]
        if len(proxies) > 1:
            raise ConfigError(
                f"exchanges[{i}].{proxies[1]}: ccxt takes one REST proxy; {proxies[0]} is set too"
            )


DATA_KINDS = frozenset({"tickers", "ohlcv", "trades", "orderbook"})


def _validate_backup(b: BackupConfig) -> None:
    """Schedule keys are backup kinds and values cron expressions (croniter's syntax)."""
    from croniter import croniter  # type: ignore[import-untyped]  # only when a config is checked

    for kind, expr in b.schedule.items():
        if kind not in BACKUP_KINDS:
            raise ConfigError(
                f"backup.schedule.{kind}: unknown backup kind; "
                f"expected one of {', '.join(BACKUP_KINDS)}"
            )
        if not croniter.is_valid(expr):
            raise ConfigError(f"backup.schedule.{kind}: {expr!r} is not a cron expression")
    if b.key_file and b.key_env:
        raise ConfigError("backup.key_env: give backup.key_file or backup.key_env, not both")


FEED_KINDS = DATA_KINDS | {"funding", "open_interest"}


def _validate_health(h: HealthConfig) -> None:
    """Each warning threshold below its critical one; known data kinds only."""
    pairs = [
        ("api_latency_warning_ms", "api_latency_critical_ms", 1),
        ("data_age_warning", "data_age_critical", 1),
        ("rss_warning_mb", "rss_critical_mb", 1),
        ("system_memory_warning_pct", "system_memory_critical_pct", 1),
        ("cpu_warning_pct", "cpu_critical_pct", 1),
        ("disk_free_warning_pct", "disk_free_critical_pct", -1),  # free space: lower is worse
        ("error_rate_warning", "error_rate_critical", 1),
        ("loop_lag_warning_ms", "loop_lag_critical_ms", 1),
        ("bus_drops_warning", "bus_drops_critical", 1),
        ("backup_missed_warning", "backup_missed_critical", 1),
    ]
    for warn, crit, sign in pairs:
        w, c = getattr(h, warn), getattr(h, crit)
        if (c - w) * sign < 0:
            relation = "<=" if sign > 0 else ">="
            raise ConfigError(f"health.{warn}: expected {relation} health.{crit} ({c}), got {w}")
    bad = sorted(set(h.freshness_kinds) - FEED_KINDS)
    if bad:
        raise ConfigError(
            f"health.freshness_kinds: unknown {', '.join(bad)}; "
            f"expected some of {', '.join(sorted(FEED_KINDS))}"
        )


_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$"
)


def _check_host(key: str, host: str) -> None:
    """An IP address, or a host name that resolves (a bind address must be local)."""
    try:
        ipaddress.ip_address(host)
        return
    except ValueError:
        pass
    if not _HOSTNAME.match(host) or re.fullmatch(r"[\d.]+", host):
        raise ConfigError(f"{key}: {host!r} is neither an IP address nor a host name")
    try:
        socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise ConfigError(f"{key}: cannot resolve {host!r}: {exc.strerror or exc}") from None


def _check_group(key: str, name: str) -> None:
    """An existing group name or a numeric gid ("" = no group)."""
    if not name or name.isdigit():
        return
    try:
        grp.getgrnam(name)
    except KeyError:
        raise ConfigError(f"{key}: no such group {name!r}") from None


def _ccxt_urls(ccxt_id: str) -> dict[str, Any]:
    """The exchange's own ``urls`` (the websocket class's, which adds ``api.ws``)."""
    import ccxt
    import ccxt.pro

    cls = getattr(ccxt.pro, ccxt_id, None) or getattr(ccxt, ccxt_id)
    urls: dict[str, Any] = cls().urls
    return urls


def _check_urls(key: str, given: Mapping[str, Any], known: Mapping[str, Any], ccxt_id: str) -> None:
    """Every key of ``given`` is a key of ccxt's structure where that is a table: a
    mistyped one would be merged in and silently never read."""
    for name, value in given.items():
        if name not in known:
            raise ConfigError(
                f"{key}.{name}: not a key of {ccxt_id}'s urls "
                f"(expected one of: {', '.join(sorted(known))})"
            )
        if isinstance(value, Mapping) and isinstance(known[name], Mapping):
            _check_urls(f"{key}.{name}", value, known[name], ccxt_id)


def _ccxt_exchange_ids() -> frozenset[str]:
    # imported here: ccxt takes ~0.5 s to import and most config users never need it
    import ccxt

    return frozenset(ccxt.exchanges)


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or ``localhost``) only accepts local connections."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a hostname or "" (every interface): assume it is reachable


def validate_exposure(cfg: Config) -> None:
    """Refuse to serve reads to a network without a read token (secrets resolved)."""
    if not is_loopback(cfg.daemon.host) and not cfg.api.read_token:
        raise ConfigError(
            f"api.read_token: required when daemon.host ({cfg.daemon.host!r}) is not a "
            "loopback address (set api.read_token_file, or bind 127.0.0.1)"
        )
