"""The ``feeds`` actor: the one answer point for feed commands on ``Topics.FEED_COMMANDS``.

The control socket, TUI and HTTP API send every feed command to one topic. This
actor answers ``feeds.list`` itself from the ``feeds.status`` view (so a list never
waits on a busy or restarting feed), and routes ``feeds.pause`` / ``feeds.resume`` /
``symbols.add`` / ``symbols.remove`` by ``args["exchange"]`` to that feed's own topic
``feed_commands:<name>``, relaying its reply or error. Each request is handled in its
own task, so one slow feed never delays a command for another.

Errors: ``bad_args`` (no exchange named), ``unknown_exchange``, ``unknown_command``,
and whatever the feed answers (``unknown_symbol``, ``unavailable`` ...).
"""

from __future__ import annotations

import logging
import time
from typing import Any

import anyio
import anyio.abc
import msgspec

from virtuoso_daemon.core.bus import Request, RequestError, Topics
from virtuoso_daemon.core.messages import FeedStatus
from virtuoso_daemon.core.runtime import Runtime
from virtuoso_daemon.feeds.actor import STATUS_VIEW, command_topic
from virtuoso_daemon.feeds.requests import (
    AddSymbols,
    FeedStatusQuery,
    ListFeeds,
    PauseFeed,
    ReconnectFeed,
    RemoveSymbols,
    ResetBackoff,
    ResumeFeed,
)

log = logging.getLogger("virtuoso.feeds")

FORWARD_TIMEOUT = 4.0  # below bus.request's default 5 s, so the caller sees our error


def feed_names(runtime: Runtime) -> list[str]:
    """Names of the exchange feeds this daemon runs, in config order (in demo mode the
    config's exchanges are the simulator's: see ``process.demo``)."""
    return [ex.name for ex in runtime.config.exchanges]


class FeedsRegistryActor:
    """Answers ``feeds.list``; routes per-exchange commands to the owning feed actor."""

    name = "feeds"

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.handled = 0
        self.failed = 0

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        self.runtime.stats[self.name] = lambda: {
            "feeds": feed_names(self.runtime),
            "commands": self.handled,
            "failed": self.failed,
        }
        with self.runtime.bus.subscribe(Topics.FEED_COMMANDS, name=self.name) as sub:
            async with anyio.create_task_group() as tg:
                task_status.started()
                async for req in sub:
                    tg.start_soon(self._handle, req)

    def statuses(self) -> list[dict[str, Any]]:
        current: dict[str, FeedStatus] = self.runtime.views.value(STATUS_VIEW) or {}
        out = []
        for name in feed_names(self.runtime):
            status = current.get(name) or FeedStatus(
                exchange=name, state="starting", ts=time.time()
            )
            out.append(msgspec.to_builtins(status))
        return out

    async def _handle(self, req: Request) -> None:
        self.handled += 1
        try:
            await self._route(req)
        except Exception as exc:  # a bug here must not take the registry down
            log.exception("feeds: command %s failed", req.command)
            req.fail("internal", f"{type(exc).__name__}: {exc}")
        if req._error is not None:
            self.failed += 1

    async def _route(self, req: Request) -> None:
        match req.body:
            case ListFeeds():
                req.reply(self.statuses())
            case (
                FeedStatusQuery()
                | PauseFeed()
                | ResumeFeed()
                | AddSymbols()
                | RemoveSymbols()
                | ReconnectFeed()
                | ResetBackoff()
            ):
                await self._forward(req, req.body.exchange)
            case _:
                req.fail("unknown_command", f"unknown feed command {req.command!r}")

    async def _forward(self, req: Request, exchange: str) -> None:
        if not exchange:
            req.fail("bad_args", f"{req.command} needs args.exchange (a feed name)")
            return
        names = feed_names(self.runtime)
        if exchange not in names:
            req.fail(
                "unknown_exchange",
                f"no feed named {exchange!r}; feeds: {', '.join(names) or 'none'}",
            )
            return
        try:
            result = await self.runtime.bus.request(
                command_topic(exchange), req.body, timeout=FORWARD_TIMEOUT
            )
        except RequestError as exc:
            req.fail(exc.code, exc.message)
        except TimeoutError:
            req.fail("timeout", f"feed {exchange!r} did not answer within {FORWARD_TIMEOUT}s")
        else:
            req.reply(result)
