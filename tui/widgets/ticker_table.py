"""The market table: a line-API widget that repaints only what changed.

Textual's DataTable invalidates the render cache of every visible cell whenever any
cell changes, so 500 symbols updating 10 times a second cost a full repaint of the
visible table every frame (measured: ~0.8 ms per cell, several frames behind). This
widget keeps one pre-rendered :class:`~textual.strip.Strip` per row, keyed by the row's
content; a frame re-renders only the rows whose text changed and reuses the rest.

* Rows are (re)ordered only when the set or order of symbols changes (filter, sort,
  universe); live updates go through :meth:`TickerTable.update_quotes`.
* Only visible lines are ever drawn (``render_line``); the header row is sticky.
* Letters typed while it has focus are posted as :class:`TickerTable.Typed` so the
  market screen filters by typing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from .. import format as fmt
from ..model import Quote

Cell = tuple[str, str]  # text, rich style ("" = the row's)


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    width: int
    render: Callable[[Quote, int], Cell]
    sort: Callable[[Quote], float | str] | None = None
    wide_only: bool = False
    right: bool = True


def _num_sort(value: float | None) -> float:
    return float("-inf") if value is None else value


def _change(q: Quote, w: int) -> Cell:
    v = q.change_pct
    style = "dim" if not v else "green" if v > 0 else "red"
    return fmt.pct(v), style


def _trend(q: Quote, w: int) -> Cell:
    h = q.history
    style = "dim"
    if len(h) >= 2:
        style = "green" if h[-1] > h[0] else "red" if h[-1] < h[0] else "dim"
    return fmt.sparkline(h, w), style


COLUMNS: tuple[Column, ...] = (
    Column(
        "symbol", "Symbol", 13, lambda q, w: (q.symbol, "bold"), lambda q: q.symbol, right=False
    ),
    Column(
        "exchange",
        "Exchange",
        13,
        lambda q, w: (q.exchange, "dim"),
        lambda q: q.exchange,
        True,
        right=False,
    ),
    Column("last", "Last", 11, lambda q, w: (fmt.price(q.last), ""), lambda q: _num_sort(q.last)),
    Column("change", "24h", 7, _change, lambda q: _num_sort(q.change_pct)),
    Column(
        "volume",
        "Vol",
        6,
        lambda q, w: (fmt.compact(q.quote_volume), ""),
        lambda q: _num_sort(q.quote_volume),
    ),
    Column(
        "spread",
        "Spread",
        6,
        lambda q, w: (fmt.bps(fmt.spread_bps(q.bid, q.ask)), "dim"),
        lambda q: _num_sort(fmt.spread_bps(q.bid, q.ask)),
    ),
    Column(
        "funding",
        "Funding",
        8,
        lambda q, w: (fmt.funding(q.funding) if q.perpetual else "", ""),
        lambda q: _num_sort(q.funding),
    ),
    Column("trend", "Trend", 10, _trend),
)

SORTABLE = tuple(c.key for c in COLUMNS if c.sort is not None)
WIDE_TREND = 30
TREND_MIN, TREND_MAX = 10, 72  # the sparkline takes the width the other columns leave
SYMBOL_MIN, SYMBOL_MAX = 8, 24
PAD = 1  # spaces each side of a cell
PAUSED = "dim italic"


@lru_cache(maxsize=64)
def _style(spec: str) -> Style:
    return Style.parse(spec) if spec else Style()


def _fit(text: str, width: int, right: bool) -> str:
    if len(text) > width:
        return text[: max(0, width - 1)] + "…"
    return text.rjust(width) if right else text.ljust(width)


class TickerTable(ScrollView, can_focus=True):
    """Quotes keyed by ``exchange|symbol``, one cached strip per row."""

    COMPONENT_CLASSES = {
        "ticker-table--header",
        "ticker-table--cursor",
        "ticker-table--odd",
    }
    DEFAULT_CSS = """
    TickerTable {
        background: $surface;
        scrollbar-size-vertical: 1;
    }
    TickerTable > .ticker-table--header {
        color: $primary;
        background: $panel;
        text-style: bold;
    }
    TickerTable > .ticker-table--odd {
        background: $surface-lighten-1;
    }
    TickerTable > .ticker-table--cursor {
        background: $primary 30%;
    }
    TickerTable:focus > .ticker-table--cursor {
        background: $primary 60%;
    }
    """
    BINDINGS = [
        Binding("up", "cursor(-1)", "Up", show=False),
        Binding("down", "cursor(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home", "jump(0)", "First", show=False),
        Binding("end", "jump(-1)", "Last", show=False),
        Binding("enter", "select", "Detail"),
    ]

    class Typed(Message):
        """A printable key or backspace/escape the filter should apply."""

        def __init__(self, key: str, character: str | None) -> None:
            super().__init__()
            self.key = key
            self.character = character

    class Highlighted(Message):
        """The cursor moved to another row (``key`` is ``exchange|symbol``)."""

        def __init__(self, key: str | None) -> None:
            super().__init__()
            self.key = key

    class Selected(Message):
        """Enter (or a click) on the cursor row."""

        def __init__(self, key: str | None) -> None:
            super().__init__()
            self.key = key

    class SortRequested(Message):
        """A column header was clicked."""

        def __init__(self, column: str) -> None:
            super().__init__()
            self.column = column

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.wide = False
        self.layout_key: tuple[bool, int, int] = (False, 0, 0)
        self.columns_shown: tuple[Column, ...] = ()
        self.widths: tuple[int, ...] = ()
        self.order: list[str] = []
        self.cursor_row = 0
        self.filter_active = False
        self.rows_rendered = 0  # strips built (what a frame really cost)
        self._quotes: dict[str, Quote] = {}
        self._cells: dict[str, tuple[Cell, ...]] = {}
        self._strips: dict[str, tuple[tuple[Cell, ...], str, Style, Strip]] = {}

    # --- content -------------------------------------------------------------------

    def setup_columns(self, wide: bool, width: int = 0, symbol_width: int = 0) -> None:
        """Columns for a table ``width`` cells wide (0: not known yet): the symbol column
        as wide as the longest symbol (``AVAX/USDT:USDT`` whole), the sparkline taking
        what the other columns leave, so a wide terminal is used, not left empty."""
        self.wide = wide
        self.columns_shown = tuple(c for c in COLUMNS if wide or not c.wide_only)
        sym = max(SYMBOL_MIN, min(SYMBOL_MAX, symbol_width)) if symbol_width else None
        widths = [sym if (c.key == "symbol" and sym) else c.width for c in self.columns_shown]
        fixed = sum(widths[:-1]) + 2 * PAD * len(widths) + 1  # + the vertical scrollbar
        if width:
            widths[-1] = max(TREND_MIN, min(TREND_MAX, width - fixed))
        elif wide:
            widths[-1] = WIDE_TREND
        self.widths = tuple(widths)
        self.layout_key = (wide, width, symbol_width)
        self._cells.clear()
        self._strips.clear()
        self._resize()

    def _trend_width(self) -> int:
        return self.widths[-1] if self.widths else 10

    def _row_cells(self, q: Quote) -> tuple[Cell, ...]:
        w = self._trend_width()
        cells = tuple(c.render(q, w) for c in self.columns_shown)
        if q.paused:  # its feed (or the symbol) is paused: the numbers are not live
            cells = tuple(
                ("⏸ paused", PAUSED) if c.key == "trend" else (text, PAUSED)
                for c, (text, _) in zip(self.columns_shown, cells, strict=True)
            )
        return cells

    def _resize(self) -> None:
        width = sum(w + 2 * PAD for w in self.widths)
        self.virtual_size = Size(width, len(self.order) + 1)
        self.refresh()

    def set_rows(self, quotes: Sequence[Quote], keep: str | None) -> None:
        """Replace all rows (order/filter/universe changed); keep the cursor on ``keep``."""
        before = self.selected_key
        self.order = [q.key for q in quotes]
        self._quotes = {q.key: q for q in quotes}
        self._cells = {q.key: self._row_cells(q) for q in quotes}
        if keep is not None and keep in self._quotes:
            self.cursor_row = self.order.index(keep)
        self.cursor_row = max(0, min(self.cursor_row, len(self.order) - 1))
        self._resize()
        self._follow_cursor()
        if self.selected_key != before:
            self.post_message(self.Highlighted(self.selected_key))

    def update_quotes(self, quotes: Iterable[Quote]) -> int:
        """Refresh the rows of these quotes; returns how many rows' text changed."""
        changed = 0
        top = int(self.scroll_offset.y)
        visible = range(top, top + max(0, self.size.height - 1))
        index = {k: i for i, k in enumerate(self.order)} if self.order else {}
        for q in quotes:
            old = self._cells.get(q.key)
            if old is None:
                continue
            new = self._row_cells(q)
            if new != old:
                self._cells[q.key] = new
                changed += 1
                row = index.get(q.key, -1)
                if row in visible:
                    self.refresh_line(row + 1)  # virtual line: the header is line 0
        return changed

    def cell_text(self, key: str, column: str) -> str:
        """The text shown in one cell (for tests and the bench)."""
        cells = self._cells[key]
        i = [c.key for c in self.columns_shown].index(column)
        return cells[i][0]

    @property
    def selected_key(self) -> str | None:
        if not self.order or not 0 <= self.cursor_row < len(self.order):
            return None
        return self.order[self.cursor_row]

    # --- drawing -------------------------------------------------------------------

    def _strip(self, cells: Sequence[Cell], base: Style) -> Strip:
        segments = [Segment(" " * PAD, base)]
        for col, width, (text, spec) in zip(self.columns_shown, self.widths, cells, strict=True):
            segments.append(Segment(_fit(text, width, col.right), base + _style(spec)))
            segments.append(Segment(" " * (2 * PAD), base))
        segments[-1] = Segment(" " * PAD, base)
        self.rows_rendered += 1
        return Strip(segments).simplify()

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        width = self.size.width
        base = self.rich_style
        if y == 0:
            header = base + self.get_component_rich_style("ticker-table--header")
            cells = tuple((c.label, "") for c in self.columns_shown)
            strip = self._strip(cells, header)
            return strip.crop_extend(scroll_x, scroll_x + width, header)
        row = scroll_y + y - 1
        if not 0 <= row < len(self.order):
            return Strip.blank(width, base)
        key = self.order[row]
        if row == self.cursor_row:
            kind, style = "cursor", base + self.get_component_rich_style("ticker-table--cursor")
        elif row % 2:
            kind, style = "odd", base + self.get_component_rich_style("ticker-table--odd")
        else:
            kind, style = "even", base
        cells = self._cells[key]
        cached = self._strips.get(key)
        if cached is not None and cached[0] is cells and cached[1] == kind and cached[2] == style:
            strip = cached[3]
        else:
            strip = self._strip(cells, style)
            self._strips[key] = (cells, kind, style, strip)
        return strip.crop_extend(scroll_x, scroll_x + width, style)

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._strips.clear()  # theme or CSS changed: cached colours are stale

    # --- cursor --------------------------------------------------------------------

    def move_cursor(self, row: int) -> None:
        if not self.order:
            return
        row = max(0, min(row, len(self.order) - 1))
        if row != self.cursor_row:
            self.cursor_row = row
            self.refresh()
            self.post_message(self.Highlighted(self.selected_key))
        self._follow_cursor()

    def _follow_cursor(self) -> None:
        rows = max(1, self.size.height - 1)
        top = int(self.scroll_offset.y)
        if self.cursor_row < top:
            self.scroll_to(y=self.cursor_row, animate=False)
        elif self.cursor_row >= top + rows:
            self.scroll_to(y=self.cursor_row - rows + 1, animate=False)

    def action_cursor(self, step: int) -> None:
        self.move_cursor(self.cursor_row + step)

    def action_page(self, step: int) -> None:
        self.move_cursor(self.cursor_row + step * max(1, self.size.height - 2))

    def action_jump(self, row: int) -> None:
        self.move_cursor(row if row >= 0 else len(self.order) - 1)

    def action_select(self) -> None:
        self.post_message(self.Selected(self.selected_key))

    def on_click(self, event: events.Click) -> None:
        x = event.x + int(self.scroll_offset.x)
        if event.y == 0:
            edge = 0
            for col, width in zip(self.columns_shown, self.widths, strict=True):
                edge += width + 2 * PAD
                if x < edge:
                    self.post_message(self.SortRequested(col.key))
                    return
            return
        row = int(self.scroll_offset.y) + event.y - 1
        if row == self.cursor_row:
            self.action_select()
        else:
            self.move_cursor(row)

    def on_resize(self, event: events.Resize) -> None:
        self._follow_cursor()

    def on_key(self, event: events.Key) -> None:
        # handlers run down the MRO; preventing the default keeps the app's bindings
        # from seeing a key the filter took
        char = event.character
        typing = char is not None and (char.isalpha() or (char.isdigit() and self.filter_active))
        if typing or (self.filter_active and event.key in ("backspace", "escape")):
            event.stop()
            event.prevent_default()
            self.post_message(self.Typed(event.key, char))
