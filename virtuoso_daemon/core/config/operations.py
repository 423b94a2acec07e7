"""Sections of operations: alert delivery, backups and the health monitor."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from virtuoso_daemon.core.config.base import Seconds, SecondsOrOff, Section

DestinationType = Literal["webhook", "discord", "slack", "telegram"]
AlertGroupBy = Literal["kind", "severity", "exchange", "symbol"]


class AlertDestination(Section):
    """Where alerts are delivered: a generic JSON webhook, Discord, Slack or Telegram.

    Secrets (``webhook_url``, ``bot_token``) inline, from a file (``*_file``) or from
    an environment variable named by ``*_env``; never logged or served."""

    name: str
    type: DestinationType = "webhook"
    webhook_url: str = ""  # webhook, discord, slack
    webhook_url_file: str = ""
    webhook_url_env: str = ""
    bot_token: str = ""  # telegram
    bot_token_file: str = ""
    bot_token_env: str = ""
    chat_id: str = ""  # telegram
    api_url: str = "https://api.telegram.org"  # telegram's Bot API base
    enabled: bool = True
    min_severity: Literal["info", "warning", "critical"] = "info"
    kinds: list[str] = []  # only these kinds (empty: all)
    timeout: Annotated[float, msgspec.Meta(gt=0, le=300)] = 10.0
    rate_limit: Annotated[float, msgspec.Meta(gt=0, le=6000)] = 20.0  # messages a minute
    max_attempts: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 12
    backoff_initial: Annotated[float, msgspec.Meta(gt=0, le=3600)] = 1.0
    backoff_max: Annotated[float, msgspec.Meta(gt=0, le=86400)] = 300.0


class AlertsConfig(Section):
    """The alert manager: lifecycle, grouping, inhibition, storage, destinations."""

    repeat_interval: Annotated[float, msgspec.Meta(gt=0, le=30 * 86400)] = 3600.0
    group_wait: SecondsOrOff = 60.0
    group_interval: SecondsOrOff = 300.0
    group_by: list[AlertGroupBy] = msgspec.field(default_factory=lambda: ["kind"])
    inhibit_feed_down: bool = True
    retention_days: Annotated[float, msgspec.Meta(gt=0, le=3650)] = 30.0
    tick: Annotated[float, msgspec.Meta(gt=0, le=60)] = 1.0
    destinations: list[AlertDestination] = []


BACKUP_KINDS: tuple[str, ...] = ("critical", "full", "config", "data", "remote", "auto")


class BackupConfig(Section):
    """Backups: where, how (compression, encryption), when (cron per kind), how long."""

    dir: str = ""  # "" -> <state_dir>/backups
    # cron expressions in local time, one per kind; {} turns the scheduler off
    schedule: dict[str, str] = msgspec.field(
        default_factory=lambda: {"auto": "0 3 * * *", "critical": "30 3 * * 0"}
    )
    keep_last: Annotated[int, msgspec.Meta(ge=1, le=10_000)] = 7  # per kind ...
    keep_days: Annotated[float, msgspec.Meta(ge=0)] = 7.0  # ... and everything younger
    compression: Literal["none", "zstd"] = "zstd"
    zstd_level: Annotated[int, msgspec.Meta(ge=1, le=19)] = 3
    encrypt: bool = False
    key_file: str = ""  # 32-byte key (raw, hex or base64); never in this file
    key_env: str = ""  # or the name of an environment variable holding it
    remote: str = ""  # rsync destination: rsync://host[:port]/module/path or host:/path
    rsync_args: list[str] = []
    remote_timeout: Annotated[float, msgspec.Meta(gt=0)] = 600.0
    auto_full_days: Annotated[float, msgspec.Meta(ge=0)] = 7.0
    min_free_mb: Annotated[int, msgspec.Meta(ge=0)] = 1024
    logs_dir: str = ""  # "" -> <state_dir>/logs
    logs_days: Annotated[float, msgspec.Meta(ge=0)] = 3.0


Percent = Annotated[float, msgspec.Meta(ge=0, le=100)]
Multiple = Annotated[float, msgspec.Meta(gt=0, le=100)]  # of another setting


class HealthConfig(Section):
    """The health monitor: how often it sweeps, its thresholds (warning < critical),
    and the hold-down that keeps a flapping check from spamming alerts."""

    interval: Annotated[float, msgspec.Meta(ge=0.2, le=300)] = 10.0  # periodic sweep, s
    # a worse status must hold this long before it counts (a blip is not an alert) ...
    confirm: Annotated[float, msgspec.Meta(ge=0, le=600)] = 2.0
    # ... and a better one this long before the check recovers (flapping stays raised)
    recover: Annotated[float, msgspec.Meta(ge=0, le=3600)] = 15.0
    api_timeout: Seconds = 2.0  # the self-probe of the HTTP API gives up after this
    api_latency_warning_ms: Annotated[float, msgspec.Meta(gt=0)] = 250.0
    api_latency_critical_ms: Annotated[float, msgspec.Meta(gt=0)] = 1000.0
    cache_down_critical: Seconds = 60.0  # memcached down longer than this is critical
    # data age per exchange and kind, as a multiple of the feed's silent_timeout
    data_age_warning: Multiple = 0.5
    data_age_critical: Multiple = 1.0
    freshness_kinds: list[str] = msgspec.field(
        default_factory=lambda: ["tickers", "ohlcv", "trades", "orderbook"]
    )
    rss_warning_mb: Annotated[float, msgspec.Meta(gt=0)] = 1536.0
    rss_critical_mb: Annotated[float, msgspec.Meta(gt=0)] = 3072.0
    system_memory_warning_pct: Percent = 90.0
    system_memory_critical_pct: Percent = 97.0
    cpu_warning_pct: Annotated[float, msgspec.Meta(gt=0)] = 80.0  # of one core
    cpu_critical_pct: Annotated[float, msgspec.Meta(gt=0)] = 150.0
    disk_free_warning_pct: Percent = 10.0
    disk_free_critical_pct: Percent = 3.0
    disk_paths: list[str] = []  # checked besides the state dir and the backup dir
    error_rate_warning: Annotated[float, msgspec.Meta(ge=0)] = 5.0  # errors per minute
    error_rate_critical: Annotated[float, msgspec.Meta(ge=0)] = 30.0
    loop_lag_warning_ms: Annotated[float, msgspec.Meta(gt=0)] = 250.0
    loop_lag_critical_ms: Annotated[float, msgspec.Meta(gt=0)] = 2000.0
    bus_drops_warning: Annotated[float, msgspec.Meta(ge=0)] = 100.0  # per minute, actors
    bus_drops_critical: Annotated[float, msgspec.Meta(ge=0)] = 5000.0
    # the event_loop check grades the worst timer lateness of this many seconds
    loop_lag_window: Annotated[float, msgspec.Meta(ge=1, le=600)] = 30.0
    # scheduled backups (backup.schedule): a cron time more than backup_grace seconds
    # ago with no completed backup covering its kind since then is a missed run
    backup_grace: Annotated[float, msgspec.Meta(ge=0, le=7 * 86400)] = 7200.0
    backup_missed_warning: Annotated[int, msgspec.Meta(ge=1, le=100)] = 1
    backup_missed_critical: Annotated[int, msgspec.Meta(ge=1, le=100)] = 2
    history: Annotated[int, msgspec.Meta(ge=1, le=10_000)] = 200  # transitions kept
    # WATCHDOG=1 only while no actor has failed and the loop lag is below critical
    watchdog_gate: bool = True
