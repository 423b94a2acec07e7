"""HTTP API actor: serves the aiohttp app from a thread with its own event loop.

Why a thread: the feeds parse websocket bursts on the main loop (ccxt is pure
Python: ~30-100 µs a message, a few hundred messages a tick). A request that arrived
during a burst used to wait for the whole burst, twice (aiohttp reads a request in
one loop iteration and answers it in the next). In its own thread the server waits
at most the interpreter's switch interval for the GIL
(:data:`SWITCH_INTERVAL`), whatever the feeds are doing. Handlers in the hot route
tables run in that thread; the others run on the main loop (:mod:`.routes`).

The actor owns the thread's whole life: it starts the loop and the site, reports
ready once the port is bound (so a port in use fails the start like before),
watches the thread while it runs, and on shutdown closes the site and the loop and
joins the thread (bounded), so nothing of the server outlives the actor.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import threading
from collections.abc import Callable
from typing import Any, ClassVar

import anyio
import anyio.abc
import anyio.to_thread
from aiohttp import web

from virtuoso_daemon.core.config import Config
from virtuoso_daemon.core.event_loop import new_loop_like
from virtuoso_daemon.core.runtime import Runtime
from virtuoso_daemon.http.app import create_app
from virtuoso_daemon.http.auth import server_limits
from virtuoso_daemon.http.hardening import HardenedRunner, HardenedServer

log = logging.getLogger("virtuoso.http")

#: seconds a thread waiting for the GIL waits before the holder must let go
#: (CPython's default is 5 ms); the HTTP thread's worst wait during a burst
SWITCH_INTERVAL = 0.001

STOP_TIMEOUT = 2.0  # seconds for the site to close and the thread to end


async def start_site(
    app: web.Application, config: Config, host: str, port: int
) -> tuple[web.AppRunner, int]:
    """Set up ``app`` and bind it on the running loop; the runner and the bound port
    (``port`` 0 = any free one). The runner is cleaned up if binding fails. The HTTP
    parser's size limits come from the config (:func:`.auth.server_limits`)."""
    runner = HardenedRunner(
        app,
        access_log=None,
        handle_signals=False,
        keepalive_timeout=config.api.keepalive_timeout,
        max_connections=config.api.max_connections,
        **server_limits(config),
    )
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port, reuse_address=True)
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    sockets = getattr(site._server, "sockets", None) or []
    bound: int = sockets[0].getsockname()[1] if sockets else port
    return runner, bound


class HttpThread:
    """An aiohttp ``AppRunner``/``TCPSite`` on an event loop in a thread of its own."""

    def __init__(self, app: web.Application, config: Config, host: str, port: int) -> None:
        self.app = app
        self.config = config
        self.host = host
        self.port = port
        # the main loop's kind (uvloop in the daemon); created in the main loop's thread
        self.loop = new_loop_like(asyncio.get_running_loop())
        self.runner: web.AppRunner | None = None
        self.thread = threading.Thread(target=self._run, name="virtuoso-http", daemon=True)
        self.crashed: BaseException | None = None
        self.stopped = threading.Event()
        self.on_exit: Callable[[], None] | None = None  # called from the thread, last

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_forever()
        except BaseException as exc:  # pragma: no cover - the loop itself failing
            self.crashed = exc
        finally:
            try:
                self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            finally:
                self.loop.close()
                self.stopped.set()
                if self.on_exit is not None:
                    self.on_exit()

    async def _setup(self) -> int:
        self.runner, port = await start_site(self.app, self.config, self.host, self.port)
        return port

    async def _in_thread(self, coro: Any) -> Any:
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self.loop))

    async def start(self) -> int:
        self.thread.start()
        return int(await self._in_thread(self._setup()))

    async def stop(self) -> None:
        """Close the site, stop the loop, join the thread; bounded, never raises."""
        if self.loop.is_closed():
            return
        with anyio.CancelScope(shield=True), anyio.move_on_after(STOP_TIMEOUT):
            try:
                if self.runner is not None:
                    await self._in_thread(self.runner.cleanup())
            except Exception as exc:
                log.warning("HTTP server cleanup failed: %r", exc)
            if not self.loop.is_closed():
                self.loop.call_soon_threadsafe(self.loop.stop)
            await anyio.to_thread.run_sync(self.thread.join, STOP_TIMEOUT)
        if not self.stopped.is_set():
            log.warning("HTTP thread did not stop within %ss", STOP_TIMEOUT)


class HttpApiActor:
    """Runs the HTTP server thread inside the supervisor's task tree (module docstring)."""

    name = "http_api"
    config_sections: ClassVar[tuple[str, ...]] = ()

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.port: int | None = None

    async def reconfigure(self, config: Config) -> None:
        log.info("HTTP host/port changes take effect on restart")

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        rt = self.runtime
        if not rt.config.api.thread:
            await self._run_on_main_loop(task_status)
            return
        cfg = rt.config.daemon
        rt.main_loop = asyncio.get_running_loop()
        switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(SWITCH_INTERVAL)
        server = HttpThread(create_app(rt), rt.config, cfg.host, cfg.port)
        ended = anyio.Event()
        main = rt.main_loop

        def thread_ended() -> None:
            with contextlib.suppress(RuntimeError):  # the main loop is already closed
                main.call_soon_threadsafe(ended.set)

        server.on_exit = thread_ended
        try:
            self.port = await server.start()
            rt.stats["http"] = lambda: {
                "host": cfg.host,
                "port": self.port,
                "thread": True,
                **_server_stats(server.runner),
            }
            log.info("HTTP API listening on http://%s:%s", cfg.host, self.port)
            task_status.started()
            await ended.wait()
            raise RuntimeError(f"the HTTP server thread ended: {server.crashed!r}")
        finally:
            await server.stop()
            sys.setswitchinterval(switch_interval)

    async def _run_on_main_loop(self, task_status: anyio.abc.TaskStatus[None]) -> None:
        """``api.thread = false``: the app on the actors' own loop (every handler local)."""
        cfg = self.runtime.config.daemon
        runner, self.port = await start_site(
            create_app(self.runtime), self.runtime.config, cfg.host, cfg.port
        )
        try:
            self.runtime.stats["http"] = lambda: {
                "host": cfg.host,
                "port": self.port,
                "thread": False,
                **_server_stats(runner),
            }
            log.info("HTTP API listening on http://%s:%s (main loop)", cfg.host, self.port)
            task_status.started()
            await anyio.sleep_forever()
        finally:
            with anyio.move_on_after(STOP_TIMEOUT, shield=True):
                await runner.cleanup()


def _server_stats(runner: web.AppRunner | None) -> dict[str, int]:
    """Connections, malformed requests and refused connections (hardening.py)."""
    server = None if runner is None else runner.server
    return server.stats() if isinstance(server, HardenedServer) else {}
