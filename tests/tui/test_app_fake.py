"""Behaviour of the app on deterministic data: conflation, filter, sort, actions, help.

These drive the app with Textual's pilot against :class:`tests.tui.fakes.FakeClient`
(what the app asked the daemon is in ``fake.requests``). The same behaviours against
a real daemon are in ``test_live_daemon.py``.
"""

from __future__ import annotations

import io
from typing import Any

from rich.console import Console
from textual.command import CommandPalette
from textual.widgets import Input, OptionList

from tests.tui.fakes import NOW, FakeClient, steady_backoff, ticker
from tests.tui.helpers import drained, press, render, settle, show, until
from tui.app import VirtuosoApp, create_app
from tui.live import Backoff
from tui.screens.dialogs import ConfirmDialog, SymbolsDialog, parse_symbols
from tui.screens.help import HelpScreen
from tui.screens.market import MarketPane
from tui.widgets.ticker_table import TickerTable


def _app(fake: FakeClient, **kw: Any) -> VirtuosoApp:
    return create_app(fake, clock=lambda: NOW, backoff=steady_backoff(), **kw)


def _table(app: VirtuosoApp) -> TickerTable:
    return app.query_one("#tickers", TickerTable)


async def test_a_newer_ticker_replaces_a_queued_older_one() -> None:
    fake = FakeClient()
    app = _app(fake)
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(pilot, fake, history=False)
        received = app.conflator.received
        # 50 updates of one symbol queued before the app gets to them: one survives
        for step in range(100, 150):
            fake.push("tickers", ticker("binance", "ETH/USDT", 1, step))
        await drained(pilot, fake)
        await render(pilot)
        assert app.conflator.received - received == 50
        assert app.conflator.replaced >= 40  # how many the app never had to apply
        newest = ticker("binance", "ETH/USDT", 1, 149)
        assert app.market.quotes["binance|ETH/USDT"].last == newest.last
        assert f"{newest.last:,.2f}" in _table(app).cell_text("binance|ETH/USDT", "last")


async def test_typing_filters_and_keys_sort() -> None:
    fake = FakeClient()
    app = _app(fake)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot, fake)
        table = _table(app)
        assert len(table.order) == 24
        await press(pilot, "s", "o", "l")
        await render(pilot)
        assert table.order == ["binance|SOL/USDT", "binance-perp|SOL/USDT:USDT"]
        await press(pilot, "escape")
        await render(pilot)
        assert len(table.order) == 24
        pane = app.query_one(MarketPane)
        assert pane.sort_key == "volume"
        await press(pilot, "less_than_sign")  # previous column: 24h change
        await render(pilot)
        assert pane.sort_key == "change"
        changes = [app.market.quotes[k].change_pct or 0 for k in table.order]
        assert changes == sorted(changes, reverse=True)
        await press(pilot, "minus")
        await render(pilot)
        changes = [app.market.quotes[k].change_pct or 0 for k in table.order]
        assert changes == sorted(changes)


async def test_pause_asks_first_and_shows_the_daemons_answer() -> None:
    fake = FakeClient()
    app = _app(fake)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, fake)
        await show(pilot, "system")
        await press(pilot, "p")
        await until(lambda: isinstance(app.screen, ConfirmDialog))
        await press(pilot, "n")  # cancelled: nothing is sent
        await pilot.pause()
        assert not [r for r in fake.requests if r[0] == "feeds.pause"]
        await press(pilot, "p")
        await until(lambda: isinstance(app.screen, ConfirmDialog))
        await press(pilot, "y")
        await until(lambda: app.last_answer is not None)
        assert ("feeds.pause", {"exchange": "binance"}) in fake.requests
        assert app.last_answer is not None and app.last_answer[:2] == ("feeds.pause", True)
        # a symbol: focus the symbols table, pick the second row, resume it
        await press(pilot, "tab", "down", "r")
        await until(lambda: any(r[0] == "feeds.resume" for r in fake.requests))
        assert ("feeds.resume", {"exchange": "binance", "symbol": "ETH/USDT"}) in fake.requests


