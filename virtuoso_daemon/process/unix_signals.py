"""Signals: caught from the process's first moment, and still caught while it stops.

Two ways a signal used to end the daemon uncleanly:

* Before the event loop ran (imports, config, the simulator), SIGHUP and SIGTERM had
  their default action: a SIGHUP 0.3 s after start killed the process (rc 129).
  :func:`install_early` runs first thing in ``daemon_main`` (before the heavy imports)
  and only remembers what arrived; :class:`SignalHandler` acts on it once running.
* The handler lived inside the supervisor's task group, which the first SIGTERM
  cancels: a second SIGTERM then met the default action and exited 143 before the
  final persist. :class:`SignalHandler` runs outside it, for the whole of ``serve``:
  the first SIGTERM/SIGINT shuts down, the second is logged (the flush goes on), the
  third forces the exit (128 + signal, state not saved: the operator asked for it).

SIGHUP reloads the config (deferred until every actor has started; ignored while
stopping). Only the standard library is imported here, so importing it is cheap.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from collections.abc import Callable
from types import FrameType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import anyio.abc

    from virtuoso_daemon.core.runtime import Runtime
    from virtuoso_daemon.core.supervisor import Supervisor

log = logging.getLogger("virtuoso")

HANDLED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
FORCE_AFTER = 3  # the n-th stop signal exits at once

_early: list[int] = []


def install_early() -> None:
    """Remember TERM/INT/HUP instead of dying of them until the loop takes over."""
    for signum in HANDLED:
        signal.signal(signum, _remember)


def _remember(signum: int, frame: FrameType | None) -> None:
    _early.append(signum)


def take_early() -> list[int]:
    taken = list(_early)
    _early.clear()
    return taken


class SignalHandler:
    """Acts on TERM/INT (stop, log, force) and HUP (reload) for the life of ``serve``."""

    def __init__(self, runtime: Runtime, stop_startup: Callable[[], None]) -> None:
        self.runtime = runtime
        self.stop_startup = stop_startup  # before a supervisor exists there is nothing to flush
        self.stops = 0
        self._supervisor: Supervisor | None = None
        self._attached: Any = None
        self._tg: anyio.abc.TaskGroup | None = None

    def attach(self, supervisor: Supervisor) -> None:
        """The supervisor a stop or a reload goes to (stops before it are honoured)."""
        self._supervisor = supervisor
        if self.stops:
            supervisor.request_shutdown()
        if self._attached is not None:
            self._attached.set()

    async def run(self, *, task_status: anyio.abc.TaskStatus[None]) -> None:
        import anyio

        self._attached = anyio.Event()
        if self._supervisor is not None:
            self._attached.set()
        with anyio.open_signal_receiver(*HANDLED) as received:
            async with anyio.create_task_group() as tg:
                self._tg = tg
                task_status.started()
                for signum in take_early():
                    self.handle(signum)
                async for signum in received:
                    self.handle(signum)

    def handle(self, signum: int) -> None:
        name = signal.Signals(signum).name
        if signum == signal.SIGHUP:
            if self.stops:
                log.info("received SIGHUP while shutting down; not reloading")
            elif self._tg is not None:
                self._tg.start_soon(self._reload)
            return
        self.stops += 1
        if self.stops == 1:
            log.info("received %s, shutting down", name)
            if self._supervisor is not None:
                self._supervisor.request_shutdown()
            else:
                self.stop_startup()
        elif self.stops < FORCE_AFTER:
            log.warning(
                "received %s again while shutting down: still saving state; "
                "one more forces the exit without it",
                name,
            )
        else:
            log.error("received %s a third time: exiting now without saving state", name)
            sys.stderr.flush()
            os._exit(128 + signum)

    async def _reload(self) -> None:
        from virtuoso_daemon.core.config import ConfigError

        await self._attached.wait()
        sup = self._supervisor
        assert sup is not None
        await sup.ready.wait()
        if self.stops:
            return
        try:
            await sup.reload_config()
        except ConfigError:  # rejected, and the reloader logged why: keep serving
            pass
        except Exception:  # a bug in a reload must not end the daemon either
            log.exception("config reload failed; still serving")
