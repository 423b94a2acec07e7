"""Pilot tests against a real daemon: the demo simulator, real feeds, the real socket.

The daemon runs in-process (``running_daemon``) with the control, demo, feeds and
market actors; the app talks to it through the real :class:`tui.client.SocketClient`.
What the TUI changed is checked through a second, independent socket client.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
from textual.widgets import DataTable, Input, Static

from tests.harness import running_daemon
from tests.tui.daemon import demo_config
from tests.tui.helpers import press, render, show, until
from tui.app import VirtuosoApp, create_app
from tui.client import SocketClient
from tui.screens.dialogs import ConfirmDialog, SymbolsDialog
from tui.screens.market import MarketPane
from tui.widgets.live_text import LiveText
from tui.widgets.ticker_table import TickerTable
from virtuoso_daemon.protocol import ControlClient

SPOT = "sim-spot"


@asynccontextmanager
async def tui_on_daemon(
    size: tuple[int, int] = (160, 45),
) -> AsyncIterator[tuple[Any, Any, Any, Any]]:
    cfg = demo_config(n_alts=6)
    async with (
        running_daemon(cfg) as daemon,
        ControlClient.connect(daemon.runtime.socket_path) as checker,
    ):
        app = create_app(
            SocketClient(daemon.runtime.socket_path), throttle_ms=100, status_interval=0.3
        )
        async with app.run_test(size=size) as pilot:
            await until(lambda: app.connected and len(app.market.quotes) >= 7, timeout=30)
            yield app, pilot, checker, daemon


async def _feed(checker: ControlClient, name: str) -> dict[str, Any]:
    feeds = await checker.call("feeds.list")
    return next(f for f in feeds if f["exchange"] == name)


async def _feed_until(
    checker: ControlClient, name: str, predicate: Callable[[dict[str, Any]], bool]
) -> None:
    """Poll ``feeds.list`` (the daemon publishes feed state a moment after acting)."""
    with anyio.fail_after(15):
        while not predicate(await _feed(checker, name)):
            await anyio.sleep(0.05)


async def _last_of(app: VirtuosoApp, key: str) -> str:
    table = app.query_one("#tickers", TickerTable)
    return table.cell_text(key, "last")


async def test_every_screen_shows_live_data_from_the_daemon() -> None:
    async with tui_on_daemon() as (app, pilot, _checker, daemon):
        # Market: rows for the simulated universe whose prices move
        table = app.query_one("#tickers", TickerTable)
        await until(lambda: len(table.order) >= 7)
        key = f"{SPOT}|BTC/USDT"
        first = await _last_of(app, key)
        with anyio.fail_after(20):
            while await _last_of(app, key) == first:
                await anyio.sleep(0.05)
        # the detail panel follows the selected symbol
        selected = app.query_one(MarketPane).selected
        assert selected is not None
        head = app.query_one("#detail-head", LiveText)
        await until(lambda: selected.split("|")[1] in head.visual_text)
        # Feeds & system: both simulated feeds connected, the actors listed
        await show(pilot, "system")
        feeds = app.query_one("#feeds", DataTable)
        await until(lambda: feeds.row_count == 2, timeout=20)
        await until(
            lambda: all(f.state == "connected" for f in app.feeds.feeds.values()),
            timeout=20,
        )
        actors = app.query_one("#actors", DataTable)
        await until(lambda: actors.row_count >= 5)
        names = {str(actors.get_row_at(i)[0]) for i in range(actors.row_count)}
        assert {"control", "feeds", f"feeds:{SPOT}"} <= names
        assert app.system.status is not None and app.system.status.version
        # Beta: the daemon's snapshot, or its own word on why there is none yet
        await show(pilot, "beta")
        await render(pilot)
        if "beta" not in daemon.supervisor.runners:
            # the assembly has no beta actor yet: the screen must show the daemon's answer
            await until(lambda: "beta" in app.unavailable)
            await render(pilot)
            shown = str(app.query_one("#beta-choice", Static).visual)
            assert app.unavailable["beta"] in shown
        else:
            beta = app.query_one("#beta-table", DataTable)
            await until(lambda: beta.row_count >= 6, timeout=75)  # first 1m candle close


async def test_pause_resume_and_symbols_from_the_tui_change_the_daemon() -> None:
    async with tui_on_daemon() as (app, pilot, checker, _daemon):
        await show(pilot, "system")
        await until(lambda: app.query_one("#feeds", DataTable).row_count == 2, timeout=20)
        await render(pilot)
        # the spot feed is the second row (sorted by name: sim-perp, sim-spot)
        await press(pilot, "down", "p")
        await until(lambda: isinstance(app.screen, ConfirmDialog))
        await press(pilot, "y")
        await until(lambda: app.last_answer is not None, timeout=10)
        assert app.last_answer is not None and app.last_answer[:2] == ("feeds.pause", True)
        await _feed_until(checker, SPOT, lambda f: f["state"] == "paused")

        await press(pilot, "r")
        await _feed_until(checker, SPOT, lambda f: f["state"] != "paused")

        # remove a symbol (asks first), then add it back through the dialog
        symbols = app.query_one("#symbols", DataTable)
        await until(lambda: symbols.row_count >= 7)
        await press(pilot, "tab")
        symbols.move_cursor(row=symbols.row_count - 1)
        last = str(symbols.get_row_at(symbols.row_count - 1)[0])
        await press(pilot, "x")
        await until(lambda: isinstance(app.screen, ConfirmDialog))
        await press(pilot, "y")
        await until(lambda: app.last_answer is not None and app.last_answer[0] == "symbols.remove")
        await _feed_until(checker, SPOT, lambda f: last not in f["symbols"])

        await press(pilot, "a")
        await until(lambda: isinstance(app.screen, SymbolsDialog) and app.screen.query(Input))
        app.screen.query_one(Input).value = last.lower()
        await press(pilot, "enter")
        await until(lambda: isinstance(app.screen, ConfirmDialog))
        await press(pilot, "y")
        await until(lambda: app.last_answer is not None and app.last_answer[0] == "symbols.add")
        assert app.last_answer[1] is True, app.last_answer
        await _feed_until(checker, SPOT, lambda f: last in f["symbols"])
        # and the TUI shows the symbol again once the daemon has it
        await until(lambda: any(s == last for s, _ in _symbols(app)), timeout=10)


def _symbols(app: VirtuosoApp) -> list[tuple[str, str]]:
    from tui.screens.system import symbol_states

    return symbol_states(app.feeds.feeds.get(SPOT))


async def test_the_app_reattaches_when_the_daemon_comes_back() -> None:
    cfg = demo_config(n_alts=3)
    app = create_app(SocketClient(cfg.daemon.socket), throttle_ms=100, status_interval=0.3)
    async with app.run_test(size=(120, 30)) as pilot:
        await until(lambda: app.link_state == "disconnected", timeout=10)  # no daemon yet
        async with running_daemon(cfg):
            # every spot symbol (BTC + 3 alts) has been shown before the daemon goes
            await until(lambda: app.connected and len(app.market.quotes) >= 4, timeout=30)
        # the daemon stopped: the app says so and keeps the data
        await until(lambda: app.link_state == "disconnected", timeout=10)
        await render(pilot)
        assert app.query_one("#main").has_class("-offline")
        kept = len(app.market.quotes)
        assert kept >= 4
        async with running_daemon(cfg):
            await until(lambda: app.connected, timeout=30)
            newest = app.market.newest_recv_ts
            await until(lambda: app.market.newest_recv_ts > newest, timeout=20)
            # the reattach snapshot mirrors the new daemon, which may not have every
            # ticker yet; the rest arrive live
            await until(lambda: len(app.market.quotes) >= kept, timeout=20)