async def test_add_and_remove_symbols_confirm_first() -> None:
    fake = FakeClient()
    app = _app(fake)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, fake)
        await show(pilot, "system")
        await press(pilot, "a")
        await until(lambda: isinstance(app.screen, SymbolsDialog) and app.screen.query(Input))
        app.screen.query_one(Input).value = "wif/usdt, bonk/usdt"
        await press(pilot, "enter")
        await until(lambda: isinstance(app.screen, ConfirmDialog))
        await press(pilot, "y")
        await until(lambda: app.last_answer is not None)
        assert ("symbols.add", {"exchange": "binance", "symbols": ["WIF/USDT", "BONK/USDT"]}) in (
            fake.requests
        )
        await press(pilot, "tab", "x")
        await until(lambda: isinstance(app.screen, ConfirmDialog))
        await press(pilot, "y")
        await until(lambda: any(r[0] == "symbols.remove" for r in fake.requests))
        assert ("symbols.remove", {"exchange": "binance", "symbols": ["BTC/USDT"]}) in (
            fake.requests
        )


async def test_command_palette_reaches_feed_actions() -> None:
    fake = FakeClient()
    app = _app(fake)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, fake)
        titles = [c.title for c in app.get_system_commands(app.screen)]
        for expected in (
            "Go to Market",
            "Go to Beta",
            "Go to Feeds & system",
            "Feeds: pause binance",
            "Feeds: resume binance-perp",
            "Feeds: add symbols to binance",
            "Feeds: remove binance ETH/USDT",
            "Daemon: reload config",
            "Market: sort by Symbol",
            "Beta: show 4h · 30d",
            "Toggle light/dark theme",
        ):
            assert expected in titles
        await press(pilot, "ctrl+p")
        await until(lambda: isinstance(app.screen, CommandPalette))
        app.screen.query_one(Input).value = "Feeds: pause binance-perp"
        await until(lambda: app.screen.query_one(OptionList).option_count > 0)
        await press(pilot, "enter")
        await until(lambda: isinstance(app.screen, ConfirmDialog))
        await press(pilot, "y")
        await until(lambda: any(r[0] == "feeds.pause" for r in fake.requests))
        assert ("feeds.pause", {"exchange": "binance-perp"}) in fake.requests


async def test_help_lists_the_keys_of_every_screen() -> None:
    fake = FakeClient()
    app = _app(fake)
    async with app.run_test(size=(120, 60)) as pilot:
        await settle(pilot, fake)
        await press(pilot, "question_mark")
        await until(lambda: isinstance(app.screen, HelpScreen))
        screen = app.screen
        assert isinstance(screen, HelpScreen)
        console = Console(width=120, record=True, file=io.StringIO())
        console.print(screen.content())
        text = console.export_text()
        for expected in (
            "Market (key 1)",
            "Beta (key 2)",
            "Feeds & system (key 3)",
            "Pause",
            "Add symbols",
            "Timeframe",
            "filter",
            "Light/dark",
            "Reconnect",
        ):
            assert expected in text
        await press(pilot, "escape")
        await until(lambda: not isinstance(app.screen, HelpScreen))


async def test_theme_toggles_between_light_and_dark() -> None:
    fake = FakeClient()
    app = _app(fake, theme="dark")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, fake)
        assert app.theme == "virtuoso-dark"
        await press(pilot, "ctrl+t")
        await until(lambda: app.theme == "virtuoso-light")
        await pilot.pause()


async def test_daemon_loss_is_shown_and_the_app_reconnects_by_itself() -> None:
    fake = FakeClient()
    app = create_app(fake, clock=lambda: NOW, backoff=Backoff(0.05, 0.2, jitter=0))
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(pilot, fake)
        before = dict(app.market.quotes)
        fake.go_down()
        await until(lambda: app.link_state == "disconnected")
        await render(pilot)
        assert app.query_one("#main").has_class("-offline")
        assert "unreachable" in str(app.query_one("#linkbar").render())
        await until(lambda: app.attempt >= 2)  # it keeps trying, with backoff
        assert app.market.quotes.keys() == before.keys()  # last data kept
        fake.up = True
        await until(lambda: app.connected)
        await render(pilot)
        assert not app.query_one("#main").has_class("-offline")
        assert fake.connects == 2


def test_symbols_are_parsed_from_free_text() -> None:
    assert parse_symbols(" btc/usdt, eth/usdt;sol/usdt \n") == ["BTC/USDT", "ETH/USDT", "SOL/USDT"]
    assert parse_symbols("  ") == []
