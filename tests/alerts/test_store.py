"""The SQLite store on its own: retention, the outbox's keys, a reopened file."""

from __future__ import annotations

import msgspec

from tests.alerts.helpers import condition
from tests.harness import short_tmpdir
from virtuoso_daemon.alerts.lifecycle import Lifecycle
from virtuoso_daemon.alerts.store import AlertFilter, AlertStore, message_id

T0 = 1_800_000_000.0
DAY = 86400.0


def test_retention_removes_old_resolved_alerts_and_keeps_firing_and_owed_ones() -> None:
    store = AlertStore(short_tmpdir() / "alerts.sqlite3")
    lc = Lifecycle(repeat_interval=3600, group_by=["kind"])
    old = lc.on_condition(condition("OLD/USDT"), T0)
    firing = lc.on_condition(condition("LIVE/USDT"), T0)
    assert old and firing
    store.record(old.alert, ["hook"])
    store.record(firing.alert, ["hook"])
    end = lc.on_condition(condition("OLD/USDT", active=False), T0 + 60)
    assert end
    owed = store.record(end.alert, ["hook"])
    delivered = store.make_message("hook", "kind=price_move", [n for _, n in owed][:1], T0)
    store.mark_delivered(delivered, 200, T0 + 61)
    pending = store.make_message("hook", "kind=price_move", [1, 2], T0 + 61)  # still owed
    now = T0 + 31 * DAY
    removed = store.prune(now - 30 * DAY)  # retention_days = 30, a month later
    total, left = store.query(AlertFilter(), 100, 0)
    assert removed == 1
    assert [a.symbol for a in left] == ["LIVE/USDT"] and total == 1
    counts = store.outbox_counts()["hook"]
    assert counts == {"pending": 1, "delivered": 0, "failed": 0, "dropped": 0}
    assert store.due_messages("hook", T0 + 62)[0].msg_id == pending


def test_a_messages_key_depends_only_on_its_destination_and_notifications() -> None:
    assert message_id("hook", [3, 1, 2]) == message_id("hook", [1, 2, 3])
    assert message_id("hook", [1, 2]) != message_id("other", [1, 2])
    assert message_id("hook", [1, 2]) != message_id("hook", [1, 2, 3])


def test_a_reopened_file_has_the_firing_alerts_and_the_silences() -> None:
    path = short_tmpdir() / "alerts.sqlite3"
    store = AlertStore(path)
    lc = Lifecycle(repeat_interval=3600, group_by=["kind"])
    change = lc.on_condition(condition(), T0)
    assert change
    store.record(change.alert)
    store.close()
    again = AlertStore(path)
    assert [msgspec.to_builtins(a) for a in again.open_alerts()] == [
        msgspec.to_builtins(change.alert)
    ]
