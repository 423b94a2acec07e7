"""Backups: the catalogue (from the backup actor's view) and the requests that run,
verify and prune, one answer for HTTP and the control socket.

Listing reads the ``backups`` view the actor publishes, so it never waits behind a
running backup. Run, verify and prune are requests to the actor (the structs of
:mod:`virtuoso_daemon.backup.requests` are the argument structs here too); its
refusals become :class:`QueryError` with one code per reason: ``busy`` (409, one
run at a time), ``not_found`` (404), ``no_key``/``wrong_key`` (400),
``unavailable`` (503, the backup actor is not running).
"""

from __future__ import annotations

from typing import Annotated, TypeVar

import msgspec

from virtuoso_daemon.backup.manifest import Kind
from virtuoso_daemon.backup.requests import BackupRequest, PruneBackups, RunBackup, VerifyBackup
from virtuoso_daemon.core.bus import RequestError, Topics
from virtuoso_daemon.core.errors import QueryError
from virtuoso_daemon.core.messages import BackupInfo
from virtuoso_daemon.core.runtime import Runtime
from virtuoso_daemon.read.contract import QueryArgs

VIEW = "backups"
_STATUS = {"busy": 409, "not_found": 404, "no_key": 400, "wrong_key": 400, "unavailable": 503}
RUN_TIMEOUT = 6 * 3600.0  # a run with wait=true, or a verify of a large backup


class ListBackupsArgs(QueryArgs, frozen=True):
    kind: Kind | None = None
    limit: Annotated[int, msgspec.Meta(ge=1, le=10_000)] | None = None


class RunningBackup(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The run in progress: its phase and how far it got."""

    id: str
    kind: str
    phase: str  # starting, copying, verifying, finishing, remote
    files_done: int
    files_total: int
    bytes_done: int
    bytes_total: int


class ScheduledRun(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    cron: str
    next: float | None  # epoch seconds of the next run


class Backups(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The ``backups`` view the actor publishes (``backup.announce.view_document``)."""

    dir: str  # the backup directory
    backups: list[BackupInfo]  # the catalogue, newest first
    running: RunningBackup | None
    schedule: dict[str, ScheduledRun]  # kind -> its cron and next run
    encrypt: bool
    compression: str


def list_backups(rt: Runtime, args: ListBackupsArgs) -> Backups:
    """The backup catalogue (newest first), the run in progress and the schedule."""
    view = rt.views.value(VIEW)
    if view is None:
        raise QueryError("unavailable", "the backup actor is not running", 503)
    rows = view["backups"]
    if args.kind is not None:
        rows = [b for b in rows if b.kind == args.kind]
    if args.limit is not None:
        rows = rows[: args.limit]
    return msgspec.convert({**view, "backups": rows}, Backups)


# --- the actor's answers (plain data from the actor; these are their shape) -----------


class BackupRecord(BackupInfo, frozen=True, kw_only=True, tag=False):
    """A finished run (``wait``): the catalogue row, without the bus's type tag."""


class BackupStarted(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A run started in the background (no ``wait``); follow it in the list or events."""

    id: str
    kind: str
    started: bool


class VerifyReport(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A verify's outcome: ``ok`` false names the ``damaged`` file and the ``error``."""

    id: str
    ok: bool
    error: str | None
    damaged: str | None
    files: int
    bytes: int
    encrypted: bool
    compression: str


class PruneReport(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    deleted: list[str]  # ids of the backups retention deleted


T = TypeVar("T")


async def _ask(rt: Runtime, body: BackupRequest, timeout: float, answer: type[T]) -> T:
    try:
        reply = await rt.bus.request(Topics.BACKUP_COMMANDS, body, timeout=timeout)
    except RequestError as exc:
        raise QueryError(exc.code, exc.message, _STATUS.get(exc.code, 400)) from None
    except TimeoutError:
        raise QueryError("timeout", "the backup actor did not answer in time", 504) from None
    return msgspec.convert(reply, answer)


async def run_backup(rt: Runtime, args: RunBackup) -> BackupRecord | BackupStarted:
    """Start a backup of ``kind`` (default auto); with ``wait`` answer when it is done."""
    if args.wait:
        return await _ask(rt, args, RUN_TIMEOUT, BackupRecord)
    return await _ask(rt, args, 30.0, BackupStarted)


async def verify_backup(rt: Runtime, args: VerifyBackup) -> VerifyReport:
    """Read a backup back and check every file's SHA-256; names the damaged file."""
    return await _ask(rt, args, RUN_TIMEOUT, VerifyReport)


async def prune_backups(rt: Runtime, args: PruneBackups) -> PruneReport:
    """Apply retention now: keep_last per kind, everything younger than keep_days."""
    return await _ask(rt, args, 60.0, PruneReport)
