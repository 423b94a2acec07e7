"""A correlation heatmap: one coloured cell per pair, symbols in clustering order."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import RenderableType
from rich.text import Text
from textual.widget import Widget


def corr_style(value: float | None) -> str:
    """Blue for positive, red for negative correlation; stronger = more saturated."""
    if value is None:
        return "on grey23"
    v = max(-1.0, min(1.0, value))
    level = int(abs(v) * 5 + 0.5)  # 0..5
    if level == 0:
        return "on grey35"
    pos = ["", "on #1e3a5f", "on #1f4f8a", "on #2563b5", "on #3b82f6", "on #60a5fa"]
    neg = ["", "on #5f1e1e", "on #8a1f1f", "on #b52525", "on #ef4444", "on #f87171"]
    return (pos if v > 0 else neg)[level]


class Heatmap(Widget):
    """Draws as many symbols as fit; the snapshot's ``order`` puts related ones together."""

    DEFAULT_CSS = """
    Heatmap { height: 1fr; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.symbols: list[str] = []
        self.matrix: list[list[float | None]] = []
        self.caption = "correlation"

    def show(
        self,
        symbols: Sequence[str],
        matrix: Sequence[Sequence[float | None]],
        order: Sequence[int] | None,
        caption: str,
    ) -> None:
        idx = list(order) if order and len(order) == len(symbols) else list(range(len(symbols)))
        self.symbols = [symbols[i] for i in idx]
        self.matrix = [[matrix[i][j] for j in idx] for i in idx]
        self.caption = caption
        self.refresh()

    def render(self) -> RenderableType:
        if not self.symbols:
            return Text("no correlation matrix yet", style="dim")
        label_w = 9
        cell_w = 2
        fits = max(1, min((self.size.width - label_w) // cell_w, self.size.height - 2))
        n = min(len(self.symbols), fits)
        out = Text()
        out.append(f"{self.caption}  ", style="bold")
        out.append(" -1 ", style=corr_style(-1.0))
        out.append(" 0 ", style=corr_style(0.0))
        out.append(" +1 ", style=corr_style(1.0))
        if n < len(self.symbols):
            out.append(f"  (first {n} of {len(self.symbols)})", style="dim")
        out.append("\n")
        for i in range(n):
            name = self.symbols[i].split("/")[0][: label_w - 1]
            out.append(name.ljust(label_w))
            for j in range(n):
                out.append(" " * cell_w, style=corr_style(self.matrix[i][j]))
            out.append("\n")
        return out
