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
"""

from __future__ import annotations

import grp
import hashlib
import ipaddress
import os
import re
import socket
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec

LogFormat = Literal["json", "text"]
LogLevel = Literal["debug", "info", "warning", "error"]
MarketType = Literal["spot", "linear"]
EventLoopName = Literal["uvloop", "asyncio"]

SECRET_FIELDS = frozenset(
    {
        "token",
        "read_token",
        "api_key",
        "secret",
        "password",
        "webhook_url",
        "backup_key",
        "bot_token",
    }
)
REDACTED = "***"
ENV_PREFIX = "VIRTUOSO_"


# Ranges live in the types (msgspec ``Meta``), so validation is the one place that says
# no; ``extra={"unit": ...}`` only words the error ("expected seconds > 0, got 0").
_SECONDS = {"unit": "seconds"}
Seconds = Annotated[float, msgspec.Meta(gt=0, extra=_SECONDS)]  # a period or timeout
SecondsOrOff = Annotated[float, msgspec.Meta(ge=0, extra=_SECONDS)]  # 0 = off
Count = Annotated[int, msgspec.Meta(ge=1)]  # sizes, counts, limits
CountOrNone = Annotated[int, msgspec.Meta(ge=0)]
Port = Annotated[int, msgspec.Meta(ge=0, le=65535)]  # 0 = any free port
PeerPort = Annotated[int, msgspec.Meta(ge=1, le=65535)]  # a port we connect to
Positive = Annotated[float, msgspec.Meta(gt=0)]
UNIX_SOCKET_PATH_MAX = 107  # sun_path is 108 bytes with the terminating NUL


class ConfigError(Exception):
    """A configuration problem, with a one-line message fit for an operator."""


class _Section(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Base for config sections: unknown keys are an error, not silently ignored."""


class DaemonConfig(_Section):
    """Process-wide settings: where to listen, where to keep state, how to log."""

    host: str = "127.0.0.1"
    port: Port = 8003
    socket: str = ""  # "" -> $XDG_RUNTIME_DIR/virtuoso/control.sock or /run/virtuoso/...
    socket_group: str = ""  # optional group allowed to connect besides the daemon's uid
    state_dir: str = ""  # "" -> $STATE_DIRECTORY, $XDG_STATE_HOME/virtuoso, ~/.local/state/...
    log_level: LogLevel = "info"
    log_format: LogFormat = "text"
    demo: bool = False
    shutdown_timeout: Annotated[float, msgspec.Meta(gt=0, le=4.5, extra=_SECONDS)] = 4.0
    event_loop: EventLoopName = "uvloop"  # or "asyncio" (the standard library's)
    # seconds between full garbage collections, each run when the bus is quiet
    # (gc_policy.py); 0 leaves them to CPython, which runs them mid-burst
    gc_every: SecondsOrOff = 30.0


class SupervisorConfig(_Section):
    """Restart policy for crashed actors (one-for-one)."""

    backoff_initial: Seconds = 0.5
    backoff_max: Seconds = 30.0
    intensity: Count = 5  # crashes ...
    period: Seconds = 60.0  # ... within this many seconds mark the actor failed
    # an actor that has not reported started after this many seconds fails the start
    start_timeout: Seconds = 60.0


class BusConfig(_Section):
    """Per-subscriber queue sizes on the in-process message bus."""

    lossy_queue: Count = 1024
    lossless_queue: Count = 64


class ApiConfig(_Section):
    """HTTP API settings. The token guards every state-changing endpoint; the read
    token (required when the API binds a non-loopback address) guards the rest."""

    token: str = ""
    token_file: str = ""
    read_token: str = ""
    read_token_file: str = ""
    cors_origins: list[str] = []
    # request limits: body, one header line, the request line (path + query string)
    max_body_bytes: Annotated[int, msgspec.Meta(ge=1024, le=64 << 20)] = 1 << 20
    max_header_bytes: Annotated[int, msgspec.Meta(ge=1024, le=1 << 16)] = 8190
    max_url_bytes: Annotated[int, msgspec.Meta(ge=256, le=1 << 16)] = 8190
    # log records kept in memory for /api/system/logs and `virtuoso-ctl logs`
    recent_logs: Annotated[int, msgspec.Meta(ge=100, le=100_000)] = 2000
    # a connection without a complete request (idle, or trickling its headers) for this
    # long is closed; also the keep-alive between requests
    keepalive_timeout: Seconds = 15.0
    max_connections: Annotated[int, msgspec.Meta(ge=1, le=65536)] = 512  # beyond: 503
    # serve from a thread of its own (requests do not wait for the feeds' bursts on
    # the main loop, at the cost of GIL hand-overs: docs/market.md) or from the main
    # event loop (higher throughput under load, waits behind bursts)
    thread: bool = True


