"""Which backups retention deletes (a pure function of the catalogue and the clock).

Per kind, a backup is kept when it is one of the newest ``keep_last`` of that kind
or younger than ``keep_days`` days; the newest *verified* backup of each kind (status
``completed``: verified when written and not found damaged since) is never deleted,
even when newer ones are damaged. Failed runs (no archive) are dropped from the
catalogue once they are older than ``keep_days``.
"""

from __future__ import annotations

from collections import defaultdict

from virtuoso_daemon.core.messages import BackupInfo


def to_delete(
    backups: list[BackupInfo], *, keep_last: int, keep_days: float, now: float
) -> list[BackupInfo]:
    """The backups to delete, oldest first."""
    cutoff = now - keep_days * 86400
    by_kind: dict[str, list[BackupInfo]] = defaultdict(list)
    doomed: list[BackupInfo] = []
    for b in backups:
        if b.status == "failed":
            if b.created < cutoff:
                doomed.append(b)
        else:
            by_kind[b.kind].append(b)
    for rows in by_kind.values():
        rows.sort(key=lambda b: b.created, reverse=True)
        newest_verified = next((b for b in rows if b.status == "completed"), None)
        for i, b in enumerate(rows):
            if i < keep_last or b.created >= cutoff or b is newest_verified:
                continue
            doomed.append(b)
    return sorted(doomed, key=lambda b: b.created)
