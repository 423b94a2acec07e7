"""What a new user tripped over in the TUI (issue 17), one test each, on the fake daemon.

The fake answers with the real daemon's shapes (sentiment in [-1, 1], the ``beta``
query's answer with its ``windows``, feeds with their ``timeframes``, perpetual
tickers without bid/ask), so each test fails on the code the issue was filed against.
"""

from __future__ import annotations

import io

from rich.console import Console
from textual.widgets import DataTable, Label, Static
from textual.widgets.data_table import ColumnKey

from tests.tui.fakes import NOW, PERPS, SPOT, FakeClient, steady_backoff
from tests.tui.helpers import drained, press, render, settle, show, until
from tui.app import VirtuosoApp, create_app
from tui.screens.beta import BetaPane, sentiment_gauge
from tui.screens.market import MarketPane
from tui.widgets.ticker_table import TickerTable
from virtuoso_daemon.core.messages import FeedStatus

WIDE = (200, 50)  # the terminal the issue was seen on


def _app(fake: FakeClient) -> VirtuosoApp:
    return create_app(fake, clock=lambda: NOW, backoff=steady_backoff())


def _text(app: VirtuosoApp, selector: str) -> str:
    """What a Static shows, as plain text."""
    console = Console(width=200, record=True, file=io.StringIO())
    console.print(app.query_one(selector, Static).content)
    return console.export_text()


# --- Beta ------------------------------------------------------------------------------


