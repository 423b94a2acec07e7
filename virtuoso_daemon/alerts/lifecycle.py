"""The alert lifecycle, in the spirit of Prometheus Alertmanager: pure, clock given.

Why a pure state machine: the rules (fire once per key, repeat after
``repeat_interval``, re-fire on escalation, resolve, mute by silence or inhibition,
acknowledge) are the part that must be exactly right, and with the time passed in
they are tested over simulated hours in microseconds. The actor feeds it conditions
and ticks and persists what it returns before anything is published or delivered.

An *alert* is one episode of one condition key: it opens when an active
:class:`~virtuoso_daemon.core.messages.Condition` arrives for a key with no open
alert, and closes when a ``active=False`` one arrives. Its ``id`` is stable for the
episode. Each call returns :class:`Change` items: the new state of an alert and
whether destinations are to be told (``notify``).

* **firing**: the first active condition; notified unless muted.
* **repeat**: still firing ``repeat_interval`` after the last notification, not
  acknowledged, not muted (checked on every :meth:`Lifecycle.tick`).
* **escalated**: a higher severity; notified at once (also when acknowledged: an
  acknowledgement is for the severity that was seen).
* **resolved**: notified only if the firing was (a muted episode stays quiet).
* A muted alert that is not notified yet is notified as *firing* on the first tick
  after its silence ends or its exchange's feed is back, if it still fires.
* A lower severity, or a repeated condition, updates the alert without a notification.
* A one-off happening (``Condition.event``: a whale trade, a wall pulled) is an alert
  of status ``event``: delivered once unless muted, never repeated, never resolved.

Muting: a silence matches by kind, symbol and exchange (each optional) until it
ends; inhibition mutes per-symbol alerts of an exchange whose feed is down.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

import msgspec

from virtuoso_daemon.core.messages import Alert, Condition, Severity

SEVERITY_RANK: dict[str, int] = {"info": 0, "warning": 1, "critical": 2}


class Silence(msgspec.Struct, frozen=True, kw_only=True):
    """Mute alerts matching kind/symbol/exchange (None matches any) until ``ends``."""

    id: str
    kind: str | None = None
    symbol: str | None = None
    exchange: str | None = None
    starts: float
    ends: float
    comment: str = ""
    created_by: str = ""

    def matches(self, alert: Alert, now: float) -> bool:
        return (
            self.starts <= now < self.ends
            and (self.kind is None or self.kind == alert.kind)
            and (self.symbol is None or self.symbol == alert.symbol)
            and (self.exchange is None or self.exchange == alert.exchange)
        )


@dataclass(frozen=True, slots=True)
class Change:
    """An alert's new state, and whether its destinations are to be told."""

    alert: Alert
    notify: bool


def alert_id(key: str, first_ts: float) -> str:
    """Stable id of the episode of ``key`` that fired at ``first_ts``."""
    return hashlib.sha1(f"{key}\x00{first_ts!r}".encode()).hexdigest()[:16]


def group_key(alert: Alert | Condition, group_by: Iterable[str]) -> str:
    """Alerts with the same group key are delivered together (``kind=price_move``)."""
    return ",".join(f"{label}={getattr(alert, label) or ''}" for label in group_by)


def _value(values: dict[str, float | str | None], name: str) -> float | None:
    v = values.get(name)
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


