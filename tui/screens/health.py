"""Health: every check of the daemon's health monitor against its threshold, and the
history of transitions (what became alerts).

The data is the monitor's own report (``health`` on connect, then every ``health``
event), so the screen shows exactly what ``/health`` answers. A check whose newest
measurement disagrees with its counted status (a change still in its hold-down) shows
both: ``● ok (now critical)``.
"""

from __future__ import annotations

import time
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import DataTable, Label

from virtuoso_daemon.core.messages import HealthCheck

from .. import format as fmt
from ..widgets.live_text import LiveText
from .base import LivePane


def _number(value: Any, unit: str = "") -> str:
    if value is None:
        return fmt.DASH
    if isinstance(value, float):
        text = f"{value:.1f}" if abs(value) < 1e5 else f"{value:.3g}"
    else:
        text = str(value)
    return f"{text} {unit}".strip() if unit else text


def status_cell(check: HealthCheck) -> Text:
    text = fmt.state_text(check.status)
    raw = check.raw
    if raw:
        text.append(f" (now {raw})", style=fmt.STATE_STYLES.get(raw, "dim"))
    return text


class HealthPane(LivePane):
    """The health screen (see the module docstring)."""

    KEYS_HELP = (("tab", "move between the checks and the transitions"),)

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._seen = -1

    def compose(self) -> ComposeResult:
        yield LiveText(id="health-summary")
        yield DataTable(id="health-checks", cursor_type="row", zebra_stripes=True)
        with Vertical(id="health-history"):
            yield Label("transitions (newest first)")
            yield DataTable(id="health-transitions", cursor_type="row")

    def on_mount(self) -> None:
        checks = self.query_one("#health-checks", DataTable)
        for key, label, width in (
            ("name", "Check", 26),
            ("status", "Status", 22),
            ("value", "Value", 12),
            ("threshold", "Threshold", 10),
            ("since", "Since", 9),
            ("message", "Message", 80),
        ):
            checks.add_column(label, key=key, width=width)
        history = self.query_one("#health-transitions", DataTable)
        for key, label, width in (
            ("ts", "Time", 9),
            ("check", "Check", 26),
            ("change", "Change", 22),
            ("message", "Message", 80),
        ):
            history.add_column(label, key=key, width=width)

    def on_shown(self) -> None:
        self.query_one("#health-checks", DataTable).focus()
        self.refresh_live(force=True)

    def refresh_live(self, force: bool = False) -> None:
        model = self.vapp.health
        self._show_summary()
        if not force and model.version == self._seen:
            return
        self._seen = model.version
        self._show_checks()
        self._show_transitions()

    def _show_summary(self) -> None:
        model = self.vapp.health
        t = Text()
        if model.status is None:
            why = self.vapp.unavailable.get("health", "waiting for the first report")
            t.append(f"health: {why}", style="dim")
        else:
            t.append_text(fmt.state_text(model.status))
            t.append(f"  {model.summary}")
            t.append(f"  · report {fmt.age(self.vapp.clock() - model.ts)} old", style="dim")
        self.query_one("#health-summary", LiveText).show(t)

    def _show_checks(self) -> None:
        table = self.query_one("#health-checks", DataTable)
        keep = table.cursor_row
        table.clear()
        now = self.vapp.clock()
        # the worst first, then by name: what needs attention is at the top
        rank = {"critical": 0, "warning": 1}
        checks = sorted(self.vapp.health.checks, key=lambda c: (rank.get(c.status, 2), c.name))
        for c in checks:
            since = c.since
            table.add_row(
                c.name,
                status_cell(c),
                Text(_number(c.value, c.unit), justify="right"),
                Text(_number(c.threshold), justify="right", style="dim"),
                Text(fmt.age(now - since) if since is not None else fmt.DASH),
                Text(c.message),
                key=c.name,
            )
        if checks:
            table.move_cursor(row=min(keep, len(checks) - 1), animate=False)

    def _show_transitions(self) -> None:
        table = self.query_one("#health-transitions", DataTable)
        table.clear()
        for t in reversed(self.vapp.health.transitions):
            when = time.strftime("%H:%M:%S", time.localtime(t.ts))
            change = Text.assemble(
                (t.old, fmt.STATE_STYLES.get(t.old, "")),
                " → ",
                (t.new, fmt.STATE_STYLES.get(t.new, "")),
            )
            table.add_row(when, t.check, change, t.message)
