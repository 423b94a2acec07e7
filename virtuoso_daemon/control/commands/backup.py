"""Backup commands: ``backup.list``, ``backup.run``, ``backup.verify``, ``backup.prune``.

The same read-layer functions as ``/api/system/backups`` (same arguments, answers and
error codes). Restore is not a socket command: it must not overwrite a running
daemon's state, so ``virtuoso-ctl backup restore`` does it in its own process.
"""

from __future__ import annotations

from virtuoso_daemon.backup.requests import PruneBackups, RunBackup, VerifyBackup
from virtuoso_daemon.control.registry import query_command
from virtuoso_daemon.read import backups as rb

query_command("backup.list", rb.list_backups, args=rb.ListBackupsArgs)
query_command("backup.run", rb.run_backup, args=RunBackup)
query_command("backup.verify", rb.verify_backup, args=VerifyBackup)
query_command("backup.prune", rb.prune_backups, args=PruneBackups)
