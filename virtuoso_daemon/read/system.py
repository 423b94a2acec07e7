"""The system area's questions, one answer for HTTP and the control socket: the
status document and the config reload."""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec

from virtuoso_daemon.core.config import ConfigError
from virtuoso_daemon.core.errors import QueryError
from virtuoso_daemon.core.event_loop import loop_name
from virtuoso_daemon.core.reload import ReloadResult
from virtuoso_daemon.core.requests import NoArgs
from virtuoso_daemon.core.runtime import Runtime


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


class ActorState(msgspec.Struct, frozen=True):
    """One supervised actor: its state, how often it restarted, its last crash."""

    name: str
    state: str  # starting, running, restarting, failed, stopped
    restarts: int
    last_error: str | None
    since: float | None  # when it last started (epoch s)


class BusCounters(msgspec.Struct, frozen=True):
    drops: dict[str, dict[str, int]]  # subscriber -> topic -> messages dropped
    total_drops: int
    published: dict[str, int]  # topic -> messages
    tap_errors: dict[str, int]  # "subscriber/topic" -> errors in a tap callback


class SystemStatus(msgspec.Struct, frozen=True):
    """``/api/system/status`` and the socket's ``status``: what runs and how it goes."""

    version: str
    uptime: float
    started_at: float
    demo: bool
    event_loop: str
    actors: list[ActorState]
    bus: BusCounters
    stats: dict[str, Any]  # per actor: the counters it reports (each area's own shape)


def system_status(rt: Runtime) -> SystemStatus:
    """The status document shared by the HTTP API and the control socket."""
    sup = rt.supervisor
    return SystemStatus(
        version=rt.version,
        uptime=round(rt.uptime(), 3),
        started_at=rt.started_at,
        demo=rt.config.daemon.demo,
        event_loop=loop_name(_running_loop()),
        actors=msgspec.convert(sup.status() if sup else [], list[ActorState]),
        bus=BusCounters(
            drops=rt.bus.drops(),
            total_drops=rt.bus.total_drops(),
            published=dict(rt.bus.published),
            tap_errors={f"{name}/{topic}": n for (name, topic), n in rt.bus.tap_errors.items()},
        ),
        stats={name: fn() for name, fn in rt.stats.items()},
    )


async def reload_config(rt: Runtime, args: NoArgs) -> ReloadResult:
    """Re-read the config file (like SIGHUP), all or nothing: a file that fails
    validation or that an actor refuses is rejected and the running config kept.

    Errors: ``config_error`` (422) naming the bad key, ``unavailable`` (503) when no
    supervisor runs."""
    sup = rt.supervisor
    if sup is None:
        raise QueryError("unavailable", "no supervisor is running", 503)
    try:
        changed = await sup.reload_config()
    except ConfigError as exc:
        raise QueryError("config_error", str(exc), 422) from None
    return changed
