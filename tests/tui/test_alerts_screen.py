"""The Alerts screen (key 4) and the alert badge, with Textual's pilot against a real
daemon that runs the alert manager and the control socket; conditions are published
by the test, and what the TUI did is checked in the daemon."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from textual.widgets import DataTable, Static

from tests.alerts.helpers import alert_specs, alerts_config, condition, manager, publish
from tests.harness import running_daemon
from tests.tui.helpers import press, render, show, until
from tui.app import VirtuosoApp, create_app
from tui.client import SocketClient
from tui.screens.alerts import AlertsPane
from tui.screens.dialogs import ConfirmDialog
from tui.widgets.link_bar import LinkBar


@asynccontextmanager
async def tui_with_alerts() -> AsyncIterator[tuple[VirtuosoApp, Any, Any]]:
    async with running_daemon(alerts_config(), alert_specs(control=True)) as daemon:
        app = create_app(SocketClient(daemon.runtime.socket_path), status_interval=0.3)
        async with app.run_test(size=(160, 40)) as pilot:
            await until(lambda: app.connected, timeout=20)
            yield app, pilot, daemon


def _badge(app: VirtuosoApp) -> str:
    bar = app.query_one("#linkbar", LinkBar)
    return str(bar._renderable)


async def test_new_alerts_appear_live_with_a_badge_on_every_screen() -> None:
    async with tui_with_alerts() as (app, pilot, daemon):
        await publish(
            daemon,
            condition("ETH/USDT", severity="warning", value=6.1, threshold=3.0),
            condition("SOL/USDT", kind="whale_trade", severity="critical", usd=2.5e6),
        )
        await until(lambda: len(app.alerts.alerts) == 2)
        for screen in ("market", "beta", "system", "alerts"):
            await show(pilot, screen)
            await render(pilot)
            assert "▲ 2 alerts" in _badge(app), screen
        table = app.query_one("#alerts-table", DataTable)
        await until(lambda: table.row_count == 2)
        pane = app.query_one(AlertsPane)
        detail = str(app.query_one("#alert-detail", Static).render())
        newest = app.alerts.ordered()[0]
        assert pane.selected == newest.id
        assert "triggering numbers" in detail and "usd" in detail  # SOL's whale trade


async def test_typing_filters_and_f_shows_firing_only() -> None:
    async with tui_with_alerts() as (app, pilot, daemon):
        await publish(daemon, condition("ETH/USDT"), condition("SOL/USDT"))
        await publish(daemon, condition("SOL/USDT", active=False))
        await until(lambda: any(a.status == "resolved" for a in app.alerts.alerts.values()))
        await show(pilot, "alerts")
        table = app.query_one("#alerts-table", DataTable)
        await until(lambda: table.row_count == 2)
        await press(pilot, "f")
        await render(pilot)
        assert table.row_count == 1
        await press(pilot, "f", "e", "t", "h")
        await render(pilot)
        assert [a.symbol for a in app.query_one(AlertsPane).shown_alerts()] == ["ETH/USDT"]
        await press(pilot, "escape")
        await render(pilot)
        assert table.row_count == 2


async def test_a_acknowledges_and_s_silences_after_asking() -> None:
    async with tui_with_alerts() as (app, pilot, daemon):
        await publish(daemon, condition("ETH/USDT", kind="volume_spike"))
        await until(lambda: len(app.alerts.alerts) == 1)
        await show(pilot, "alerts")
        await until(lambda: app.query_one("#alerts-table", DataTable).row_count == 1)
        alert_id = next(iter(app.alerts.alerts))
        await press(pilot, "a")
        m = manager(daemon)
        store = m.store
        assert store is not None
        await until(lambda: (store.get(alert_id) or condition()).acked_ts is not None)  # type: ignore[union-attr]
        await until(lambda: "alert" not in _badge(app))  # acknowledged: off the badge
        await press(pilot, "s")
        await until(lambda: isinstance(app.screen, ConfirmDialog))
        await press(pilot, "y")
        await until(lambda: len(m.lifecycle.silences) == 1)
    silence = next(iter(m.lifecycle.silences.values()))
    assert (silence.kind, silence.symbol, silence.created_by) == ("volume_spike", "ETH/USDT", "tui")
    assert silence.ends - silence.starts == 3600
