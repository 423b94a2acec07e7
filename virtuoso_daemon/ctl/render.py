"""How each command's result and each subscription event is shown to a human."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import msgspec

from virtuoso_daemon import __version__
from virtuoso_daemon.core.messages import (
    ActorEvent,
    Alert,
    BetaSnapshot,
    Candle,
    CandleBatch,
    FeedStatus,
    Funding,
    HealthReport,
    LogRecord,
    OpenInterest,
    OrderBookTop,
    Ticker,
    Trade,
)
from virtuoso_daemon.ctl.health import health_line
from virtuoso_daemon.ctl.tables import (
    Column,
    auto,
    fmt_age,
    fmt_compact,
    fmt_duration,
    fmt_field,
    fmt_fixed,
    fmt_num,
    fmt_pct,
    fmt_span,
    fmt_time,
    get,
    pretty_json,
    rows_of,
    table,
)
from virtuoso_daemon.protocol import Event


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
            lines += stat_lines(name, stats)
        else:
            lines.append(f"{name}: {stats}")
    return "\n".join(lines)


#: stats tables whose values are epoch times whatever their keys say (data kinds, kinds)
TIME_TABLES = frozenset({"last_by_kind", "next_runs"})


def stat_lines(name: str, stats: dict[str, Any], depth: int = 0) -> list[str]:
    """One actor's stats: its plain values as ``key=value`` on one line, each table
    (a destination's counters, a feed's modes) on a line of its own below, indented."""
    flat, nested = [], []
    for key, value in stats.items():
        if isinstance(value, dict) and value:
            nested.append((str(key), value))
        else:
            as_key = "ts" if name in TIME_TABLES else str(key)
            flat.append(f"{key}={'-' if value == {} else fmt_field(as_key, value)}")
    head = f"{'  ' * depth}{name}:"
    lines = [f"{head} {', '.join(flat)}" if flat else head]
    for key, value in nested:
        lines += stat_lines(key, value, depth + 1)
    return lines


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
            ("quote vol", lambda r: fmt_compact(get("quote_volume")(r))),
            ("updated", lambda r: fmt_age(get("recv_ts")(r))),
        ],
    )


def render_ticker(result: Any, ns: argparse.Namespace) -> str:
    row = result.get("ticker", result) if isinstance(result, dict) else result
    text = render_tickers([row], ns)
    if isinstance(result, dict) and "age" in result:
        restored = " (restored from the cache)" if result.get("restored") else ""
        text += f"\nage {fmt_span(float(result['age']))}{restored}"
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
            ("volume", lambda r: fmt_compact(get("volume")(r))),
        ],
    )


BETA_COLUMNS: list[Column] = [
    ("symbol", get("symbol")),
    ("beta", lambda r: fmt_fixed(get("beta")(r))),
    ("corr", lambda r: fmt_fixed(get("correlation")(r))),
    ("r2", lambda r: fmt_fixed(get("r_squared")(r))),
    ("vol", lambda r: fmt_fixed(get("volatility")(r))),
    ("down beta", lambda r: fmt_fixed(get("downside_beta")(r))),
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
    names = list(result.get("symbols", []))
    matrix = result.get("matrix", [])
    if "input" in result:  # the query's answer: symbols and matrix in display order
        order = list(range(len(names)))
    else:  # a bare snapshot: symbols as computed, ``order`` the display permutation
        order = result.get("order") or list(range(len(names)))
    symbols = _short_names(names)
    head = (
        f"correlation {result.get('timeframe')} / {result.get('window')}"
        + (f" on {result['exchange']}" if result.get("exchange") else "")
        + f"  ({len(names)} symbols)"
    )
    rows = [{"": symbols[i], **{symbols[j]: _corr(matrix, i, j) for j in order}} for i in order]
    return (
        head + "\n" + table(rows, [("", get(""))] + [(symbols[j], get(symbols[j])) for j in order])
    )


def _short_names(symbols: list[str]) -> list[str]:
    """Base currencies as column heads (BTC), the full symbol where two share a base."""
    bases = [s.split("/")[0] for s in symbols]
    return [b if bases.count(b) == 1 else s for b, s in zip(bases, symbols, strict=True)]


def _corr(matrix: list[list[Any]], i: int, j: int) -> str:
    try:
        value = matrix[i][j]
    except IndexError:
        return "-"
    return fmt_fixed(value, sign=True)


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


def render_feeds(result: Any, ns: argparse.Namespace) -> str:
    """One line per feed with symbol counts; ``--symbols`` lists them below."""
    feeds = rows_of(result, "feeds")
    text = table(
        feeds,
        [
            ("exchange", get("exchange")),
            ("market", get("market")),
            ("state", get("state")),
            ("symbols", lambda f: len(f.get("symbols") or [])),
            ("paused", lambda f: len(f.get("paused_symbols") or [])),
            ("latency ms", lambda f: fmt_num(f.get("latency_ms"), 3)),
            ("last message", lambda f: fmt_age(f.get("last_message_ts"))),
            ("errors", lambda f: sum((f.get("errors") or {}).values())),
            ("modes", lambda f: _modes(f.get("modes") or {})),
            ("gaps", lambda f: _gap_count(f.get("gaps") or {})),
            ("detail", lambda f: f.get("detail") or ""),
        ],
    )
    if getattr(ns, "symbols", False):
        for f in feeds:
            paused = set(f.get("paused_symbols") or [])
            gaps = f.get("gaps") or {}
            names = [
                f"{s} (paused)" if s in paused else f"{s} (gaps)" if gaps.get(s) else s
                for s in f.get("symbols") or []
            ]
            names += [f"{s} (unknown)" for s in f.get("unknown_symbols") or []]
            text += f"\n\n{f.get('exchange')}: " + (", ".join(names) or "no symbols")
    return text


def render_feed_change(result: Any, ns: argparse.Namespace) -> str:
    """The feed's answer to pause/resume/add/remove as one line, not its whole status."""
    if not isinstance(result, dict):
        return auto(result)
    exchange = result.get("exchange")
    symbols = result.get("symbols") or []
    for verb in ("added", "removed"):
        if verb in result:
            names = ", ".join(result.get(verb) or []) or "nothing"
            return f"{verb} {names} on {exchange}; it watches {len(symbols)} symbols"
    paused = result.get("paused_symbols") or []
    text = f"{exchange}: {result.get('state')}, {len(symbols)} symbols"
    return text + (f", paused: {', '.join(paused)}" if paused else "")