def test_the_gauge_runs_from_fear_on_the_left_to_greed_on_the_right() -> None:
    neutral = sentiment_gauge(0.0).plain
    assert neutral.count("█") == 0 and neutral[len(neutral) // 2] == "│"
    greed = sentiment_gauge(1.0).plain
    assert greed.endswith("█" * (len(greed) // 2 + 1)) and greed.startswith("░")
    fear = sentiment_gauge(-1.0).plain
    assert fear.startswith("█" * (len(fear) // 2 + 1)) and fear.endswith("░")
    slightly = sentiment_gauge(0.105).plain  # the value the issue saw as "0 neutral"
    assert 1 <= slightly.count("█") <= 3 and slightly.index("█") >= len(slightly) // 2


async def test_sentiment_shows_the_score_in_minus_one_to_one_with_decimals() -> None:
    fake = FakeClient()
    app = _app(fake)
    async with app.run_test(size=WIDE) as pilot:
        await settle(pilot, fake)
        await show(pilot, "beta")
        await render(pilot)
        text = _text(app, "#sentiment")
        assert "+0.105 neutral" in text and "index 55.2/100" in text
        assert "█" in text.splitlines()[0]  # the gauge shows the (small) greed
        assert "-0.53" in text  # a component's score, signed, in [-1, 1]


async def test_every_configured_window_is_loaded_on_attach() -> None:
    fake = FakeClient()
    app = _app(fake)
    async with app.run_test(size=WIDE) as pilot:
        await settle(pilot, fake)
        await until(lambda: len(app.analytics.windows()) == 4)
        asked = {(a.get("timeframe"), a.get("window")) for c, a in fake.requests if c == "beta"}
        assert {("1h", "30d"), ("4h", "30d"), ("1d", "90d")} <= asked
        await show(pilot, "beta")
        pane = app.query_one(BetaPane)
        start = pane.choice
        await press(pilot, "w")
        await until(lambda: pane.choice != start)
        assert pane.choice is not None
        assert pane.choice[0] == start[0]  # w: another window of the same timeframe
        await press(pilot, "t")
        await until(lambda: pane.choice is not None and pane.choice[0] != start[0])


async def test_beta_columns_show_whole_bucket_names() -> None:
    fake = FakeClient()
    app = _app(fake)
    async with app.run_test(size=WIDE) as pilot:
        await settle(pilot, fake)
        await show(pilot, "beta")
        await render(pilot)
        table = app.query_one("#beta-table", DataTable)
        bucket = table.columns[ColumnKey("risk_bucket")]
        assert bucket.get_render_width(table) >= len("aggressive") + 2 * table.cell_padding
        assert table.size.width >= table.virtual_size.width  # nothing cut off


# --- Market ----------------------------------------------------------------------------


async def test_chart_timeframes_are_those_the_daemon_keeps_for_that_exchange() -> None:
    fake = FakeClient()
    app = _app(fake)
    async with app.run_test(size=WIDE) as pilot:
        await settle(pilot, fake)
        pane = app.query_one(MarketPane)
        pane.selected = "binance-perp|BTC/USDT:USDT"
        pane._selection_changed()
        assert pane.timeframes == ("1m", "1h")  # not the old hard-coded 5m/15m/4h/1d
        seen = set()
        for _ in range(4):
            await press(pilot, "right_square_bracket")
            seen.add(pane.timeframe)
        assert seen == {"1m", "1h"}
        pane.selected = "binance|BTC/USDT"
        pane._selection_changed()
        assert pane.timeframes == ("1m", "1h", "4h", "1d")


async def test_market_columns_use_the_terminal_width() -> None:
    fake = FakeClient()
    app = _app(fake)
    async with app.run_test(size=WIDE) as pilot:
        await settle(pilot, fake)
        await render(pilot)
        table = app.query_one("#tickers", TickerTable)
        keys = [c.key for c in table.columns_shown]
        symbol_width = table.widths[keys.index("symbol")]
        assert symbol_width >= max(len(s) for s in PERPS)  # AVAX/USDT:USDT whole
        used = sum(table.widths) + 2 * len(table.widths) + 1
        assert table.size.width - used <= 2  # no wide empty margin on the right


async def test_rows_of_paused_feeds_and_symbols_look_paused() -> None:
    fake = FakeClient()
    app = _app(fake)
    async with app.run_test(size=WIDE) as pilot:
        await settle(pilot, fake)
        await render(pilot)
        table = app.query_one("#tickers", TickerTable)
        assert table.cell_text("binance|PEPE/USDT", "trend") == "⏸ paused"  # a paused symbol
        assert table.cell_text("binance|BTC/USDT", "trend") != "⏸ paused"
        feed = FeedStatus(exchange="binance-perp", market="linear", state="paused", ts=NOW)
        fake.push("feed_status", feed)
        await drained(pilot, fake)
        await render(pilot)
        assert all(table.cell_text(f"binance-perp|{s}", "trend") == "⏸ paused" for s in PERPS)
        assert all(app.market.quotes[f"binance|{s}"].paused == (s == "PEPE/USDT") for s in SPOT)


async def test_a_perpetual_shows_bid_and_ask_from_its_order_book() -> None:
    fake = FakeClient()
    app = _app(fake)
    async with app.run_test(size=WIDE) as pilot:
        await settle(pilot, fake)
        key = "binance-perp|BTC/USDT:USDT"
        assert app.market.quotes[key].bid is None  # the ticker stream has none
        pane = app.query_one(MarketPane)
        pane.selected = key
        pane._selection_changed()
        await until(lambda: key in app.market.books)
        await drained(pilot, fake)
        pane._show_head()
        head = pane._head
        assert "bid – @ –" not in head and "ask – @ –" not in head  # noqa: RUF001
        best_bid = app.market.books[key].bids[0][0]
        assert f"{best_bid:,.2f}" in head


# --- Feeds & system ----------------------------------------------------------------------


async def test_feeds_header_and_actors_table_fit_their_columns() -> None:
    fake = FakeClient()
    app = _app(fake)
    async with app.run_test(size=WIDE) as pilot:
        await settle(pilot, fake)
        await show(pilot, "system")
        await render(pilot)
        title = app.query_one("#symbols-title", Label)
        text = str(title.render())
        assert text == "symbols of binance (20)"
        assert len(text) <= title.size.width  # not cut into the actors header
        actors = app.query_one("#actors", DataTable)
        # no sideways overflow: a one-cell overflow drew a lone scrollbar thumb (▆)
        assert actors.virtual_size.width <= actors.size.width
        assert not actors.show_horizontal_scrollbar
        names = {str(actors.get_row_at(i)[0]) for i in range(actors.row_count)}
        assert "feeds:binance-perp" in names


async def test_the_last_action_line_reads_as_a_sentence() -> None:
    fake = FakeClient()
    app = _app(fake)
    async with app.run_test(size=WIDE) as pilot:
        await settle(pilot, fake)
        await show(pilot, "system")
        await app.perform("feeds.resume", {"exchange": "binance-perp"})
        await render(pilot)
        line = _text(app, "#answer")
        assert "feeds.resume ok binance-perp is connected, 4 symbols" in line
        assert "type=" not in line and "FeedStatus" not in line and "{" not in line
        await app.perform("symbols.add", {"exchange": "binance", "symbols": ["WIF/USDT"]})
        assert "added WIF/USDT on binance; 20 symbols now" in _text(app, "#answer")
