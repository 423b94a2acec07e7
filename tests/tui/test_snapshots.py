"""Snapshot tests of every screen on deterministic data (pytest-textual-snapshot).

The app runs against :class:`tests.tui.fakes.FakeClient` with a fixed clock, so the
pictures are the same on every run. Review a changed picture with
``pytest tests/tui --snapshot-report`` and accept it with ``--snapshot-update``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import anyio
from textual.pilot import Pilot

from tests.tui.fakes import NOW, FakeClient, steady_backoff
from tests.tui.helpers import app_of, drained, press, render, settle
from tui.app import VirtuosoApp, create_app
from tui.widgets.candles import CandleChart

SnapCompare = Callable[..., bool]


def _app(fake: FakeClient, theme: str = "dark") -> VirtuosoApp:
    return create_app(fake, clock=lambda: NOW, theme=theme, backoff=steady_backoff())


def _run(
    fake: FakeClient, keys: Sequence[str] = (), *, chart: bool = False
) -> Callable[[Pilot[Any]], Awaitable[None]]:
    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot, fake)
        for key in keys:
            await press(pilot, key)
            await drained(pilot, fake)
        if chart:  # the candle request runs in a worker: wait for its answer
            with anyio.fail_after(10):
                while not pilot.app.query_one(CandleChart).rows:
                    await pilot.pause(0.01)
        await drained(pilot, fake)
        await render(pilot)

    return run_before


def test_market_80x24(snap_compare: SnapCompare) -> None:
    fake = FakeClient()
    assert snap_compare(_app(fake), terminal_size=(80, 24), run_before=_run(fake))


def test_market_200x60_with_detail(snap_compare: SnapCompare) -> None:
    fake = FakeClient()
    assert snap_compare(_app(fake), terminal_size=(200, 60), run_before=_run(fake, chart=True))


def test_market_filtered_by_typing(snap_compare: SnapCompare) -> None:
    fake = FakeClient()
    run = _run(fake, ["e", "t", "h"])
    assert snap_compare(_app(fake), terminal_size=(120, 30), run_before=run)


def test_market_detail_80x24(snap_compare: SnapCompare) -> None:
    fake = FakeClient()
    run = _run(fake, ["down", "enter"], chart=True)
    assert snap_compare(_app(fake), terminal_size=(80, 24), run_before=run)


def test_beta_200x60(snap_compare: SnapCompare) -> None:
    fake = FakeClient()
    assert snap_compare(_app(fake), terminal_size=(200, 60), run_before=_run(fake, ["2"]))


def test_beta_side_panel_80x24(snap_compare: SnapCompare) -> None:
    fake = FakeClient()
    assert snap_compare(_app(fake), terminal_size=(80, 24), run_before=_run(fake, ["2", "v"]))


def test_system_200x60(snap_compare: SnapCompare) -> None:
    fake = FakeClient()
    assert snap_compare(_app(fake), terminal_size=(200, 60), run_before=_run(fake, ["3"]))


def test_system_80x24(snap_compare: SnapCompare) -> None:
    fake = FakeClient()
    assert snap_compare(_app(fake), terminal_size=(80, 24), run_before=_run(fake, ["3"]))


def test_help_screen(snap_compare: SnapCompare) -> None:
    fake = FakeClient()
    assert snap_compare(
        _app(fake), terminal_size=(120, 50), run_before=_run(fake, ["question_mark"])
    )


def test_pause_asks_first(snap_compare: SnapCompare) -> None:
    fake = FakeClient()
    assert snap_compare(_app(fake), terminal_size=(80, 24), run_before=_run(fake, ["3", "p"]))


def test_light_theme(snap_compare: SnapCompare) -> None:
    fake = FakeClient()
    run = _run(fake, chart=True)
    assert snap_compare(_app(fake, theme="light"), terminal_size=(160, 40), run_before=run)


def test_daemon_gone_keeps_last_data_greyed(snap_compare: SnapCompare) -> None:
    fake = FakeClient()

    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot, fake)
        fake.go_down()
        app = app_of(pilot)
        with anyio.fail_after(10):
            while app.link_state != "disconnected":
                await pilot.pause(0.01)
        # the toast saying so is part of the picture; wait for it to be shown
        await pilot.pause(0.1)
        await render(pilot)

    assert snap_compare(_app(fake), terminal_size=(120, 30), run_before=run_before)
