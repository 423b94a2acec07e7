"""Market: every symbol's live ticker, sortable and filterable, with a detail panel.

The table shows price, 24h change, volume, spread, funding (perpetuals) and a sparkline.
Typing letters filters; ``<``/``>`` pick the sort column, ``-`` flips it. The detail
panel shows the selected symbol's candles for each timeframe (``[``/``]``), its order
book summary and recent trades, fetched on demand for that one symbol only.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Input, Static

from .. import format as fmt
from ..model import Quote
from ..widgets.candles import CandleChart, Row
from ..widgets.live_text import LiveText
from ..widgets.ticker_table import COLUMNS, SORTABLE, TickerTable
from .base import LivePane

RESORT_INTERVAL = 3.0  # seconds between re-sorts when sorted by a live column
DETAIL_REFRESH = 10.0  # seconds between chart/book/trades refreshes of the selection
WIDE_TABLE = 96  # table width from which the exchange column and long sparklines show
DETAIL_BESIDE = 150  # terminal width from which the detail panel is open by default


def _rows(result: Any) -> list[Row]:
    """Candles from an ``ohlcv`` answer: a list, or a dict holding ``rows``/``candles``."""
    data = result
    if isinstance(result, Mapping):
        data = result.get("rows") or result.get("candles") or result.get("ohlcv") or []
    rows: list[Row] = []
    for r in data if isinstance(data, list) else []:
        if isinstance(r, Mapping):
            r = [r.get(k) for k in ("open_time", "open", "high", "low", "close", "volume")]
        try:
            t, o, h, lo, c, v = (float(x) for x in list(r)[:6])
        except (TypeError, ValueError):
            continue
        rows.append((t, o, h, lo, c, v))
    return rows


class DetailPanel(Vertical, can_focus=True):
    """The selected symbol's panel; focusable so its keys work when the table is hidden."""


