"""The Signals screen (key 5) on the fake daemon: what ``signals.whales``, ``walls``
and ``manipulation`` answer is shown, and ``r`` asks again."""

from __future__ import annotations

from textual.widgets import DataTable

from tests.tui.fakes import NOW, FakeClient, steady_backoff
from tests.tui.helpers import press, render, settle, show, until
from tui.app import VirtuosoApp, create_app

WHALES = {
    "whales": [
        {
            "type": "single",
            "exchange": "binance",
            "symbol": "SOL/USDT",
            "side": "sell",
            "price": 150.5,
            "amount": 5000.0,
            "usd": 752_500.0,
            "sigmas": 6.4,
            "trades": 1,
            "trade_id": "77",
            "ts": NOW - 30,
        }
    ],
    "count": 1,
}
WALLS = {
    "active": [],
    "recent": [
        {
            "exchange": "binance",
            "symbol": "ETH/USDT",
            "side": "ask",
            "price": 3300.0,
            "amount": 400.0,
            "usd": 1_320_000.0,
            "ratio": 180.0,
            "first_seen": NOW - 400,
            "ended": NOW - 100,
            "outcome": "pulled",
        }
    ],
}
MANIP = {
    "symbols": [
        {
            "exchange": "binanceusdm",
            "symbol": "DOGE/USDT:USDT",
            "score": 0.82,
            "window_min": 15,
            "components": [
                {"name": "oi_change", "value": 14.2, "score": 1.0, "weight": 0.3},
                {"name": "volume", "value": 6.1, "score": 1.0, "weight": 0.2},
                {"name": "price", "value": 1.5, "score": 0.38, "weight": 0.2},
                {"name": "divergence", "value": 12.7, "score": 1.0, "weight": 0.3},
            ],
            "windows": {"5": 0.5, "15": 0.82, "60": 0.4},
            "ts": NOW,
        }
    ],
    "windows_min": [5, 15, 60],
    "warning": 0.6,
    "critical": 0.8,
    "count": 1,
}


def _app(fake: FakeClient) -> VirtuosoApp:
    fake.handlers["signals.whales"] = lambda a: WHALES
    fake.handlers["signals.walls"] = lambda a: WALLS
    fake.handlers["signals.manipulation"] = lambda a: MANIP
    return create_app(fake, clock=lambda: NOW, backoff=steady_backoff())


def _cells(app: VirtuosoApp, table_id: str) -> list[str]:
    table = app.query_one(table_id, DataTable)
    return [str(c) for r in range(table.row_count) for c in table.get_row_at(r)]


async def test_the_signals_screen_shows_whales_walls_and_scores() -> None:
    fake = FakeClient()
    app = _app(fake)
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot, fake, history=False)
        await show(pilot, "signals")

        async def rows(table_id: str) -> int:
            await render(pilot)
            return app.query_one(table_id, DataTable).row_count

        await until(lambda: app.query_one("#signals-manip", DataTable).row_count == 1)
        await rows("#signals-whales")
        whales = _cells(app, "#signals-whales")
        assert "SOL/USDT" in whales and "sell" in whales and "752.50k" in whales
        walls = _cells(app, "#signals-walls")
        assert "ETH/USDT" in walls and "pulled" in walls and "ended" in walls
        manip = _cells(app, "#signals-manip")
        assert "DOGE/USDT:USDT" in manip and "0.82" in manip and "14.20 (1.00x0.3)" in manip
        asked = [c for c, _ in fake.requests if c.startswith("signals.")]
        assert set(asked) == {"signals.whales", "signals.walls", "signals.manipulation"}
        before = len(asked)
        await press(pilot, "r")

        def asked_again() -> bool:
            return len([c for c, _ in fake.requests if c.startswith("signals.")]) >= before + 3

        await until(asked_again)


async def test_a_daemon_without_signals_leaves_the_tables_empty() -> None:
    fake = FakeClient()
    app = create_app(fake, clock=lambda: NOW, backoff=steady_backoff())
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot, fake, history=False)
        await show(pilot, "signals")
        await until(lambda: any(c == "signals.whales" for c, _ in fake.requests))
        await render(pilot)
        assert app.query_one("#signals-whales", DataTable).row_count == 0
        assert len(app.screen.query("Toast")) == 0  # optional: no error toast
