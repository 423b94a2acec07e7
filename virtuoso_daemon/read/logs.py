"""Recent log records, filtered: ``GET /api/system/logs`` and the socket's ``logs``."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from virtuoso_daemon.core.errors import QueryError
from virtuoso_daemon.core.messages import LogRecord
from virtuoso_daemon.core.recent_logs import VIEW
from virtuoso_daemon.core.requests import Args
from virtuoso_daemon.core.runtime import Runtime

LEVELS = ("debug", "info", "warning", "error", "critical")


class LogsArgs(Args, frozen=True):
    level: Literal["debug", "info", "warning", "error", "critical"] = "debug"  # and above
    actor: str | None = None  # records logged by this actor (e.g. feeds:binance)
    logger: str | None = None  # logger names starting with this (e.g. virtuoso.feeds)
    contains: str | None = None  # message contains this (case-insensitive)
    since: float | None = None  # Unix time: newer records only
    limit: Annotated[int, msgspec.Meta(ge=1, le=5000)] = 100


class Logs(msgspec.Struct, frozen=True):
    """The newest ``limit`` matching records (oldest first) and what is kept."""

    records: list[LogRecord]
    matched: int
    kept: int
    capacity: int


def logs(rt: Runtime, args: LogsArgs) -> Logs:
    """The newest log records kept in memory (api.recent_logs), filtered; oldest first."""
    ring = rt.views.value(VIEW)
    if ring is None:
        raise QueryError("unavailable", "no log records are kept (recent_logs not running)", 503)
    records: list[LogRecord] = list(ring)  # one copy: the handler keeps appending
    floor = LEVELS.index(args.level)
    needle = args.contains.lower() if args.contains else None
    out = [
        r
        for r in records
        if (LEVELS.index(r.level) if r.level in LEVELS else 0) >= floor
        and (args.actor is None or r.actor == args.actor)
        and (args.logger is None or r.logger.startswith(args.logger))
        and (needle is None or needle in r.message.lower())
        and (args.since is None or r.ts > args.since)
    ]
    return Logs(out[-args.limit :], len(out), len(records), ring.maxlen or 0)
