"""Feeds & system: feed state per exchange and symbol, actors, bus drops, uptime, version.

Actions (each shows the daemon's answer; destructive ones ask first): ``p`` pauses and
``r`` resumes the selected feed (the whole exchange when the feeds table has focus, one
symbol when the symbols table has it), ``a`` adds symbols, ``x`` removes the selected
symbol, ``ctrl+l`` reloads the daemon's config.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Label, RichLog, Static

from virtuoso_daemon.core.messages import FeedStatus

from .. import format as fmt
from ..answers import Status
from ..widgets.live_text import LiveText
from .base import LivePane

LOG_STYLES = {"error": "red", "critical": "bold red", "warning": "yellow", "debug": "dim"}


def symbol_states(feed: FeedStatus | None) -> list[tuple[str, str]]:
    """``[(symbol, "active"|"gaps"|"paused"|"unknown"), ...]`` of a feed: "gaps" when
    its backfill is missing candles (``gaps``), "unknown" for configured symbols the
    exchange does not list; every symbol is paused when the whole feed is."""
    if feed is None:
        return []
    paused = set(feed.paused_symbols)
    whole = feed.state == "paused"
    out = [
        (name, "paused" if whole or name in paused else "gaps" if feed.gaps.get(name) else "active")
        for name in feed.symbols
    ]
    return out + [(name, "unknown") for name in feed.unknown_symbols]


class SystemPane(LivePane):
    """The feeds & system screen (see the module docstring)."""

    BINDINGS = [
        Binding("p", "pause", "Pause"),
        Binding("r", "resume", "Resume"),
        Binding("a", "add", "Add symbols"),
        Binding("x,delete", "remove", "Remove symbol"),
        Binding("ctrl+l", "reload", "Reload config"),
    ]
    KEYS_HELP = (("tab", "move between the feeds, symbols and actors tables"),)

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.exchange: str | None = None
        self._seen: tuple[int, int] = (-1, -1)
        self._symbols_for: tuple[str | None, tuple[tuple[str, str], ...]] = (None, ())
        self._logs_seen = 0

    def compose(self) -> ComposeResult:
        yield DataTable(id="feeds", cursor_type="row")
        with Horizontal(id="sys-mid"):
            with Vertical(id="sys-symbols"):
                yield Label("symbols", id="symbols-title")
                yield DataTable(id="symbols", cursor_type="row", zebra_stripes=True)
            with Vertical(id="sys-actors"):
                yield Label("actors")
                yield DataTable(id="actors", cursor_type="row")
            yield RichLog(id="logs", max_lines=200, wrap=False, markup=False)
        with Horizontal(id="sys-info"):
            yield LiveText(id="sysinfo")
            yield Static(id="answer")

    def on_mount(self) -> None:
        feeds = self.query_one("#feeds", DataTable)
        for key, label, width in (
            ("exchange", "Exchange", 12),
            ("market", "Market", 6),
            ("state", "State", 12),
            ("symbols", "Syms", 4),
            ("paused", "Paused", 6),
            ("latency", "Latency", 7),
            ("last", "Last msg", 8),
            ("errors", "Errors", 6),
            ("modes", "Modes", None),
            ("detail", "Detail", None),
        ):
            feeds.add_column(label, key=key, width=width)
        symbols = self.query_one("#symbols", DataTable)
        symbols.add_column("Symbol", key="symbol", width=16)
        symbols.add_column("State", key="state", width=9)
        actors = self.query_one("#actors", DataTable)
        for key, label, width in (
            ("name", "Actor", None),  # as wide as the longest name (feeds:binance-perp)
            ("state", "State", 12),
            ("restarts", "Restarts", 8),
            ("error", "Last error", None),  # the rest of the width: see _fit_actors
        ):
            actors.add_column(label, key=key, width=width)
        self.show_answer(None)

    # --- rendering -----------------------------------------------------------------

    def refresh_live(self, force: bool = False) -> None:
        app = self.vapp
        seen = (app.feeds.version, app.system.version)
        if force or seen != self._seen:
            feeds_changed = force or seen[0] != self._seen[0]
            self._seen = seen
            if feeds_changed:
                self._show_feeds()
                self._show_symbols()
            self._show_actors()
        self._show_info()
        self._show_logs()

    def _show_feeds(self) -> None:
        table = self.query_one("#feeds", DataTable)
        now = self.vapp.clock()
        feeds = self.vapp.feeds.feeds
        keep = self.exchange
        table.clear()
        for name, f in sorted(feeds.items()):
            states = symbol_states(f)
            n_err = sum(f.errors.values())
            last, latency = f.last_message_ts, f.latency_ms
            table.add_row(
                name,
                f.market,
                fmt.state_text(f.state),
                Text(str(sum(1 for _, s in states if s != "unknown")), justify="right"),
                Text(str(sum(1 for _, s in states if s == "paused")), justify="right"),
                Text(f"{latency:.0f}ms" if latency is not None else fmt.DASH),
                Text(fmt.age(now - last) if last is not None else fmt.DASH),
                Text(str(n_err), style="red" if n_err else "dim", justify="right"),
                Text(modes_text(f.modes), style="dim"),
                Text(f.detail, style="yellow" if f.detail else ""),
                key=name,
            )
        names = sorted(feeds)
        if names:
            self.exchange = keep if keep in names else names[0]
            table.move_cursor(row=names.index(self.exchange), animate=False)
        else:
            self.exchange = None

    def _show_symbols(self) -> None:
        feed = self.vapp.feeds.feeds.get(self.exchange or "")
        states = tuple(symbol_states(feed))
        if (self.exchange, states) == self._symbols_for:
            return
        self._symbols_for = (self.exchange, states)
        table = self.query_one("#symbols", DataTable)
        keep = table.cursor_row
        table.clear()
        for name, state in states:
            table.add_row(name, fmt.state_text(state), key=name)
        if states:
            table.move_cursor(row=min(keep, len(states) - 1), animate=False)
        title = f"symbols of {self.exchange} ({len(states)})" if self.exchange else "symbols"
        self.query_one("#symbols-title", Label).update(title)

    def _show_actors(self) -> None:
        table = self.query_one("#actors", DataTable)
        keep = table.cursor_row
        table.clear()
        status = self.vapp.system.status
        actors = status.actors if status else []
        error_width = self._error_width([a.name for a in actors])
        for a in actors:
            restarts = a.restarts
            error = a.last_error or ""
            if len(error) > error_width:
                error = error[: max(0, error_width - 1)] + "…"
            table.add_row(
                a.name,
                fmt.state_text(a.state),
                Text(str(restarts), style="yellow" if restarts else "", justify="right"),
                Text(error, style="red"),
                key=a.name,
            )
        if actors:
            table.move_cursor(row=min(keep, len(actors) - 1), animate=False)

    def _error_width(self, names: list[str]) -> int:
        """What the last-error column may take so the table never scrolls sideways (a
        one-cell overflow drew a lone scrollbar thumb in it)."""
        table = self.query_one("#actors", DataTable)
        name = max([len("Actor"), *(len(n) for n in names)])
        # each column has one cell of padding either side; one cell for the scrollbar
        used = name + 12 + 8 + 2 * table.cell_padding * 4 + 1
        return max(10, (table.size.width or 80) - used)

    def _show_info(self) -> None:
        app = self.vapp
        st = app.system.status or Status()
        t = Text()
        t.append("daemon ", style="dim")
        t.append(st.version or app.system.daemon_version or fmt.DASH)
        t.append("  up ", style="dim")
        t.append(fmt.duration(app.system.uptime(app.clock())))
        t.append("  demo " if st.demo else "", style="dim")
        t.append("yes" if st.demo else "")
        t.append("\nbus drops ", style="dim")
        total = st.bus.total_drops
        t.append(str(total), style="yellow" if total else "")
        worst = sorted(((sum(v.values()), k) for k, v in st.bus.drops.items()), reverse=True)[:3]
        if worst:
            t.append("  (" + ", ".join(f"{k} {n}" for n, k in worst) + ")", style="dim")
        t.append("\nTUI ", style="dim")
        t.append(f"{app.link.events} events, {app.conflator.replaced} conflated")
        self.query_one("#sysinfo", LiveText).show(t)

    def _show_logs(self) -> None:
        logs = self.vapp.system.logs
        log = self.query_one("#logs", RichLog)
        total = self.vapp.system.logs_total
        new = min(total - self._logs_seen, len(logs))
        self._logs_seen = total
        for rec in list(logs)[len(logs) - new :] if new > 0 else []:
            level = rec.level.lower()
            line = Text()
            line.append(f"{level[:4]:<5}", style=LOG_STYLES.get(level, ""))
            line.append(f"[{rec.actor or rec.logger}] ", style="dim")
            line.append(rec.message)
            log.write(line)

    def show_answer(self, answer: tuple[str, bool, Any] | None) -> None:
        t = Text()
        t.append("last action ", style="dim")
        if answer is None:
            t.append("none yet", style="dim")
        else:
            cmd, ok, body = answer
            t.append(f"{cmd} ", style="bold")
            t.append("ok " if ok else "failed ", style="green" if ok else "red")
            t.append(describe_answer(cmd, ok, body))
        self.query_one("#answer", Static).update(t)

    # --- selection -------------------------------------------------------------------

    @on(DataTable.RowHighlighted, "#feeds")
    def _feed_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key.value and event.row_key.value != self.exchange:
            self.exchange = event.row_key.value
            self._show_symbols()

    def _target(self) -> tuple[str | None, str | None]:
        """(exchange, symbol or None) the feed actions apply to, from the focus."""
        symbols = self.query_one("#symbols", DataTable)
        if self.screen.focused is symbols and symbols.row_count:
            key = symbols.coordinate_to_cell_key(symbols.cursor_coordinate).row_key.value
            return self.exchange, key
        return self.exchange, None

    # --- actions -------------------------------------------------------------------

    def action_pause(self) -> None:
        exchange, symbol = self._target()
        if exchange:
            self.vapp.pause_feed(exchange, symbol)

    def action_resume(self) -> None:
        exchange, symbol = self._target()
        if exchange:
            self.vapp.resume_feed(exchange, symbol)

    def action_add(self) -> None:
        exchanges = sorted(self.vapp.feeds.feeds)
        if not exchanges:
            self.vapp.notify("no feeds known yet", severity="warning")
            return
        self.vapp.add_symbols(self.exchange or exchanges[0])

    def action_remove(self) -> None:
        exchange, symbol = self._target()
        if not symbol:
            symbols = self.query_one("#symbols", DataTable)
            if symbols.row_count:
                cell = symbols.coordinate_to_cell_key(symbols.cursor_coordinate)
                symbol = cell.row_key.value
        if exchange and symbol:
            self.vapp.remove_symbols(exchange, [symbol])

    def action_reload(self) -> None:
        self.vapp.reload_config()

    def on_shown(self) -> None:
        self.query_one("#feeds", DataTable).focus()
        self.refresh_live(force=True)

    def commands(self) -> Iterator[SystemCommand]:
        app = self.vapp
        for name, feed in sorted(app.feeds.feeds.items()):
            yield SystemCommand(
                f"Feeds: pause {name}",
                "Stop the whole exchange feed (asks first)",
                lambda n=name: app.pause_feed(n, None),
            )
            yield SystemCommand(
                f"Feeds: resume {name}",
                "Restart a paused exchange feed",
                lambda n=name: app.resume_feed(n, None),
            )
            yield SystemCommand(
                f"Feeds: add symbols to {name}",
                "Start watching more symbols",
                lambda n=name: app.add_symbols(n),
            )
            for sym, state in symbol_states(feed):
                verb = "resume" if state == "paused" else "pause"
                yield SystemCommand(
                    f"Feeds: {verb} {name} {sym}",
                    f"{verb.capitalize()} this one symbol",
                    (lambda n=name, s=sym: app.resume_feed(n, s))
                    if verb == "resume"
                    else (lambda n=name, s=sym: app.pause_feed(n, s)),
                    discover=False,
                )
                yield SystemCommand(
                    f"Feeds: remove {name} {sym}",
                    "Stop watching this symbol (asks first)",
                    lambda n=name, s=sym: app.remove_symbols(n, [s]),
                    discover=False,
                )


def modes_text(modes: Mapping[str, Any]) -> str:
    """``stream: ohlcv, tickers · rest: funding``: which data kinds come how."""
    by_mode: dict[str, list[str]] = {}
    for kind, mode in sorted(modes.items()):
        by_mode.setdefault(str(mode), []).append(str(kind))
    return " · ".join(f"{m}: {', '.join(kinds)}" for m, kinds in sorted(by_mode.items()))


def describe_answer(cmd: str, ok: bool, body: Any) -> str:
    """The daemon's answer to an action as a sentence, not a dump of its fields."""
    if not isinstance(body, Mapping):
        return summarise(body)
    if not ok:
        return f"{body.get('message') or body.get('code') or summarise(body)}"
    if "state" in body and "exchange" in body:  # a feed's status (pause/resume)
        paused = body.get("paused_symbols") or []
        symbols = body.get("symbols") or []
        text = f"{body['exchange']} is {body['state']}, {len(symbols)} symbols"
        return text + (f" ({len(paused)} paused: {', '.join(paused[:3])})" if paused else "")
    for verb in ("added", "removed"):
        if verb in body:
            names = ", ".join(body.get(verb) or []) or "nothing"
            count = len(body.get("symbols") or [])
            return f"{verb} {names} on {body.get('exchange')}; {count} symbols now"
    if "changed" in body:  # config.reload
        return "changed sections: " + (", ".join(body.get("changed") or []) or "none")
    if body.get("stopping"):
        return "the daemon is stopping"
    return summarise(body)


def summarise(body: Any, limit: int = 160) -> str:
    """A one-line rendering of a daemon answer for the status area."""
    if isinstance(body, Mapping):
        text = ", ".join(f"{k}={summarise(v, 40)}" for k, v in body.items())
    elif isinstance(body, list):
        text = ", ".join(summarise(v, 40) for v in body[:8]) + (" …" if len(body) > 8 else "")
        text = f"[{text}]"
    elif body is None:
        text = "done"
    else:
        text = str(body)
    return text if len(text) <= limit else text[: limit - 1] + "…"
