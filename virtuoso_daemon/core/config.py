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

import ipaddress
import os
import re
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
    {"token", "read_token", "api_key", "secret", "password", "webhook_url", "backup_key"}
)
REDACTED = "***"
ENV_PREFIX = "VIRTUOSO_"


class ConfigError(Exception):
    """A configuration problem, with a one-line message fit for an operator."""


class _Section(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Base for config sections: unknown keys are an error, not silently ignored."""


class DaemonConfig(_Section):
    """Process-wide settings: where to listen, where to keep state, how to log."""

    host: str = "127.0.0.1"
    port: int = 8003
    socket: str = ""  # "" -> $XDG_RUNTIME_DIR/virtuoso/control.sock or /run/virtuoso/...
    socket_group: str = ""  # optional group allowed to connect besides the daemon's uid
    state_dir: str = ""  # "" -> $STATE_DIRECTORY, $XDG_STATE_HOME/virtuoso, ~/.local/state/...
    log_level: LogLevel = "info"
    log_format: LogFormat = "text"
    demo: bool = False
    shutdown_timeout: float = 4.0
    event_loop: EventLoopName = "uvloop"  # or "asyncio" (the standard library's)
    # seconds between full garbage collections, each run when the bus is quiet
    # (gc_policy.py); 0 leaves them to CPython, which runs them mid-burst
    gc_every: float = 30.0


class SupervisorConfig(_Section):
    """Restart policy for crashed actors (one-for-one)."""

    backoff_initial: float = 0.5
    backoff_max: float = 30.0
    intensity: int = 5  # crashes ...
    period: float = 60.0  # ... within this many seconds mark the actor failed
    # an actor that has not reported started after this many seconds fails the start
    start_timeout: float = 60.0


class BusConfig(_Section):
    """Per-subscriber queue sizes on the in-process message bus."""

    lossy_queue: int = 1024
    lossless_queue: int = 64


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
    # serve from a thread of its own (requests do not wait for the feeds' bursts on
    # the main loop, at the cost of GIL hand-overs: docs/market.md) or from the main
    # event loop (higher throughput under load, waits behind bursts)
    thread: bool = True


class MemcachedConfig(_Section):
    """The cross-process read model in memcached (key scheme in the README)."""

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = 11211
    key_prefix: str = "virtuoso:"
    ttl: int = 300
    pool_size: int = 4
    reconnect_initial: float = 0.5
    reconnect_max: float = 10.0
    flush_interval: float = 0.25


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
    top_n: int = 0
    quote: str = "USDT"
    top_refresh: float = 3600.0
    streaming: bool = True
    timeframes: list[str] = msgspec.field(default_factory=lambda: ["1m", "1h", "4h", "1d"])
    # candles of history fetched per series at start: one number for every timeframe,
    # or a table by timeframe ("*" for the others). The defaults cover the analytics
    # windows (90 days of 1h = 2160, of 4h = 540, of 1d = 90) and 12 h of 1m.
    backfill_candles: int | dict[str, int] = msgspec.field(
        default_factory=lambda: {"1m": 720, "1h": 2200, "4h": 600, "1d": 120, "*": 1000}
    )
    poll_interval: float = 2.0
    silent_timeout: float = 30.0
    markets_refresh: float = 6 * 3600.0
    backoff_initial: float = 1.0
    backoff_max: float = 60.0
    timeout_ms: int = 10_000
    urls: dict[str, Any] = {}  # deep-merged into ccxt's urls (used by demo mode)
    options: dict[str, Any] = {}
    api_key: str = ""
    api_key_file: str = ""
    secret: str = ""
    secret_file: str = ""
    # data kinds to collect; perps add funding and open_interest on their own
    kinds: list[str] = msgspec.field(
        default_factory=lambda: ["tickers", "ohlcv", "trades", "orderbook"]
    )
    stream_retry: float = 60.0  # after falling back to REST, try streaming again after this
    derivatives_refresh: float = 60.0  # funding and open interest poll period (perps)
    orderbook_levels: int = 5  # levels per side in OrderBookTop
    depth_pct: float = 1.0  # depth summary band around mid, percent
    rate_limit_ms: int = 0  # ccxt rateLimit override; 0 = ccxt's value for the exchange
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
    trades: int = 500
    persist_interval: float = 60.0

    def candles_for(self, timeframe: str) -> int:
        """Candles kept per series of one timeframe (see ``candles``)."""
        return per_timeframe(self.candles, timeframe, DEFAULT_STORE_CANDLES)


class BetaConfig(_Section):
    """Beta calculator: which timeframes and windows to compute."""

    benchmark: str = "BTC/USDT"
    windows: dict[str, list[str]] = msgspec.field(
        default_factory=lambda: {"1h": ["7d", "30d", "90d"], "4h": ["30d", "90d"], "1d": ["90d"]}
    )
    min_obs: int = 30
    history: int = 500


class DemoConfig(_Section):
    """The built-in simulated exchange started by ``--demo``."""

    seed: int = 42
    n_alts: int = 40
    speed: float = 1.0
    port: int = 0  # 0 = any free port
    perpetuals: bool = True


class Config(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """The whole daemon configuration."""

    daemon: DaemonConfig = msgspec.field(default_factory=DaemonConfig)
    supervisor: SupervisorConfig = msgspec.field(default_factory=SupervisorConfig)
    bus: BusConfig = msgspec.field(default_factory=BusConfig)
    api: ApiConfig = msgspec.field(default_factory=ApiConfig)
    memcached: MemcachedConfig = msgspec.field(default_factory=MemcachedConfig)
    store: StoreConfig = msgspec.field(default_factory=StoreConfig)
    beta: BetaConfig = msgspec.field(default_factory=BetaConfig)
    demo: DemoConfig = msgspec.field(default_factory=DemoConfig)
    exchanges: list[ExchangeConfig] = []


_LOC = re.compile(r"^(?P<msg>.*?)(?: - at `\$(?P<path>[^`]*)`)?$")


def _format_validation(err: msgspec.ValidationError) -> str:
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
    msg = msg.replace("`", "")
    msg = msg[0].lower() + msg[1:] if msg else msg
    if msg.startswith("invalid enum value"):
        choices = _literal_choices(path)
        if choices:
            msg += f" (expected one of: {', '.join(map(repr, choices))})"
    return f"{path or '(top level)'}: {msg}"


def _literal_choices(path: str) -> tuple[Any, ...]:
    """The allowed values of the ``Literal`` field at ``path`` (``a.b[0].c``), if any."""
    tp: Any = Config
    for part in path.split("."):
        name = re.sub(r"\[\d+\]$", "", part)
        hints = typing.get_type_hints(tp) if isinstance(tp, type) else {}
        if name not in hints:
            return ()
        tp = hints[name]
        while typing.get_origin(tp) in (list, typing.Union, types.UnionType):
            # list[X] (the index), X | None: the struct or literal inside
            tp = next(a for a in typing.get_args(tp) if a is not type(None))
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
    return msgspec.structs.replace(cfg, api=api, exchanges=exchanges)


def _validate(cfg: Config) -> None:
    """Semantic checks msgspec's types cannot express."""
    d = cfg.daemon
    if not 0 <= d.port <= 65535:
        raise ConfigError(f"daemon.port: expected 0..65535, got {d.port}")
    if d.shutdown_timeout <= 0 or d.shutdown_timeout > 4.5:
        raise ConfigError("daemon.shutdown_timeout: expected a number in (0, 4.5] seconds")
    if d.gc_every < 0:
        raise ConfigError(f"daemon.gc_every: expected seconds >= 0, got {d.gc_every}")
    s = cfg.supervisor
    if s.intensity < 1 or s.period <= 0 or s.backoff_initial <= 0:
        raise ConfigError("supervisor: intensity >= 1, period > 0 and backoff_initial > 0")
    if cfg.bus.lossy_queue < 1 or cfg.bus.lossless_queue < 1:
        raise ConfigError("bus: queue sizes must be >= 1")
    _check_per_timeframe("store.candles", cfg.store.candles, 1)
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


DATA_KINDS = frozenset({"tickers", "ohlcv", "trades", "orderbook"})


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
        raise ConfigError(_format_validation(exc)) from None
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


def socket_path(cfg: Config) -> Path:
    return Path(cfg.daemon.socket).expanduser() if cfg.daemon.socket else default_socket_path()
