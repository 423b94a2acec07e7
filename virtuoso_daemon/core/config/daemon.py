"""Sections of the process and its surfaces: the daemon, the supervisor, the bus, the
HTTP API, the control socket and the memcached mirror."""

from __future__ import annotations

from typing import Annotated

import msgspec

from virtuoso_daemon.core.config.base import (
    _SECONDS,
    Count,
    EventLoopName,
    LogFormat,
    LogLevel,
    PeerPort,
    Port,
    Seconds,
    SecondsOrOff,
    Section,
)


class DaemonConfig(Section):
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


class SupervisorConfig(Section):
    """Restart policy for crashed actors (one-for-one)."""

    backoff_initial: Seconds = 0.5
    backoff_max: Seconds = 30.0
    intensity: Count = 5  # crashes ...
    period: Seconds = 60.0  # ... within this many seconds mark the actor failed
    # an actor that has not reported started after this many seconds fails the start
    start_timeout: Seconds = 60.0


class BusConfig(Section):
    """Per-subscriber queue sizes on the in-process message bus."""

    lossy_queue: Count = 1024
    lossless_queue: Count = 64


class ApiConfig(Section):
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


class ControlConfig(Section):
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
    # events one client's subscriptions may hold before they are encoded: the sum of
    # their queue sizes (a slow reader fills them, each event a message in memory)
    session_queue: Annotated[int, msgspec.Meta(ge=64, le=10_000_000)] = 32_768


class MemcachedConfig(Section):
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
