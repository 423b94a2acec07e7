"""The argument parser: one subcommand per socket command, mapped to a Call."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgspec

from virtuoso_daemon import __version__
from virtuoso_daemon.core.config import default_socket_path
from virtuoso_daemon.ctl.alerts import (
    render_acked,
    render_alert,
    render_alerts,
    render_silence,
    render_silences,
)
from virtuoso_daemon.ctl.backup import add_backup_commands
from virtuoso_daemon.ctl.health import render_health
from virtuoso_daemon.ctl.render import (
    render_auto,
    render_beta,
    render_clients,
    render_config,
    render_correlation,
    render_done,
    render_feeds,
    render_fix,
    render_hello,
    render_help,
    render_logs,
    render_ohlcv,
    render_reload,
    render_status,
    render_ticker,
    render_tickers,
)
from virtuoso_daemon.ctl.signals import render_manipulation, render_walls, render_whales

ArgsFn = Callable[[argparse.Namespace], dict[str, Any]]
Renderer = Callable[[Any, argparse.Namespace], str]


@dataclass(frozen=True)
class Call:
    """A subcommand that sends one command and renders its result."""

    cmd: str
    args: ArgsFn
    render: Renderer
    # a result that says the work failed (``fix`` with an action that failed): exit 1
    failed: Callable[[Any], bool] | None = None


def no_args(ns: argparse.Namespace) -> dict[str, Any]:
    return {}


def pick(*names: str, **renamed: str) -> ArgsFn:
    """Command args from the namespace: the given attribute names, None left out."""

    def args(ns: argparse.Namespace) -> dict[str, Any]:
        pairs = [(n, n) for n in names] + list(renamed.items())
        return {key: getattr(ns, attr) for key, attr in pairs if getattr(ns, attr) is not None}

    return args


def raw_args(ns: argparse.Namespace) -> dict[str, Any]:
    try:
        value = msgspec.json.decode(ns.json_args or "{}")
    except msgspec.DecodeError as exc:
        raise UsageError(f"ARGS must be a JSON object: {exc}") from None
    if not isinstance(value, dict):
        raise UsageError("ARGS must be a JSON object")
    return value


class UsageError(Exception):
    pass


def positive_seconds(text: str) -> float:
    """``--timeout``: a number of seconds above zero (anything else is a usage error)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be more than 0 seconds, got {text}")
    return value


