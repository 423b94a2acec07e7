"""Grouping for delivery, as Alertmanager does it: ``group_wait`` and ``group_interval``.

Why: forty symbols breaking out in the same minute must reach a Discord channel as
one message, not forty. Notifications are collected per (destination, group key);
a new group is sent ``group_wait`` after its first notification (so the rest of a
burst joins it), and later notifications of a group that was sent are sent at the
earliest ``group_interval`` after the previous send. A group with nothing pending
for a whole ``group_interval`` is forgotten, so the next one waits ``group_wait``
again. Pure, with the time passed in; the actor persists what :meth:`Grouper.due`
returns as one outbox message per group.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class _Group:
    due: float
    last_sent: float | None = None
    pending: list[int] = field(default_factory=list)  # notification ids


class Grouper:
    """Pending notification ids per (destination, group key) and when each group is due."""

    def __init__(self, group_wait: float, group_interval: float) -> None:
        self.group_wait = group_wait
        self.group_interval = group_interval
        self._groups: dict[tuple[str, str], _Group] = {}

    def add(self, destination: str, group_key: str, notification: int, now: float) -> None:
        key = (destination, group_key)
        group = self._groups.get(key)
        if group is None:
            group = self._groups[key] = _Group(due=now + self.group_wait)
        elif not group.pending and group.last_sent is not None:
            group.due = max(now, group.last_sent + self.group_interval)
        group.pending.append(notification)

    def forget(self, destination: str) -> int:
        """Drop every group of ``destination`` (no longer configured; the store drops
        what was owed to it); how many notifications were pending."""
        keys = [k for k in self._groups if k[0] == destination]
        return sum(len(self._groups.pop(k).pending) for k in keys)

    def destinations(self) -> set[str]:
        """Destinations with notifications waiting in a group."""
        return {k[0] for k, g in self._groups.items() if g.pending}

    def pending(self) -> int:
        return sum(len(g.pending) for g in self._groups.values())

    def next_due(self) -> float | None:
        dues = [g.due for g in self._groups.values() if g.pending]
        return min(dues) if dues else None

    def due(self, now: float) -> list[tuple[str, str, list[int]]]:
        """The groups to send now: ``(destination, group_key, notification ids)``."""
        out = []
        for key, group in list(self._groups.items()):
            if group.pending and group.due <= now:
                out.append((key[0], key[1], group.pending))
                group.pending = []
                group.last_sent = now
                group.due = now + self.group_interval
            elif not group.pending and (
                group.last_sent is None or now - group.last_sent >= self.group_interval
            ):
                del self._groups[key]
        return out
