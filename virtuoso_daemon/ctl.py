"""``virtuoso-ctl``: the operator's command line over the control socket.

One subcommand per socket command, human-readable tables by default and ``--json``
for scripts; ``watch`` and ``tail`` follow subscriptions until Ctrl-C. Exit codes are
stable so scripts can rely on them:

* 0 -- ok
* 1 -- the command failed (the daemon answered with an error, or did not answer in time)
* 2 -- usage error
* 3 -- the daemon is unreachable (not running, wrong socket, not allowed, went away)
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import msgspec

from . import __version__
from .config import ConfigError, default_socket_path, load_config, socket_path
from .messages import (
    ActorEvent,
    Alert,
    BetaSnapshot,
    Candle,
    CandleBatch,
    FeedStatus,
    LogRecord,
    Ticker,
)
from .protocol import (
    BYE_TOPIC,
    DROPPED_TOPIC,
    CommandError,
    ConnectionClosed,
    ControlClient,
    DaemonUnreachable,
    Event,
)

OK, FAILED, USAGE, UNREACHABLE = 0, 1, 2, 3

# as in cli.py (not imported: it loads every actor, and ctl should start fast)
DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "config" / "virtuoso.toml"

# --- formatting ---------------------------------------------------------------------------


def fmt_num(value: Any, digits: int = 8) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, int):
        return str(value)
    return f"{value:,.{digits}g}" if abs(value) >= 1 else f"{value:.{digits - 2}g}"


def fmt_pct(value: Any) -> str:
    return "-" if value is None else f"{value:+.2f}%"


def fmt_time(ts: Any) -> str:
    """Epoch seconds or milliseconds as local time."""
    if not isinstance(ts, int | float) or isinstance(ts, bool):
        return "-"
    seconds = ts / 1000 if ts > 1e11 else ts
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(seconds))


def fmt_duration(seconds: float) -> str:
    s = int(seconds)
    days, s = divmod(s, 86400)
    text = f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"
    return f"{days}d {text}" if days else text


def _cell(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(_cell(v) for v in value) or "-"
    if isinstance(value, dict):
        return msgspec.json.encode(value).decode()
    return fmt_num(value)


Column = tuple[str, Callable[[Any], Any]]


def table(rows: Sequence[Any], columns: Sequence[Column]) -> str:
    """Aligned columns; numbers right-aligned, text left-aligned."""
    cells = [[_cell(fn(row)) for _, fn in columns] for row in rows]
    heads = [h.upper() for h, _ in columns]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(heads)]
    numeric = [
        all(_looks_numeric(r[i]) for r in cells) and any(r[i] != "-" for r in cells)
        for i in range(len(columns))
    ]

    def line(values: Sequence[str]) -> str:
        parts = [
            v.rjust(w) if num else v.ljust(w)
            for v, w, num in zip(values, widths, numeric, strict=True)
        ]
        return "  ".join(parts).rstrip()

    return "\n".join([line(heads), *(line(r) for r in cells)])


def _looks_numeric(text: str) -> bool:
    return (
        text == "-"
        or text.replace(",", "")
        .replace("%", "")
        .lstrip("+-")
        .replace(".", "", 1)
        .replace("e", "", 1)
        .lstrip("+-")
        .isdigit()
    )


def get(key: str) -> Callable[[Any], Any]:
    return lambda row: row.get(key) if isinstance(row, dict) else getattr(row, key, None)


def auto(result: Any) -> str:
    """A reasonable human rendering of any result: tables for lists of objects."""
    if isinstance(result, list) and result and all(isinstance(r, dict) for r in result):
        keys: list[str] = []
        for row in result:
            keys += [k for k, v in row.items() if k not in keys and not isinstance(v, dict)]
        return table(result, [(k, get(k)) for k in keys[:10]])
    if isinstance(result, dict):
        width = max((len(k) for k in result), default=0)
        return "\n".join(f"{k.ljust(width)}  {_cell(v)}" for k, v in result.items())
    if result is None:
        return "ok"
    return pretty_json(result)


def pretty_json(value: Any) -> str:
    return msgspec.json.format(msgspec.json.encode(value), indent=2).decode()


def rows_of(result: Any, *keys: str) -> list[Any]:
    """The row list of a result that is a list, or an object holding one under ``keys``."""
    if isinstance(result, list):
        return result
    if isinstance(result, dict):
        for key in keys:
            if isinstance(result.get(key), list):
                return list(result[key])
    return []


# --- renderers per command ----------------------------------------------------------------


def render_status(doc: dict[str, Any], ns: argparse.Namespace) -> str:
    head = (
        f"virtuoso {doc.get('version')}  up {fmt_duration(doc.get('uptime') or 0)}"
        f"  demo: {'yes' if doc.get('demo') else 'no'}"
    )
    actors = table(
        doc.get("actors", []),
        [
            ("actor", get("name")),
            ("state", get("state")),
            ("restarts", get("restarts")),
            ("since", lambda a: fmt_time(a.get("since"))),
            ("last error", lambda a: a.get("last_error") or ""),
        ],
    )
    bus = doc.get("bus", {})
    published = bus.get("published", {})
    lines = [head, "", actors, "", f"bus drops: {bus.get('total_drops', 0)}"]
    for name, topics in sorted(bus.get("drops", {}).items()):
        lines.append(f"  {name}: " + ", ".join(f"{t} {n}" for t, n in sorted(topics.items())))
    if published:
        lines.append("published: " + ", ".join(f"{t} {n}" for t, n in sorted(published.items())))
    for name, stats in sorted(doc.get("stats", {}).items()):
        if isinstance(stats, dict):
            stats = ", ".join(f"{k}={_cell(v)}" for k, v in stats.items())
        lines.append(f"{name}: {stats}")
    return "\n".join(lines)


def render_tickers(result: Any, ns: argparse.Namespace) -> str:
    rows = rows_of(result, "tickers", "rows", "items")
    if not rows:
        return auto(result) if isinstance(result, dict) and result else "no tickers"
    return table(
        rows,
        [
            ("exchange", get("exchange")),
            ("symbol", get("symbol")),
            ("last", get("last")),
            ("24h", lambda r: fmt_pct(get("change_pct")(r))),
            ("bid", get("bid")),
            ("ask", get("ask")),
            ("quote vol", lambda r: fmt_num(get("quote_volume")(r), 4)),
        ],
    )


def render_ticker(result: Any, ns: argparse.Namespace) -> str:
    row = result.get("ticker", result) if isinstance(result, dict) else result
    text = render_tickers([row], ns)
    if isinstance(result, dict) and "age" in result:
        restored = " (restored from the cache)" if result.get("restored") else ""
        text += f"\nage {fmt_num(result['age'], 3)} s{restored}"
    return text


def render_ohlcv(result: Any, ns: argparse.Namespace) -> str:
    rows = rows_of(result, "candles", "rows", "ohlcv", "items")
    if not rows:
        return auto(result) if isinstance(result, dict) and result else "no candles"
    if isinstance(rows[0], list):
        names = ["open_time", "open", "high", "low", "close", "volume"]
        rows = [dict(zip(names, r, strict=False)) for r in rows]
    return table(
        rows,
        [
            ("time", lambda r: fmt_time(get("open_time")(r))),
            ("open", get("open")),
            ("high", get("high")),
            ("low", get("low")),
            ("close", get("close")),
            ("volume", lambda r: fmt_num(get("volume")(r), 6)),
        ],
    )


BETA_COLUMNS: list[Column] = [
    ("symbol", get("symbol")),
    ("beta", lambda r: fmt_num(get("beta")(r), 3)),
    ("corr", lambda r: fmt_num(get("correlation")(r), 3)),
    ("r2", lambda r: fmt_num(get("r_squared")(r), 3)),
    ("vol", lambda r: fmt_num(get("volatility")(r), 3)),
    ("down beta", lambda r: fmt_num(get("downside_beta")(r), 3)),
    ("obs", get("n_obs")),
    ("risk", get("risk_bucket")),
]


def render_beta(result: Any, ns: argparse.Namespace) -> str:
    if "row" in result:
        head = f"{result.get('timeframe')} / {result.get('window')} vs {result.get('benchmark')}"
        return head + "\n" + table([result["row"]], BETA_COLUMNS)
    head = (
        f"beta {result.get('timeframe')} / {result.get('window')} vs {result.get('benchmark')}"
        f"  computed {fmt_time(result.get('computed_at'))}"
    )
    return head + "\n" + table(result.get("rows", []), BETA_COLUMNS)


def render_correlation(result: Any, ns: argparse.Namespace) -> str:
    symbols = [s.split("/")[0] for s in result.get("symbols", [])]
    matrix = result.get("matrix", [])
    order = result.get("order") or list(range(len(symbols)))
    head = f"correlation {result.get('timeframe')} / {result.get('window')}"
    rows = [{"": symbols[i], **{symbols[j]: _corr(matrix, i, j) for j in order}} for i in order]
    return (
        head + "\n" + table(rows, [("", get(""))] + [(symbols[j], get(symbols[j])) for j in order])
    )


def _corr(matrix: list[list[Any]], i: int, j: int) -> str:
    try:
        value = matrix[i][j]
    except IndexError:
        return "-"
    return "-" if value is None else f"{value:+.2f}"


def render_clients(result: Any, ns: argparse.Namespace) -> str:
    return table(
        result,
        [
            ("id", get("id")),
            ("pid", get("pid")),
            ("uid", get("uid")),
            ("since", lambda r: fmt_time(r.get("connected_at"))),
            ("commands", get("commands")),
            ("events", get("events_sent")),
            ("dropped", get("dropped")),
            ("subscriptions", get("subscriptions")),
        ],
    )


def render_help(result: Any, ns: argparse.Namespace) -> str:
    items = result if isinstance(result, list) else [result]
    return table(
        items,
        [
            ("command", get("name")),
            ("args", lambda c: " ".join(_arg(a) for a in c["args"])),
            ("help", get("help")),
        ],
    )


def _arg(a: dict[str, Any]) -> str:
    return f"{a['name']}:{a['type']}" if a["required"] else f"[{a['name']}]"


def render_hello(result: Any, ns: argparse.Namespace) -> str:
    return (
        f"virtuoso {result.get('version')} (pid {result.get('pid')}), protocol "
        f"{result.get('protocol')}; virtuoso-ctl {__version__}"
    )


def render_reload(result: Any, ns: argparse.Namespace) -> str:
    changed = result.get("changed") or []
    return "config reloaded; changed sections: " + (", ".join(changed) or "none")


def render_done(what: str) -> Callable[[Any, argparse.Namespace], str]:
    def render(result: Any, ns: argparse.Namespace) -> str:
        extra = auto(result) if result not in (None, {}, True) else ""
        return what + (f"\n{extra}" if extra and extra != "ok" else "")

    return render


def render_auto(result: Any, ns: argparse.Namespace) -> str:
    return auto(result)


def render_config(result: Any, ns: argparse.Namespace) -> str:
    return pretty_json(result)


# --- events -------------------------------------------------------------------------------


def describe_event(event: Event) -> str:
    """One line for a subscription event."""
    d = event.data
    stamp = time.strftime("%H:%M:%S")
    if isinstance(d, Ticker):
        text = (
            f"{d.exchange} {d.symbol} {fmt_num(d.last)} {fmt_pct(d.change_pct)}"
            f" bid {fmt_num(d.bid)} ask {fmt_num(d.ask)}"
        )
    elif isinstance(d, Candle):
        text = (
            f"{d.exchange} {d.symbol} {d.timeframe} {fmt_time(d.open_time)} o {fmt_num(d.open)}"
            f" h {fmt_num(d.high)} l {fmt_num(d.low)} c {fmt_num(d.close)}"
            f" v {fmt_num(d.volume, 6)}{' closed' if d.closed else ''}"
        )
    elif isinstance(d, CandleBatch):
        text = f"{d.exchange} {d.symbol} {d.timeframe}: {len(d.rows)} candles"
    elif isinstance(d, FeedStatus):
        text = (
            f"{d.exchange} ({d.market}) {d.state}: {len(d.symbols)} symbols, "
            f"{len(d.paused_symbols)} paused, latency {fmt_num(d.latency_ms, 4)} ms"
            + (f" - {d.detail}" if d.detail else "")
        )
    elif isinstance(d, ActorEvent):
        text = f"{d.actor} {d.state} (restarts {d.restarts})" + (f": {d.error}" if d.error else "")
    elif isinstance(d, LogRecord):
        return format_log(d)
    elif isinstance(d, BetaSnapshot):
        text = f"{d.timeframe}/{d.window} vs {d.benchmark}: {len(d.rows)} symbols"
    elif isinstance(d, Alert):
        text = f"[{d.severity}] {d.kind} {d.symbol or ''}: {d.message}"
    else:
        data = msgspec.json.encode(d).decode()
        text = data if len(data) <= 200 else data[:197] + "..."
    return f"{stamp} {event.topic:<12} {text}"


def format_log(rec: LogRecord) -> str:
    stamp = time.strftime("%H:%M:%S", time.localtime(rec.ts))
    return f"{stamp} {rec.level.upper():<7} [{rec.actor or '-'}] {rec.logger}: {rec.message}"


# --- commands -----------------------------------------------------------------------------

ArgsFn = Callable[[argparse.Namespace], dict[str, Any]]
Renderer = Callable[[Any, argparse.Namespace], str]


@dataclass(frozen=True)
class Call:
    """A subcommand that sends one command and renders its result."""

    cmd: str
    args: ArgsFn
    render: Renderer


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
        type=float,
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
    add("feeds list", "feed state per exchange", Call("feeds.list", no_args, render_auto))
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
        Call("beta", pick("timeframe", "window", "symbol"), render_beta),
    )
    q.add_argument("--timeframe", "-t", help="e.g. 1h (default: the first configured)")
    q.add_argument("--window", "-w", help="e.g. 30d (default: the first computed)")
    q.add_argument("--symbol", "-s", help="one symbol only")

    q = add(
        "correlation",
        "correlation matrix",
        Call("correlation", pick("timeframe", "window"), render_correlation),
    )
    q.add_argument("--timeframe", "-t", help="e.g. 1h")
    q.add_argument("--window", "-w", help="e.g. 30d")

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
    return OK


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
    parser = build_parser()
    ns = parser.parse_args(argv)
    if ns.command is None:
        parser.print_help(sys.stderr)
        return USAGE
    if getattr(ns, "call", None) is None and not getattr(ns, "stream", False):
        ns.group_parser.print_help(sys.stderr)
        return USAGE
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


if __name__ == "__main__":
    sys.exit(main())
