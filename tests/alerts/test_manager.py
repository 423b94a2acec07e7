"""The alert manager on a running daemon: conditions in, stored, published, grouped and
delivered to receivers the test runs."""

from __future__ import annotations

import anyio

from tests.alerts.helpers import (
    FakeClock,
    Receiver,
    alert_specs,
    alerts_config,
    condition,
    manager,
    publish,
    receivers,
    running_daemon,
    settle,
    wait_until,
    webhook,
)
from virtuoso_daemon.core.bus import Topics
from virtuoso_daemon.core.messages import Alert, FeedStatus


async def test_a_condition_becomes_a_stored_published_and_delivered_alert() -> None:
    hook = Receiver()
    async with receivers(hook):
        cfg = alerts_config([webhook("hook", hook)])
        async with running_daemon(cfg, alert_specs()) as d:
            store = manager(d).store
            assert store is not None
            with d.runtime.bus.subscribe(Topics.ALERTS, name="test") as alerts:
                await publish(d, condition("ETH/USDT", value=7.5, threshold=3.0))
                with anyio.fail_after(5):
                    published: Alert = await alerts.receive()
                stored = store.get(published.id)  # already committed when it is published
            await wait_until(lambda: len(hook.received) == 1)
    assert stored is not None and stored.id == published.id
    assert published.kind == "price_move" and published.symbol == "ETH/USDT"
    assert published.event == "firing" and published.data["value"] == 7.5
    assert published.value == 7.5 and published.threshold == 3.0
    body = hook.received[0].body
    assert body["alerts"][0]["id"] == published.id
    assert body["alerts"][0]["data"] == {"value": 7.5, "threshold": 3.0}
    assert hook.received[0].headers["Idempotency-Key"] == body["idempotency_key"]


async def test_a_condition_held_for_a_simulated_hour_is_delivered_once_per_repeat_interval() -> (
    None
):
    hook = Receiver()
    clock = FakeClock()
    async with receivers(hook):
        cfg = alerts_config([webhook("hook", hook)], repeat_interval=900.0)
        async with running_daemon(cfg, alert_specs(clock)) as d:
            for _ in range(61):  # one minute at a time; the detector repeats it each minute
                await publish(d, condition(ts=clock.now))
                await settle(d, clock)
                clock.advance(60)
            await wait_until(lambda: len(hook.received) == 5)
            stats = manager(d).stats()
    events = [r.body["alerts"][0]["event"] for r in hook.received]
    assert events == ["firing", "repeat", "repeat", "repeat", "repeat"]
    assert len({r.body["alerts"][0]["id"] for r in hook.received}) == 1
    assert stats["fired"] == 5


async def test_forty_symbols_in_one_minute_are_one_delivery_per_destination() -> None:
    hooks = {kind: Receiver() for kind in ("webhook", "discord", "slack", "telegram")}
    clock = FakeClock()
    dests = [
        {"name": kind, "type": kind, "webhook_url": r.url, "rate_limit": 6000}
        for kind, r in hooks.items()
        if kind != "telegram"
    ]
    tg = hooks["telegram"]
    dests.append(
        {
            "name": "telegram",
            "type": "telegram",
            "bot_token": "123:secret",
            "chat_id": "-100",
            "api_url": "http://127.0.0.1:1",  # the port is known once it listens
        }
    )
    async with receivers(*hooks.values()):
        dests[-1]["api_url"] = f"http://127.0.0.1:{tg.port}"
        for dest, (kind, r) in zip(dests, hooks.items(), strict=True):
            if kind != "telegram":
                dest["webhook_url"] = r.url
        cfg = alerts_config(dests, group_wait=60.0, group_interval=300.0)
        async with running_daemon(cfg, alert_specs(clock)) as d:
            for i in range(40):
                await publish(d, condition(f"ALT{i}/USDT", kind="volatility_breakout"))
                await settle(d, clock)  # handled at this (fake) time
                clock.advance(1.4)  # 40 breakouts within 56 s
            await settle(d, clock)
            m = manager(d)
            assert m.stats().get("messages", 0) == 0  # still waiting for the rest of the burst
            clock.advance(5)  # group_wait (60 s) after the first
            await settle(d, clock)
            await wait_until(lambda: all(len(r.received) == 1 for r in hooks.values()))
            await wait_until(lambda: all(not c.stats()["in_flight"] for c in m.couriers.values()))
            messages = m.stats()["messages"]
    assert messages == 4
    assert {k: len(r.received) for k, r in hooks.items()} == dict.fromkeys(hooks, 1)
    assert len(hooks["webhook"].received[0].body["alerts"]) == 40
    assert len(hooks["discord"].received[0].body["embeds"]) == 10  # Discord's cap, + "30 more"
    assert "+30 more" in hooks["discord"].received[0].body["content"]
    assert hooks["slack"].received[0].body["text"].endswith("40 firing")
    assert hooks["telegram"].received[0].path == "/bot123:secret/sendMessage"
    assert hooks["telegram"].received[0].body["chat_id"] == "-100"


async def test_per_symbol_alerts_are_muted_while_their_exchanges_feed_is_down() -> None:
    hook = Receiver()
    async with receivers(hook):
        cfg = alerts_config([webhook("hook", hook)])
        async with running_daemon(cfg, alert_specs()) as d:
            m = manager(d)
            bus = d.runtime.bus
            bus.publish_nowait(
                Topics.FEED_STATUS, FeedStatus(exchange="binance", state="down", ts=0)
            )
            await wait_until(lambda: m.lifecycle.feeds_down == {"binance"})
            await publish(d, condition("BTC/USDT"), condition("BTC/USDT", exchange="bybit"))
            await wait_until(lambda: len(hook.received) == 1 and m.stats().get("muted") == 1)
            assert hook.received[0].body["alerts"][0]["exchange"] == "bybit"
            bus.publish_nowait(
                Topics.FEED_STATUS, FeedStatus(exchange="binance", state="connected", ts=0)
            )
            await wait_until(lambda: len(hook.received) == 2)
    assert hook.received[1].body["alerts"][0]["exchange"] == "binance"


async def test_a_hung_destination_does_not_delay_detection_or_other_destinations() -> None:
    hung, ok = Receiver(hang=True), Receiver()
    async with receivers(hung, ok):
        cfg = alerts_config([webhook("hung", hung, timeout=30.0), webhook("ok", ok)])
        async with running_daemon(cfg, alert_specs()) as d:
            with d.runtime.bus.subscribe(Topics.ALERTS, name="test") as alerts:
                for i in range(5):
                    await publish(d, condition(f"S{i}/USDT"))
                    with anyio.fail_after(2):
                        await alerts.receive()
                    await wait_until(lambda i=i: len(ok.received) == i + 1, timeout=2)
            assert hung.attempts == 1  # still waiting on the first message
            assert manager(d).couriers["hung"].stats()["in_flight"]
