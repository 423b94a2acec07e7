"""What each kind of backup holds, and how ``auto`` picks one.

==========  =========================================================================
critical    the config file and every ``*.sqlite3`` of the state directory (alert,
            beta and delivery history, the backup catalogue ...)
full        the config file and the whole state directory (SQLite databases, the
            candle store, anything else there) plus the recent logs
config      the config file
data        the candle store (``<state_dir>/candles``)
remote      a critical backup, then copied to ``backup.remote`` with rsync
auto        ``full`` when the newest full backup is older than ``backup.auto_full_days``
            (or there is none) and the free space of the backup directory would
            still be at least ``backup.min_free_mb`` after a copy of the whole state
            directory; otherwise ``critical``
==========  =========================================================================

Never included: the backup directory itself, temporary files (``*.tmp-*``,
``.tmp-*``), SQLite's ``-wal``/``-shm``/``-journal`` side files (the online backup
copies what they hold), sockets, and ``daemon.lock``.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from virtuoso_daemon.backup.manifest import Kind

SQLITE_SUFFIX = ".sqlite3"
_SIDE_FILES = ("-wal", "-shm", "-journal")
_SKIP_NAMES = frozenset({"daemon.lock"})


@dataclass(frozen=True, slots=True)
class Source:
    """One file to back up: its name inside the archive and where it is now."""

    name: str  # "state/beta_history.sqlite3", "config/virtuoso.toml", "logs/x.log"
    path: Path
    sqlite: bool = False  # copied with SQLite's online backup API


@dataclass(frozen=True, slots=True)
class Layout:
    """Where the things a backup may hold live."""

    state_dir: Path
    backup_dir: Path
    config_path: Path | None
    logs_dir: Path
    logs_days: float


def _inside(path: Path, parent: Path) -> bool:
    try:
        path.resolve().relative_to(parent.resolve())
    except ValueError:
        return False
    return True


def _skipped(path: Path) -> bool:
    name = path.name
    return (
        name in _SKIP_NAMES
        or ".tmp-" in name
        or name.startswith(".tmp-")
        or name.endswith(_SIDE_FILES)
        or not path.is_file()  # sockets, fifos, dangling links
    )


def _state_files(layout: Layout, under: Path | None = None) -> Iterable[Source]:
    root = layout.state_dir
    start = under if under is not None else root
    if not start.is_dir():
        return
    for p in sorted(start.rglob("*")):
        if p.is_dir() or _skipped(p) or _inside(p, layout.backup_dir):
            continue
        if _inside(p, layout.logs_dir):
            continue  # logs are chosen by age (see _recent_logs)
        rel = p.relative_to(root)
        if any(".tmp-" in part for part in rel.parts[:-1]):
            continue  # inside a temporary directory (a restore's staging area)
        yield Source(f"state/{rel.as_posix()}", p, sqlite=p.name.endswith(SQLITE_SUFFIX))


def _recent_logs(layout: Layout, now: float) -> Iterable[Source]:
    d = layout.logs_dir
    if not d.is_dir():
        return
    cutoff = now - layout.logs_days * 86400
    for p in sorted(d.rglob("*")):
        if p.is_dir() or _skipped(p) or p.stat().st_mtime < cutoff:
            continue
        yield Source(f"logs/{p.relative_to(d).as_posix()}", p)


def _config(layout: Layout) -> list[Source]:
    p = layout.config_path
    return [Source(f"config/{p.name}", p)] if p is not None and p.is_file() else []


def sources(kind: Kind, layout: Layout, now: float | None = None) -> list[Source]:
    """The files a backup of ``kind`` holds (``auto`` must be resolved first)."""
    now = time.time() if now is None else now
    match kind:
        case "config":
            return _config(layout)
        case "critical" | "remote":
            return _config(layout) + [s for s in _state_files(layout) if s.sqlite]
        case "data":
            return list(_state_files(layout, layout.state_dir / "candles"))
        case "full":
            return _config(layout) + list(_state_files(layout)) + list(_recent_logs(layout, now))
        case "auto":
            raise ValueError("resolve 'auto' with choose_auto() first")


def state_size(layout: Layout) -> int:
    """Bytes of every file a full backup would copy (the estimate ``auto`` uses)."""
    return sum(s.path.stat().st_size for s in sources("full", layout) if s.path.exists())


def choose_auto(
    layout: Layout,
    *,
    last_full: float | None,
    now: float,
    auto_full_days: float,
    min_free_mb: int,
) -> tuple[Kind, str]:
    """``("full" | "critical", why)`` by the rule in the module docstring."""
    if last_full is not None and now - last_full < auto_full_days * 86400:
        age = (now - last_full) / 86400
        return "critical", f"the newest full backup is {age:.1f} days old"
    layout.backup_dir.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(layout.backup_dir).free
    need = state_size(layout)
    if free - need < min_free_mb * 1024 * 1024:
        return "critical", (
            f"not enough free space for a full backup ({free >> 20} MB free, "
            f"~{need >> 20} MB needed, {min_free_mb} MB must stay free)"
        )
    return "full", "no recent full backup and enough free space"
