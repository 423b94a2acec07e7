"""The Health screen and the status line against a real demo daemon: every check the
monitor reports is a row, and the status line shows the overall status on every screen."""

from __future__ import annotations

from textual.widgets import DataTable

from tests.tui.helpers import render, show, until
from tests.tui.test_live_daemon import tui_on_daemon
from tui.widgets.link_bar import LinkBar


async def test_health_screen_lists_every_check_and_the_status_line_shows_health() -> None:
    async with tui_on_daemon() as (app, pilot, checker, _daemon):
        await until(lambda: app.health.status is not None, timeout=20)
        doc = await checker.call("health")
        await show(pilot, "health")
        table = app.query_one("#health-checks", DataTable)
        await until(lambda: table.row_count >= len(doc["checks"]), timeout=15)
        rows = {str(table.get_row_at(i)[0]) for i in range(table.row_count)}
        assert {c["name"] for c in doc["checks"]} <= rows
        assert {"api", "cache", "memory", "cpu", "disk", "actors", "event_loop"} <= rows
        assert any(name.startswith("exchange:") for name in rows)
        await show(pilot, "market")  # the status line is there on every screen
        await render(pilot)
        bar = app.query_one(LinkBar)
        await until(lambda: f"health {app.health.status}" in bar.visual_text)