class ControlConfig(_Section):
    """Control-socket limits: no client can hold the slots or the memory hostage."""

    max_clients: Annotated[int, msgspec.Meta(ge=1, le=4096)] = 128
    # a client with no subscription that sends nothing for this long is closed (0 = never)
    idle_timeout: SecondsOrOff = 300.0
    # a client the daemon has output for that reads nothing for this long is closed
    write_timeout: Seconds = 10.0
    # bytes queued for one client, and for all of them; events beyond are dropped
    # (counted, and told with _dropped), replies wait for room
    session_bytes: Annotated[int, msgspec.Meta(ge=64 * 1024)] = 1 << 20
    total_bytes: Annotated[int, msgspec.Meta(ge=64 * 1024)] = 32 << 20


class MemcachedConfig(_Section):
    """The cross-process read model in memcached (key scheme in the README)."""

    enabled: bool = True
    host: str = "127.0.0.1"
    port: PeerPort = 11211
    # "" -> "virtuoso:<8 hex digits of the resolved state dir>:", so two daemons on one
    # machine never serve each other's tickers (see memcached_prefix)
    key_prefix: str = ""
    # memcached reads a ttl over 30 days as a Unix time (long past: expired at once)
    ttl: Annotated[int, msgspec.Meta(ge=0, le=30 * 86400, extra=_SECONDS)] = 300
    pool_size: Count = 4
    reconnect_initial: Seconds = 0.5
    reconnect_max: Seconds = 10.0
    flush_interval: Seconds = 0.25


def per_timeframe(setting: int | dict[str, int], timeframe: str, default: int) -> int:
    """A setting given as one number or as a table by timeframe (``"*"``: the others)."""
    if isinstance(setting, int):
        return setting
    return setting.get(timeframe, setting.get("*", default))


def _check_per_timeframe(key: str, setting: int | dict[str, int], minimum: int) -> None:
    """Every number of a per-timeframe setting is >= ``minimum``; the error names it."""
    table = {"": setting} if isinstance(setting, int) else {f".{k}": v for k, v in setting.items()}
    for suffix, n in table.items():
        if n < minimum:
            raise ConfigError(f"{key}{suffix}: expected >= {minimum}, got {n}")


