"""Retention: last N per kind plus everything younger than D days, newest verified kept."""

from __future__ import annotations

from pathlib import Path

from virtuoso_daemon.backup.catalogue import Catalogue
from virtuoso_daemon.backup.retention import to_delete
from virtuoso_daemon.core.messages import BackupInfo

DAY = 86400.0
NOW = 1_000 * DAY


def b(i: str, kind: str, age_days: float, status: str = "completed") -> BackupInfo:
    return BackupInfo(id=i, kind=kind, status=status, created=NOW - age_days * DAY)  # type: ignore[arg-type]


def ids(rows: list[BackupInfo]) -> list[str]:
    return [r.id for r in rows]


def test_keeps_the_last_n_of_each_kind_and_the_young_ones() -> None:
    rows = [b(f"c{i}", "critical", 10 + i) for i in range(5)] + [b("young", "critical", 1)]
    rows += [b("f0", "full", 30)]
    assert ids(to_delete(rows, keep_last=2, keep_days=7, now=NOW)) == ["c4", "c3", "c2", "c1"]


def test_never_deletes_the_newest_verified_backup_even_when_newer_ones_are_damaged() -> None:
    rows = [b("d1", "full", 8, "damaged"), b("d2", "full", 9, "damaged"), b("ok", "full", 20)]
    assert ids(to_delete(rows, keep_last=1, keep_days=7, now=NOW)) == ["d2"]


def test_failed_runs_leave_the_catalogue_after_keep_days() -> None:
    rows = [b("old", "full", 9, "failed"), b("new", "full", 2, "failed")]
    assert ids(to_delete(rows, keep_last=5, keep_days=7, now=NOW)) == ["old"]


def test_the_catalogue_keeps_rows_across_reopening(tmp_path: Path) -> None:
    cat = Catalogue(tmp_path / "c.sqlite3")
    cat.put(b("a", "full", 2))
    cat.put(BackupInfo(id="z", kind="critical", status="failed", created=NOW, error="disk full"))
    cat.close()
    cat = Catalogue(tmp_path / "c.sqlite3")
    assert ids(cat.list()) == ["z", "a"]
    got = cat.get("z")
    assert got is not None and got.error == "disk full" and got.status == "failed"
    assert ids(cat.list(kind="full")) == ["a"]
    cat.delete("a")
    assert ids(cat.list()) == ["z"]
