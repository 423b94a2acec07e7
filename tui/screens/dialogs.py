"""Modal dialogs: confirm a destructive action, enter symbols to add."""

from __future__ import annotations

import re

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static


class ConfirmDialog(ModalScreen[bool]):
    """Asks a yes/no question; ``y``/enter on Yes confirms, ``n``/escape cancels."""

    BINDINGS = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n,escape", "answer(False)", "No"),
    ]

    def __init__(self, question: str, detail: str = "", *, action: str = "Yes") -> None:
        super().__init__(classes="dialog")
        self.question = question
        self.detail = detail
        self.action_label = action

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box"):
            yield Label(self.question, classes="dialog-title")
            if self.detail:
                yield Static(self.detail, classes="dialog-detail")
            with Horizontal(classes="dialog-buttons"):
                yield Button(f"{self.action_label} (y)", variant="error", id="yes")
                yield Button("Cancel (n)", variant="primary", id="no")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


def parse_symbols(text: str) -> list[str]:
    """``"btc/usdt, ETH/USDT sol/usdt"`` -> ``["BTC/USDT", "ETH/USDT", "SOL/USDT"]``."""
    return [s.upper() for s in re.split(r"[\s,;]+", text.strip()) if s]


class SymbolsDialog(ModalScreen[list[str] | None]):
    """Asks which symbols to add to an exchange's feed."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, exchange: str) -> None:
        super().__init__(classes="dialog")
        self.exchange = exchange

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box"):
            yield Label(f"Add symbols to {self.exchange}", classes="dialog-title")
            yield Static("unified symbols, separated by spaces or commas", classes="dialog-detail")
            yield Input(placeholder="e.g. DOGE/USDT, XRP/USDT", id="symbols-input")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Add", variant="primary", id="add")
                yield Button("Cancel", id="cancel")

    @on(Input.Submitted)
    @on(Button.Pressed, "#add")
    def _submit(self) -> None:
        symbols = parse_symbols(self.query_one(Input).value)
        self.dismiss(symbols or None)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