def symbol_list(text: str) -> list[str]:
    """``--symbols BTC/USDT,ETH/USDT``: a comma-separated list."""
    names = [s.strip() for s in text.split(",") if s.strip()]
    if not names:
        raise argparse.ArgumentTypeError("a comma-separated list of symbols, e.g. BTC/USDT")
    return names


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--socket",
        metavar="PATH",
        default=argparse.SUPPRESS,
        help="control socket (default: $VIRTUOSO_DAEMON__SOCKET, else daemon.socket of "
        f"--config or of the daemon's default config file, else {default_socket_path()})",
    )
    common.add_argument(
        "--config",
        metavar="PATH",
        default=argparse.SUPPRESS,
        help="read the socket path from this daemon config file",
    )
    common.add_argument(
        "--json",
        action="store_true",
        default=argparse.SUPPRESS,
        help="print JSON (watch/tail: one event per line) instead of tables",
    )
    common.add_argument(
        "--timeout",
        type=positive_seconds,
        metavar="SECONDS",
        default=argparse.SUPPRESS,
        help="how long to wait for the daemon (default 10)",
    )
    p = argparse.ArgumentParser(
        prog="virtuoso-ctl",
        parents=[common],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Control a running virtuoso daemon over its Unix socket.",
        epilog="exit codes: 0 ok, 1 command failed, 2 usage, 3 daemon unreachable\n"
        "examples:\n"
        "  virtuoso-ctl status\n"
        "  virtuoso-ctl feeds pause binance BTC/USDT\n"
        "  virtuoso-ctl --json tickers --sort change --limit 5 | jq '.tickers[0]'\n"
        "  virtuoso-ctl watch tickers --throttle-ms 500 --symbol BTC/USDT\n"
        "  virtuoso-ctl tail --level warning",
    )
    p.add_argument("--version", action="version", version=f"virtuoso-ctl {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    def add(name: str, help: str, call: Call | None, **kw: Any) -> argparse.ArgumentParser:
        sp = groups.get(name.split(" ")[0]) if " " in name else None
        parser_name = name.split(" ")[-1]
        target = sp if sp is not None else sub
        q = target.add_parser(parser_name, parents=[common], help=help, description=help, **kw)
        q.set_defaults(call=call)
        return q

    groups: dict[str, Any] = {}

    def group(name: str, help: str) -> None:
        g = sub.add_parser(name, help=help, description=help)
        g.set_defaults(call=None, group_parser=g)
        groups[name] = g.add_subparsers(dest="subcommand", metavar="SUBCOMMAND")

    add(
        "status",
        "daemon version, uptime, actors, bus drops",
        Call("status", no_args, render_status),
    )
    add("version", "daemon and protocol version", Call("hello", no_args, render_hello))
    group("config", "show or reload the configuration")
    add(
        "config get",
        "the effective config (secrets redacted)",
        Call("config.get", no_args, render_config),
    )
    add(
        "config reload",
        "re-read the config file (like SIGHUP)",
        Call("config.reload", no_args, render_reload),
    )

    group("feeds", "exchange feeds: list, pause, resume")
    q = add("feeds list", "feed state per exchange", Call("feeds.list", no_args, render_feeds))
    q.add_argument("--symbols", action="store_true", help="list every symbol (default: the counts)")
    for verb in ("pause", "resume"):
        q = add(
            f"feeds {verb}",
            f"{verb} an exchange's feed, or one symbol of it",
            Call(f"feeds.{verb}", pick("exchange", "symbol"), render_done(f"{verb}d")),
        )
        q.add_argument("exchange", help="exchange name (as in the config)")
        q.add_argument("symbol", nargs="?", help="one symbol, e.g. BTC/USDT (default: all)")

    group("symbols", "add or remove symbols on a feed")
    for verb in ("add", "remove"):
        q = add(
            f"symbols {verb}",
            f"{verb} symbols on an exchange's feed",
            Call(f"symbols.{verb}", pick("exchange", "symbols"), render_done(f"{verb} done")),
        )
        q.add_argument("exchange", help="exchange name (as in the config)")
        q.add_argument("symbols", nargs="+", metavar="SYMBOL", help="e.g. SOL/USDT")

    q = add(
        "tickers",
        "newest tickers",
        Call("tickers", pick("exchange", "quote", "sort", "order", "limit"), render_tickers),
    )
    q.add_argument("--exchange", help="only this exchange")
    q.add_argument("--quote", help="only this quote currency, e.g. USDT")
    q.add_argument("--sort", choices=["symbol", "change", "volume", "price"], help="sort key")
    q.add_argument("--order", choices=["asc", "desc"], help="sort order")
    q.add_argument("--limit", type=int, help="at most this many rows")

    q = add(
        "ticker",
        "the newest ticker of one symbol",
        Call("ticker", pick("symbol", "exchange"), render_ticker),
    )
    q.add_argument("symbol", help="e.g. BTC/USDT")
    q.add_argument("--exchange", help="exchange name")

    q = add(
        "ohlcv",
        "candles of one symbol",
        Call("ohlcv", pick("symbol", "timeframe", "limit", "since", "exchange"), render_ohlcv),
    )
    q.add_argument("symbol", help="e.g. BTC/USDT")
    q.add_argument("--timeframe", "-t", help="1m, 1h, 4h, 1d ... (default 1h)")
    q.add_argument("--limit", "-n", type=int, default=50, help="newest N candles (default 50)")
    q.add_argument("--since", type=int, help="start, epoch milliseconds")
    q.add_argument("--exchange", help="exchange name")

    q = add(
        "beta",
        "beta vs the benchmark",
        Call("beta", pick("timeframe", "window", "symbol", "exchange"), render_beta),
    )
    q.add_argument("--exchange", "-e", help="exchange name (default: the first with a result)")
    q.add_argument("--timeframe", "-t", help="e.g. 1h (default: the first configured)")
    q.add_argument("--window", "-w", help="e.g. 30d (default: the first computed)")
    q.add_argument("--symbol", "-s", help="one symbol only")

    q = add(
        "correlation",
        "correlation matrix",
        Call(
            "correlation",
            pick("timeframe", "window", "exchange", "symbols", "top"),
            render_correlation,
        ),
    )
    q.add_argument("--timeframe", "-t", help="e.g. 1h")
    q.add_argument("--window", "-w", help="e.g. 30d")
    q.add_argument("--exchange", "-e", help="exchange name (default: the first with a result)")
    q.add_argument(
        "--symbols", "-s", type=symbol_list, help="only these, comma-separated: BTC/USDT,ETH/USDT"
    )
    q.add_argument(
        "--top",
        "-n",
        type=int,
        default=None,
        help="only the N symbols with the largest 24h quote volume (default: all)",
    )

    q = add(
        "health",
        "every health check with its value and threshold; --watch follows the reports",
        Call("health", pick("check", "transitions"), render_health),
    )
    q.add_argument("--check", help="only checks whose name starts with this, e.g. data:")
    q.add_argument("--transitions", type=int, help="newest N transitions (default 20)")
    q.add_argument("--watch", action="store_true", dest="stream", help="then follow until Ctrl-C")
    q.add_argument("--count", "-n", type=int, help="with --watch: exit after N reports")
    q.set_defaults(
        topics=["health"], throttle_ms=None, exchange=None, symbols=None, timeframes=None,
        level=None, first=True,
    )  # fmt: skip

    q = add(
        "fix",
        "the common fixes, each saying what it did (exit 1 if one failed)",
        Call("fix", pick("target", "exchange"), render_fix, failed=lambda r: not r.get("ok")),
    )
    q.add_argument(
        "target",
        nargs="?",
        choices=["cache", "connection", "timeout", "dashboard", "all"],
        default="all",
        help="cache: rebuild the tickers view, rewrite memcached, reconnect it if down; "
        "connection: reconnect the feeds; timeout: reopen the feeds' rate gates; "
        "dashboard: rebuild the views; all (default): the four",
    )
    q.add_argument("--exchange", help="connection/timeout: only this feed")
    q = add(
        "logs",
        "the newest log records kept in memory, filtered (`tail` follows new ones)",
        Call("logs.recent", pick("level", "actor", "logger", "contains", "limit"), render_logs),
    )
    q.add_argument("--level", choices=["debug", "info", "warning", "error", "critical"])
    q.add_argument("--actor", help="records of this actor, e.g. feeds:binance")
    q.add_argument("--logger", help="logger names starting with this, e.g. virtuoso.feeds")
    q.add_argument("--contains", help="messages containing this (any case)")
    q.add_argument("--limit", "-n", type=int, help="newest N (default 100)")
    add(
        "dashboard",
        "the dashboard's first screen in one answer (market, movers, betas, health ...)",
        Call("dashboard.overview", pick("parts"), render_auto),
    ).add_argument("--parts", help="comma-separated part names (default: all)")

    group("signals", "what the detectors found: whales, walls, manipulation scores")
    q = add(
        "signals whales",
        "recent whale trades and same-side bursts, newest first",
        Call(
            "signals.whales",
            pick("exchange", "symbol", "side", "type", "min_usd", "limit"),
            render_whales,
        ),
    )
    q.add_argument("--side", choices=["buy", "sell"])
    q.add_argument("--type", choices=["single", "burst"])
    q.add_argument("--min-usd", type=float, dest="min_usd", help="at least this quote value")
    q = add(
        "signals walls",
        "order-book walls now, and ended ones (pulled / filled)",
        Call("signals.walls", pick("exchange", "symbol", "side", "state", "limit"), render_walls),
    )
    q.add_argument("--side", choices=["bid", "ask"])
    q.add_argument("--state", choices=["active", "ended", "all"])
    q = add(
        "signals manipulation",
        "manipulation score per symbol with its components (value, score, weight)",
        Call(
            "signals.manipulation",
            pick("exchange", "symbol", "min_score", "limit"),
            render_manipulation,
        ),
    )
    q.add_argument("--min-score", type=float, dest="min_score", help="in [0, 1]")
    for verb in ("whales", "walls", "manipulation"):
        q = groups["signals"].choices[verb]
        q.add_argument("--exchange", "-e", help="only this exchange")
        q.add_argument("--symbol", "-s", help="only this symbol, e.g. BTC/USDT:USDT")
        q.add_argument("--limit", "-n", type=int, help="at most this many rows (default 50)")

    add("clients", "connected control clients", Call("clients", no_args, render_clients))
    add("topics", "topics for watch", Call("topics", no_args, render_auto))
    q = add(
        "help-commands",
        "every socket command and its arguments",
        Call("help", pick(command="name"), render_help),
    )
    q.add_argument("name", nargs="?", metavar="COMMAND", help="one command")
    add(
        "shutdown",
        "stop the daemon gracefully",
        Call("shutdown", no_args, render_done("daemon is stopping")),
    )

    add_backup_commands(add, group, Call)

    q = add("call", "send any command: call CMD [ARGS-JSON]", Call("", raw_args, render_auto))
    q.add_argument("cmd", help="command name, e.g. status")
    q.add_argument(
        "json_args", nargs="?", metavar="ARGS", help="JSON object, e.g. '{\"limit\": 5}'"
    )

    q = add("watch", "follow topics until Ctrl-C (see `topics`)", None)
    q.add_argument(
        "topics",
        nargs="+",
        metavar="TOPIC",
        help="tickers, candles, beta, feed_status, lifecycle, logs ...",
    )
    q.add_argument(
        "--throttle-ms", type=int, help="newest per symbol every N ms (tickers, candles ...)"
    )
    q.add_argument("--exchange", help="only this exchange")
    q.add_argument(
        "--symbol",
        "-s",
        action="append",
        dest="symbols",
        metavar="SYMBOL",
        help="only this symbol (repeatable)",
    )
    q.add_argument(
        "--timeframe",
        "-t",
        action="append",
        dest="timeframes",
        metavar="TF",
        help="only this timeframe (repeatable)",
    )
    q.add_argument(
        "--level", choices=["debug", "info", "warning", "error"], help="logs: lowest level"
    )
    q.add_argument("--count", "-n", type=int, help="exit after N events")
    q.set_defaults(stream=True)

    group("alerts", "alerts: list, show, ack, silence, silences, unsilence, tail")
    q = add(
        "alerts list",
        "alerts, newest first",
        Call(
            "alerts.list",
            pick("kind", "severity", "symbol", "exchange", "status", "since", "limit", "offset"),
            render_alerts,
        ),
    )
    q.add_argument("--kind", help="price_move, volume_spike, whale_trade, health ...")
    q.add_argument("--severity", choices=["info", "warning", "critical"])
    q.add_argument("--symbol", help="e.g. BTC/USDT")
    q.add_argument("--exchange", help="exchange name")
    q.add_argument("--status", choices=["firing", "resolved", "event"])
    q.add_argument("--since", help="epoch seconds, ISO 8601 time, or an age: 15m, 2h, 7d")
    q.add_argument("--limit", "-n", type=int, help="page size (default 100)")
    q.add_argument("--offset", type=int, help="skip this many")
    q = add(
        "alerts show",
        "one alert: its numbers and delivery state",
        Call("alerts.get", pick("id"), render_alert),
    )
    q.add_argument("id", help="alert id")
    q = add(
        "alerts ack",
        "acknowledge an alert (no more repeats)",
        Call("alerts.ack", pick("id", "by"), render_acked),
    )
    q.add_argument("id", help="alert id")
    q.add_argument("--by", help="who acknowledges (default: operator)")
    q = add(
        "alerts silence",
        "mute alerts by kind/symbol/exchange for a while",
        Call(
            "alerts.silence",
            pick("kind", "symbol", "exchange", "comment", "by", duration="for_"),
            render_silence,
        ),
    )
    q.add_argument("--for", dest="for_", required=True, metavar="DURATION", help="e.g. 30m, 2h")
    q.add_argument("--kind", help="only this kind")
    q.add_argument("--symbol", help="only this symbol")
    q.add_argument("--exchange", help="only this exchange")
    q.add_argument("--comment", help="why")
    q.add_argument("--by", help="who")
    q = add(
        "alerts silences", "active silences", Call("alerts.silences", pick("all"), render_silences)
    )
    q.add_argument("--all", action="store_const", const=True, help="also ended ones")
    q = add(
        "alerts unsilence",
        "end a silence now",
        Call("alerts.unsilence", pick("id"), render_silence),
    )
    q.add_argument("id", help="silence id")
    q = add("alerts tail", "follow alert changes until Ctrl-C", None)
    q.add_argument("--exchange", help="only this exchange")
    q.add_argument("--symbol", "-s", action="append", dest="symbols", metavar="SYMBOL")
    q.add_argument("--count", "-n", type=int, help="exit after N alerts")
    q.set_defaults(stream=True, topics=["alerts"], throttle_ms=None, timeframes=None, level=None)

    q = add("tail", "follow the daemon's log until Ctrl-C", None)
    q.add_argument(
        "--level",
        choices=["debug", "info", "warning", "error"],
        default="info",
        help="lowest level (default info)",
    )
    q.add_argument("--count", "-n", type=int, help="exit after N records")
    q.set_defaults(
        stream=True, topics=["logs"], throttle_ms=None, exchange=None, symbols=None, timeframes=None
    )
    return p


# --- running ------------------------------------------------------------------------------
