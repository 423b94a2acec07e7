"""What the rest of the daemon hears about backups: events, conditions, the view.

Its own module because reporting is a contract with other actors (the alert manager
turns the Conditions into alerts, the TUI and ``virtuoso-ctl backup watch`` follow the
events, the read layer serves the view), apart from the bookkeeping of runs in
:mod:`.actor`. The actor owns *when* something is said; this owns *how*: which topic,
which condition key, and that a resolution is only sent for a condition raised.
"""

from __future__ import annotations

import time
from typing import Any

from virtuoso_daemon.backup.archive import Progress
from virtuoso_daemon.backup.kinds import Layout
from virtuoso_daemon.core.bus import Bus, Topics
from virtuoso_daemon.core.config import BackupConfig
from virtuoso_daemon.core.messages import BackupEvent, BackupInfo, Condition, Severity

VIEW = "backups"


class Announcer:
    """Publishes backup events and conditions; remembers the conditions it raised."""

    def __init__(self, bus: Bus) -> None:
        self.bus = bus
        self.failing: set[str] = set()  # condition keys we raised and not yet resolved

    async def event(self, event: str, backup_id: str, kind: str | None, **kw: Any) -> None:
        """A :class:`BackupEvent` on ``Topics.BACKUPS``."""
        await self.bus.publish(
            Topics.BACKUPS,
            BackupEvent(event=event, backup_id=backup_id, kind=kind, ts=time.time(), **kw),  # type: ignore[arg-type]
        )

    async def raise_condition(
        self,
        key: str,
        severity: Severity,
        message: str,
        values: dict[str, float | str | None],
        ts: float,
    ) -> None:
        """An active backup Condition, resolved later by :meth:`resolve`."""
        self.failing.add(key)
        await self.bus.publish(
            Topics.CONDITIONS,
            Condition(
                key=key,
                kind="backup",
                severity=severity,
                message=message,
                values=values,
                ts=ts,
            ),
        )

    async def resolve(self, key: str, message: str) -> None:
        """Resolve ``key`` if we raised it (nothing to say otherwise)."""
        if key in self.failing:
            self.failing.discard(key)
            await self.bus.publish(
                Topics.CONDITIONS,
                Condition(
                    key=key,
                    kind="backup",
                    severity="info",
                    active=False,
                    message=message,
                    ts=time.time(),
                ),
            )


def view_document(
    layout: Layout,
    cfg: BackupConfig,
    backups: list[BackupInfo],
    running: tuple[str, str, Progress] | None,
    next_runs: dict[str, float],
) -> dict[str, Any]:
    """The ``backups`` view: the catalogue, the run in progress and the schedule."""
    now_running = None
    if running is not None:
        backup_id, kind, p = running
        now_running = {
            "id": backup_id,
            "kind": kind,
            "phase": p.phase,
            "files_done": p.files_done,
            "files_total": p.files_total,
            "bytes_done": p.bytes_done,
            "bytes_total": p.bytes_total,
        }
    return {
        "dir": str(layout.backup_dir),
        "backups": backups,
        "running": now_running,
        "schedule": {
            kind: {"cron": cfg.schedule[kind], "next": at}
            for kind, at in sorted(next_runs.items())
            if kind in cfg.schedule
        },
        "encrypt": cfg.encrypt,
        "compression": cfg.compression,
    }
