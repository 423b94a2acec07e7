"""System commands: hello, help, status, config, clients, shutdown."""

from __future__ import annotations

import logging
from typing import Any

from virtuoso_daemon.control.registry import (
    Args,
    CommandFailed,
    Context,
    NoArgs,
    command,
    commands,
    describe,
    query_command,
)
from virtuoso_daemon.core.config import redacted
from virtuoso_daemon.core.supervisor import Supervisor
from virtuoso_daemon.protocol import ErrorCode, Hello
from virtuoso_daemon.read.fix import FixArgs, fix
from virtuoso_daemon.read.system import SystemStatus, reload_config, system_status

log = logging.getLogger("virtuoso.control")


class HelloArgs(Args, frozen=True):
    protocol: int | None = None
    client: str | None = None


class HelpArgs(Args, frozen=True):
    command: str | None = None


def _supervisor(ctx: Context) -> Supervisor:
    sup = ctx.runtime.supervisor
    if sup is None:
        raise CommandFailed(ErrorCode.UNAVAILABLE, "no supervisor is running")
    return sup


@command("hello", args=HelloArgs)
async def hello(ctx: Context, args: HelloArgs) -> Hello:
    """Protocol and daemon version; fails if the client speaks another protocol."""
    greeting = ctx.session.server.hello()
    if args.protocol is not None and args.protocol != greeting.protocol:
        raise CommandFailed(
            ErrorCode.PROTOCOL_MISMATCH,
            f"the daemon speaks protocol {greeting.protocol}, the client {args.protocol}",
        )
    return greeting


@command("help", args=HelpArgs)
async def help_(ctx: Context, args: HelpArgs) -> Any:
    """Every command with its arguments (or one command's)."""
    specs = commands()
    if args.command is not None:
        if args.command not in specs:
            raise CommandFailed(ErrorCode.UNKNOWN_COMMAND, f"unknown command {args.command!r}")
        return describe(specs[args.command])
    return [describe(specs[name]) for name in sorted(specs)]


@command("status", args=NoArgs)
async def status(ctx: Context, args: NoArgs) -> SystemStatus:
    """Version, uptime, actors and restarts, bus drops (same as /api/system/status)."""
    return system_status(ctx.runtime)


@command("config.get", args=NoArgs)
async def config_get(ctx: Context, args: NoArgs) -> dict[str, Any]:
    """The effective configuration, secrets redacted."""
    return redacted(ctx.runtime.config)


query_command("config.reload", reload_config)  # same as POST /api/system/reload
query_command("fix", fix, args=FixArgs)  # same as POST /api/system/fix


@command("clients", args=NoArgs)
async def clients(ctx: Context, args: NoArgs) -> list[dict[str, Any]]:
    """Connected control clients: pid, uid, subscriptions, events sent and dropped."""
    return [s.describe() for s in sorted(ctx.session.server.sessions, key=lambda s: s.id)]


@command("shutdown", args=NoArgs)
async def shutdown(ctx: Context, args: NoArgs) -> dict[str, Any]:
    """Stop the daemon gracefully (after this reply is sent)."""
    peer = ctx.session.peer
    log.warning(
        "shutdown requested over the control socket by pid %d (uid %d, client %s)",
        peer.pid,
        peer.uid,
        ctx.session.id,
    )
    ctx.after_reply(_supervisor(ctx).request_shutdown)
    return {"stopping": True}