def _gap_count(gaps: dict[str, Any]) -> str:
    """Candles missing from backfilled history, over every symbol and timeframe."""
    missing = sum(
        int(g.get("missing", 0)) for by_tf in gaps.values() for lst in by_tf.values() for g in lst
    )
    return str(missing) if missing else "-"


def _modes(modes: dict[str, str]) -> str:
    """``tickers stream, ohlcv rest`` grouped: ``stream: tickers,trades; rest: ohlcv``."""
    by_mode: dict[str, list[str]] = {}
    for kind, mode in modes.items():
        by_mode.setdefault(mode, []).append(kind)
    return "; ".join(f"{m}: {','.join(kinds)}" for m, kinds in sorted(by_mode.items())) or "-"


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
    restart = result.get("restart_required") or []
    text = "config reloaded; changed sections: " + (", ".join(changed) or "none")
    return text + (f"; needs a restart: {', '.join(restart)}" if restart else "")


def render_logs(result: Any, ns: argparse.Namespace) -> str:
    """One line per record: UTC time, level, actor, logger, message."""
    lines = []
    for r in result.get("records", []):
        ts = time.strftime("%H:%M:%S", time.gmtime(r["ts"]))
        lines.append(f"{ts} {r['level']:<8} [{r['actor'] or '-'}] {r['logger']}: {r['message']}")
    lines.append(f"({result.get('matched', 0)} matching of {result.get('kept', 0)} kept)")
    return "\n".join(lines)


def render_fix(result: Any, ns: argparse.Namespace) -> str:
    """One line per action of ``fix``: target, request, ok or FAILED, what it did."""
    lines = []
    for a in result.get("actions", []):
        outcome = "ok" if a["ok"] else "FAILED"
        what = a.get("error") if not a["ok"] else auto(a.get("result")).replace("\n", "; ")
        lines.append(f"{a['target']:<10} {a['action']:<20} {outcome:<6} {what}")
    if not lines:
        lines.append("nothing to do (no feeds?)")
    lines.append("all fixes applied" if result.get("ok") else "some fixes FAILED")
    return "\n".join(lines)


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
    elif isinstance(d, Trade):
        text = (
            f"{d.exchange} {d.symbol} {(d.side or '?'):<4} {fmt_num(d.amount, 6):>12}"
            f" @ {fmt_num(d.price):>12}  {fmt_time(d.ts)}"
        )
    elif isinstance(d, OrderBookTop):
        bid = d.bids[0] if d.bids else None
        ask = d.asks[0] if d.asks else None
        text = (
            f"{d.exchange} {d.symbol} bid {_level(bid)}  ask {_level(ask)}"
            f"  spread {fmt_num(d.spread, 4)}  depth ±{fmt_num(d.depth_pct, 3)}%"
            f" {fmt_num(d.bid_depth, 4)} / {fmt_num(d.ask_depth, 4)}"
        )
    elif isinstance(d, Funding):
        rate = "-" if d.rate is None else f"{d.rate * 100:+.4f}%"
        text = (
            f"{d.exchange} {d.symbol} funding {rate} mark {fmt_num(d.mark_price)}"
            f" next {fmt_time(d.next_funding_ts)}"
        )
    elif isinstance(d, OpenInterest):
        text = (
            f"{d.exchange} {d.symbol} open interest {fmt_num(d.amount, 6)}"
            f" (value {fmt_compact(d.value)})"
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
        where = " ".join(x for x in (d.exchange, d.symbol) if x)
        text = f"{d.event:<12} [{d.severity}] {d.kind} {where}: {d.message}  ({d.id})"
    elif isinstance(d, HealthReport):
        text = health_line(d)
    else:
        data = msgspec.json.encode(d).decode()
        text = data if len(data) <= 200 else data[:197] + "..."
    return f"{stamp} {event.topic:<12} {text}"


def _level(level: tuple[float, float] | list[float] | None) -> str:
    return "-" if not level else f"{fmt_num(level[1], 6)} @ {fmt_num(level[0])}"


def format_log(rec: LogRecord) -> str:
    stamp = time.strftime("%H:%M:%S", time.localtime(rec.ts))
    return f"{stamp} {rec.level.upper():<7} [{rec.actor or '-'}] {rec.logger}: {rec.message}"


# --- commands -----------------------------------------------------------------------------
