"""The newest log records in memory, for ``/api/system/logs`` and the ``logs`` command.

A root-logger handler appends each record (already formatted to a small struct) to a
bounded deque that the actor publishes once as the ``system.logs`` view; readers copy
it (one C call under the GIL, safe against the appends of other threads) and filter.
journald keeps the full history; this answers "what just happened" without a shell.
"""

from __future__ import annotations

import logging
from collections import deque
from typing import ClassVar

import anyio
import anyio.abc

from virtuoso_daemon.core.logs import CallbackHandler, current_actor
from virtuoso_daemon.core.messages import LogRecord
from virtuoso_daemon.core.runtime import Runtime

VIEW = "system.logs"


class RecentLogsActor:
    """Keeps the newest ``api.recent_logs`` records while the daemon runs."""

    name = "recent_logs"
    config_sections: ClassVar[tuple[str, ...]] = ()

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.records: deque[LogRecord] = deque(maxlen=runtime.config.api.recent_logs)
        self._handler = CallbackHandler(self._append, logging.DEBUG)

    def _append(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            message = f"{message} ({type(exc).__name__}: {exc})"
        self.records.append(
            LogRecord(
                level=record.levelname.lower(),
                logger=record.name,
                actor=getattr(record, "actor", None) or current_actor.get(),
                message=message,
                ts=record.created,
            )
        )

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        root = logging.getLogger()
        root.addHandler(self._handler)
        self.runtime.views.publish(VIEW, self.records, b"null")
        try:
            task_status.started()
            await anyio.sleep_forever()
        finally:
            root.removeHandler(self._handler)
