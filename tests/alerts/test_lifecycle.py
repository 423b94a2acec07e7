"""The alert lifecycle rules, over simulated time (the manager's clock is given)."""

from __future__ import annotations

from tests.alerts.helpers import condition
from virtuoso_daemon.alerts.grouping import Grouper
from virtuoso_daemon.alerts.lifecycle import Lifecycle, Silence
from virtuoso_daemon.core.messages import Condition

T0 = 1_800_000_000.0


def lifecycle(repeat: float = 900.0) -> Lifecycle:
    return Lifecycle(repeat_interval=repeat, group_by=["kind"])


def test_a_condition_held_for_an_hour_fires_once_per_repeat_interval() -> None:
    lc = lifecycle(repeat=900.0)
    notified = []
    for minute in range(61):  # the producer repeats it every minute for an hour
        now = T0 + 60 * minute
        change = lc.on_condition(condition(), now)
        if change is not None and change.notify:
            notified.append((minute, change.alert.event))
        notified += [(minute, c.alert.event) for c in lc.tick(now) if c.notify]
    assert notified == [
        (0, "firing"),
        (15, "repeat"),
        (30, "repeat"),
        (45, "repeat"),
        (60, "repeat"),
    ]


def test_the_alert_id_is_stable_for_the_episode_and_new_after_resolution() -> None:
    lc = lifecycle()
    first = lc.on_condition(condition(), T0)
    again = lc.on_condition(condition(severity="critical"), T0 + 1)
    resolved = lc.on_condition(condition(active=False), T0 + 2)
    reopened = lc.on_condition(condition(), T0 + 3)
    assert first and again and resolved and reopened
    assert first.alert.id == again.alert.id == resolved.alert.id
    assert reopened.alert.id != first.alert.id


def test_escalation_refires_at_once_and_a_lower_severity_is_recorded_quietly() -> None:
    lc = lifecycle()
    lc.on_condition(condition(severity="warning"), T0)
    up = lc.on_condition(condition(severity="critical"), T0 + 10)
    down = lc.on_condition(condition(severity="info"), T0 + 20)
    assert up is not None and up.notify and up.alert.event == "escalated"
    assert up.alert.fired == 2
    assert down is not None and not down.notify and down.alert.severity == "info"


def test_the_same_condition_again_changes_nothing() -> None:
    lc = lifecycle()
    lc.on_condition(condition(), T0)
    assert lc.on_condition(condition(), T0 + 5) is None


def test_resolution_is_sent_with_the_triggering_numbers() -> None:
    lc = lifecycle()
    lc.on_condition(condition(), T0)
    end = lc.on_condition(condition(active=False, value=1.0), T0 + 60)
    assert end is not None and end.notify
    assert end.alert.status == "resolved" and end.alert.resolved_ts == T0 + 60
    assert end.alert.data["value"] == 1.0
    assert "BTC/USDT" not in {a.symbol for a in lc.open.values()}


def test_resolving_an_unknown_key_does_nothing() -> None:
    assert lifecycle().on_condition(condition(active=False), T0) is None


def test_an_acknowledged_alert_does_not_repeat_until_it_escalates() -> None:
    lc = lifecycle(repeat=60.0)
    fired = lc.on_condition(condition(), T0)
    assert fired is not None
    lc.acknowledge(fired.alert, T0 + 1, "ops")
    assert [c for c in lc.tick(T0 + 3600) if c.notify] == []
    up = lc.on_condition(condition(severity="critical"), T0 + 3601)
    assert up is not None and up.notify and up.alert.acked_ts is None
    assert [c.alert.event for c in lc.tick(T0 + 3661) if c.notify] == ["repeat"]


def test_a_silence_mutes_matching_alerts_and_they_fire_when_it_ends() -> None:
    lc = lifecycle()
    lc.add_silence(Silence(id="s1", kind="price_move", symbol="ETH/USDT", starts=T0, ends=T0 + 600))
    eth = lc.on_condition(condition("ETH/USDT"), T0 + 1)
    btc = lc.on_condition(condition("BTC/USDT"), T0 + 1)
    assert eth is not None and not eth.notify and eth.alert.muted == "silenced:s1"
    assert btc is not None and btc.notify
    assert [c.alert.symbol for c in lc.tick(T0 + 300) if c.notify] == []
    later = [c for c in lc.tick(T0 + 600) if c.notify]
    assert [(c.alert.symbol, c.alert.event) for c in later] == [("ETH/USDT", "firing")]


def test_a_muted_episode_resolves_without_a_notification() -> None:
    lc = lifecycle()
    lc.add_silence(Silence(id="s1", kind="price_move", starts=T0, ends=T0 + 600))
    lc.on_condition(condition(), T0 + 1)
    end = lc.on_condition(condition(active=False), T0 + 2)
    assert end is not None and not end.notify


def test_per_symbol_alerts_of_an_exchange_whose_feed_is_down_are_inhibited() -> None:
    lc = lifecycle()
    lc.set_feed("binance", down=True)
    sym = lc.on_condition(condition(), T0)
    other = lc.on_condition(condition(exchange="bybit"), T0)
    health = lc.on_condition(
        condition(kind="health", symbol=None, exchange="binance"),  # type: ignore[arg-type]
        T0,
    )
    assert sym is not None and not sym.notify and sym.alert.muted == "inhibited:binance"
    assert other is not None and other.notify
    assert health is not None and health.notify  # not per symbol: never inhibited
    lc.set_feed("binance", down=False)
    assert [c.alert.exchange for c in lc.tick(T0 + 1) if c.notify] == ["binance"]


def test_a_new_group_waits_group_wait_then_later_ones_group_interval() -> None:
    g = Grouper(group_wait=30.0, group_interval=300.0)
    for i in range(40):
        g.add("discord", "kind=price_move", i, T0 + i)  # 40 symbols within a minute
    assert g.due(T0 + 29) == []
    sent = g.due(T0 + 30)
    assert [(d, k, len(ids)) for d, k, ids in sent] == [("discord", "kind=price_move", 40)]
    g.add("discord", "kind=price_move", 99, T0 + 60)
    assert g.due(T0 + 329) == []
    assert [ids for _, _, ids in g.due(T0 + 330)] == [[99]]


def test_an_idle_group_is_forgotten_and_waits_group_wait_again() -> None:
    g = Grouper(group_wait=30.0, group_interval=300.0)
    g.add("hook", "k", 1, T0)
    g.due(T0 + 30)
    g.due(T0 + 330)  # nothing pending for a whole interval: forgotten
    g.add("hook", "k", 2, T0 + 1000)
    assert g.due(T0 + 1029) == []
    assert [ids for _, _, ids in g.due(T0 + 1030)] == [[2]]


def test_a_one_off_event_is_delivered_once_and_never_repeats_or_stays_open() -> None:
    lc = lifecycle(repeat=60.0)
    whale = Condition(
        key="whale_trade:binance:BTC/USDT:t123",
        kind="whale_trade",
        severity="warning",
        exchange="binance",
        symbol="BTC/USDT",
        message="whale buy 2.1M USD",
        values={"usd": 2.1e6},
        ts=T0,
        event=True,
    )
    change = lc.on_condition(whale, T0)
    assert change is not None and change.notify and change.alert.status == "event"
    assert lc.open == {}
    assert lc.tick(T0 + 3600) == []
