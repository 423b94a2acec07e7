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

from typing import Annotated, Any

import msgspec

from virtuoso_daemon.backup.manifest import Kind
from virtuoso_daemon.backup.requests import BackupRequest, PruneBackups, RunBackup, VerifyBackup
from virtuoso_daemon.core.bus import RequestError, Topics
from virtuoso_daemon.core.errors import QueryError
from virtuoso_daemon.core.runtime import Runtime
from virtuoso_daemon.read.contract import QueryArgs

VIEW = "backups"
_STATUS = {"busy": 409, "not_found": 404, "no_key": 400, "wrong_key": 400, "unavailable": 503}
RUN_TIMEOUT = 6 * 3600.0  # a run with wait=true, or a verify of a large backup


class ListBackupsArgs(QueryArgs, frozen=True):
    kind: Kind | None = None
    limit: Annotated[int, msgspec.Meta(ge=1, le=10_000)] | None = None


def list_backups(rt: Runtime, args: ListBackupsArgs) -> dict[str, Any]:
    """The backup catalogue (newest first), the run in progress and the schedule."""
    view = rt.views.value(VIEW)
    if view is None:
        raise QueryError("unavailable", "the backup actor is not running", 503)
    rows = view["backups"]
    if args.kind is not None:
        rows = [b for b in rows if b.kind == args.kind]
    if args.limit is not None:
        rows = rows[: args.limit]
    return {**view, "backups": rows}


async def _ask(rt: Runtime, body: BackupRequest, timeout: float) -> Any:
    try:
        return await rt.bus.request(Topics.BACKUP_COMMANDS, body, timeout=timeout)
    except RequestError as exc:
        raise QueryError(exc.code, exc.message, _STATUS.get(exc.code, 400)) from None
    except TimeoutError:
        raise QueryError("timeout", "the backup actor did not answer in time", 504) from None


async def run_backup(rt: Runtime, args: RunBackup) -> dict[str, Any]:
    """Start a backup of ``kind`` (default auto); with ``wait`` answer when it is done."""
    result: dict[str, Any] = await _ask(rt, args, RUN_TIMEOUT if args.wait else 30.0)
    return result


async def verify_backup(rt: Runtime, args: VerifyBackup) -> dict[str, Any]:
    """Read a backup back and check every file's SHA-256; names the damaged file."""
    result: dict[str, Any] = await _ask(rt, args, RUN_TIMEOUT)
    return result


async def prune_backups(rt: Runtime, args: PruneBackups) -> dict[str, Any]:
    """Apply retention now: keep_last per kind, everything younger than keep_days."""
    result: dict[str, Any] = await _ask(rt, args, 60.0)
    return result
