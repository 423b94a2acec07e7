"""A candle chart for the selected symbol, drawn with textual-plotext."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, cast

from textual_plotext import PlotextPlot

Row = tuple[float, float, float, float, float, float]  # open_time ms, o, h, l, c, v


def _label(open_time_ms: float, timeframe: str) -> str:
    t = time.gmtime(open_time_ms / 1000)
    if timeframe.endswith("d") or timeframe.endswith("w"):
        return time.strftime("%m-%d", t)
    return time.strftime("%H:%M", t)


class CandleChart(PlotextPlot):
    """OHLC candles (green up, red down) with a few UTC time labels on the x axis."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.rows: list[Row] = []
        self.caption = ""

    def show(self, rows: Sequence[Row], caption: str, timeframe: str) -> None:
        self.rows = list(rows)
        self.caption = caption
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title(caption)
        if self.rows:
            xs = list(range(len(self.rows)))
            data = {
                "Open": [r[1] for r in self.rows],
                "High": [r[2] for r in self.rows],
                "Low": [r[3] for r in self.rows],
                "Close": [r[4] for r in self.rows],
            }
            plt.candlestick(cast(Any, xs), data)
            step = max(1, len(xs) // 4)
            ticks = xs[::step]
            labels = [_label(self.rows[i][0], timeframe) for i in ticks]
            plt.xticks([float(i) for i in ticks], labels)
        self.refresh()
