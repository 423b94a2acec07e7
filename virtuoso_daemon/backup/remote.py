"""Copying a finished backup to a remote target with rsync.

``backup.remote`` is any rsync destination (``rsync://host[:port]/module/path`` for
an rsync daemon, ``host:/path`` over ssh). rsync writes to a temporary name on the
far side and renames when the file is complete, so the remote never shows half an
archive either; ``--checksum`` is not needed, the archive's SHA-256 travels in its
summary.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

import anyio

from virtuoso_daemon.backup.archive import BackupFailed


async def copy(files: Sequence[Path], target: str, extra: Sequence[str], timeout: float) -> None:
    """rsync ``files`` into ``target`` (a directory); raises BackupFailed with rsync's words."""
    exe = shutil.which("rsync")
    if exe is None:
        raise BackupFailed("rsync is not installed (needed for remote backups)")
    dest = target if target.endswith("/") else target + "/"
    cmd = [exe, "--times", "--timeout", str(int(max(timeout, 1))), *extra, *map(str, files), dest]
    try:
        with anyio.fail_after(timeout):
            result = await anyio.run_process(cmd, check=False, stderr=subprocess.PIPE)
    except TimeoutError:
        raise BackupFailed(f"rsync to {target} took longer than {timeout:g}s") from None
    if result.returncode != 0:
        words = result.stderr.decode(errors="replace").strip().splitlines()
        raise BackupFailed(
            f"rsync to {target} failed (exit {result.returncode}): "
            + (words[-1] if words else "no message")
        )
