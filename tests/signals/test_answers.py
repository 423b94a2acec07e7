"""The rows the signal engine publishes are exactly what the read layer's answer
structs describe (and what /api/openapi.json says): converting a row to its struct
loses nothing and changes nothing, so the JSON served is the engine's row."""

from __future__ import annotations

from typing import Any

import msgspec
import numpy as np

from tests.signals.test_engine import (
    book,
    engine,
    oi_spike,
    ordinary_trades,
    trade,
    wall,
)
from virtuoso_daemon.read.signals import EndedWall, ManipulationRow, Wall, Whale


def served(rows: list[dict[str, Any]], row_type: type[msgspec.Struct]) -> list[Any]:
    """What the read layer answers for ``rows``, as JSON data."""
    return msgspec.json.decode(msgspec.json.encode(msgspec.convert(rows, list[row_type])))


def test_whale_rows_single_and_burst_are_served_as_published() -> None:
    e = engine()
    e.on_trades(ordinary_trades(400, np.random.default_rng(5)))
    e.on_trades([trade(10_000 + k, 100.0, 600.0, "buy", t=201 + k * 0.5) for k in range(12)])
    e.on_trades([trade(9999, 100.0, 2_000.0, "sell", t=230.0)])
    rows = e.whales_view()["whales"]
    assert {r["type"] for r in rows} == {"single", "burst"}
    assert served(rows, Whale) == rows


def test_wall_rows_active_and_ended_are_served_as_published() -> None:
    e = engine()
    e.on_book(book(0, bid_walls=[wall(99.0)], ask_walls=[wall(101.0)]))
    e.on_book(book(300, ask_walls=[wall(101.0)]))  # the bid wall is pulled
    doc = e.walls_view()
    assert doc["active"] and doc["recent"]
    assert served(doc["active"], Wall) == doc["active"]
    assert served(doc["recent"], EndedWall) == doc["recent"]


def test_manipulation_rows_are_served_as_published() -> None:
    e = engine()
    oi_spike(e)
    rows = e.manipulation_view()["symbols"]
    assert rows and rows[0]["components"]
    assert served(rows, ManipulationRow) == rows