class MarketPane(LivePane):
    """The market screen (see the module docstring)."""

    BINDINGS = [
        Binding("slash", "focus_filter", "Filter"),
        Binding("less_than_sign", "sort(-1)", "Sort ◂", key_display="<"),
        Binding("greater_than_sign", "sort(1)", "Sort ▸", key_display=">"),
        Binding("minus", "reverse", "Reverse", key_display="-"),
        Binding("left_square_bracket", "timeframe(-1)", "TF ◂", key_display="["),
        Binding("right_square_bracket", "timeframe(1)", "TF ▸", key_display="]"),
        Binding("escape", "close_detail", "Close detail", show=False),
    ]
    KEYS_HELP = (
        ("letters", "filter the table by typing (digits too, once a filter is started)"),
        ("backspace / escape", "edit / clear the filter"),
        ("enter", "show or hide the detail panel of the selected symbol"),
        ("click a header", "sort by that column"),
    )

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.sort_key = "volume"
        self.sort_reverse = True
        self.filter_text = ""
        self.selected: str | None = None
        # the candle timeframes each exchange's feed keeps, as the daemon reports them
        self.timeframes_by_exchange: dict[str, tuple[str, ...]] = {}
        self.timeframe = "1m"  # the last hour of 1m candles: what "live" means to an operator
        self.detail_open: bool | None = None  # None: follow the layout's default
        self.candles: dict[tuple[str, str], list[Row]] = {}
        self._detail_seen = -1
        self._last_sort = 0.0
        self._rebuild = True
        self._detail_for: tuple[str | None, str] = (None, "")
        self._head = ""

    def compose(self) -> ComposeResult:
        with Horizontal(id="market-body"):
            with Vertical(id="market-left"):
                with Horizontal(id="market-toolbar"):
                    yield Input(placeholder="type to filter", id="market-filter")
                    yield LiveText(id="market-sort")
                yield TickerTable(id="tickers")
            with DetailPanel(id="detail"):
                yield LiveText(id="detail-head")
                yield LiveText(id="detail-tf")
                yield CandleChart(id="detail-chart")
                with Horizontal(id="detail-bottom"):
                    yield Static(id="detail-book")
                    yield Static(id="detail-trades")

    @property
    def table(self) -> TickerTable:
        return self.query_one(TickerTable)

    def on_mount(self) -> None:
        self.table.setup_columns(wide=False)
        self._show_sort()
        self.set_interval(DETAIL_REFRESH, self._refresh_detail)

    # --- rendering -----------------------------------------------------------------

    def _visible(self) -> list[Quote]:
        quotes: list[Quote] = list(self.vapp.market.quotes.values())
        needle = self.filter_text.upper()
        if needle:
            quotes = [q for q in quotes if needle in q.symbol.upper().replace("/", "")]
        col = next(c for c in COLUMNS if c.key == self.sort_key)
        assert col.sort is not None
        ordered = sorted(quotes, key=lambda q: q.symbol)  # stable tie-break
        if col.key == "symbol":
            return sorted(ordered, key=col.sort, reverse=self.sort_reverse)
        known = [q for q in ordered if col.sort(q) != float("-inf")]
        unknown = [q for q in ordered if col.sort(q) == float("-inf")]
        return sorted(known, key=col.sort, reverse=self.sort_reverse) + unknown

    def refresh_live(self, force: bool = False) -> None:
        market = self.vapp.market
        table = self.table
        self._apply_layout()
        now = time.monotonic()
        live_sort = self.sort_key != "symbol" and now - self._last_sort >= RESORT_INTERVAL
        dirty = market.take_dirty()
        if force or self._rebuild or market.added or live_sort:
            quotes = self._visible()
            keys = [q.key for q in quotes]
            if force or self._rebuild or market.added or keys != table.order:
                table.set_rows(quotes, keep=self.selected)
                self._show_sort()
            else:
                table.update_quotes(market.quotes[k] for k in dirty if k in market.quotes)
            market.added = False
            self._rebuild = False
            self._last_sort = now
        elif dirty:
            table.update_quotes(market.quotes[k] for k in dirty if k in market.quotes)
        if self.selected is None and table.order:
            self.selected = table.selected_key
        if self.detail_visible:
            if force or self.selected in dirty or self._head == "":
                self._show_head()
            if market.detail_version != self._detail_seen:
                self._detail_seen = market.detail_version
                self._show_book()
                self._show_trades()

    def _apply_layout(self) -> None:
        table = self.table
        width = table.size.width
        wide = width >= WIDE_TABLE
        longest = max((len(q.symbol) for q in self.vapp.market.quotes.values()), default=0)
        if width and (wide, width, longest) != table.layout_key:
            table.setup_columns(wide, width, longest)
            self._rebuild = True
        # by default the detail panel shows only where it fits beside a full table
        roomy = self.app.size.width >= DETAIL_BESIDE
        open_ = self.detail_open if self.detail_open is not None else roomy
        self.set_class(open_, "-detail")

    @property
    def detail_visible(self) -> bool:
        return self.has_class("-detail")

    def _show_sort(self) -> None:
        label = next(c.label for c in COLUMNS if c.key == self.sort_key)
        arrow = "▼" if self.sort_reverse else "▲"
        shown = len(self.table.order)
        total = len(self.vapp.market.quotes)
        count = f"{shown}/{total}" if self.filter_text else f"{total}"
        self.query_one("#market-sort", LiveText).show(f" sort: {label} {arrow} · {count} symbols")

    def _show_head(self) -> None:
        q = self.vapp.market.quotes.get(self.selected or "")
        head = self.query_one("#detail-head", LiveText)
        if q is None:
            self._head = "-"
            head.show(Text("select a symbol", style="dim"))
            return
        t = Text()
        t.append(f"{q.symbol}", style="bold")
        t.append(f"  {q.exchange} · {q.market}\n", style="dim")
        t.append(fmt.price(q.last), style="bold")
        t.append("  ")
        t.append_text(fmt.change_text(q.change_pct))
        t.append("\n")
        bid, bid_size, ask, ask_size = self.vapp.market.top_of_book(q.key)
        t.append(f"bid {fmt.compact(bid_size)} @ {fmt.price(bid)}   ")
        t.append(f"ask {fmt.compact(ask_size)} @ {fmt.price(ask)}   ")
        t.append(f"spread {fmt.bps(fmt.spread_bps(bid, ask))}")
        if q.paused:
            t.append("  paused", style="magenta")
        t.append("\n")
        t.append(f"24h high {fmt.price(q.high)}  low {fmt.price(q.low)}  ")
        t.append(f"vol {fmt.compact(q.quote_volume)}")
        if q.perpetual:
            t.append(f"\nfunding {fmt.funding(q.funding)}  mark {fmt.price(q.mark_price)}")
        self._head = t.plain
        head.show(t)

    @property
    def timeframes(self) -> tuple[str, ...]:
        """The timeframes the selected symbol's exchange keeps (from the daemon)."""
        q = self.vapp.market.quotes.get(self.selected or "")
        return self.timeframes_by_exchange.get(q.exchange, ()) if q is not None else ()

    def _show_timeframes(self) -> None:
        t = Text("timeframe ")
        if not self.timeframes:
            q = self.vapp.market.quotes.get(self.selected or "")
            where = f" for {q.exchange}" if q is not None else ""
            t.append(f"the daemon keeps no candles{where}", style="dim")
        for tf in self.timeframes:
            t.append(f" {tf} ", style="reverse bold" if tf == self.timeframe else "dim")
        if self.timeframes:
            t.append("  [ ]", style="dim")
        # the daemon's timeframes can arrive before this pane's children are mounted;
        # they are shown with the detail panel's next update then
        for widget in self.query("#detail-tf").results(LiveText):
            widget.show(t)

    def _show_book(self) -> None:
        key = self.selected or ""
        q = self.vapp.market.quotes.get(key)
        book = self.vapp.market.books.get(key)
        grid = Table.grid(padding=(0, 1))
        for _ in range(4):
            grid.add_column(justify="right")
        grid.title = "order book"
        bids: list[Any] = []
        asks: list[Any] = []
        if book:
            bids = list(book.bids[:5])
            asks = list(book.asks[:5])
        elif q is not None and q.bid is not None and q.ask is not None:
            bids, asks = [(q.bid, q.bid_size)], [(q.ask, q.ask_size)]
        for i in range(max(len(bids), len(asks))):
            b = bids[i] if i < len(bids) else (None, None)
            a = asks[i] if i < len(asks) else (None, None)
            grid.add_row(
                Text(fmt.compact(b[1]), style="dim"),
                Text(fmt.price(b[0]), style="green"),
                Text(fmt.price(a[0]), style="red"),
                Text(fmt.compact(a[1]), style="dim"),
            )
        if not bids and not asks:
            grid.add_row(Text("no book yet", style="dim"))
        parts: list[Any] = [grid]
        if book:
            parts.append(
                Text(
                    f"depth ±{book.depth_pct:g}%: bids {fmt.compact(book.bid_depth)} "
                    f"asks {fmt.compact(book.ask_depth)}",
                    style="dim",
                )
            )
        self.query_one("#detail-book", Static).update(Group(*parts))

    def _show_trades(self) -> None:
        trades = self.vapp.market.trades.get(self.selected or "")
        grid = Table.grid(padding=(0, 1))
        grid.title = "recent trades"
        grid.add_column()
        grid.add_column(justify="right")
        grid.add_column(justify="right")
        if not trades:
            grid.add_row(Text("no trades yet", style="dim"))
        for tr in list(trades or ())[-6:][::-1]:
            stamp = time.strftime("%H:%M:%S", time.gmtime(tr.ts / 1000))
            grid.add_row(
                Text(stamp, style="dim"),
                Text(fmt.price(tr.price), style="green" if tr.side == "buy" else "red"),
                Text(fmt.compact(tr.amount)),
            )
        self.query_one("#detail-trades", Static).update(grid)

    def _show_chart(self) -> None:
        q = self.vapp.market.quotes.get(self.selected or "")
        chart = self.query_one(CandleChart)
        rows = self.candles.get((self.selected or "", self.timeframe), [])
        caption = f"{q.symbol} {self.timeframe}" if q else "no symbol selected"
        if q is not None and not rows:
            missing = self.vapp.unavailable.get("ohlcv")
            caption += f" ({missing})" if missing else " (no candles yet)"
        chart.show(rows, caption, self.timeframe)

    # --- detail loading ------------------------------------------------------------

    def _refresh_detail(self) -> None:
        if self.detail_visible and self.selected and self.vapp.connected:
            self._load_detail(self.selected, self.timeframe)

    @work(exclusive=True, group="market-detail")
    async def _load_detail(self, key: str, timeframe: str) -> None:
        q = self.vapp.market.quotes.get(key)
        if q is None:
            return
        args = {"exchange": q.exchange, "symbol": q.symbol, "timeframe": timeframe, "limit": 60}
        result = await self.vapp.ask("ohlcv", args, optional=True)
        if result is not None:
            self.candles[(key, timeframe)] = _rows(result)
        if key == self.selected and self.is_attached:
            self._show_chart()

    def _selection_changed(self) -> None:
        if not self.is_attached:  # a late event while the app shuts down
            return
        key = self.selected
        self._fit_timeframe()
        if (key, self.timeframe) == self._detail_for:
            return
        if not self.detail_visible:
            self._detail_for = (None, "")
            return
        if key != self._detail_for[0] and key and self.detail_visible:
            q = self.vapp.market.quotes.get(key)
            if q is not None:
                self.vapp.watch_symbol(q.exchange, q.symbol)
        self._detail_for = (key, self.timeframe)
        self._show_head()
        self._show_timeframes()
        self._show_chart()
        self._show_book()
        self._show_trades()
        if key and self.vapp.connected and self.detail_visible:
            self._load_detail(key, self.timeframe)

    # --- events and actions --------------------------------------------------------

    @on(TickerTable.Highlighted)
    def _highlighted(self, event: TickerTable.Highlighted) -> None:
        self.selected = event.key
        self._selection_changed()

    @on(TickerTable.Selected)
    def _selected(self, event: TickerTable.Selected) -> None:
        self._toggle()

    @on(TickerTable.SortRequested)
    def _header(self, event: TickerTable.SortRequested) -> None:
        key = event.column
        if key in SORTABLE:
            if key == self.sort_key:
                self.sort_reverse = not self.sort_reverse
            else:
                self.sort_key, self.sort_reverse = key, key != "symbol"
            self._resort()

    @on(TickerTable.Typed)
    def _typed(self, event: TickerTable.Typed) -> None:
        inp = self.query_one("#market-filter", Input)
        if event.key == "escape":
            inp.value = ""
        elif event.key == "backspace":
            inp.value = inp.value[:-1]
        elif event.character:
            inp.value += event.character

    @on(Input.Changed, "#market-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.filter_text = event.value.strip()
        self.table.filter_active = bool(self.filter_text)
        self._resort()

    @on(Input.Submitted, "#market-filter")
    def _filter_done(self, event: Input.Submitted) -> None:
        self.table.focus()

    def _resort(self) -> None:
        self._rebuild = True
        self.refresh_live()
        self._show_sort()

    def action_focus_filter(self) -> None:
        self.query_one("#market-filter", Input).focus()

    def action_sort(self, step: int) -> None:
        i = SORTABLE.index(self.sort_key)
        self.sort_key = SORTABLE[(i + step) % len(SORTABLE)]
        self.sort_reverse = self.sort_key != "symbol"
        self._resort()

    def action_reverse(self) -> None:
        self.sort_reverse = not self.sort_reverse
        self._resort()

    def action_timeframe(self, step: int) -> None:
        tfs = self.timeframes
        if not tfs:
            return
        i = tfs.index(self.timeframe) if self.timeframe in tfs else 0
        self.timeframe = tfs[(i + step) % len(tfs)]
        self._selection_changed()

    def action_close_detail(self) -> None:
        if self.detail_visible:
            self.detail_open = False
            self._apply_layout()
            self.table.focus()

    def set_timeframes(self, by_exchange: Mapping[str, Sequence[str]]) -> None:
        """The candle timeframes each feed keeps (``feeds.list``'s ``timeframes``)."""
        new = {ex: tuple(dict.fromkeys(tfs)) for ex, tfs in by_exchange.items()}
        if new == self.timeframes_by_exchange:
            return
        self.timeframes_by_exchange = new
        self._fit_timeframe()
        self._show_timeframes()

    def _fit_timeframe(self) -> None:
        """Keep the chart on a timeframe the selected symbol's exchange has."""
        tfs = self.timeframes
        if tfs and self.timeframe not in tfs:
            self.timeframe = "1m" if "1m" in tfs else tfs[0]

    def on_shown(self) -> None:
        self.table.focus()
        self._detail_for = (None, "")
        self.refresh_live(force=True)
        self._show_sort()
        self._selection_changed()

    def commands(self) -> Iterator[SystemCommand]:
        for col in COLUMNS:
            if col.sort is not None:
                yield SystemCommand(
                    f"Market: sort by {col.label}",
                    "Order the market table by this column",
                    lambda k=col.key: self._sort_by(k),
                )
        for tf in self.timeframes:
            yield SystemCommand(
                f"Market: chart timeframe {tf}",
                "Show candles of this timeframe in the detail panel",
                lambda t=tf: self._set_tf(t),
            )
        yield SystemCommand(
            "Market: filter symbols", "Focus the filter box", self.action_focus_filter
        )
        yield SystemCommand(
            "Market: toggle detail panel", "Show or hide the selected symbol's detail", self._toggle
        )

    def _sort_by(self, key: str) -> None:
        self.sort_key, self.sort_reverse = key, key != "symbol"
        self._resort()

    def _set_tf(self, tf: str) -> None:
        self.timeframe = tf
        self._selection_changed()

    def _toggle(self) -> None:
        self.detail_open = not self.detail_visible
        self._apply_layout()
        self._detail_for = (None, "")
        self._selection_changed()
        if self.detail_visible and self.screen.has_class("-narrow"):
            self.query_one(DetailPanel).focus()
        else:
            self.table.focus()
