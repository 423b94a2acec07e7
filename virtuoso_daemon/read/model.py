"""The read-only model a handler in the HTTP thread is given instead of the runtime.

The HTTP server runs in a thread of its own (:mod:`virtuoso_daemon.http.server`);
handlers in its hot route tables run there, beside the actors' loop, so they may
read only what actors *published*: immutable view snapshots (among them the ticker
cache's live table, ``market.latest``, and its snapshot, ``market.tickers``) and the
effective config. :class:`HotModel` is exactly that, plus the process facts the
liveness probe reports and a bus tap for the alert stream. It is built once when the
app is built; it has no bus, no supervisor, no actor state and no ``publish``, so a
hot handler cannot reach them (mypy says so, and at run time the attributes are
not there).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from virtuoso_daemon.core.bus import Topic
from virtuoso_daemon.core.config import Config
from virtuoso_daemon.core.runtime import ReadViews, Runtime

#: a bus tap, as a ``with`` block: ``fn`` is called inline in the publisher (on the
#: main loop), so it may only hand the message over (``loop.call_soon_threadsafe``);
#: leaving the block removes it
TapFn = Callable[[Topic[Any], Callable[[Any], None], str], AbstractContextManager[object]]


@dataclass(frozen=True, slots=True)
class HotModel:
    """The views, the current config, the version and start time, and a bus tap."""

    views: ReadViews
    version: str
    started_at: float
    current_config: Callable[[], Config]
    tap_fn: TapFn

    @classmethod
    def of(cls, rt: Runtime) -> HotModel:
        def tap(
            topic: Topic[Any], fn: Callable[[Any], None], name: str
        ) -> AbstractContextManager[object]:
            return rt.bus.tap(topic, fn, name=name)

        return cls(rt.views, rt.version, rt.started_at, lambda: rt.config, tap)

    @property
    def config(self) -> Config:
        """The effective config (a reload replaces it; this is always the newest)."""
        return self.current_config()

    def uptime(self) -> float:
        return time.time() - self.started_at

    def tap(
        self, topic: Topic[Any], fn: Callable[[Any], None], *, name: str
    ) -> AbstractContextManager[object]:
        """Call ``fn(message)`` inline for every message on ``topic`` (see :data:`TapFn`)."""
        return self.tap_fn(topic, fn, name)
