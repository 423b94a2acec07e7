"""Number and text formatting shared by every screen (pure functions, no Textual).

Kept apart from the widgets so the look of a number is decided once: prices with as
many decimals as their size needs, signed percentages, compact volumes, durations.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from rich.text import Text

DASH = "–"  # noqa: RUF001  (an en dash reads as "no value", a hyphen as minus)
SPARK_BLOCKS = "▁▂▃▄▅▆▇█"


def _ok(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def price(value: float | None) -> str:
    """``67,123.45`` / ``1.2345`` / ``0.00012345``: precision follows magnitude."""
    if value is None or not _ok(value):
        return DASH
    mag = abs(value)
    if mag >= 1000:
        return f"{value:,.2f}"
    if mag >= 1:
        return f"{value:.4f}"
    if mag == 0:
        return "0"
    decimals = min(10, 3 - math.floor(math.log10(mag)))
    return f"{value:.{decimals}f}"


def pct(value: float | None, decimals: int = 2) -> str:
    if value is None or not _ok(value):
        return DASH
    return f"{value:+.{decimals}f}%"


def change_text(value: float | None) -> Text:
    """A signed percentage coloured green (up), red (down) or dim (flat/unknown)."""
    label = pct(value)
    if value is None or not _ok(value) or value == 0:
        return Text(label, style="dim", justify="right")
    return Text(label, style="green" if value > 0 else "red", justify="right")


def compact(value: float | None) -> str:
    """``1.23B`` / ``456.7M`` / ``12.3K`` / ``950``."""
    if value is None or not _ok(value):
        return DASH
    mag = abs(value)
    for unit, div in (("T", 1e12), ("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if mag >= div:
            return f"{value / div:.3g}{unit}" if mag / div < 100 else f"{value / div:.0f}{unit}"
    return f"{value:.0f}" if mag >= 10 else f"{value:.3g}"


def spread_bps(bid: float | None, ask: float | None) -> float | None:
    if bid is None or ask is None or not (_ok(bid) and _ok(ask)) or bid <= 0 or ask <= 0:
        return None
    mid = (bid + ask) / 2
    return (ask - bid) / mid * 1e4


def bps(value: float | None) -> str:
    if value is None or not _ok(value):
        return DASH
    return f"{value:.1f}bp" if value < 100 else f"{value:.0f}bp"


def funding(rate: float | None) -> str:
    """A funding rate (fraction per interval) as a percentage with 4 decimals."""
    if rate is None or not _ok(rate):
        return DASH
    return f"{rate * 100:+.4f}%"


def num(value: float | None, decimals: int = 2) -> str:
    if value is None or not _ok(value):
        return DASH
    return f"{value:.{decimals}f}"


def signed(value: float | None, decimals: int = 2) -> str:
    """``+0.105`` / ``-0.30``: a score whose sign matters."""
    if value is None or not _ok(value):
        return DASH
    return f"{value:+.{decimals}f}"


def sig(value: float | None, digits: int = 4) -> str:
    """``0.00012`` / ``0.034`` / ``1.25``: ``digits`` significant digits, no exponent."""
    if value is None or not _ok(value):
        return DASH
    if value == 0:
        return "0"
    decimals = max(0, min(10, digits - 1 - math.floor(math.log10(abs(value)))))
    text = f"{value:.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def sparkline(values: Sequence[float], width: int) -> str:
    """The last ``width`` values as unicode blocks, scaled to their own min..max."""
    pts = [v for v in list(values)[-width:] if _ok(v)]
    if not pts:
        return ""
    lo, hi = min(pts), max(pts)
    if hi - lo <= abs(hi) * 1e-12:
        return SPARK_BLOCKS[3] * len(pts)
    scale = (len(SPARK_BLOCKS) - 1) / (hi - lo)
    return "".join(SPARK_BLOCKS[int((v - lo) * scale + 0.5)] for v in pts)


def spark_text(values: Sequence[float], width: int) -> Text:
    line = sparkline(values, width)
    first, last = (values[0], values[-1]) if len(values) >= 2 else (None, None)
    if first is not None and last is not None and _ok(first) and _ok(last):
        style = "green" if last > first else "red" if last < first else "dim"
    else:
        style = "dim"
    return Text(line.rjust(width), style=style)


def duration(seconds: float | None) -> str:
    """``3d 4h`` / ``2h 05m`` / ``4m 09s`` / ``12s``."""
    if seconds is None or not _ok(seconds):
        return DASH
    s = max(0, int(seconds))
    days, s = divmod(s, 86400)
    hours, s = divmod(s, 3600)
    minutes, s = divmod(s, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {s:02d}s"
    return f"{s}s"


def age(seconds: float | None) -> str:
    """How old a value is: ``0.3s`` / ``12s`` / ``4m 09s``."""
    if seconds is None or not _ok(seconds):
        return DASH
    if seconds < 10:
        return f"{max(0.0, seconds):.1f}s"
    return duration(seconds)


STATE_STYLES = {
    "connected": "green",
    "running": "green",
    "ok": "green",
    "active": "green",
    "starting": "yellow",
    "restarting": "yellow",
    "degraded": "yellow",
    "gaps": "yellow",  # a symbol whose history has holes the exchange did not fill
    "warning": "yellow",
    "pending": "dim",
    "paused": "magenta",
    "stopped": "dim",
    "down": "red",
    "failed": "red",
    "critical": "red",
}


def state_text(state: str | None) -> Text:
    """A state word with a coloured dot: ``● connected``."""
    label = state or "unknown"
    return Text.assemble(("● ", STATE_STYLES.get(label, "dim")), label)