class ExchangeConfig(_Section):
    """One exchange feed: which ccxt exchange, which market type, which symbols."""

    name: str
    ccxt_id: str = "binance"
    market: MarketType = "spot"
    symbols: list[str] = []  # explicit list, or empty with top_n > 0
    top_n: CountOrNone = 0
    quote: str = "USDT"
    top_refresh: Seconds = 3600.0
    streaming: bool = True
    timeframes: list[str] = msgspec.field(default_factory=lambda: ["1m", "1h", "4h", "1d"])
    # candles of history fetched per series at start: one number for every timeframe,
    # or a table by timeframe ("*" for the others). The defaults cover the analytics
    # windows (90 days of 1h = 2160, of 4h = 540, of 1d = 90) and 12 h of 1m.
    backfill_candles: int | dict[str, int] = msgspec.field(
        default_factory=lambda: {"1m": 720, "1h": 2200, "4h": 600, "1d": 120, "*": 1000}
    )
    poll_interval: Seconds = 2.0
    silent_timeout: Seconds = 30.0
    markets_refresh: Seconds = 6 * 3600.0
    backoff_initial: Seconds = 1.0
    backoff_max: Seconds = 60.0
    timeout_ms: Count = 10_000
    # deep-merged into ccxt's urls / options (demo mode points urls at the simulator);
    # every key inside urls must be one of the exchange's own (checked at load)
    urls: dict[str, Any] = {}
    options: dict[str, Any] = {}
    # ccxt's proxy settings (one of http/https/socks for REST; ws_proxy for websockets)
    http_proxy: str = ""
    https_proxy: str = ""
    socks_proxy: str = ""
    ws_proxy: str = ""
    headers: dict[str, str] = {}  # extra HTTP headers on every REST request
    sandbox: bool = False  # the exchange's testnet (ccxt set_sandbox_mode) before urls
    api_key: str = ""
    api_key_file: str = ""
    secret: str = ""
    secret_file: str = ""
    # data kinds to collect; perps add funding and open_interest on their own
    kinds: list[str] = msgspec.field(
        default_factory=lambda: ["tickers", "ohlcv", "trades", "orderbook"]
    )
    stream_retry: Seconds = 60.0  # after falling back to REST, try streaming again after this
    derivatives_refresh: Seconds = 60.0  # funding and open interest poll period (perps)
    orderbook_levels: Annotated[int, msgspec.Meta(ge=1, le=1000)] = (
        5  # levels per side in OrderBookTop
    )
    depth_pct: Annotated[float, msgspec.Meta(gt=0, le=100)] = (
        1.0  # depth summary band around mid, percent
    )
    rate_limit_ms: CountOrNone = 0  # ccxt rateLimit override; 0 = ccxt's value for the exchange
    # seconds between two publications of a streamed kind (the newest state then);
    # tickers are published on every update whatever this says for them
    conflate: dict[str, float] = msgspec.field(
        default_factory=lambda: {"ohlcv": 0.5, "orderbook": 0.25, "trades": 0.1}
    )

    def backfill_for(self, timeframe: str) -> int:
        """Candles of history to fetch for one timeframe (see ``backfill_candles``)."""
        return per_timeframe(self.backfill_candles, timeframe, 0)

    def backfill_max(self) -> int:
        return max((self.backfill_for(tf) for tf in self.timeframes), default=0)


DEFAULT_STORE_CANDLES = 2400  # a table without "*" keeps this many of the others


class StoreConfig(_Section):
    """Market store sizes: candles kept per symbol and timeframe, trades, books."""

    # candles kept per series: one number, or a table by timeframe ("*" for the
    # others). 2 400 covers the 90-day beta windows of 1h (2 161 closes); 1 440 1m
    # candles are a day (2 400 would be 40 h, +24 MB at 300 markets once filled).
    candles: int | dict[str, int] = msgspec.field(default_factory=lambda: {"1m": 1440, "*": 2400})
    trades: Count = 500
    persist_interval: Seconds = 60.0

    def candles_for(self, timeframe: str) -> int:
        """Candles kept per series of one timeframe (see ``candles``)."""
        return per_timeframe(self.candles, timeframe, DEFAULT_STORE_CANDLES)


class BetaConfig(_Section):
    """Beta calculator: which timeframes and windows to compute."""

    benchmark: str = "BTC/USDT"
    windows: dict[str, list[str]] = msgspec.field(
        default_factory=lambda: {"1h": ["7d", "30d", "90d"], "4h": ["30d", "90d"], "1d": ["90d"]}
    )
    min_obs: Annotated[int, msgspec.Meta(ge=2)] = 30  # a regression needs two points
    history: Count = 500


DestinationType = Literal["webhook", "discord", "slack", "telegram"]
AlertGroupBy = Literal["kind", "severity", "exchange", "symbol"]


class AlertDestination(_Section):
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


class AlertsConfig(_Section):
    """The alert manager: lifecycle, grouping, inhibition, storage, destinations."""

    repeat_interval: Annotated[float, msgspec.Meta(gt=0, le=30 * 86400)] = 3600.0
    group_wait: SecondsOrOff = 60.0
    group_interval: SecondsOrOff = 300.0
    group_by: list[AlertGroupBy] = msgspec.field(default_factory=lambda: ["kind"])
    inhibit_feed_down: bool = True
    retention_days: Annotated[float, msgspec.Meta(gt=0, le=3650)] = 30.0
    tick: Annotated[float, msgspec.Meta(gt=0, le=60)] = 1.0
    destinations: list[AlertDestination] = []


