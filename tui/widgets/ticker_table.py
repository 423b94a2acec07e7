"""The market table: one row per symbol, cells updated in place, never rebuilt per tick.

Rows are (re)built only when the set or order of symbols changes (filter, sort,
symbols added). Live updates go through :meth:`TickerTable.update_quotes`, which
formats each dirty row once and calls ``update_cell`` only for the cells whose text
changed, so a flush costs what changed, and the DataTable repaints only visible lines.
Column widths are fixed so no update ever triggers a width measurement.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from rich.text import Text
from textual import events
from textual.message import Message
from textual.widgets import DataTable

from .. import format as fmt
from ..model import Quote


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    width: int
    render: Callable[[Quote, int], str | Text]
    sort: Callable[[Quote], float | str] | None = None
    wide_only: bool = False


def _right(s: str) -> Text:
    return Text(s, justify="right")


def _num_sort(value: float | None) -> float:
    return float("-inf") if value is None else value


COLUMNS: tuple[Column, ...] = (
    Column("symbol", "Symbol", 13, lambda q, w: q.symbol, lambda q: q.symbol),
    Column("exchange", "Exchange", 13, lambda q, w: q.exchange, lambda q: q.exchange, True),
    Column("last", "Last", 11, lambda q, w: _right(fmt.price(q.last)), lambda q: _num_sort(q.last)),
    Column(
        "change",
        "24h",
        7,
        lambda q, w: fmt.change_text(q.change_pct),
        lambda q: _num_sort(q.change_pct),
    ),
    Column(
        "volume",
        "Vol",
        6,
        lambda q, w: _right(fmt.compact(q.quote_volume)),
        lambda q: _num_sort(q.quote_volume),
    ),
    Column(
        "spread",
        "Spread",
        6,
        lambda q, w: _right(fmt.bps(fmt.spread_bps(q.bid, q.ask))),
        lambda q: _num_sort(fmt.spread_bps(q.bid, q.ask)),
    ),
    Column(
        "funding",
        "Funding",
        8,
        lambda q, w: _right(fmt.funding(q.funding) if q.perpetual else ""),
        lambda q: _num_sort(q.funding),
    ),
    Column("trend", "Trend", 10, lambda q, w: fmt.spark_text(q.history, w)),
)

SORTABLE = tuple(c.key for c in COLUMNS if c.sort is not None)
WIDE_TREND = 30


class TickerTable(DataTable[str | Text]):
    """A DataTable of quotes keyed by ``exchange|symbol``.

    Letters typed while the table has focus are handed to the filter (posted as
    :class:`TickerTable.Typed`), so the operator filters by just typing.
    """

    class Typed(Message):
        """A printable key or backspace/escape the filter should apply."""

        def __init__(self, key: str, character: str | None) -> None:
            super().__init__()
            self.key = key
            self.character = character

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self.wide = False
        self.columns_shown: tuple[Column, ...] = ()
        self.order: list[str] = []
        self._cells: dict[str, tuple[str, ...]] = {}
        self.filter_active = False

    def setup_columns(self, wide: bool) -> None:
        self.wide = wide
        self.clear(columns=True)
        self._cells.clear()
        self.order = []
        self.columns_shown = tuple(c for c in COLUMNS if wide or not c.wide_only)
        for col in self.columns_shown:
            width = WIDE_TREND if (wide and col.key == "trend") else col.width
            self.add_column(col.label, key=col.key, width=width)

    def _trend_width(self) -> int:
        return WIDE_TREND if self.wide else next(c.width for c in COLUMNS if c.key == "trend")

    def _row(self, q: Quote) -> list[str | Text]:
        w = self._trend_width()
        return [c.render(q, w) for c in self.columns_shown]

    def set_rows(self, quotes: Sequence[Quote], keep: str | None) -> None:
        """Replace all rows (order/filter/universe changed); keep the cursor on ``keep``."""
        self.clear(columns=False)
        self._cells.clear()
        self.order = [q.key for q in quotes]
        for q in quotes:
            cells = self._row(q)
            self._cells[q.key] = tuple(str(c) for c in cells)
            self.add_row(*cells, key=q.key)
        if keep is not None and keep in self._cells:
            self.move_cursor(row=self.order.index(keep), animate=False, scroll=True)

    def update_quotes(self, quotes: Iterable[Quote]) -> int:
        """Update the cells of these quotes in place; returns how many cells changed."""
        changed = 0
        keys = [c.key for c in self.columns_shown]
        for q in quotes:
            old = self._cells.get(q.key)
            if old is None:
                continue
            cells = self._row(q)
            new = tuple(str(c) for c in cells)
            if new == old:
                continue
            self._cells[q.key] = new
            for i, (a, b) in enumerate(zip(old, new, strict=True)):
                if a != b:
                    self.update_cell(q.key, keys[i], cells[i])
                    changed += 1
        return changed

    @property
    def selected_key(self) -> str | None:
        if not self.order or not 0 <= self.cursor_row < len(self.order):
            return None
        return self.order[self.cursor_row]

    def on_key(self, event: events.Key) -> None:
        # handlers run down the MRO; preventing the default keeps DataTable's own
        # key handling (and the app's bindings) from seeing a key the filter took
        char = event.character
        typing = char is not None and (char.isalpha() or (char.isdigit() and self.filter_active))
        if typing or (self.filter_active and event.key in ("backspace", "escape")):
            event.stop()
            event.prevent_default()
            self.post_message(self.Typed(event.key, char))
