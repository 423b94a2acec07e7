"""Which asyncio event loop the daemon runs on: uvloop by default, asyncio's own on request.

The daemon is socket-bound (ccxt's websockets and REST, memcached, the HTTP API, the
control socket), and uvloop runs the same asyncio code with a libuv loop whose
transports cost a fraction of the selector loop's per read and write. The HTTP
thread gets a loop of the same kind as the main loop (:func:`new_loop_like`), so a
test that runs the daemon on asyncio's loop runs all of it there.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from virtuoso_daemon.core.config import EventLoopName

log = logging.getLogger("virtuoso.loop")


def uvloop_available() -> bool:
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return False
    return True


def anyio_backend_options(choice: EventLoopName) -> dict[str, Any]:
    """``backend_options`` for :func:`anyio.run` (falls back to asyncio, logged)."""
    if choice == "uvloop":
        if uvloop_available():
            return {"use_uvloop": True}
        log.warning("uvloop is not installed: running on asyncio's own event loop")
    return {}


def loop_name(loop: asyncio.AbstractEventLoop | None) -> EventLoopName:
    """Which kind of loop ``loop`` is (what ``/api/system/status`` reports)."""
    if loop is not None and type(loop).__module__.startswith("uvloop"):
        return "uvloop"
    return "asyncio"


def new_loop(choice: EventLoopName) -> asyncio.AbstractEventLoop:
    """A new event loop of the kind ``choice`` names."""
    if choice == "uvloop":
        import uvloop

        return uvloop.new_event_loop()
    return asyncio.new_event_loop()


def new_loop_like(loop: asyncio.AbstractEventLoop | None) -> asyncio.AbstractEventLoop:
    """A new event loop of the same kind as ``loop`` (uvloop or asyncio's)."""
    return new_loop(loop_name(loop))