class DemoConfig(_Section):
    """The built-in simulated exchange started by ``--demo``."""

    seed: CountOrNone = 42  # numpy seeds are >= 0
    n_alts: Annotated[int, msgspec.Meta(ge=0, le=1000)] = 40
    speed: Positive = 1.0
    port: Port = 0  # 0 = any free port
    perpetuals: bool = True
    # the API the perpetuals feed reads: "binance" (binanceusdm) or "okx" (OKX v5 USDT
    # swaps); spot is always Binance, so "okx" runs two exchanges in one daemon
    perp_dialect: Literal["binance", "okx"] = "binance"


BACKUP_KINDS: tuple[str, ...] = ("critical", "full", "config", "data", "remote", "auto")


class BackupConfig(_Section):
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


class HealthConfig(_Section):
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


Ratio = Annotated[float, msgspec.Meta(ge=0)]
Fraction = Annotated[float, msgspec.Meta(ge=0, le=1)]
Minutes = Annotated[int, msgspec.Meta(ge=1, le=1440)]


class PriceMoveThresholds(_Section):
    """Percent moves that fire, per window; twice the threshold is critical."""

    pct_5m: Positive = 2.0
    pct_15m: Positive = 3.5
    pct_60m: Positive = 6.0


class VolatilityThresholds(_Section):
    ratio: Positive = 3.0  # RMS of recent 1m returns over the baseline's RMS
    recent: Annotated[int, msgspec.Meta(ge=2, le=60)] = 5  # minutes
    baseline: Annotated[int, msgspec.Meta(ge=20, le=720)] = 60  # minutes before them


class VolumeThresholds(_Section):
    ratio: Positive = 8.0  # a 1m volume over the baseline's median
    baseline: Annotated[int, msgspec.Meta(ge=20, le=720)] = 60  # minutes


class WhaleThresholds(_Section):
    min_usd: Ratio = 100_000.0  # quote value at least this ...
    k_sigma: Ratio = 4.5  # ... and this many robust sigmas above recent log sizes (0 = off)
    sample: Annotated[int, msgspec.Meta(ge=30, le=100_000)] = 500  # recent trades measured
    burst_seconds: Seconds = 10.0  # same-side trades summed over this window ...
    burst_min_usd: Ratio = 500_000.0  # ... fire at this quote value ...
    burst_factor: Positive = 10.0  # ... and this multiple of the side's usual flow


class WallThresholds(_Section):
    min_ratio: Positive = 50.0  # level size over the side's median level size
    min_usd: Ratio = 100_000.0  # and at least this quote value
    imbalance: Annotated[float, msgspec.Meta(gt=0, le=1)] = 0.75  # |bid-ask|/(bid+ask)
    imbalance_seconds: SecondsOrOff = 60.0  # held this long before it fires


class ManipulationThresholds(_Section):
    warning: Fraction = 0.6  # score in [0, 1]
    critical: Fraction = 0.8
    windows: list[Minutes] = msgspec.field(default_factory=lambda: [5, 15, 60])
    baseline: Annotated[int, msgspec.Meta(ge=10, le=720)] = 60  # minutes of usual volume
    weight_oi: Fraction = 0.3
    weight_volume: Fraction = 0.2
    weight_price: Fraction = 0.2
    weight_divergence: Fraction = 0.3


class BetaChangeThresholds(_Section):
    change: Positive = 0.5  # |beta - beta lookback ago|
    lookback: Seconds = 86_400.0


class FundingThresholds(_Section):
    warning: Positive = 0.001  # |rate| per funding interval (0.001 = 0.1 %)
    critical: Positive = 0.003


class SignalThresholds(_Section):
    """Every detector's thresholds: ``[signals.<detector>]`` and per-symbol overrides."""

    price_move: PriceMoveThresholds = msgspec.field(default_factory=PriceMoveThresholds)
    volatility: VolatilityThresholds = msgspec.field(default_factory=VolatilityThresholds)
    volume: VolumeThresholds = msgspec.field(default_factory=VolumeThresholds)
    whales: WhaleThresholds = msgspec.field(default_factory=WhaleThresholds)
    walls: WallThresholds = msgspec.field(default_factory=WallThresholds)
    manipulation: ManipulationThresholds = msgspec.field(default_factory=ManipulationThresholds)
    beta: BetaChangeThresholds = msgspec.field(default_factory=BetaChangeThresholds)
    funding: FundingThresholds = msgspec.field(default_factory=FundingThresholds)


