"""What the backup actor answers on ``Topics.BACKUP_COMMANDS``: one tagged struct each.

The socket's ``backup.*`` commands and the HTTP routes build these same structs (see
:mod:`virtuoso_daemon.read.backups`).
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from virtuoso_daemon.backup.manifest import Kind
from virtuoso_daemon.core.requests import Args


class BackupRequest(Args, frozen=True, tag_field="request"):
    """Base of the backup actor's requests."""


class RunBackup(BackupRequest, frozen=True, tag="backup.run"):
    """Start a backup now. ``wait``: answer when it has finished, not when it started."""

    kind: Kind = "auto"
    encrypt: bool | None = None  # None: backup.encrypt
    cleanup: bool = True  # apply retention after a successful run
    wait: bool = False


class VerifyBackup(BackupRequest, frozen=True, tag="backup.verify"):
    """Read a backup back and check every file against its manifest."""

    id: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class PruneBackups(BackupRequest, frozen=True, tag="backup.prune"):
    """Apply retention now."""


BackupCommand = RunBackup | VerifyBackup | PruneBackups
