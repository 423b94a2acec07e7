"""Plain-text tables and number formatting for virtuoso-ctl output."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import Any

import msgspec

# --- formatting ---------------------------------------------------------------------------


def fmt_num(value: Any, digits: int = 8) -> str:
    """A number with ``digits`` significant digits, thousands separated, never in
    exponent notation for the sizes prices and amounts have (1e-6 .. 1e15)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if value == 0 or math.isinf(value):
        return str(value) if math.isinf(value) else "0"
    magnitude = math.floor(math.log10(abs(value)))
    if not -7 <= magnitude < 15:
        return f"{value:.{max(digits - 1, 1)}e}"
    decimals = max(0, digits - 1 - magnitude)
    text = f"{value:,.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def fmt_fixed(value: Any, decimals: int = 3, *, sign: bool = False) -> str:
    """A ratio (beta, correlation, r²) with a fixed number of decimals: 0.766, -0.120."""
    if not isinstance(value, int | float) or isinstance(value, bool) or math.isnan(value):
        return "-"
    return f"{value:+.{decimals}f}" if sign else f"{value:.{decimals}f}"


_UNITS = ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K"))


def fmt_compact(value: Any) -> str:
    """A volume or notional with K/M/B/T: 273.8M, 1.25B, 950."""
    if not isinstance(value, int | float) or isinstance(value, bool) or math.isnan(value):
        return "-"
    for size, unit in _UNITS:
        if abs(value) >= size:
            scaled = value / size
            return f"{scaled:.{1 if abs(scaled) >= 100 else 2}f}{unit}"
    return f"{value:.0f}" if abs(value) >= 100 else fmt_num(value, 4)


def fmt_pct(value: Any) -> str:
    return "-" if value is None else f"{value:+.2f}%"


def epoch_seconds(ts: Any) -> float | None:
    """Seconds from an epoch time in seconds or milliseconds (exchange times are ms)."""
    if not isinstance(ts, int | float) or isinstance(ts, bool) or ts <= 0:
        return None
    return ts / 1000 if ts > 1e11 else float(ts)


def fmt_time(ts: Any) -> str:
    """Epoch seconds or milliseconds as local ISO time: 2026-12-05 09:01:04."""
    seconds = epoch_seconds(ts)
    if seconds is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(seconds))


def fmt_age(ts: Any, now: float | None = None) -> str:
    """How long ago an epoch time (s or ms) was: 4s, 3m12s, 2h05m, 3d04h."""
    seconds = epoch_seconds(ts)
    if seconds is None:
        return "-"
    return fmt_span((time.time() if now is None else now) - seconds) + " ago"


def fmt_span(seconds: float) -> str:
    """A duration in seconds, shortest readable: 0.4s, 4s, 3m12s, 2h05m, 3d04h."""
    if seconds < 0:
        return "0s"
    if seconds < 10:
        return f"{seconds:.1f}s"
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"


def fmt_duration(seconds: float) -> str:
    s = int(seconds)
    days, s = divmod(s, 86400)
    text = f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"
    return f"{days}d {text}" if days else text


# how a field is shown by its name, wherever a generic table or key/value list meets it
_TIME_KEYS = ("ts", "recv_ts", "updated", "since", "last_message_ts", "open_time", "last_tick")
_VOLUME_KEYS = ("volume", "quote_volume", "base_volume", "value", "notional", "open_interest")
_RATIO_KEYS = ("beta", "correlation", "r_squared", "downside_beta", "avg_correlation")
_SPAN_KEYS = ("uptime", "age", "age_s")


def fmt_field(key: str, value: Any) -> str:
    """A value formatted by what its field name says it is."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        if key in _TIME_KEYS or key.endswith(("_at", "_ts")):
            return fmt_time(value)
        if key in _VOLUME_KEYS or key.endswith("_volume"):
            return fmt_compact(value)
        if key in _RATIO_KEYS or key.endswith("_beta"):
            return fmt_fixed(value)
        if key in _SPAN_KEYS:
            return fmt_span(float(value))
    return _cell(value)


def _cell(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(_cell(v) for v in value) or "-"
    if isinstance(value, dict):
        return msgspec.json.encode(value).decode()
    return fmt_num(value)


Column = tuple[str, Callable[[Any], Any]]


def table(rows: Sequence[Any], columns: Sequence[Column]) -> str:
    """Aligned columns; numbers right-aligned, text left-aligned."""
    cells = [[_cell(fn(row)) for _, fn in columns] for row in rows]
    heads = [h.upper() for h, _ in columns]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(heads)]
    numeric = [
        all(_looks_numeric(r[i]) for r in cells) and any(r[i] != "-" for r in cells)
        for i in range(len(columns))
    ]

    def line(values: Sequence[str]) -> str:
        parts = [
            v.rjust(w) if num else v.ljust(w)
            for v, w, num in zip(values, widths, numeric, strict=True)
        ]
        return "  ".join(parts).rstrip()

    return "\n".join([line(heads), *(line(r) for r in cells)])


def _looks_numeric(text: str) -> bool:
    if text == "-":
        return True
    core = text.replace(",", "").rstrip("%KMBT").lstrip("+-")
    mantissa, _, exponent = core.partition("e")
    return mantissa.replace(".", "", 1).isdigit() and (
        not exponent or exponent.lstrip("+-").isdigit()
    )


def get(key: str) -> Callable[[Any], Any]:
    return lambda row: row.get(key) if isinstance(row, dict) else getattr(row, key, None)


def field(key: str) -> Callable[[Any], str]:
    """A column showing ``key`` formatted by its name (times, volumes, ratios)."""
    value = get(key)
    return lambda row: fmt_field(key, value(row))


def auto(result: Any) -> str:
    """A reasonable human rendering of any result: tables for lists of objects."""
    if isinstance(result, list) and result and all(isinstance(r, dict) for r in result):
        keys: list[str] = []
        for row in result:
            keys += [k for k, v in row.items() if k not in keys and not isinstance(v, dict)]
        return table(result, [(k, field(k)) for k in keys[:10]])
    if isinstance(result, dict):
        width = max((len(k) for k in result), default=0)
        return "\n".join(f"{k.ljust(width)}  {fmt_field(k, v)}" for k, v in result.items())
    if result is None:
        return "ok"
    return pretty_json(result)


def pretty_json(value: Any) -> str:
    return msgspec.json.format(msgspec.json.encode(value), indent=2).decode()


def rows_of(result: Any, *keys: str) -> list[Any]:
    """The row list of a result that is a list, or an object holding one under ``keys``."""
    if isinstance(result, list):
        return result
    if isinstance(result, dict):
        for key in keys:
            if isinstance(result.get(key), list):
                return list(result[key])
    return []


# --- renderers per command ----------------------------------------------------------------