class SignalsConfig(SignalThresholds):
    """The signals actor: which detectors run and their thresholds.

    ``overrides`` maps a unified symbol to partial detector tables, e.g.
    ``[signals.overrides."BTC/USDT".whales] min_usd = 1000000``; what a symbol's table
    leaves out comes from the section above (:meth:`for_symbol`).
    """

    enabled: bool = True
    detectors: list[str] = msgspec.field(
        default_factory=lambda: [
            "price_move",
            "volatility_breakout",
            "volume_spike",
            "whale_trade",
            "wall",
            "book_imbalance",
            "manipulation",
            "regime_change",
            "beta_change",
            "funding_extreme",
        ]
    )
    recent: Annotated[int, msgspec.Meta(ge=1, le=10_000)] = 200  # events kept per view
    overrides: dict[str, dict[str, dict[str, Any]]] = {}

    def for_symbol(self, symbol: str) -> SignalThresholds:
        """The thresholds of ``symbol``: the section's, with its overrides applied."""
        over = self.overrides.get(symbol)
        base = SignalThresholds(**{f: getattr(self, f) for f in SignalThresholds.__struct_fields__})
        if not over:
            return base
        data = msgspec.to_builtins(base)
        for section, values in over.items():
            data[section] = {**data.get(section, {}), **values}
        return msgspec.convert(data, SignalThresholds)


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


_LOC = re.compile(r"^(?P<msg>.*?)(?: - at `\$(?P<path>[^`]*)`)?$")


def _format_validation(err: msgspec.ValidationError, data: Mapping[str, Any]) -> str:
    """Turn msgspec's ``Expected `int`, got `str` - at `$.daemon.port``` into one line."""
    m = _LOC.match(str(err))
    msg, path = (m.group("msg"), m.group("path") or "") if m else (str(err), "")
    path = path.lstrip(".")
    unknown = re.match(r"Object contains unknown field `([^`]+)`", msg)
    if unknown:
        key = f"{path}.{unknown.group(1)}" if path else unknown.group(1)
        return f"{key}: unknown key (check spelling; see config/virtuoso.toml)"
    missing = re.match(r"Object missing required field `([^`]+)`", msg)
    if missing:
        key = f"{path}.{missing.group(1)}" if path else missing.group(1)
        return f"{key}: required key is missing"
    if re.match(r"Expected `\w+` [<>]=? ", msg):
        ranged = _range_message(path, data)
        if ranged:
            return f"{path}: {ranged}"
    msg = msg.replace("`", "")
    msg = msg[0].lower() + msg[1:] if msg else msg
    if msg.startswith("invalid enum value"):
        choices = _literal_choices(path)
        if choices:
            msg += f" (expected one of: {', '.join(map(repr, choices))})"
    return f"{path or '(top level)'}: {msg}"


def _range_message(path: str, data: Mapping[str, Any]) -> str:
    """``expected seconds > 0, got 0`` from the ``Meta`` of the field at ``path``."""
    metas = [
        m for m in getattr(_field_type(path), "__metadata__", ()) if isinstance(m, msgspec.Meta)
    ]
    if not metas:
        return ""
    meta = metas[0]
    unit = (meta.extra or {}).get("unit", "")
    if meta.ge is not None and meta.le is not None:
        wanted = f"{meta.ge}..{meta.le}" + (f" {unit}" if unit else "")
    else:
        bounds = [("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")]
        parts = [f"{op} {getattr(meta, b)}" for b, op in bounds if getattr(meta, b) is not None]
        wanted = (f"{unit} " if unit else "") + " and ".join(parts)
    got = _value_at(data, path)
    return f"expected {wanted}" + ("" if got is _MISSING else f", got {got!r}")


_MISSING = object()


