"""Forwards the daemon's log records to the bus ``logs`` topic for socket clients.

Installed by the control actor for its lifetime; it costs one function call per record
while nobody is subscribed. Records logged from other threads (executors, libraries)
are handed to the event loop with ``call_soon_threadsafe``: the bus is not thread-safe.
"""

from __future__ import annotations

import asyncio
import logging
import threading

from virtuoso_daemon.core.bus import Bus, Topics
from virtuoso_daemon.core.logs import CallbackHandler, current_actor
from virtuoso_daemon.core.messages import LogRecord


class LogBridge:
    """A root-logger handler publishing :class:`messages.LogRecord` on ``logs``."""

    def __init__(self, bus: Bus) -> None:
        self.bus = bus
        self._handler = CallbackHandler(self._on_record, logging.NOTSET)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.get_ident()

    def install(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._thread = threading.get_ident()
        logging.getLogger().addHandler(self._handler)

    def uninstall(self) -> None:
        logging.getLogger().removeHandler(self._handler)

    def _on_record(self, record: logging.LogRecord) -> None:
        if not self.bus.subscribers(Topics.LOGS):
            return
        message = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            message = f"{message} ({type(exc).__name__}: {exc})"
        rec = LogRecord(
            level=record.levelname.lower(),
            logger=record.name,
            actor=getattr(record, "actor", None) or current_actor.get(),
            message=message,
            ts=record.created,
        )
        if threading.get_ident() == self._thread:
            self.bus.publish_nowait(Topics.LOGS, rec)
        elif self._loop is not None:
            try:
                self._loop.call_soon_threadsafe(self.bus.publish_nowait, Topics.LOGS, rec)
            except RuntimeError:  # the loop is closed: the daemon is stopping
                pass
