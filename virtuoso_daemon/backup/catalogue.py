"""The backup catalogue: one SQLite row per backup run, in the state directory.

It is what ``backup.list`` answers and what retention and ``auto`` decide from. A
row is written when a run ends (completed or failed), never before, so an
interrupted run leaves no row; archives whose row is missing (a catalogue restored
from an older backup, a lost database) are adopted from their summaries on start.
The catalogue is itself a ``*.sqlite3`` of the state directory, so every critical
backup carries it (copied with the online backup API like the others).
"""

from __future__ import annotations

import builtins
import sqlite3
import threading
from pathlib import Path
from typing import Any

import msgspec

from virtuoso_daemon.core.messages import BackupInfo

FILENAME = "backup_catalogue.sqlite3"

_FIELDS = [f for f in BackupInfo.__struct_fields__]
_SCHEMA = """
CREATE TABLE IF NOT EXISTS backups (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    created REAL NOT NULL,
    finished REAL,
    archive TEXT,
    size INTEGER,
    sha256 TEXT,
    files INTEGER NOT NULL DEFAULT 0,
    bytes INTEGER NOT NULL DEFAULT 0,
    compression TEXT NOT NULL DEFAULT 'none',
    encrypted INTEGER NOT NULL DEFAULT 0,
    trigger TEXT NOT NULL DEFAULT 'manual',
    reason TEXT,
    error TEXT,
    verified_at REAL,
    damaged TEXT,
    remote TEXT
);
CREATE INDEX IF NOT EXISTS backups_kind_created ON backups (kind, created);
"""


class Catalogue:
    """The ``backups`` table; safe to call from the actor and its worker threads."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, timeout=10.0)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")  # a reported backup survives a crash
        self._db.executescript(_SCHEMA)
        self._db.commit()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def put(self, info: BackupInfo) -> None:
        row = msgspec.to_builtins(info)
        row.pop("type", None)
        values = [row.get(f) for f in _FIELDS]
        marks = ", ".join("?" for _ in _FIELDS)
        with self._lock:
            self._db.execute(
                f"INSERT OR REPLACE INTO backups ({', '.join(_FIELDS)}) VALUES ({marks})",
                values,
            )
            self._db.commit()

    def get(self, backup_id: str) -> BackupInfo | None:
        rows = self._select("WHERE id = ?", (backup_id,))
        return rows[0] if rows else None

    def list(self, kind: str | None = None, limit: int | None = None) -> builtins.list[BackupInfo]:
        """Newest first."""
        where, params = ("WHERE kind = ?", (kind,)) if kind else ("", ())
        tail = " LIMIT ?" if limit else ""
        return self._select(
            f"{where} ORDER BY created DESC{tail}", (*params, limit) if limit else params
        )

    def delete(self, backup_id: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM backups WHERE id = ?", (backup_id,))
            self._db.commit()

    def _select(self, tail: str, params: tuple[Any, ...]) -> builtins.list[BackupInfo]:
        with self._lock:
            rows = self._db.execute(f"SELECT {', '.join(_FIELDS)} FROM backups {tail}", params)
            out = [dict(zip(_FIELDS, r, strict=True)) for r in rows.fetchall()]
        for r in out:
            r["encrypted"] = bool(r["encrypted"])
        return [msgspec.convert(r, BackupInfo) for r in out]