class Lifecycle:
    """Open alerts by condition key, silences and feeds down; see the module docstring."""

    def __init__(
        self, *, repeat_interval: float, group_by: Iterable[str], inhibit_feed_down: bool = True
    ) -> None:
        self.repeat_interval = repeat_interval
        self.group_by = tuple(group_by)
        self.inhibit_feed_down = inhibit_feed_down
        self.open: dict[str, Alert] = {}  # condition key -> its firing alert
        self.silences: dict[str, Silence] = {}
        self.feeds_down: set[str] = set()

    def restore(self, alerts: Iterable[Alert], silences: Iterable[Silence]) -> None:
        """Reload the firing alerts and the silences kept in the store (after a restart)."""
        for alert in alerts:
            if alert.status == "firing":
                self.open[alert.key] = alert
        for silence in silences:
            self.silences[silence.id] = silence

    # -- muting ------------------------------------------------------------------------

    def muted(self, alert: Alert, now: float) -> str | None:
        """Why ``alert`` is not delivered now (``silenced:<id>``, ``inhibited:<ex>``)."""
        if (
            self.inhibit_feed_down
            and alert.symbol is not None
            and alert.exchange is not None
            and alert.exchange in self.feeds_down
        ):
            return f"inhibited:{alert.exchange}"
        for silence in self.silences.values():
            if silence.matches(alert, now):
                return f"silenced:{silence.id}"
        return None

    # -- conditions --------------------------------------------------------------------

    def on_condition(self, cond: Condition, now: float) -> Change | None:
        """Apply one condition; the change to persist (None: nothing changed)."""
        current = self.open.get(cond.key)
        if not cond.active:
            if current is None:
                return None
            del self.open[cond.key]
            resolved = msgspec.structs.replace(
                current,
                status="resolved",
                event="resolved",
                ts=now,
                resolved_ts=now,
                message=cond.message or current.message,
                data={**current.data, **cond.values},
            )
            # tell the destinations only what they were told about
            return Change(resolved, notify=current.notified_ts is not None)
        if current is None or cond.event:
            alert = Alert(
                id=alert_id(cond.key, now),
                key=cond.key,
                kind=cond.kind,
                severity=cond.severity,
                exchange=cond.exchange,
                symbol=cond.symbol,
                message=cond.message,
                value=_value(cond.values, "value"),
                threshold=_value(cond.values, "threshold"),
                data=dict(cond.values),
                ts=now,
                first_ts=now,
                group_key=group_key(cond, self.group_by),
                status="event" if cond.event else "firing",
            )
            change = self._notify_unless_muted(alert, "firing", now)
            if cond.event:  # delivered once (unless muted), never repeated or resolved
                del self.open[cond.key]
            return change
        updated = msgspec.structs.replace(
            current,
            severity=cond.severity,
            message=cond.message,
            value=_value(cond.values, "value"),
            threshold=_value(cond.values, "threshold"),
            data=dict(cond.values),
            ts=now,
        )
        if SEVERITY_RANK[cond.severity] > SEVERITY_RANK[current.severity]:
            updated = msgspec.structs.replace(updated, acked_ts=None, acked_by=None)
            return self._notify_unless_muted(updated, "escalated", now)
        self.open[cond.key] = updated
        if cond.severity != current.severity:
            # a lower severity: recorded, not announced
            return Change(msgspec.structs.replace(updated, event="updated"), notify=False)
        return None  # the same condition again: nothing new to record

    def _notify_unless_muted(self, alert: Alert, event: str, now: float) -> Change:
        muted = self.muted(alert, now)
        if muted is None:
            alert = msgspec.structs.replace(
                alert, event=event, muted=None, notified_ts=now, fired=alert.fired + 1
            )
        else:
            alert = msgspec.structs.replace(alert, event=event, muted=muted)
        self.open[alert.key] = alert
        return Change(alert, notify=muted is None)

    # -- time --------------------------------------------------------------------------

    def tick(self, now: float) -> list[Change]:
        """Repeats that are due, and muted alerts whose silence or inhibition ended."""
        changes = []
        for key, alert in list(self.open.items()):
            muted = self.muted(alert, now)
            if muted is not None:
                if alert.muted != muted:  # muted since (a new silence, a feed went down)
                    self.open[key] = alert = msgspec.structs.replace(alert, muted=muted)
                continue
            if alert.notified_ts is None:
                changes.append(self._notify_unless_muted(alert, "firing", now))
            elif alert.acked_ts is None and now - alert.notified_ts >= self.repeat_interval:
                changes.append(self._notify_unless_muted(alert, "repeat", now))
            elif alert.muted is not None:
                self.open[key] = msgspec.structs.replace(alert, muted=None)
        return changes

    # -- operator actions --------------------------------------------------------------

    def acknowledge(self, alert: Alert, now: float, by: str) -> Alert:
        """``alert`` acknowledged: no repeats until it resolves or escalates."""
        acked = msgspec.structs.replace(alert, acked_ts=now, acked_by=by, event="acknowledged")
        if self.open.get(alert.key, None) is not None and self.open[alert.key].id == alert.id:
            self.open[alert.key] = acked
        return acked

    def add_silence(self, silence: Silence) -> None:
        self.silences[silence.id] = silence

    def remove_silence(self, silence_id: str) -> Silence | None:
        return self.silences.pop(silence_id, None)

    def expire_silences(self, now: float) -> list[Silence]:
        """Drop the silences that have ended (the store keeps them for history)."""
        ended = [s for s in self.silences.values() if s.ends <= now]
        for s in ended:
            del self.silences[s.id]
        return ended

    def set_feed(self, exchange: str, down: bool) -> None:
        if down:
            self.feeds_down.add(exchange)
        else:
            self.feeds_down.discard(exchange)


def severity_at_least(severity: Severity | str, floor: str) -> bool:
    return SEVERITY_RANK.get(severity, 0) >= SEVERITY_RANK.get(floor, 0)
