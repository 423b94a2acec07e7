"""Beta: beta/correlation/R²/volatility/risk bucket per window, regime, sentiment, heatmap.

``t`` and ``w`` step through the timeframes and windows the daemon computes; ``s``
changes the sort. The side panel (regime, sentiment with its components, correlation
heatmap) sits beside the table on wide terminals; on narrow ones ``v`` swaps to it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Static

from virtuoso_daemon.core.messages import BetaRow

from .. import format as fmt
from ..widgets.heatmap import Heatmap
from .base import LivePane

SORTS = ("beta", "correlation", "r_squared", "volatility", "symbol")
SORT_LABELS = {
    "beta": "beta",
    "correlation": "corr",
    "r_squared": "R²",
    "volatility": "vol",
    "symbol": "symbol",
}
# analytics.risk.RISK_BUCKETS, from the calmest up
BUCKET_STYLES = {
    "defensive": "green",
    "moderate": "cyan",
    "aggressive": "yellow",
    "high": "red",
    "insufficient": "dim",
}
GAUGE = 21  # cells of the sentiment gauge: -1 at the left, 0 in the middle, +1 right
REGIME_STYLES = {
    "risk-on": "bold green",
    "risk-off": "bold yellow",
    "correlated sell-off": "bold red",
    "neutral": "bold",
}


def _bucket(value: str | None) -> Text:
    if not value:
        return Text(fmt.DASH, style="dim")
    return Text(value, style=BUCKET_STYLES.get(value.split("-")[0].lower(), ""))


def _sort_value(row: BetaRow, key: str) -> Any:
    v = getattr(row, key)
    if key == "symbol":
        return str(v)
    return v if isinstance(v, (int, float)) else float("-inf")


class BetaPane(LivePane):
    """The analytics screen (see the module docstring)."""

    BINDINGS = [
        Binding("t", "timeframe(1)", "Timeframe"),
        Binding("w", "window(1)", "Window"),
        Binding("s", "sort", "Sort"),
        Binding("v", "side", "Regime/heatmap"),
    ]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.choice: tuple[str, str] | None = None
        self.sort_key = "beta"
        self._seen = -1

    def compose(self) -> ComposeResult:
        yield Static(id="beta-choice")
        with Horizontal(id="beta-body"):
            yield DataTable(id="beta-table", cursor_type="row", zebra_stripes=True)
            with Vertical(id="beta-side"):
                yield Static(id="regime")
                yield Static(id="sentiment")
                yield Heatmap(id="heatmap")

    def on_mount(self) -> None:
        table = self.query_one("#beta-table", DataTable)
        # text columns size to their content (perpetual symbols, "aggressive"); the
        # table's width follows, and the side panel takes the rest of the terminal
        for key, label, width in (
            ("symbol", "Symbol", None),
            ("beta", "Beta", 6),
            ("correlation", "Corr", 6),
            ("r_squared", "R²", 5),
            ("volatility", "Vol", 7),
            ("downside_beta", "β↓", 6),
            ("n_obs", "n", 5),
            ("risk_bucket", "Bucket", None),
        ):
            table.add_column(label, key=key, width=width)

    def _choose(self) -> tuple[str, str] | None:
        windows = self.vapp.analytics.windows()
        if not windows:
            return None
        if self.choice in windows:
            return self.choice
        return ("1h", "30d") if ("1h", "30d") in windows else windows[0]

    def refresh_live(self, force: bool = False) -> None:
        analytics = self.vapp.analytics
        if not force and analytics.version == self._seen:
            return
        self._seen = analytics.version
        self.choice = self._choose()
        self._show_choice()
        self._show_table()
        self._show_regime()
        self._show_sentiment()
        self._show_heatmap()

    def _show_choice(self) -> None:
        t = Text(" ")
        windows = self.vapp.analytics.windows()
        if not windows:
            reason = self.vapp.unavailable.get("beta")
            t.append(reason or "waiting for the daemon's first beta snapshot…", style="dim")
        for tw in windows:
            style = "reverse bold" if tw == self.choice else "dim"
            t.append(f" {tw[0]} · {tw[1]} ", style=style)
            t.append(" ")
        snap = self.vapp.analytics.beta.get(self.choice) if self.choice else None
        if snap:
            t.append(f"  vs {snap.benchmark}", style="dim")
            t.append(f" · sort {SORT_LABELS[self.sort_key]}", style="dim")
        self.query_one("#beta-choice", Static).update(t)

    def _show_table(self) -> None:
        table = self.query_one("#beta-table", DataTable)
        snap = self.vapp.analytics.beta.get(self.choice) if self.choice else None
        rows = list(snap.rows) if snap else []
        rev = self.sort_key != "symbol"
        rows.sort(key=lambda r: _sort_value(r, self.sort_key), reverse=rev)
        keep = table.cursor_row
        table.clear()
        for r in rows:
            table.add_row(
                r.symbol,
                Text(fmt.num(r.beta, 3), justify="right"),
                Text(fmt.num(r.correlation, 3), justify="right"),
                Text(fmt.num(r.r_squared, 3), justify="right"),
                Text(fmt.pct(_times100(r.volatility), 1), justify="right"),
                Text(fmt.num(r.downside_beta, 3), justify="right"),
                Text(str(r.n_obs), justify="right"),
                _bucket(r.risk_bucket),
                key=r.symbol,
            )
        if rows:
            table.move_cursor(row=min(keep, len(rows) - 1), animate=False)

    def _show_regime(self) -> None:
        regime = self.vapp.analytics.regime
        t = Text()
        t.append("Regime  ", style="bold")
        if not regime:
            t.append(self.vapp.unavailable.get("regime", "no regime yet"), style="dim")
        else:
            label = regime.label
            t.append(f" {label.upper()} ", style=REGIME_STYLES.get(label, "bold") + " reverse")
            if regime.rule:
                t.append(f"\n{regime.rule}", style="dim")
            inputs = regime.inputs
            if inputs:
                t.append("\n" + " · ".join(_regime_input(k, v) for k, v in inputs.items()))
        self.query_one("#regime", Static).update(t)

    def _show_sentiment(self) -> None:
        s = self.vapp.analytics.sentiment
        head = Text()
        head.append("Sentiment  ", style="bold")
        if not s:
            head.append(self.vapp.unavailable.get("sentiment", "no sentiment yet"), style="dim")
            self.query_one("#sentiment", Static).update(head)
            return
        score = s.score
        head.append(f"{fmt.signed(score, 3)} {s.label}  ")
        if score is not None:
            head.append_text(sentiment_gauge(score))
            head.append(f"  index {50 * (score + 1):.1f}/100", style="dim")
        grid = Table.grid(padding=(0, 2))
        grid.add_column()
        grid.add_column(justify="right")
        grid.add_column(justify="right")
        grid.add_column(justify="right")
        grid.add_row(*(Text(h, style="dim") for h in ("component", "value", "score", "weight")))
        for c in s.components:
            grid.add_row(c.name, fmt.sig(c.value, 4), fmt.signed(c.score, 2), fmt.num(c.weight, 2))
        self.query_one("#sentiment", Static).update(Group(head, grid))

    def _show_heatmap(self) -> None:
        corr = self.vapp.analytics.correlation
        heat = self.query_one(Heatmap)
        if not corr:
            heat.show([], [], None, "correlation")
            return
        caption = f"correlation {corr.timeframe} {corr.window}".strip()
        heat.show(corr.symbols, corr.matrix, corr.order, caption)

    # --- actions -------------------------------------------------------------------

    def _step(self, step: int, axis: int) -> None:
        windows = self.vapp.analytics.windows()
        if not windows or self.choice is None:
            return
        if axis == 0:
            tfs = list(dict.fromkeys(tw[0] for tw in windows))
            tf = tfs[(tfs.index(self.choice[0]) + step) % len(tfs)]
            options = [tw for tw in windows if tw[0] == tf]
            match = [tw for tw in options if tw[1] == self.choice[1]]
            self.choice = (match or options)[0]
        else:
            options = [tw for tw in windows if tw[0] == self.choice[0]]
            self.choice = options[(options.index(self.choice) + step) % len(options)]
        self._choice_changed()

    def _choice_changed(self) -> None:
        self.refresh_live(force=True)
        if self.choice and self.vapp.connected:
            self.vapp.load_correlation(*self.choice)

    def action_timeframe(self, step: int) -> None:
        self._step(step, 0)

    def action_window(self, step: int) -> None:
        self._step(step, 1)

    def action_sort(self) -> None:
        self.sort_key = SORTS[(SORTS.index(self.sort_key) + 1) % len(SORTS)]
        self.refresh_live(force=True)

    def action_side(self) -> None:
        self.toggle_class("-side")

    def on_shown(self) -> None:
        self.query_one("#beta-table", DataTable).focus()
        self.refresh_live(force=True)

    def commands(self) -> Iterator[SystemCommand]:
        for tw in self.vapp.analytics.windows():
            yield SystemCommand(
                f"Beta: show {tw[0]} · {tw[1]}",
                "Beta table and heatmap for this timeframe and window",
                lambda tw=tw: self._pick(tw),
            )
        for key in SORTS:
            yield SystemCommand(
                f"Beta: sort by {SORT_LABELS[key]}",
                "Order the beta table",
                lambda k=key: self._sort(k),
            )

    def _pick(self, tw: tuple[str, str]) -> None:
        self.choice = tw
        self._choice_changed()

    def _sort(self, key: str) -> None:
        self.sort_key = key
        self.refresh_live(force=True)


def _regime_input(name: str, value: Any) -> str:
    """``btc_change 1.90%`` for a ``_pct`` input, ``breadth 0.68`` for a fraction."""
    if name.endswith("_pct"):
        return f"{name.removesuffix('_pct')} {fmt.pct(value)}"
    return f"{name} {fmt.num(value)}"


def sentiment_gauge(score: float) -> Text:
    """A bar from -1 (fear, left) to +1 (greed, right), filled from the middle out to
    the score, so 0 is an empty bar with its centre mark and the sign shows at a glance."""
    mid = GAUGE // 2
    pos = round((max(-1.0, min(1.0, score)) + 1) / 2 * (GAUGE - 1))
    style = "green" if score > 0.2 else "red" if score < -0.2 else "yellow"
    t = Text()
    for i in range(GAUGE):
        inside = min(mid, pos) <= i <= max(mid, pos)
        if i == mid and pos == mid:
            t.append("│", style="bold")
        else:
            t.append("█" if inside else "░", style=style if inside else "dim")
    return t


def _times100(value: Any) -> float | None:
    return value * 100 if isinstance(value, (int, float)) else None