def _path_parts(path: str) -> list[str | int]:
    """``exchanges[0].poll_interval`` -> ``["exchanges", 0, "poll_interval"]``."""
    out: list[str | int] = []
    for part in path.split("."):
        m = re.match(r"^([^\[]*)((?:\[\d+\])*)$", part)
        if m is None:
            return []
        out.append(m.group(1))
        out += [int(i) for i in re.findall(r"\[(\d+)\]", m.group(2))]
    return out


def _value_at(data: Any, path: str) -> Any:
    node = data
    for part in _path_parts(path):
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return _MISSING
    return node


def _field_type(path: str) -> Any:
    """The annotation (``Annotated`` extras kept) of the config field at ``a.b[0].c``."""
    tp: Any = Config
    for part in path.split("."):
        name = re.sub(r"(\[\d+\])+$", "", part)
        hints = typing.get_type_hints(tp, include_extras=True) if isinstance(tp, type) else {}
        if name not in hints:
            return None
        tp = hints[name]
        if part != path.split(".")[-1]:
            tp = _unwrap(tp)
    return tp


def _unwrap(tp: Any) -> Any:
    """The struct or literal inside ``Annotated[X, ...]``, ``list[X]``, ``X | None``."""
    while True:
        origin = typing.get_origin(tp)
        if origin is Annotated:
            tp = typing.get_args(tp)[0]
        elif origin in (list, typing.Union, types.UnionType):
            tp = next(a for a in typing.get_args(tp) if a is not type(None))
        else:
            return tp


def _literal_choices(path: str) -> tuple[Any, ...]:
    """The allowed values of the ``Literal`` field at ``path`` (``a.b[0].c``), if any."""
    tp = _unwrap(_field_type(path))
    return typing.get_args(tp) if typing.get_origin(tp) is Literal else ()


def _parse_env_value(raw: str) -> Any:
    try:
        return msgspec.toml.decode(f"v = {raw}".encode())["v"]
    except msgspec.DecodeError:
        return raw


def _set_path(tree: dict[str, Any], path: list[str], value: Any) -> None:
    node = tree
    for part in path[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"{'.'.join(path)}: cannot override inside a non-table value")
        node = child
    node[path[-1]] = value


def env_overrides(environ: Mapping[str, str]) -> dict[str, Any]:
    """Collect ``VIRTUOSO_SECTION__KEY=value`` variables into a nested dict."""
    tree: dict[str, Any] = {}
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX) or "__" not in name:
            continue
        path = [p.lower() for p in name[len(ENV_PREFIX) :].split("__")]
        if not all(path):
            continue
        _set_path(tree, path, _parse_env_value(raw))
    return tree


def _merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _read_secret_file(key: str, path: str) -> str:
    try:
        return Path(path).expanduser().read_text().strip()
    except OSError as exc:
        raise ConfigError(f"{key}: cannot read secret file {path!r}: {exc.strerror}") from None


def _resolve_secrets(cfg: Config) -> Config:
    api = cfg.api
    if api.token_file and not api.token:
        api = msgspec.structs.replace(
            api, token=_read_secret_file("api.token_file", api.token_file)
        )
    if api.read_token_file and not api.read_token:
        api = msgspec.structs.replace(
            api, read_token=_read_secret_file("api.read_token_file", api.read_token_file)
        )
    exchanges = []
    for i, ex in enumerate(cfg.exchanges):
        if ex.api_key_file and not ex.api_key:
            ex = msgspec.structs.replace(
                ex, api_key=_read_secret_file(f"exchanges[{i}].api_key_file", ex.api_key_file)
            )
        if ex.secret_file and not ex.secret:
            ex = msgspec.structs.replace(
                ex, secret=_read_secret_file(f"exchanges[{i}].secret_file", ex.secret_file)
            )
        exchanges.append(ex)
    alerts = msgspec.structs.replace(cfg.alerts, destinations=_resolve_destinations(cfg.alerts))
    return msgspec.structs.replace(cfg, api=api, exchanges=exchanges, alerts=alerts)


