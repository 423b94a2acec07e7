"""The system status document, one answer for HTTP and the control socket."""

from __future__ import annotations

import asyncio

from virtuoso_daemon.core.event_loop import loop_name
from virtuoso_daemon.core.runtime import Runtime


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def system_status(rt: Runtime) -> dict[str, object]:
    """The status document shared by the HTTP API and the control socket."""
    sup = rt.supervisor
    return {
        "version": rt.version,
        "uptime": round(rt.uptime(), 3),
        "started_at": rt.started_at,
        "demo": rt.config.daemon.demo,
        "event_loop": loop_name(_running_loop()),
        "actors": sup.status() if sup else [],
        "bus": {
            "drops": rt.bus.drops(),
            "total_drops": rt.bus.total_drops(),
            "published": dict(rt.bus.published),
            "tap_errors": {f"{name}/{topic}": n for (name, topic), n in rt.bus.tap_errors.items()},
        },
        "stats": {name: fn() for name, fn in rt.stats.items()},
    }
