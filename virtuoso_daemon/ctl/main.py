"""Entry point: parse, connect, run one call or follow a subscription, exit code."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path

import anyio
import msgspec

from virtuoso_daemon.core.config import ConfigError, default_socket_path, load_config, socket_path
from virtuoso_daemon.ctl.parser import Call, UsageError, build_parser
from virtuoso_daemon.ctl.render import describe_event
from virtuoso_daemon.ctl.tables import pretty_json
from virtuoso_daemon.protocol import (
    BYE_TOPIC,
    DROPPED_TOPIC,
    CommandError,
    ConnectionClosed,
    ControlClient,
    DaemonUnreachable,
)

OK, FAILED, USAGE, UNREACHABLE = 0, 1, 2, 3

# as in cli.py (not imported: it loads every actor, and ctl should start fast)
DEFAULT_CONFIG = Path(__file__).resolve().parent.parent.parent / "config" / "virtuoso.toml"


def resolve_socket(ns: argparse.Namespace) -> Path:
    if getattr(ns, "socket", None):
        return Path(ns.socket).expanduser()
    if os.environ.get("VIRTUOSO_DAEMON__SOCKET"):
        return Path(os.environ["VIRTUOSO_DAEMON__SOCKET"]).expanduser()
    if getattr(ns, "config", None):
        try:
            return socket_path(load_config(ns.config))
        except ConfigError as exc:
            raise UsageError(f"config error: {exc}") from None
    if DEFAULT_CONFIG.exists():  # the file the daemon reads when given no --config
        try:
            return socket_path(load_config(DEFAULT_CONFIG))
        except ConfigError:
            pass  # the daemon would not start with it either; try the default path
    return default_socket_path()


def out(text: str) -> None:
    print(text, flush=True)


def err(text: str) -> None:
    print(f"virtuoso-ctl: {text}", file=sys.stderr, flush=True)


async def run_call(ns: argparse.Namespace, call: Call, path: Path, timeout: float) -> int:
    cmd = call.cmd or ns.cmd
    args = call.args(ns)
    as_json = getattr(ns, "json", False)
    async with ControlClient.connect(path, timeout=timeout) as client:
        try:
            result = await client.call(cmd, args, timeout=timeout)
        except CommandError as exc:
            if as_json:
                out(
                    msgspec.json.encode(
                        {"ok": False, "error": {"code": exc.code, "message": exc.message}}
                    ).decode()
                )
            err(f"{cmd} failed: {exc.code}: {exc.message}")
            return FAILED
    out(pretty_json(result) if as_json else call.render(result, ns))
    return FAILED if call.failed is not None and call.failed(result) else OK


async def run_stream(ns: argparse.Namespace, path: Path, timeout: float) -> int:
    as_json = getattr(ns, "json", False)
    filters = {
        "throttle_ms": ns.throttle_ms,
        "exchange": ns.exchange,
        "symbols": ns.symbols,
        "timeframes": ns.timeframes,
        "level": ns.level,
    }
    async with ControlClient.connect(path, timeout=timeout) as client:
        if (
            getattr(ns, "first", False) and ns.call is not None
        ):  # `health --watch`: now, then follow
            try:
                result = await client.call(ns.call.cmd, ns.call.args(ns), timeout=timeout)
            except CommandError as exc:
                err(f"{ns.call.cmd} failed: {exc.code}: {exc.message}")
                return FAILED
            out(pretty_json(result) if as_json else ns.call.render(result, ns))
        try:
            await client.subscribe(*ns.topics, **filters)
        except CommandError as exc:
            err(f"subscribe failed: {exc.code}: {exc.message}")
            return FAILED
        seen = 0
        async for event in client.events():
            if event.topic == BYE_TOPIC:
                err("the daemon is shutting down")
                return UNREACHABLE
            if event.topic == DROPPED_TOPIC:
                err(f"too slow: {event.data.count} {event.data.topic} events were dropped")
                continue
            if as_json:
                out(msgspec.json.encode(event).decode())
            else:
                out(describe_event(event))
            seen += 1
            if ns.count is not None and seen >= ns.count:
                return OK
    return OK


async def run(ns: argparse.Namespace) -> int:
    path = resolve_socket(ns)
    timeout = getattr(ns, "timeout", 10.0)
    try:
        if getattr(ns, "stream", False):
            return await run_stream(ns, path, timeout)
        session = getattr(ns, "session", None)  # a command with its own exchange (backup run)
        if session is not None:
            result: int = await session(ns, path, timeout)
            return result
        return await run_call(ns, ns.call, path, timeout)
    except DaemonUnreachable as exc:
        err(f"daemon unreachable: {exc}")
        return UNREACHABLE
    except ConnectionClosed as exc:
        err(f"connection lost: {exc}")
        return UNREACHABLE
    except CommandError as exc:  # a timeout
        err(f"{exc.code}: {exc.message}")
        return FAILED


def main(argv: list[str] | None = None) -> int:
    # A parent that ignores SIGINT (a non-interactive shell's background job, some CI
    # runners) passes that on to us; `watch` and `tail` must still stop on Ctrl-C.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    parser = build_parser()
    ns = parser.parse_args(argv)
    if ns.command is None:
        parser.print_help(sys.stderr)
        return USAGE
    if getattr(ns, "call", None) is None and not getattr(ns, "stream", False):
        ns.group_parser.print_help(sys.stderr)
        return USAGE
    local = getattr(ns, "local", None)  # runs here without a daemon (backup restore)
    if local is not None:
        code: int = local(ns)
        return code
    try:
        return anyio.run(run, ns)
    except UsageError as exc:
        err(str(exc))
        return USAGE
    except KeyboardInterrupt:
        return OK if getattr(ns, "stream", False) else 130
    except BrokenPipeError:  # `virtuoso-ctl watch tickers | head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return OK
