"""Alerts: the live list, a filter, acknowledge, silence, and the triggering numbers.

The list comes from the ``alerts.list`` snapshot and the ``alerts`` subscription
(:class:`tui.model.AlertsModel`), newest change first. Typing filters on kind, symbol,
exchange and message; ``f`` switches between firing alerts and all of them. The
detail panel shows the selected alert's numbers (the values that triggered it) and,
once loaded with ``alerts.get``, its delivery state per destination. ``a``
acknowledges the selected alert (no more repeats), ``s`` silences its kind and symbol
for an hour after asking.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from typing import Any

from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Static

from virtuoso_daemon.core.messages import Alert

from ..widgets.live_text import LiveText
from .base import LivePane

SEVERITY_STYLE = {"critical": "bold red", "warning": "yellow", "info": "cyan"}
SILENCE_FOR = "1h"
COLUMNS = (
    ("time", "Time", 8),
    ("severity", "Sev", 8),
    ("kind", "Kind", 19),
    ("exchange", "Exchange", 12),
    ("symbol", "Symbol", 14),
    ("state", "State", 12),
    ("message", "Message", 40),
)


def state_text(a: Alert) -> str:
    if a.status in ("resolved", "event"):
        return a.status
    if a.muted:
        return "muted"
    return "acked" if a.acked_ts else "firing"


def _clock(ts: Any) -> str:
    if not isinstance(ts, (int, float)) or isinstance(ts, bool):
        return "-"
    return time.strftime("%H:%M:%S", time.localtime(ts))


class AlertsPane(LivePane):
    """The Alerts screen (see the module docstring)."""

    BINDINGS = [
        Binding("a", "ack", "Acknowledge"),
        Binding("s", "silence", f"Silence kind+symbol {SILENCE_FOR}"),
        Binding("f", "toggle_firing", "Firing / all"),
        Binding("escape", "clear_filter", "Clear filter", show=False),
    ]
    KEYS_HELP = (("type", "filter by kind, symbol, exchange or message"),)

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.filter_text = ""
        self.firing_only = False
        self.selected: str | None = None
        self.detail: dict[str, Any] | None = None  # alerts.get of the selected alert
        self._seen = (-1, "", False)
        self._order: list[str] = []

    def compose(self) -> ComposeResult:
        with Horizontal(id="alerts-body"):
            with Vertical(id="alerts-left"):
                yield LiveText(id="alerts-bar")
                yield DataTable(id="alerts-table", cursor_type="row", zebra_stripes=True)
            yield Static(id="alert-detail")

    def on_mount(self) -> None:
        table = self.query_one("#alerts-table", DataTable)
        for key, label, width in COLUMNS:
            table.add_column(label, key=key, width=width)

    # --- rendering -----------------------------------------------------------------

    def shown_alerts(self) -> list[Alert]:
        needle = self.filter_text.lower()
        out = []
        for a in self.vapp.alerts.ordered():
            if self.firing_only and a.status != "firing":
                continue
            if needle:
                hay = " ".join((a.kind, a.symbol or "", a.exchange or "", a.message))
                if needle not in hay.lower():
                    continue
            out.append(a)
        return out

    def refresh_live(self, force: bool = False) -> None:
        model = self.vapp.alerts
        seen = (model.version, self.filter_text, self.firing_only)
        if not force and seen == self._seen:
            return
        self._seen = seen
        table = self.query_one("#alerts-table", DataTable)
        rows = self.shown_alerts()
        table.clear()
        for a in rows:
            table.add_row(
                _clock(a.ts),
                Text(a.severity, style=SEVERITY_STYLE.get(a.severity, "")),
                a.kind,
                a.exchange or "-",
                a.symbol or "-",
                state_text(a),
                a.message,
                key=a.id,
            )
        self._order = [a.id for a in rows]
        if self.selected in self._order:
            table.move_cursor(row=self._order.index(self.selected))
        elif self._order:
            self.selected = self._order[0]
        self._show_bar(len(rows), len(model.alerts))
        self._show_detail()

    def _show_bar(self, shown: int, total: int) -> None:
        t = Text()
        t.append(" firing only" if self.firing_only else " all alerts", style="bold")
        t.append(f" · {shown}/{total}")
        if self.filter_text:
            t.append(f" · filter: {self.filter_text}", style="bold")
        else:
            t.append(" · type to filter", style="dim")
        self.query_one("#alerts-bar", LiveText).show(t)

    def _show_detail(self) -> None:
        panel = self.query_one("#alert-detail", Static)
        a = self.vapp.alerts.alerts.get(self.selected or "")
        if a is None:
            panel.update(Text("no alert selected", style="dim"))
            return
        t = Text()
        t.append(f"{a.kind}  ", style="bold")
        t.append(a.severity, style=SEVERITY_STYLE.get(a.severity, ""))
        t.append(f"  {state_text(a)}\n")
        t.append(f"{a.exchange or '-'} {a.symbol or ''}\n", style="dim")
        t.append(f"{a.message}\n\n")
        t.append(f"id        {a.id}\n")
        t.append(f"first     {_clock(a.first_ts)}\n")
        t.append(f"last      {_clock(a.ts)} ({a.event})\n")
        t.append(f"notified  {a.fired}x\n")
        if a.acked_ts:
            t.append(f"acked     {_clock(a.acked_ts)} by {a.acked_by}\n")
        if a.muted:
            t.append(f"muted     {a.muted}\n")
        data = a.data
        if data:
            t.append("\ntriggering numbers\n", style="bold underline")
            for key, value in data.items():
                t.append(f"{key:<14} ", style="dim")
                t.append(f"{value}\n")
        detail = self.detail if self.detail and self.detail.get("id") == a.id else None
        if detail is not None and detail.get("deliveries"):
            t.append("\ndeliveries\n", style="bold underline")
            for d in detail["deliveries"]:
                t.append(f"{d.get('destination'):<12} {d.get('event'):<10} {d.get('state')}")
                if d.get("last_error"):
                    t.append(f" ({d.get('last_error')})", style="red")
                t.append("\n")
        panel.update(t)

    # --- input ---------------------------------------------------------------------

    @on(DataTable.RowHighlighted, "#alerts-table")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        key = event.row_key.value
        if key and key != self.selected:
            self.selected = key
            self._show_detail()
            self.load_detail(key)

    @work(group="alert-detail", exclusive=True)
    async def load_detail(self, alert_id: str) -> None:
        result = await self.vapp.ask("alerts.get", {"id": alert_id}, optional=True)
        if isinstance(result, Mapping) and self.selected == alert_id:
            self.detail = {"id": alert_id, "deliveries": result.get("deliveries") or []}
            self._show_detail()

    def on_key(self, event: events.Key) -> None:
        if event.character and event.character.isprintable() and event.key not in ("a", "s", "f"):
            self.filter_text += event.character
            event.stop()
            self.refresh_live()
        elif event.key == "backspace" and self.filter_text:
            self.filter_text = self.filter_text[:-1]
            event.stop()
            self.refresh_live()

    def action_clear_filter(self) -> None:
        self.filter_text = ""
        self.refresh_live()

    def action_toggle_firing(self) -> None:
        self.firing_only = not self.firing_only
        self.refresh_live()

    def action_ack(self) -> None:
        if self.selected:
            self.vapp.ack_alert(self.selected)

    def action_silence(self) -> None:
        a = self.vapp.alerts.alerts.get(self.selected or "")
        if a is not None:
            self.vapp.silence_alert(a.kind, a.symbol, SILENCE_FOR)

    def on_shown(self) -> None:
        self.query_one("#alerts-table", DataTable).focus()
        self.refresh_live(force=True)

    def commands(self) -> Iterator[SystemCommand]:
        yield SystemCommand(
            "Alerts: acknowledge selected", "No more repeats of it", self.action_ack
        )
        yield SystemCommand(
            "Alerts: silence selected kind+symbol",
            f"Mute it for {SILENCE_FOR} (asks first)",
            self.action_silence,
        )
        yield SystemCommand(
            "Alerts: firing only / all", "Toggle the list's filter", self.action_toggle_firing
        )
