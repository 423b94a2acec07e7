"""The backup actor: runs backups on a schedule or on request, one at a time.

It owns the catalogue and the backup directory. On start it deletes what an
interrupted run left behind and adopts finished archives the catalogue does not
know (a catalogue restored from an older backup). A run:

1. resolves ``auto`` (:func:`.kinds.choose_auto`), loads the key if encrypting;
2. for kinds holding candles, asks the market store to write its dirty series
   (``persist``), so the files copied are the store's state now, each written
   atomically by the store (never copied mid-write);
3. writes, syncs and verifies the archive in a worker thread (:mod:`.archive`),
   publishing ``progress`` events on ``Topics.BACKUPS`` twice a second;
4. for ``remote``, copies archive and summary with rsync;
5. records the result in the catalogue, applies retention, and on failure publishes
   a ``Condition(kind="backup", key="backup:<kind>")`` (resolved by the next success
   of that kind); a verify that finds damage raises ``backup:damaged:<id>``.

Steps 1-4 are :mod:`.run`; this module does the bookkeeping around them, and
:mod:`.announce` says it to the rest of the daemon (events, conditions). The
catalogue and the schedule are published as the ``backups`` view, which the read
layer serves; counters are in :meth:`stats` (for status and /metrics).
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import time
from collections import Counter
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any, ClassVar

import anyio
import anyio.abc
import msgspec

from virtuoso_daemon.backup import archive
from virtuoso_daemon.backup.announce import VIEW, Announcer, view_document
from virtuoso_daemon.backup.archive import BackupFailed, Progress
from virtuoso_daemon.backup.catalogue import FILENAME, Catalogue
from virtuoso_daemon.backup.crypto import KeyProblem, load_key
from virtuoso_daemon.backup.kinds import Layout
from virtuoso_daemon.backup.manifest import Kind
from virtuoso_daemon.backup.requests import PruneBackups, RunBackup, VerifyBackup
from virtuoso_daemon.backup.retention import to_delete
from virtuoso_daemon.backup.run import completed_info, make_backup, resolve_kind, run_key
from virtuoso_daemon.backup.schedule import Clock, SystemClock, next_fires
from virtuoso_daemon.backup.verify import verify_archive
from virtuoso_daemon.core.bus import Request, Subscription, Topics
from virtuoso_daemon.core.config import BackupConfig, Config
from virtuoso_daemon.core.errors import QueryError
from virtuoso_daemon.core.messages import BackupInfo
from virtuoso_daemon.core.runtime import Runtime

log = logging.getLogger("virtuoso.backup")

PROGRESS_EVERY = 0.5


def backup_dir(config: Config, state_dir: Path) -> Path:
    d = config.backup.dir
    return Path(d).expanduser() if d else state_dir / "backups"


def layout_for(config: Config, state_dir: Path, config_path: Path | None) -> Layout:
    b = config.backup
    return Layout(
        state_dir=state_dir,
        backup_dir=backup_dir(config, state_dir),
        config_path=config_path,
        logs_dir=Path(b.logs_dir).expanduser() if b.logs_dir else state_dir / "logs",
        logs_days=b.logs_days,
    )


def new_id(kind: str, now: float) -> str:
    stamp = datetime.fromtimestamp(now).strftime("%Y%m%dT%H%M%S")
    return f"{kind}-{stamp}-{secrets.token_hex(2)}"


class Busy(Exception):
    pass


class BackupActor:
    """Runs, verifies and prunes backups; see the module docstring."""

    name = "backup"
    config_sections: ClassVar[tuple[str, ...]] = ("backup",)

    def __init__(self, runtime: Runtime, clock: Clock | None = None) -> None:
        self.rt = runtime
        self.clock: Clock = clock or SystemClock()
        self.cfg: BackupConfig = runtime.config.backup
        self.catalogue: Catalogue | None = None
        self.running: tuple[str, str, Progress] | None = None  # id, kind, progress
        self._lock = anyio.Lock()
        self._verify_lock = anyio.Lock()
        self._schedule_changed = anyio.Event()
        self.next_runs: dict[str, float] = {}
        self.announce = Announcer(runtime.bus)
        self.counters: Counter[str] = Counter()
        self.last: dict[str, dict[str, Any]] = {}  # per kind: last success / failure
        self.cleaned: list[str] = []

    @property
    def layout(self) -> Layout:
        return layout_for(self.rt.config, self.rt.state_dir, self.rt.config_path)

    # --- lifecycle ------------------------------------------------------------------

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        layout = self.layout
        self.cleaned = await anyio.to_thread.run_sync(archive.clean_leftovers, layout.backup_dir)
        if self.cleaned:
            log.warning("removed leftovers of an interrupted backup: %s", ", ".join(self.cleaned))
        self.catalogue = await anyio.to_thread.run_sync(Catalogue, self.rt.state_dir / FILENAME)
        await anyio.to_thread.run_sync(self._adopt, layout)
        requests: Subscription[Request] = self.rt.bus.subscribe(
            Topics.BACKUP_COMMANDS, name=self.name, lossy=False
        )
        self.rt.stats[self.name] = self.stats
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._serve, requests, tg)
                tg.start_soon(self._scheduler)
                self._publish_view()
                task_status.started()
        finally:
            requests.close()
            if self.running is not None:
                self.running[2].cancel.set()
            self.catalogue.close()

    async def reconfigure(self, config: Config) -> None:
        self.cfg = config.backup
        self._schedule_changed.set()
        self._publish_view()

    def _adopt(self, layout: Layout) -> None:
        """Archives with a summary but no catalogue row become rows (status completed)."""
        assert self.catalogue is not None
        for path, s in archive.list_archives(layout.backup_dir):
            if self.catalogue.get(s.id) is None:
                self.catalogue.put(
                    BackupInfo(
                        id=s.id,
                        kind=s.kind,
                        status="completed",
                        created=s.created,
                        finished=s.created,
                        archive=path.name,
                        size=s.size,
                        sha256=s.sha256,
                        files=s.files,
                        bytes=s.bytes,
                        compression=s.compression,
                        encrypted=s.encrypted,
                        reason="adopted from the backup directory",
                    )
                )
                log.info("adopted backup %s from %s", s.id, path.name)

    # --- requests -------------------------------------------------------------------

    async def _serve(self, sub: Subscription[Request], tg: anyio.abc.TaskGroup) -> None:
        async for req in sub:
            match req.body:
                case RunBackup() as body:
                    tg.start_soon(self._run_request, req, body)
                case VerifyBackup() as body:
                    tg.start_soon(self._verify_request, req, body)
                case PruneBackups():
                    tg.start_soon(self._prune_request, req)
                case _:
                    req.fail("bad_request", f"the backup actor does not answer {req.command!r}")

    async def _run_request(self, req: Request, body: RunBackup) -> None:
        if self._lock.locked():
            running = self.running
            what = f" ({running[0]})" if running else ""
            req.fail("busy", f"a backup is already running{what}; one runs at a time")
            return
        started = anyio.Event()
        ident: dict[str, Any] = {}

        def on_start(backup_id: str, kind: str) -> None:
            ident.update(id=backup_id, kind=kind)
            started.set()

        async def go() -> None:
            try:
                info = await self.run_backup(
                    body.kind,
                    trigger="manual",
                    encrypt=body.encrypt,
                    cleanup=body.cleanup,
                    on_start=on_start,
                )
            except QueryError as exc:
                req.fail(exc.code, exc.message)
                return
            finally:
                started.set()
            if body.wait:
                req.reply(_info_dict(info))

        async with anyio.create_task_group() as tg:
            tg.start_soon(go)
            if not body.wait:
                await started.wait()
                if ident:  # else it failed before it started, and go() said why
                    req.reply({"id": ident["id"], "kind": ident["kind"], "started": True})

    async def _verify_request(self, req: Request, body: VerifyBackup) -> None:
        try:
            req.reply(await self.verify(body.id))
        except QueryError as exc:
            req.fail(exc.code, exc.message)

    async def _prune_request(self, req: Request) -> None:
        req.reply({"deleted": await self.prune()})

    # --- running --------------------------------------------------------------------

    async def run_backup(
        self,
        kind: Kind,
        *,
        trigger: str,
        encrypt: bool | None = None,
        cleanup: bool = True,
        on_start: Any = None,
    ) -> BackupInfo:
        """One backup run, start to end (waits for a running one when scheduled)."""
        async with self._lock:
            return await self._run_locked(kind, trigger, encrypt, cleanup, on_start)

    async def _run_locked(
        self, kind: Kind, trigger: str, encrypt: bool | None, cleanup: bool, on_start: Any
    ) -> BackupInfo:
        assert self.catalogue is not None
        cfg = self.cfg
        layout = self.layout
        now = self.clock.now()
        resolved, reason = await resolve_kind(kind, self.catalogue, layout, cfg, now)
        backup_id = new_id(resolved, now)
        progress = Progress()
        self.running = (backup_id, resolved, progress)
        started = time.monotonic()
        info: BackupInfo
        try:
            key = run_key(cfg, encrypt)
            if on_start is not None:
                on_start(backup_id, resolved)
            await self.announce.event("started", backup_id, resolved)
            self.counters[f"runs_started.{resolved}"] += 1
            failure: Exception | None = None
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._progress_loop, backup_id, resolved, progress)
                try:
                    summary, target = await make_backup(
                        self.rt, cfg, layout, backup_id, resolved, key, progress
                    )
                    info = completed_info(summary, now, self.clock.now(), trigger, reason, target)
                except Exception as exc:  # caught here so the task group does not wrap it
                    failure = exc
                finally:
                    tg.cancel_scope.cancel()
            if failure is not None:
                raise failure
        except Exception as exc:  # every failure is recorded and alerted, none crashes us
            if not isinstance(exc, BackupFailed | QueryError | OSError | KeyProblem):
                log.exception("backup %s failed unexpectedly", backup_id)
            message = exc.message if isinstance(exc, QueryError) else f"{exc}"
            info = BackupInfo(
                id=backup_id,
                kind=resolved,
                status="failed",
                created=now,
                finished=self.clock.now(),
                trigger=trigger,
                reason=reason,
                error=message,
            )
            await anyio.to_thread.run_sync(self.catalogue.put, info)
            self.running = None
            self._publish_view()  # before the event: who hears it finds the row listed
            await self._failed(info)
            if isinstance(exc, QueryError) and exc.code == "no_key":
                raise
            return info
        finally:
            self.running = None
            self._publish_view()
        self.counters[f"runs_completed.{resolved}"] += 1
        self.counters["bytes_written"] += info.size or 0
        self.last[resolved] = {
            "ok": True,
            "id": backup_id,
            "at": info.finished,
            "seconds": round(time.monotonic() - started, 3),
            "size": info.size,
        }
        await anyio.to_thread.run_sync(self.catalogue.put, info)
        self._publish_view()  # before the event: who hears it finds the row listed
        await self.announce.event(
            "completed",
            backup_id,
            resolved,
            path=str(layout.backup_dir / (info.archive or "")),
            size=info.size,
            sha256=info.sha256,
        )
        await self.announce.resolve(
            f"backup:{resolved}", f"{resolved} backup {backup_id} completed"
        )
        if cleanup:
            await self.prune()
        self._publish_view()
        log.info(
            "backup %s completed: %d files, %d bytes -> %s (%d bytes)",
            backup_id,
            info.files,
            info.bytes,
            info.archive,
            info.size or 0,
        )
        return info

    async def _progress_loop(self, backup_id: str, kind: str, progress: Progress) -> None:
        while True:
            await anyio.sleep(PROGRESS_EVERY)
            await self.announce.event(
                "progress",
                backup_id,
                kind,
                phase=progress.phase,
                files_done=progress.files_done,
                files_total=progress.files_total,
                bytes_done=progress.bytes_done,
                bytes_total=progress.bytes_total,
            )
            self._publish_view()

    # --- verify and prune -----------------------------------------------------------

    async def verify(self, backup_id: str) -> dict[str, Any]:
        assert self.catalogue is not None
        info = await anyio.to_thread.run_sync(self.catalogue.get, backup_id)
        if info is None:
            raise QueryError("not_found", f"no backup {backup_id!r} in the catalogue", 404)
        if info.archive is None:
            raise QueryError(
                "not_found", f"backup {backup_id!r} has no archive ({info.status})", 404
            )
        path = self.layout.backup_dir / info.archive
        key = None
        if info.encrypted:
            try:
                key = load_key(self.cfg.key_file, self.cfg.key_env)
            except KeyProblem as exc:
                raise QueryError("no_key", str(exc), 400) from None
        async with self._verify_lock:
            try:
                result = await anyio.to_thread.run_sync(
                    partial(verify_archive, path, key, expected=archive.read_summary(path)),
                    abandon_on_cancel=True,
                )
            except KeyProblem as exc:
                raise QueryError("wrong_key", str(exc), 400) from None
        now = self.clock.now()
        self.counters["verifies"] += 1
        key_name = f"backup:damaged:{backup_id}"
        if result.ok:
            updated = _replace(info, status="completed", verified_at=now, damaged=None)
            await self.announce.resolve(key_name, f"backup {backup_id} verified")
        else:
            self.counters["verify_failures"] += 1
            updated = _replace(info, status="damaged", damaged=result.damaged)
            await self.announce.raise_condition(
                key_name,
                "critical",
                f"backup {backup_id} is damaged: {result.error}",
                {"backup": backup_id, "damaged": result.damaged},
                now,
            )
        await anyio.to_thread.run_sync(self.catalogue.put, updated)
        self._publish_view()
        await self.announce.event(
            "verified", backup_id, info.kind, error=result.error, damaged=result.damaged
        )
        return {"id": backup_id, **result.to_dict()}

    async def prune(self) -> list[str]:
        assert self.catalogue is not None
        cfg = self.cfg
        rows = await anyio.to_thread.run_sync(self.catalogue.list)
        doomed = to_delete(
            rows, keep_last=cfg.keep_last, keep_days=cfg.keep_days, now=self.clock.now()
        )
        d = self.layout.backup_dir
        for b in doomed:
            if b.archive:
                for p in (d / b.archive, archive.summary_path(d / b.archive)):
                    with contextlib.suppress(FileNotFoundError):
                        await anyio.to_thread.run_sync(p.unlink)
            await anyio.to_thread.run_sync(self.catalogue.delete, b.id)
            self.counters["pruned"] += 1
            await self.announce.event("pruned", b.id, b.kind)
        if doomed:
            log.info("retention deleted %s", ", ".join(b.id for b in doomed))
            self._publish_view()
        return [b.id for b in doomed]

    # --- schedule -------------------------------------------------------------------

    async def _scheduler(self) -> None:
        while True:
            self._schedule_changed = anyio.Event()
            self.next_runs = next_fires(self.cfg.schedule, self.clock.now())
            self._publish_view()
            if not self.next_runs:
                await self._schedule_changed.wait()
                continue
            kind, due = min(self.next_runs.items(), key=lambda kv: kv[1])
            async with anyio.create_task_group() as tg:

                async def wake_on_change(scope: anyio.CancelScope = tg.cancel_scope) -> None:
                    await self._schedule_changed.wait()
                    scope.cancel()

                tg.start_soon(wake_on_change)
                await self.clock.sleep_until(due)
                tg.cancel_scope.cancel()
            if self.clock.now() < due:
                continue  # the schedule changed: recompute
            self.counters[f"scheduled.{kind}"] += 1
            log.info("scheduled %s backup is due", kind)
            with contextlib.suppress(QueryError):  # recorded and raised as a condition
                await self.run_backup(kind, trigger="schedule")  # type: ignore[arg-type]

    # --- what others hear -----------------------------------------------------------

    async def _failed(self, info: BackupInfo) -> None:
        self.counters[f"runs_failed.{info.kind}"] += 1
        self.last[info.kind] = {
            "ok": False,
            "id": info.id,
            "at": info.finished,
            "error": info.error,
        }
        log.error("backup %s failed: %s", info.id, info.error)
        await self.announce.event("failed", info.id, info.kind, error=info.error)
        await self.announce.raise_condition(
            f"backup:{info.kind}",
            "warning",
            f"{info.kind} backup failed: {info.error}",
            {"backup": info.id, "error": info.error},
            time.time(),
        )

    def _publish_view(self) -> None:
        if self.catalogue is None:
            return
        self.rt.views.publish(
            VIEW,
            view_document(
                self.layout, self.cfg, self.catalogue.list(), self.running, self.next_runs
            ),
        )

    def stats(self) -> dict[str, Any]:
        return {
            "running": self.running[0] if self.running else None,
            "counters": dict(self.counters),
            "last": dict(self.last),
            "next_runs": dict(self.next_runs),
            "leftovers_removed": len(self.cleaned),
        }


def _replace(info: BackupInfo, **changes: Any) -> BackupInfo:
    return msgspec.structs.replace(info, **changes)


def _info_dict(info: BackupInfo) -> dict[str, Any]:
    out: dict[str, Any] = msgspec.to_builtins(info)
    out.pop("type", None)
    return out