def _secret(dest: Any, key: str, field: str) -> str:
    """``field`` of an alert destination: inline, else ``<field>_file``, else the
    environment variable named by ``<field>_env``."""
    value: str = getattr(dest, field)
    path, env = getattr(dest, f"{field}_file"), getattr(dest, f"{field}_env")
    if not value and path:
        value = _read_secret_file(f"{key}.{field}_file", path)
    if not value and env:
        value = os.environ.get(env, "")
        if not value:
            raise ConfigError(f"{key}.{field}_env: environment variable {env!r} is not set")
    return value


def _check_url(key: str, url: str) -> None:
    # never echo the URL: it carries the webhook's secret
    if not re.match(r"^https?://[^/\s]+", url):
        raise ConfigError(f"{key}: expected an http:// or https:// URL")


def _resolve_destinations(alerts: AlertsConfig) -> list[AlertDestination]:
    out = []
    for i, d in enumerate(alerts.destinations):
        key = f"alerts.destinations[{i}]"
        if d.type == "telegram":
            token = _secret(d, key, "bot_token")
            if not token:
                raise ConfigError(f"{key}.bot_token: required for a telegram destination")
            if not d.chat_id:
                raise ConfigError(f"{key}.chat_id: required for a telegram destination")
            _check_url(f"{key}.api_url", d.api_url)
            d = msgspec.structs.replace(d, bot_token=token)
        else:
            url = _secret(d, key, "webhook_url")
            if not url:
                raise ConfigError(f"{key}.webhook_url: required for a {d.type} destination")
            _check_url(f"{key}.webhook_url", url)
            d = msgspec.structs.replace(d, webhook_url=url)
        out.append(d)
    return out


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
            raise ConfigError(f"{where}.{_format_validation(exc, {})}") from None


def _validate(cfg: Config) -> None:
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


def load_config(
    path: str | Path | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Config:
    """Load and validate the configuration; raises :class:`ConfigError` with one line."""
    data: dict[str, Any] = {}
    if path is not None:
        p = Path(path).expanduser()
        try:
            raw = p.read_bytes()
        except OSError as exc:
            raise ConfigError(f"cannot read config file {str(p)!r}: {exc.strerror}") from None
        try:
            data = msgspec.toml.decode(raw)
        except msgspec.DecodeError as exc:
            raise ConfigError(f"{p}: invalid TOML: {exc}") from None
    data = _merge(data, env_overrides(os.environ if environ is None else environ))
    if overrides:
        data = _merge(data, overrides)
    try:
        cfg = msgspec.convert(data, Config)
    except msgspec.ValidationError as exc:
        raise ConfigError(_format_validation(exc, data)) from None
    _validate(cfg)
    cfg = _resolve_secrets(cfg)
    _validate_exposure(cfg)
    return cfg


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or ``localhost``) only accepts local connections."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a hostname or "" (every interface): assume it is reachable


def _validate_exposure(cfg: Config) -> None:
    """Refuse to serve reads to a network without a read token (secrets resolved)."""
    if not is_loopback(cfg.daemon.host) and not cfg.api.read_token:
        raise ConfigError(
            f"api.read_token: required when daemon.host ({cfg.daemon.host!r}) is not a "
            "loopback address (set api.read_token_file, or bind 127.0.0.1)"
        )


def redact(value: Any) -> Any:
    """Replace every secret-named field in a plain (builtins) tree by ``***``."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            secret = k in SECRET_FIELDS or (k.endswith("_file") and k[:-5] in SECRET_FIELDS)
            out[k] = (REDACTED if v else "") if secret else redact(v)
        return out
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


def redacted(cfg: Config) -> dict[str, Any]:
    """The config as plain data with secrets removed: safe to log or serve."""
    out: dict[str, Any] = redact(msgspec.to_builtins(cfg))
    return out


def resolved(cfg: Config) -> dict[str, Any]:
    """:func:`redacted` with the paths and names the daemon will really use filled in
    where the config leaves them to defaults (what ``--check-config`` prints)."""
    doc = redacted(cfg)
    doc["daemon"]["socket"] = str(socket_path(cfg))
    doc["daemon"]["state_dir"] = str(state_dir(cfg))
    doc["memcached"]["key_prefix"] = memcached_prefix(cfg)
    return doc


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
