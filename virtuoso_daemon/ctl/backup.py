"""``virtuoso-ctl backup run|list|verify|prune|restore``.

``run`` follows the run's events on the ``backups`` topic and draws a progress bar on
stderr (when it is a terminal), then prints the catalogue row; ``verify`` exits 1
when the backup is damaged and names the file. ``restore`` talks to no daemon: it
runs in this process, reads the archive, checks every hash and only then writes,
and refuses a state directory whose daemon is running (its ``daemon.lock`` is held).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec

from virtuoso_daemon.core.config import BACKUP_KINDS, Config, ConfigError, load_config
from virtuoso_daemon.ctl.tables import fmt_time, pretty_json, table
from virtuoso_daemon.protocol import CommandError, ControlClient

OK, FAILED, USAGE = 0, 1, 2


def _out(text: str) -> None:
    print(text, flush=True)


def _err(text: str) -> None:
    print(f"virtuoso-ctl: {text}", file=sys.stderr, flush=True)


def fmt_bytes(n: Any) -> str:
    if n is None:
        return ""
    value = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TB"


def _status(b: dict[str, Any]) -> str:
    return str(b["status"]) + (f" ({b['damaged']})" if b.get("damaged") else "")


def render_list(result: Any, ns: argparse.Namespace) -> str:
    rows = result.get("backups", [])
    lines = [
        table(
            rows,
            [
                ("id", lambda b: b["id"]),
                ("kind", lambda b: b["kind"]),
                (
                    "status",
                    lambda b: b["status"] + (f" ({b['damaged']})" if b.get("damaged") else ""),
                ),
                ("created", lambda b: fmt_time(b["created"])),
                ("size", lambda b: fmt_bytes(b.get("size"))),
                ("files", lambda b: b.get("files", 0)),
                ("enc", lambda b: "yes" if b.get("encrypted") else ""),
                ("error", lambda b: (b.get("error") or "")[:60]),
            ],
        )
        if rows
        else "no backups yet"
    ]
    running = result.get("running")
    if running:
        lines.append(
            f"running: {running['id']} {running['phase']} "
            f"{fmt_bytes(running['bytes_done'])} of {fmt_bytes(running['bytes_total'])}"
        )
    for kind, when in (result.get("schedule") or {}).items():
        lines.append(f"next {kind}: {fmt_time(when['next'])}  ({when['cron']})")
    lines.append(f"directory: {result.get('dir')}")
    return "\n".join(lines)


def render_row(row: dict[str, Any]) -> str:
    if row.get("status") == "failed":
        return f"backup {row['id']} failed: {row.get('error')}"
    return (
        f"backup {row['id']} ({row['kind']}) {row['status']}: {row.get('files', 0)} files, "
        f"{fmt_bytes(row.get('bytes'))} -> {row.get('archive')} ({fmt_bytes(row.get('size'))})"
    )


def _bar(event: Any, width: int = 30) -> str:
    total = event.bytes_total or 0
    done = min(event.bytes_done or 0, total) if total else 0
    frac = done / total if total else 0.0
    filled = int(frac * width)
    return (
        f"\r[{'#' * filled}{'.' * (width - filled)}] {frac * 100:5.1f}% "
        f"{fmt_bytes(done)}/{fmt_bytes(total)} files {event.files_done}/{event.files_total} "
        f"{event.phase or ''}   "
    )


async def run_with_progress(ns: argparse.Namespace, path: Path, timeout: float) -> int:
    """``backup run``: start the run, follow its events, print its catalogue row."""
    args: dict[str, Any] = {"kind": ns.kind, "cleanup": not ns.no_cleanup}
    if ns.encrypt is not None:
        args["encrypt"] = ns.encrypt
    as_json = getattr(ns, "json", False)
    tty = sys.stderr.isatty()
    async with ControlClient.connect(path, timeout=timeout) as client:
        await client.subscribe("backups")
        try:
            started = await client.call("backup.run", args, timeout=timeout)
        except CommandError as exc:
            _err(f"backup.run failed: {exc.code}: {exc.message}")
            return FAILED
        backup_id = started["id"]
        if ns.no_wait:
            _out(pretty_json(started) if as_json else f"started {backup_id}")
            return OK
        async for event in client.events():
            data = event.data
            if event.topic != "backups" or getattr(data, "backup_id", None) != backup_id:
                continue
            if data.event == "progress" and tty:
                print(_bar(data), end="", file=sys.stderr, flush=True)
            elif data.event in ("completed", "failed"):
                if tty:
                    print(file=sys.stderr)
                break
        listing = await client.call("backup.list", {}, timeout=timeout)
    row = next((b for b in listing["backups"] if b["id"] == backup_id), None)
    if row is None:
        _err(f"backup {backup_id} is not in the catalogue")
        return FAILED
    _out(pretty_json(row) if as_json else render_row(row))
    return OK if row["status"] == "completed" else FAILED


async def verify_session(ns: argparse.Namespace, path: Path, timeout: float) -> int:
    """``backup verify ID``: exit 1 when the backup is damaged."""
    async with ControlClient.connect(path, timeout=timeout) as client:
        try:
            result = await client.call("backup.verify", {"id": ns.id}, timeout=max(timeout, 3600))
        except CommandError as exc:
            _err(f"backup.verify failed: {exc.code}: {exc.message}")
            return FAILED
    if getattr(ns, "json", False):
        _out(pretty_json(result))
    elif result["ok"]:
        _out(f"backup {ns.id} is intact: {result['files']} files, {fmt_bytes(result['bytes'])}")
    else:
        _out(f"backup {ns.id} is DAMAGED: {result['error']}")
    return OK if result["ok"] else FAILED


def _load_config(ns: argparse.Namespace) -> Config:
    from virtuoso_daemon.ctl.main import DEFAULT_CONFIG

    path = getattr(ns, "config", None) or (DEFAULT_CONFIG if DEFAULT_CONFIG.exists() else None)
    return load_config(path)


def _find_archive(source: str, cfg: Config, backup_dir: str | None) -> Path:
    p = Path(source).expanduser()
    if p.is_file():
        return p
    from virtuoso_daemon.backup.actor import backup_dir as configured_dir
    from virtuoso_daemon.core.config import state_dir

    d = Path(backup_dir).expanduser() if backup_dir else configured_dir(cfg, state_dir(cfg))
    for candidate in sorted(d.glob(f"virtuoso-{source}.tar*")):
        if not candidate.name.endswith(".json"):
            return candidate
    raise FileNotFoundError(f"no archive {source!r} (neither a file nor a backup id in {d})")


def restore_local(ns: argparse.Namespace) -> int:
    """``backup restore``: runs here, not in the daemon (see the module docstring)."""
    # imported here: ctl starts fast, only a restore needs the archive code
    from virtuoso_daemon.backup.archive import read_summary
    from virtuoso_daemon.backup.crypto import KeyProblem, load_key
    from virtuoso_daemon.backup.verify import RestoreRefused, restore
    from virtuoso_daemon.core.config import state_dir

    try:
        cfg = _load_config(ns)
    except ConfigError as exc:
        _err(f"config error: {exc}")
        return USAGE
    try:
        archive = _find_archive(ns.source, cfg, ns.backup_dir)
    except FileNotFoundError as exc:
        _err(str(exc))
        return FAILED
    target = Path(ns.to).expanduser() if ns.to else state_dir(cfg)
    summary = read_summary(archive)
    key = None
    encrypted = archive.name.endswith(".enc") or (summary is not None and summary.encrypted)
    try:
        if encrypted:
            b = cfg.backup
            key = load_key(ns.key_file or b.key_file, "" if ns.key_file else b.key_env)
        plan = restore(archive, target, key, dry_run=ns.dry_run, expected=summary)
    except (RestoreRefused, KeyProblem) as exc:
        _err(str(exc))
        return FAILED
    if getattr(ns, "json", False):
        _out(msgspec.json.encode(plan.to_dict()).decode())
    if not plan.verify.ok:
        _err(f"backup is damaged, nothing restored: {plan.verify.error}")
        return FAILED
    if getattr(ns, "json", False):
        return OK
    if ns.dry_run:
        for f in plan.files:
            _out(f"would restore {f['name']} ({fmt_bytes(f['size'])}) -> {f['to']}")
        _out(f"{len(plan.files)} files, {fmt_bytes(plan.bytes)}; nothing written (--dry-run)")
        return OK
    _out(f"restored {len(plan.files)} files ({fmt_bytes(plan.bytes)}) to {target}")
    if any(str(f["name"]).startswith("config/") for f in plan.files):
        _out(f"the backed-up config is in {target / 'restored-config'} (not put in place)")
    return OK


def add_backup_commands(
    add: Callable[..., argparse.ArgumentParser], group: Callable[[str, str], None], call: Any
) -> None:
    """The ``backup`` group (``call`` builds the parser's Call: cmd, args, render)."""
    group("backup", "backups: run, list, verify, prune, restore")
    q = add(
        "backup run",
        "run a backup now (progress on stderr), then print its catalogue row",
        call("backup.run", lambda ns: {}, lambda r, ns: pretty_json(r)),
    )
    q.add_argument("kind", nargs="?", default="auto", choices=BACKUP_KINDS, help="default auto")
    enc = q.add_mutually_exclusive_group()
    enc.add_argument("--encrypt", dest="encrypt", action="store_true", default=None)
    enc.add_argument("--no-encrypt", dest="encrypt", action="store_false")
    q.add_argument("--no-cleanup", action="store_true", help="skip retention after the run")
    q.add_argument("--no-wait", action="store_true", help="print the id and return at once")
    q.set_defaults(session=run_with_progress)

    q = add(
        "backup list",
        "the backup catalogue, newest first, and the schedule",
        call(
            "backup.list",
            lambda ns: {k: v for k in ("kind", "limit") if (v := getattr(ns, k)) is not None},
            render_list,
        ),
    )
    q.add_argument("--kind", choices=BACKUP_KINDS, help="only this kind")
    q.add_argument("--limit", "-n", type=int, help="at most this many")

    q = add(
        "backup verify",
        "check every file of a backup (exit 1 and the damaged file's name if not intact)",
        call("backup.verify", lambda ns: {"id": ns.id}, lambda r, ns: pretty_json(r)),
    )
    q.add_argument("id", help="backup id (see backup list)")
    q.set_defaults(session=verify_session)

    add(
        "backup prune",
        "apply retention now",
        call(
            "backup.prune",
            lambda ns: {},
            lambda r, ns: f"deleted: {', '.join(r['deleted']) or 'nothing'}",
        ),
    )

    q = add(
        "backup restore",
        "restore a backup into a directory (in this process; refuses a running daemon's state)",
        call("", lambda ns: {}, lambda r, ns: ""),
    )
    q.add_argument("source", help="backup id or archive path")
    q.add_argument("--to", metavar="DIR", help="target directory (default: the state dir)")
    q.add_argument("--dry-run", action="store_true", help="verify and list, write nothing")
    q.add_argument("--key-file", metavar="PATH", help="key of an encrypted backup")
    q.add_argument("--backup-dir", metavar="DIR", help="where to find ids (default: config)")
    q.set_defaults(local=restore_local)
