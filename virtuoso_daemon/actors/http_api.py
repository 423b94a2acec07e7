"""HTTP API actor: serves the aiohttp app inside the supervisor's task tree."""

from __future__ import annotations

import logging
from typing import ClassVar

import anyio
import anyio.abc
from aiohttp import web

from ..api.app import create_app
from ..config import Config
from ..runtime import Runtime

log = logging.getLogger("virtuoso.http")


class HttpApiActor:
    """Runs ``AppRunner``/``TCPSite`` (not ``run_app``) so shutdown is ours to control."""

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
        cfg = self.runtime.config.daemon
        runner = web.AppRunner(create_app(self.runtime), access_log=None, handle_signals=False)
        await runner.setup()
        try:
            site = web.TCPSite(runner, cfg.host, cfg.port, reuse_address=True)
            await site.start()
            server = site._server
            sockets = getattr(server, "sockets", None) or []
            self.port = sockets[0].getsockname()[1] if sockets else cfg.port
            self.runtime.stats["http"] = lambda: {"host": cfg.host, "port": self.port}
            log.info("HTTP API listening on http://%s:%s", cfg.host, self.port)
            task_status.started()
            await anyio.sleep_forever()
        finally:
            with anyio.move_on_after(1.0, shield=True):
                await runner.cleanup()
