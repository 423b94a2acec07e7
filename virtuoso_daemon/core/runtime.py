"""What every actor is handed: config, bus, views, and process facts.

:class:`Views` is the read side of the system. Actors publish immutable snapshots
into it (encoded to JSON once, on write); HTTP handlers and socket commands only
read it, so a hot GET is a dict lookup plus a write and never reaches into an actor.
:class:`ReadModel` names that read side as a type: the views (read-only) and the
effective config. Queries of published state take it, so the :class:`Runtime` (on
the main loop) and :class:`~virtuoso_daemon.read.model.HotModel` (the only thing a
handler in the HTTP thread is given) can both answer them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import msgspec

from virtuoso_daemon import __version__
from virtuoso_daemon.core.bus import Bus
from virtuoso_daemon.core.config import Config, socket_path, state_dir
from virtuoso_daemon.core.metrics import Metrics
from virtuoso_daemon.core.systemd import Notifier

if TYPE_CHECKING:
    from virtuoso_daemon.core.supervisor import Supervisor

_encode = msgspec.json.Encoder().encode


@dataclass(frozen=True, slots=True)
class View:
    """One published snapshot and its JSON encoding, made once: when published, or,
    for a view published with an encoder instead of bytes (large and rarely read,
    like a correlation matrix), on first read."""

    value: Any
    encoded: bytes | Callable[[], bytes]
    updated: float

    @property
    def body(self) -> bytes:
        encoded = self.encoded
        if not isinstance(encoded, bytes):
            # two readers racing here both encode the same value; either result is it
            encoded = encoded()
            object.__setattr__(self, "encoded", encoded)
        return encoded


class Views:
    """Newest snapshot per key (``market.tickers``, ``beta.1h.30d`` ...)."""

    def __init__(self) -> None:
        self._views: dict[str, View] = {}
        self.versions: dict[str, int] = {}

    def publish(
        self, key: str, value: Any, body: bytes | Callable[[], bytes] | None = None
    ) -> View:
        view = View(value, _encode(value) if body is None else body, time.time())
        self._views[key] = view
        self.versions[key] = self.versions.get(key, 0) + 1
        return view

    def get(self, key: str) -> View | None:
        return self._views.get(key)

    def value(self, key: str, default: Any = None) -> Any:
        view = self._views.get(key)
        return default if view is None else view.value

    def keys(self, prefix: str = "") -> list[str]:
        return [k for k in self._views if k.startswith(prefix)]


class ReadViews(Protocol):
    """The reading half of :class:`Views` (no ``publish``)."""

    @property
    def versions(self) -> Mapping[str, int]: ...

    def get(self, key: str) -> View | None: ...

    def value(self, key: str, default: Any = None) -> Any: ...

    def keys(self, prefix: str = "") -> list[str]: ...


class ReadModel(Protocol):
    """What a query of published state reads: the views and the effective config
    (current: a reload replaces it). :class:`Runtime` is one; so is the HTTP
    thread's :class:`~virtuoso_daemon.read.model.HotModel`."""

    @property
    def views(self) -> ReadViews: ...

    @property
    def config(self) -> Config: ...


@dataclass
class Runtime:
    """Shared, long-lived context of one daemon process."""

    config: Config
    config_path: Path | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    bus: Bus = field(default_factory=Bus)
    views: Views = field(default_factory=Views)
    notifier: Notifier = field(default_factory=Notifier)
    started_at: float = field(default_factory=time.time)
    version: str = __version__
    supervisor: Supervisor | None = None
    shutdown: Callable[[], None] | None = None
    # applied to every config loaded from the file, at start-up and on reload: the
    # process sets it (demo mode swaps in the simulator's exchanges); identity otherwise
    resolve_config: Callable[[Config], Config] = field(default=lambda config: config)
    # filled in by actors that own the data, read by status/health
    stats: dict[str, Callable[[], dict[str, Any]]] = field(default_factory=dict)
    # the event loop the actors run on, set by the HTTP actor before it starts its
    # thread (handlers of the loop route tables are run there: http.routes)
    main_loop: asyncio.AbstractEventLoop | None = None
    # request counters and latency per route (HTTP and socket), exported by /metrics
    metrics: Metrics = field(default_factory=Metrics)
    # the health monitor's say on WATCHDOG=1: a reason to withhold it, or None
    watchdog_gate: Callable[[], str | None] | None = None

    def __post_init__(self) -> None:
        # [bus] sizes the queues of subscriptions made from now on (it was ignored:
        # every bus had the built-in sizes whatever the config said)
        self.bus.lossy_queue = self.config.bus.lossy_queue
        self.bus.lossless_queue = self.config.bus.lossless_queue

    @property
    def state_dir(self) -> Path:
        return state_dir(self.config)

    @property
    def socket_path(self) -> Path:
        return socket_path(self.config)

    def uptime(self) -> float:
        return time.time() - self.started_at
