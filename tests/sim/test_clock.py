"""The simulator's clock and the order of a tick's pushes."""

from __future__ import annotations

import json
import time
from typing import Any

import aiohttp
import anyio
import pytest

from virtuoso_daemon.sim import SimConfig, Simulator


async def test_at_speed_1_the_clock_is_the_wall_clock_even_after_a_slow_catch_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The catch-up step at start-up takes as long as it takes; the clock must not
    lag by that much for the rest of the run (it did: every latency figure measured
    against the simulator's event times was 4-10 ms too high)."""
    real_start = Simulator._start_clock

    def start_with_a_slow_catch_up(self: Simulator) -> None:
        real_tick = self.engine.tick

        def slow_tick(target_ms: int, **kw: Any) -> None:
            time.sleep(0.2)  # a slow machine, or a long catch-up
            real_tick(target_ms, **kw)

        self.engine.tick = slow_tick  # type: ignore[method-assign]
        try:
            real_start(self)
        finally:
            del self.engine.tick

    monkeypatch.setattr(Simulator, "_start_clock", start_with_a_slow_catch_up)
    sim = Simulator(SimConfig(seed=1, n_alts=2, perpetuals=False))
    async with sim.running():
        offset_ms = sim.now_ms() - time.time() * 1000
    assert abs(offset_ms) < 50, offset_ms  # 200 ms with the anchor read after the step


async def test_a_ticks_tickers_are_pushed_before_its_klines_books_and_trades() -> None:
    """One connection, so frames arrive in the order they were sent."""
    sim = Simulator(SimConfig(seed=1, n_alts=3, perpetuals=False, tick_interval=0.05))
    async with sim.running() as url, aiohttp.ClientSession() as http:
        ws_url = url.replace("http", "ws", 1) + "/ws/stream"
        async with http.ws_connect(ws_url) as ws:
            streams = [
                f"{s}@{c}"
                for s in ("btcusdt", "ethusdt")
                for c in ("kline_1m", "depth", "trade", "ticker")
            ]
            await ws.send_json({"method": "SUBSCRIBE", "params": streams, "id": 1})
            order: dict[int, list[str]] = {}
            with anyio.fail_after(10):
                while len(order) < 12:
                    msg = json.loads((await ws.receive()).data)
                    if "e" in msg:
                        order.setdefault(msg["E"], []).append(msg["e"])
    ticks = list(order.values())[1:-1]  # the first and last may be partial
    assert ticks
    for events in ticks:
        n = events.count("24hrTicker")
        assert n == 2 and events[:n] == ["24hrTicker"] * n, events
        assert "kline" in events and "depthUpdate" in events


async def test_a_tick_is_computed_ahead_and_pushed_at_its_event_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Events are stamped with the tick's time ``E``; computing the tick after that
    time made every push late by the step's duration (2.5-10 ms of the latency the
    pipeline benchmark charged to the daemon). A slow step shows it plainly."""
    step = 0.08
    sim = Simulator(SimConfig(seed=1, n_alts=2, perpetuals=False, tick_interval=0.4))
    real_tick = sim.engine.tick

    def slow_tick(target_ms: int, **kw: Any) -> None:
        time.sleep(step)
        real_tick(target_ms, **kw)

    lateness: list[float] = []
    sent_ticks: set[int] = set()
    real_send = sim.hub.send

    def send(batches: Any) -> None:
        if sim._anchor is not None and sim.engine.t_ms not in sent_ticks:  # the tickers
            sent_ticks.add(sim.engine.t_ms)
            anchor_mono, anchor_ms = sim._anchor
            event_mono = anchor_mono + (sim.engine.t_ms - anchor_ms) / 1000
            lateness.append(time.monotonic() - event_mono)
        real_send(batches)

    monkeypatch.setattr(sim.hub, "send", send)
    async with sim.running():
        monkeypatch.setattr(sim.engine, "tick", slow_tick)
        with anyio.fail_after(10):
            while len(lateness) < 7:
                await anyio.sleep(0.05)
    settled = sorted(lateness[2:])  # the first slow step is pushed late: the lead adapts
    assert min(settled) >= -0.002, lateness  # never before its time
    assert settled[len(settled) // 2] < step / 2, lateness  # >= step if computed after E
