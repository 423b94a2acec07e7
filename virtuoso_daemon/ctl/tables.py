"""Plain-text tables and number formatting for virtuoso-ctl output."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import Any

import msgspec

# --- formatting ---------------------------------------------------------------------------


def fmt_num(value: Any, digits: int = 8) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, int):
        return str(value)
    return f"{value:,.{digits}g}" if abs(value) >= 1 else f"{value:.{digits - 2}g}"


def fmt_pct(value: Any) -> str:
    return "-" if value is None else f"{value:+.2f}%"


def fmt_time(ts: Any) -> str:
    """Epoch seconds or milliseconds as local time."""
    if not isinstance(ts, int | float) or isinstance(ts, bool):
        return "-"
    seconds = ts / 1000 if ts > 1e11 else ts
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(seconds))


def fmt_duration(seconds: float) -> str:
    s = int(seconds)
    days, s = divmod(s, 86400)
    text = f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"
    return f"{days}d {text}" if days else text


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
    return (
        text == "-"
        or text.replace(",", "")
        .replace("%", "")
        .lstrip("+-")
        .replace(".", "", 1)
        .replace("e", "", 1)
        .lstrip("+-")
        .isdigit()
    )


def get(key: str) -> Callable[[Any], Any]:
    return lambda row: row.get(key) if isinstance(row, dict) else getattr(row, key, None)


def auto(result: Any) -> str:
    """A reasonable human rendering of any result: tables for lists of objects."""
    if isinstance(result, list) and result and all(isinstance(r, dict) for r in result):
        keys: list[str] = []
        for row in result:
            keys += [k for k, v in row.items() if k not in keys and not isinstance(v, dict)]
        return table(result, [(k, get(k)) for k in keys[:10]])
    if isinstance(result, dict):
        width = max((len(k) for k in result), default=0)
        return "\n".join(f"{k.ljust(width)}  {_cell(v)}" for k, v in result.items())
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
