"""Helpers for driving the app in tests: wait until it has loaded, replay history."""

from __future__ import annotations

from collections.abc import Callable

import anyio
from textual import events
from textual.pilot import Pilot

from tests.tui.fakes import HISTORY, FakeClient, tickers
from tui.app import VirtuosoApp
from tui.screens import SCREENS


def app_of(pilot: Pilot[None]) -> VirtuosoApp:
    app = pilot.app
    assert isinstance(app, VirtuosoApp)
    return app


async def until(predicate: Callable[[], object], timeout: float = 10.0) -> None:
    """Poll ``predicate`` (observable app state) until true, under a deadline."""
    with anyio.fail_after(timeout):
        while not predicate():
            await anyio.sleep(0.005)


async def drained(pilot: Pilot[None], fake: FakeClient) -> None:
    """Wait until every event the fake queued has reached the app's models."""
    app = app_of(pilot)
    await until(lambda: fake._queue is None or fake._queue.empty())
    await pilot.pause()
    app.drain_tickers()


def loaded(app: VirtuosoApp) -> bool:
    return bool(
        app.connected
        and app.system.status
        and app.feeds.feeds
        and app.analytics.windows()
        and app.analytics.correlation
        and app.market.quotes
    )


async def settle(pilot: Pilot[None], fake: FakeClient, *, history: bool = True) -> None:
    """Connected, snapshots loaded, sparkline history applied, screen rendered."""
    app = app_of(pilot)
    await until(lambda: loaded(app))
    if history:  # straight into the model: the socket path has its own tests
        for step in range(1, HISTORY + 1):
            for t in tickers(step):
                app.market.apply_ticker(t)
    await drained(pilot, fake)
    await render(pilot)


async def press(pilot: Pilot[None], *keys: str) -> None:
    """Press keys like ``pilot.press``, but wait for the screen, not for CPU idleness.

    ``pilot.press`` waits until the process looks idle, which never happens while a
    live daemon runs in the same process (each key then costs its 1 s cap).
    Waiting until the screen has processed its queued messages is what matters.
    """
    app = pilot.app
    driver = app._driver
    assert driver is not None
    for key in keys:
        event = events.Key(key, key if len(key) == 1 else None)
        event.set_sender(app)
        driver.send_message(event)
        # a key can start a chain of messages (binding -> tab switch -> focus): let
        # each hop be processed before the next key
        for _ in range(3):
            await pilot._wait_for_screen()


async def show(pilot: Pilot[None], screen_id: str) -> None:
    """Switch to a screen with its number key and wait until its pane has the focus."""
    app = app_of(pilot)
    spec = next(s for s in SCREENS if s.id == screen_id)
    await press(pilot, spec.key)
    pane = app.panes[screen_id]
    await until(lambda: app.focused is not None and pane in app.focused.ancestors_with_self)


async def render(pilot: Pilot[None]) -> None:
    """Run the render tick now (instead of waiting for the timer) and let it paint."""
    app_of(pilot).render_tick()
    await pilot.pause()
