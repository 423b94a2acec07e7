"""Statuses, their order, and the hold-down that decides when a change counts.

A check's *raw* status is what its newest measurement says; the status that *counts*
(shown by ``/health``, sent as a Condition) changes only when the raw one has held:

* ``confirm`` seconds for a worse status (a one-sample blip is not an alert);
* ``recover`` seconds for a better one (a flapping check stays raised: one alert,
  one recovery, not one per flap).

The clock starts when the raw status first moved in that direction (ok -> warning ->
critical within ``confirm`` counts as critical once ``confirm`` has passed since the
first warning sample), and restarts when it turns back.
"""

from __future__ import annotations

from dataclasses import dataclass

from virtuoso_daemon.core.messages import HealthStatus

RANK: dict[HealthStatus, int] = {"ok": 0, "warning": 1, "critical": 2}


def worst(*statuses: HealthStatus) -> HealthStatus:
    """The worst of ``statuses`` (``ok`` for none)."""
    out: HealthStatus = "ok"
    for s in statuses:
        if RANK[s] > RANK[out]:
            out = s
    return out


def grade(
    value: float, warning: float, critical: float, *, lower_is_worse: bool = False
) -> tuple[HealthStatus, float]:
    """Status of ``value`` against two thresholds, and the threshold it is held to
    (the critical one when critical, else the warning one)."""
    if lower_is_worse:
        if value <= critical:
            return "critical", critical
        return ("warning", warning) if value <= warning else ("ok", warning)
    if value >= critical:
        return "critical", critical
    return ("warning", warning) if value >= warning else ("ok", warning)


@dataclass
class Held:
    """One check's counted status and its pending change."""

    status: HealthStatus
    since: float
    pending: HealthStatus | None = None
    pending_since: float = 0.0


@dataclass(frozen=True)
class Change:
    """A counted transition of one check."""

    name: str
    old: HealthStatus
    new: HealthStatus
    ts: float


class HoldDown:
    """Counted statuses of every check (see the module docstring)."""

    def __init__(self, confirm: float, recover: float) -> None:
        self.confirm = confirm
        self.recover = recover
        self.held: dict[str, Held] = {}

    def update(self, name: str, raw: HealthStatus, now: float) -> Change | None:
        """Feed one raw status; the transition it completes, if any."""
        h = self.held.get(name)
        if h is None:
            h = self.held[name] = Held("ok", now)
        if raw == h.status:
            h.pending = None
            return None
        worse = RANK[raw] > RANK[h.status]
        same_way = h.pending is not None and (RANK[h.pending] > RANK[h.status]) == worse
        if not same_way:
            h.pending_since = now
        h.pending = raw
        if now - h.pending_since < (self.confirm if worse else self.recover):
            return None
        change = Change(name, h.status, raw, now)
        h.status, h.since, h.pending = raw, now, None
        return change

    def due(self) -> float | None:
        """When the earliest pending change would count (a re-evaluation is due then)."""
        times = [
            h.pending_since + (self.confirm if RANK[h.pending] > RANK[h.status] else self.recover)
            for h in self.held.values()
            if h.pending is not None
        ]
        return min(times) if times else None

    def forget(self, name: str) -> Held | None:
        return self.held.pop(name, None)
