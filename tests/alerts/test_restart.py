"""What the manager owes survives a restart: open alerts, silences, undelivered messages."""

from __future__ import annotations

import msgspec

from tests.alerts.helpers import (
    Receiver,
    alert_specs,
    condition,
    manager,
    publish,
    receivers,
    running_daemon,
    wait_until,
    webhook,
)
from tests.harness import short_tmpdir, test_config
from virtuoso_daemon.alerts.store import AlertFilter


def config(tmp, hook: Receiver, **dest: float):  # type: ignore[no-untyped-def]
    return test_config(
        tmp,
        alerts={"group_wait": 0, "tick": 0.02, "destinations": [webhook("hook", hook, **dest)]},
    )


async def test_undelivered_messages_are_delivered_after_a_restart_under_the_same_keys() -> None:
    tmp = short_tmpdir()
    down = Receiver(default=500)
    async with receivers(down):
        # a long backoff: after the first failed attempt nothing more happens before the stop
        async with running_daemon(
            config(tmp, down, backoff_initial=600, backoff_max=600), alert_specs()
        ) as d:
            await publish(d, *(condition(f"S{i}/USDT") for i in range(10)))
            m = manager(d)
            await wait_until(lambda: m.couriers["hook"].retries >= 1 and m.counts["fired"] == 10)
            ids = {a.id for a in m.lifecycle.open.values()}
    first_keys = set(down.keys)
    up = Receiver()
    async with receivers(up):
        async with running_daemon(config(tmp, up), alert_specs()) as d:
            await wait_until(lambda: sum(len(r.body["alerts"]) for r in up.received) == 10)
            m = manager(d)
            reopened = {a.id for a in m.lifecycle.open.values()}
            await publish(d, condition("S0/USDT"))  # still true after the restart
            await wait_until(lambda: m.counts["conditions"] == 1)
    assert {a["id"] for r in up.received for a in r.body["alerts"]} == ids
    assert first_keys <= {r.body["idempotency_key"] for r in up.received}
    assert reopened == ids
    assert m.counts["fired"] == 0  # not fired again


async def test_an_event_alert_still_grouping_at_a_stop_is_delivered_after_the_restart() -> None:
    """The ops soak's "lost" whale_trade: listed as notified (``notified_ts`` set) while
    it waited in its ``group_wait``, and the daemon stopped before the group was due. It
    is owed in the store, not lost: the next start regroups it and sends it."""
    tmp = short_tmpdir()
    hook = Receiver()
    whale = msgspec.structs.replace(
        condition("BTC/USDT", kind="whale_trade"), key="whale_trade:binance:BTC/USDT:t1", event=True
    )
    async with receivers(hook):
        waiting = test_config(
            tmp, alerts={"group_wait": 600, "tick": 0.02, "destinations": [webhook("hook", hook)]}
        )
        async with running_daemon(waiting, alert_specs()) as d:
            await publish(d, whale)
            m = manager(d)
            await wait_until(lambda: m.counts["fired"] == 1 and m.grouper.pending() == 1)
            assert m.store is not None
            _, (listed,) = m.store.query(AlertFilter(), 10, 0)
        assert listed.status == "event" and listed.notified_ts is not None
        assert hook.received == []  # the stop came first
        async with running_daemon(config(tmp, hook), alert_specs()):
            await wait_until(lambda: len(hook.received) == 1)
    assert [a["id"] for a in hook.received[0].body["alerts"]] == [listed.id]
