"""The help screen: every key of the app and of each screen, generated from bindings.

It reads the bindings themselves (and each pane's ``KEYS_HELP`` for keys handled outside
bindings), so it cannot drift from what the keys really do.
"""

from __future__ import annotations

from collections.abc import Iterable

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from . import SCREENS


def _key_label(binding: Binding) -> str:
    if binding.key_display:
        return binding.key_display
    names = {
        "question_mark": "?",
        "slash": "/",
        "less_than_sign": "<",
        "greater_than_sign": ">",
        "left_square_bracket": "[",
        "right_square_bracket": "]",
        "minus": "-",
    }
    return " / ".join(names.get(k, k) for k in binding.key.split(","))


def _bindings(items: Iterable[BindingType]) -> list[tuple[str, str]]:
    out = []
    for b in items:
        if isinstance(b, Binding) and b.description:
            out.append((_key_label(b), b.description))
    return out


def _section(title: str, rows: list[tuple[str, str]]) -> RenderableType:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", min_width=18)
    table.add_column()
    for key, what in rows:
        table.add_row(key, what)
    return Group(Text(title, style="bold underline"), table, Text(""))


class HelpScreen(ModalScreen[None]):
    """Lists the keys; any of escape, q, ? or F1 closes it."""

    BINDINGS = [Binding("escape,q,question_mark,f1", "dismiss", "Close")]

    def __init__(self, app_bindings: Iterable[BindingType]) -> None:
        super().__init__(classes="dialog")
        self.app_bindings = list(app_bindings)

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog-box help-box"):
            yield Static(self.content())

    def content(self) -> RenderableType:
        """Everything the screen shows, as one renderable."""
        parts: list[RenderableType] = [
            Text("Virtuoso TUI — keys", style="bold"),
            Text("ctrl+p opens the command palette: every action is there.\n", style="dim"),
            _section("Everywhere", _bindings(self.app_bindings)),
        ]
        for spec in SCREENS:
            rows = [*(spec.pane.KEYS_HELP), *_bindings(spec.pane.BINDINGS)]
            parts.append(_section(f"{spec.title} (key {spec.key})", rows))
        parts.append(
            _section(
                "Tables",
                [
                    ("↑ ↓ pgup pgdn", "move the cursor"),
                    ("home / end", "first / last row"),
                    ("tab / shift+tab", "move focus between widgets"),
                ],
            )
        )
        return Group(*parts)
