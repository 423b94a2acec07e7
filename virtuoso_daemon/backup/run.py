"""The steps of one backup run, apart from the bookkeeping the actor does around them.

:func:`resolve_kind` turns ``auto`` into ``full`` or ``critical``; :func:`run_key`
loads the key when encrypting; :func:`make_backup` asks the market store to persist
(for kinds holding candles), writes the archive in a worker thread and copies it to
the remote for ``remote``; :func:`completed_info` is the catalogue row of the result.
"""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

import anyio

from virtuoso_daemon.backup import archive, remote
from virtuoso_daemon.backup.archive import BackupFailed, Options, Progress
from virtuoso_daemon.backup.catalogue import Catalogue
from virtuoso_daemon.backup.crypto import KeyProblem, load_key
from virtuoso_daemon.backup.kinds import Layout, choose_auto, sources
from virtuoso_daemon.backup.manifest import Kind, Summary
from virtuoso_daemon.core.config import BackupConfig
from virtuoso_daemon.core.errors import QueryError
from virtuoso_daemon.core.messages import BackupInfo
from virtuoso_daemon.core.runtime import Runtime

log = logging.getLogger("virtuoso.backup")

CANDLE_KINDS = frozenset({"full", "data"})


async def resolve_kind(
    kind: Kind, catalogue: Catalogue, layout: Layout, cfg: BackupConfig, now: float
) -> tuple[Kind, str | None]:
    """``(kind, why)``: ``auto`` by the rule of :mod:`.kinds`, any other as it is."""
    if kind != "auto":
        return kind, None
    fulls = [b for b in catalogue.list(kind="full") if b.status == "completed"]
    resolved: tuple[Kind, str] = await anyio.to_thread.run_sync(
        partial(
            choose_auto,
            layout,
            last_full=fulls[0].created if fulls else None,
            now=now,
            auto_full_days=cfg.auto_full_days,
            min_free_mb=cfg.min_free_mb,
        )
    )
    return resolved


def run_key(cfg: BackupConfig, encrypt: bool | None) -> bytes | None:
    """The key when this run encrypts (``encrypt`` None: ``backup.encrypt``)."""
    if not (cfg.encrypt if encrypt is None else encrypt):
        return None
    try:
        return load_key(cfg.key_file, cfg.key_env)
    except KeyProblem as exc:
        raise QueryError("no_key", str(exc), 400) from None


async def persist_store(rt: Runtime) -> None:
    """Ask the market store to write its dirty series now (see the actor's docstring)."""
    # imported here: the store's client pulls in the market actor
    from virtuoso_daemon.market.requests import persist

    try:
        done = await persist(rt)
        log.debug("market store persisted before the backup: %s", done)
    except QueryError as exc:
        # the files on disk are each written atomically; they are older, not torn
        log.warning("market store did not persist before the backup: %s", exc.message)


async def make_backup(
    rt: Runtime,
    cfg: BackupConfig,
    layout: Layout,
    backup_id: str,
    kind: Kind,
    key: bytes | None,
    progress: Progress,
) -> tuple[Summary, str | None]:
    """Write (and for ``remote`` copy) one backup: ``(summary, remote target or None)``."""
    if kind in CANDLE_KINDS:
        await persist_store(rt)
    srcs = await anyio.to_thread.run_sync(sources, kind, layout)
    opts = Options(cfg.compression, cfg.zstd_level, key)
    write = partial(
        archive.write_backup, layout.backup_dir, backup_id, kind, rt.version, srcs, opts, progress
    )
    try:
        summary: Summary = await anyio.to_thread.run_sync(write, abandon_on_cancel=True)
    except BaseException:
        progress.cancel.set()  # the thread stops at its next block and removes its temp
        raise
    if kind != "remote":
        return summary, None
    progress.phase = "remote"
    if not cfg.remote:
        raise BackupFailed(
            f"backup.remote is not set; the backup was kept locally as {summary.archive}"
        )
    path = layout.backup_dir / summary.archive
    await remote.copy(
        [path, archive.summary_path(path)], cfg.remote, cfg.rsync_args, cfg.remote_timeout
    )
    return summary, cfg.remote


def completed_info(
    s: Summary, created: float, finished: float, trigger: str, reason: str | None, target: Any
) -> BackupInfo:
    """The catalogue row of a finished backup (verified when it was written)."""
    return BackupInfo(
        id=s.id,
        kind=s.kind,
        status="completed",
        created=created,
        finished=finished,
        archive=s.archive,
        size=s.size,
        sha256=s.sha256,
        files=s.files,
        bytes=s.bytes,
        compression=s.compression,
        encrypted=s.encrypted,
        trigger=trigger,
        reason=reason,
        verified_at=finished,
        remote=target,
    )
