"""Signals: what the detectors found -- whale trades, order-book walls, manipulation.

Three tables, refreshed every couple of seconds while the screen is visible (the
daemon's ``signals.whales``, ``signals.walls`` and ``signals.manipulation``): recent
whale trades and same-side bursts (side, USD value, how many robust sigmas above the
symbol's usual size); walls in the books now and ended ones with their outcome
(pulled before it was hit -- the spoofing signature -- or filled); manipulation scores
per perpetual, highest first, with the four components (value, score x weight).
``r`` refreshes at once. Alerts raised from these are on the Alerts screen.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from typing import Any

from rich.text import Text
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding
from textual.widgets import DataTable, Static

from .. import format as fmt
from .base import LivePane

POLL = 2.0  # seconds between refreshes while visible
ROWS = 50
SIDE_STYLES = {"buy": "green", "bid": "green", "sell": "red", "ask": "red"}
OUTCOME_STYLES = {"pulled": "bold yellow", "filled": "dim", "out_of_view": "dim"}


def _usd(value: Any) -> str:
    if not isinstance(value, (int, float)):
        return fmt.DASH
    v = float(value)
    for div, unit in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(v) >= div:
            return f"{v / div:.2f}{unit}"
    return f"{v:.0f}"


def _clock(ts: Any) -> str:
    if not isinstance(ts, (int, float)):
        return fmt.DASH
    return time.strftime("%H:%M:%S", time.localtime(float(ts)))


def _side(side: Any) -> Text:
    return Text(str(side), style=SIDE_STYLES.get(str(side), ""))


def _num(value: Any, digits: int = 2) -> str:
    return f"{value:.{digits}f}" if isinstance(value, (int, float)) else fmt.DASH


def _component(row: Mapping[str, Any], name: str) -> str:
    for c in row.get("components") or []:
        if c.get("name") == name and c.get("value") is not None:
            return f"{c['value']:.2f} ({c.get('score') or 0:.2f}x{c.get('weight') or 0:g})"
    return fmt.DASH


class SignalsPane(LivePane):
    """The signals screen (see the module docstring)."""

    BINDINGS = [Binding("r", "reload", "Refresh")]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.docs: dict[str, Any] = {}
        self._polled = 0.0
        self._shown_version = -1
        self.version = 0

    def compose(self) -> ComposeResult:
        yield Static("Whale trades and bursts", classes="signals-title")
        yield DataTable(id="signals-whales", cursor_type="row", zebra_stripes=True)
        yield Static("Order-book walls", classes="signals-title")
        yield DataTable(id="signals-walls", cursor_type="row", zebra_stripes=True)
        yield Static(id="signals-manip-title", classes="signals-title")
        yield DataTable(id="signals-manip", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        self.query_one("#signals-whales", DataTable).add_columns(
            "time", "exchange", "symbol", "type", "side", "usd", "price", "sigmas", "trades"
        )
        self.query_one("#signals-walls", DataTable).add_columns(
            "state", "exchange", "symbol", "side", "price", "usd", "x level", "since", "outcome"
        )
        self.query_one("#signals-manip", DataTable).add_columns(
            "exchange", "symbol", "score", "window", "OI %", "volume x", "price %", "divergence %"
        )
        self.query_one("#signals-manip-title", Static).update("Manipulation scores")

    # -- data ------------------------------------------------------------------------

    def refresh_live(self, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self._polled >= POLL:
            self._polled = now
            self.run_worker(self._fetch(), group="signals", exclusive=True)
        if self.version != self._shown_version:
            self._shown_version = self.version
            self._fill_tables()

    async def _fetch(self) -> None:
        args = {"limit": ROWS}
        got = {}
        for name in ("whales", "walls", "manipulation"):
            doc = await self.vapp.ask(f"signals.{name}", args, optional=True)
            if doc is not None:
                got[name] = doc
        if got:
            self.docs.update(got)
            self.version += 1
            self.refresh_live()

    def on_shown(self) -> None:
        self.query_one("#signals-whales", DataTable).focus()
        self.refresh_live(force=True)

    def action_reload(self) -> None:
        self.refresh_live(force=True)

    def commands(self) -> Iterator[SystemCommand]:
        yield SystemCommand(
            "Signals: refresh", "fetch whales, walls, scores now", self.action_reload
        )

    # -- rendering ---------------------------------------------------------------------

    def _fill_tables(self) -> None:
        whales = self.query_one("#signals-whales", DataTable)
        whales.clear()
        for i, r in enumerate((self.docs.get("whales") or {}).get("whales") or []):
            whales.add_row(
                _clock(r.get("ts")),
                r.get("exchange"),
                r.get("symbol"),
                r.get("type"),
                _side(r.get("side")),
                _usd(r.get("usd")),
                fmt.DASH if r.get("price") is None else f"{r['price']:g}",
                _num(r.get("sigmas"), 1),
                str(r.get("trades") or 1),
                key=f"w{i}",
            )
        walls = self.query_one("#signals-walls", DataTable)
        walls.clear()
        doc = self.docs.get("walls") or {}
        rows = [("now", r) for r in doc.get("active") or []]
        rows += [("ended", r) for r in doc.get("recent") or []]
        for i, (state, r) in enumerate(rows):
            outcome = str(r.get("outcome") or "")
            walls.add_row(
                state,
                r.get("exchange"),
                r.get("symbol"),
                _side(r.get("side")),
                f"{r.get('price'):g}",
                _usd(r.get("usd")),
                _num(r.get("ratio"), 0),
                _clock(r.get("first_seen")),
                Text(outcome or fmt.DASH, style=OUTCOME_STYLES.get(outcome, "")),
                key=f"l{i}",
            )
        manip = self.query_one("#signals-manip", DataTable)
        manip.clear()
        mdoc = self.docs.get("manipulation") or {}
        warn, crit = mdoc.get("warning"), mdoc.get("critical")
        if warn is not None:
            self.query_one("#signals-manip-title", Static).update(
                f"Manipulation scores  (warning >= {warn}, critical >= {crit}; "
                "component = value (score x weight))"
            )
        for i, r in enumerate(mdoc.get("symbols") or []):
            score = r.get("score")
            style = ""
            if isinstance(score, (int, float)) and crit is not None and score >= crit:
                style = "bold red"
            elif isinstance(score, (int, float)) and warn is not None and score >= warn:
                style = "yellow"
            manip.add_row(
                r.get("exchange"),
                r.get("symbol"),
                Text(_num(score), style=style),
                f"{r['window_min']}m" if r.get("window_min") else fmt.DASH,
                _component(r, "oi_change"),
                _component(r, "volume"),
                _component(r, "price"),
                _component(r, "divergence"),
                key=f"m{i}",
            )
