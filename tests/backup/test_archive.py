"""The archive format: round trips bit for bit, damage is named, keys are checked."""

from __future__ import annotations

import fcntl
import os
import tarfile
from pathlib import Path

import pytest

from tests.backup.helpers import flip_byte, make_state, rows
from virtuoso_daemon.backup.archive import (
    Options,
    clean_leftovers,
    list_archives,
    write_backup,
)
from virtuoso_daemon.backup.crypto import KeyProblem, load_key
from virtuoso_daemon.backup.kinds import sources
from virtuoso_daemon.backup.verify import RestoreRefused, restore, verify_archive

KEY = bytes(range(32))
MODES = {
    "plain": Options("none", 3, None),
    "zstd": Options("zstd", 3, None),
    "encrypted": Options("none", 3, KEY),
    "zstd+encrypted": Options("zstd", 3, KEY),
}


@pytest.mark.parametrize("mode", MODES)
def test_full_backup_restores_bit_for_bit(tmp_path: Path, mode: str) -> None:
    layout = make_state(tmp_path)
    opts = MODES[mode]
    summary = write_backup(
        layout.backup_dir, "full-1", "full", "0.1", sources("full", layout), opts
    )
    archive = layout.backup_dir / summary.archive
    assert summary.files == 5  # config, the database, two candle series, one log
    target = tmp_path / "restored"
    plan = restore(archive, target, opts.key)
    assert plan.verify.ok, plan.verify.error
    for rel in ("candles/sim/1h/BTC-USDT.npz", "candles/sim/1h/ETH-USDT.npz"):
        assert (target / rel).read_bytes() == (layout.state_dir / rel).read_bytes()
    assert rows(target / "beta_history.sqlite3") == rows(layout.state_dir / "beta_history.sqlite3")
    assert (target / "restored-config" / "virtuoso.toml").read_bytes() == (
        layout.config_path.read_bytes()  # type: ignore[union-attr]
    )
    assert (target / "restored-logs" / "virtuoso.log").read_text() == "started\n"


def test_sqlite_is_copied_with_the_backup_api_while_a_writer_holds_uncheckpointed_pages(
    tmp_path: Path,
) -> None:
    import sqlite3

    layout = make_state(tmp_path)
    live = sqlite3.connect(layout.state_dir / "beta_history.sqlite3")
    live.execute("PRAGMA wal_autocheckpoint=0")  # keep the new rows in the WAL only
    live.execute("INSERT INTO t VALUES (99999, 'only in the wal')")
    live.commit()
    try:
        summary = write_backup(
            layout.backup_dir, "c", "critical", "0.1", sources("critical", layout), MODES["plain"]
        )
        restore(layout.backup_dir / summary.archive, tmp_path / "r", None)
    finally:
        live.close()
    assert (99999, "only in the wal") in rows(tmp_path / "r" / "beta_history.sqlite3")


def _member_offset(archive: Path, name: str) -> int:
    with tarfile.open(archive) as tf:
        return tf.getmember(name).offset_data + 1000


def test_a_flipped_byte_in_a_file_is_named_by_verify(tmp_path: Path) -> None:
    layout = make_state(tmp_path)
    summary = write_backup(
        layout.backup_dir, "f", "full", "0.1", sources("full", layout), MODES["plain"]
    )
    archive = layout.backup_dir / summary.archive
    assert verify_archive(archive, None, expected=summary).ok
    flip_byte(archive, _member_offset(archive, "state/candles/sim/1h/ETH-USDT.npz"))
    result = verify_archive(archive, None, expected=summary)
    assert not result.ok
    assert result.damaged == "state/candles/sim/1h/ETH-USDT.npz"
    assert "ETH-USDT.npz" in (result.error or "")


@pytest.mark.parametrize("mode", ["encrypted", "zstd+encrypted", "zstd"])
def test_a_flipped_byte_in_a_sealed_or_compressed_archive_names_a_file(
    tmp_path: Path, mode: str
) -> None:
    layout = make_state(tmp_path, candle_bytes=3_000_000)
    opts = MODES[mode]
    summary = write_backup(layout.backup_dir, "e", "data", "0.1", sources("data", layout), opts)
    archive = layout.backup_dir / summary.archive
    flip_byte(archive, archive.stat().st_size // 3)  # inside BTC-USDT.npz, the first member
    result = verify_archive(archive, opts.key, expected=summary)
    assert not result.ok
    assert result.damaged == "state/candles/sim/1h/BTC-USDT.npz", result.error


def test_a_damaged_backup_restores_nothing(tmp_path: Path) -> None:
    layout = make_state(tmp_path)
    summary = write_backup(
        layout.backup_dir, "f", "full", "0.1", sources("full", layout), MODES["encrypted"]
    )
    archive = layout.backup_dir / summary.archive
    flip_byte(archive, archive.stat().st_size // 2)
    target = tmp_path / "r"
    plan = restore(archive, target, KEY)
    assert not plan.verify.ok
    assert sorted(p.name for p in target.iterdir()) == []


def test_a_wrong_key_is_a_clear_error(tmp_path: Path) -> None:
    layout = make_state(tmp_path)
    summary = write_backup(
        layout.backup_dir, "k", "config", "0.1", sources("config", layout), MODES["encrypted"]
    )
    archive = layout.backup_dir / summary.archive
    with pytest.raises(KeyProblem, match="wrong key"):
        verify_archive(archive, bytes(32))
    with pytest.raises(KeyProblem, match="encrypted"):
        verify_archive(archive, None)


def test_keys_are_read_from_a_file_or_the_environment(tmp_path: Path) -> None:
    f = tmp_path / "key"
    f.write_text(KEY.hex() + "\n")
    assert load_key(str(f), "") == KEY
    assert load_key("", "BK", {"BK": KEY.hex()}) == KEY
    with pytest.raises(KeyProblem, match="BK is not set"):
        load_key("", "BK", {})
    f.write_text("short")
    with pytest.raises(KeyProblem, match="32 bytes"):
        load_key(str(f), "")
    with pytest.raises(KeyProblem, match="cannot read"):
        load_key(str(tmp_path / "missing"), "")


def test_restore_refuses_the_state_of_a_running_daemon(tmp_path: Path) -> None:
    layout = make_state(tmp_path)
    summary = write_backup(
        layout.backup_dir, "c", "critical", "0.1", sources("critical", layout), MODES["plain"]
    )
    lock = layout.state_dir / "daemon.lock"
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # what the running daemon holds
        with pytest.raises(RestoreRefused, match="running daemon"):
            restore(layout.backup_dir / summary.archive, layout.state_dir, None)
    finally:
        os.close(fd)
    # once the daemon is gone the same restore goes through
    plan = restore(layout.backup_dir / summary.archive, layout.state_dir, None)
    assert plan.verify.ok


def test_dry_run_lists_and_writes_nothing(tmp_path: Path) -> None:
    layout = make_state(tmp_path)
    summary = write_backup(
        layout.backup_dir, "c", "critical", "0.1", sources("critical", layout), MODES["zstd"]
    )
    target = tmp_path / "r"
    plan = restore(layout.backup_dir / summary.archive, target, None, dry_run=True)
    assert plan.verify.ok
    assert {f["name"] for f in plan.files} == {"config/virtuoso.toml", "state/beta_history.sqlite3"}
    assert not target.exists()


def test_leftovers_of_an_interrupted_run_are_cleaned_and_never_listed(tmp_path: Path) -> None:
    layout = make_state(tmp_path)
    done = write_backup(
        layout.backup_dir, "ok", "config", "0.1", sources("config", layout), MODES["plain"]
    )
    d = layout.backup_dir
    (d / ".tmp-virtuoso-x.tar").write_bytes(b"partial")
    (d / ".tmp-x.d").mkdir()
    (d / "virtuoso-gone.tar.json").write_text("{}")  # a summary whose archive never landed
    assert [s.id for _, s in list_archives(d)] == ["ok"]
    assert clean_leftovers(d) == [".tmp-virtuoso-x.tar", ".tmp-x.d", "virtuoso-gone.tar.json"]
    assert sorted(p.name for p in d.iterdir()) == sorted([done.archive, done.archive + ".json"])


def test_the_backup_directory_lock_and_temporaries_are_never_backed_up(tmp_path: Path) -> None:
    layout = make_state(tmp_path)
    layout.backup_dir.mkdir()
    (layout.backup_dir / "virtuoso-old.tar").write_bytes(b"x")
    (layout.state_dir / "daemon.lock").write_bytes(b"")
    (layout.state_dir / "beta_history.sqlite3-wal").write_bytes(b"")
    (layout.state_dir / ".tmp-restore-1" / "candles").mkdir(parents=True)
    (layout.state_dir / ".tmp-restore-1" / "candles" / "X.npz").write_bytes(b"half")
    names = {s.name for s in sources("full", layout)}
    assert names == {
        "config/virtuoso.toml",
        "state/beta_history.sqlite3",
        "state/candles/sim/1h/BTC-USDT.npz",
        "state/candles/sim/1h/ETH-USDT.npz",
        "logs/virtuoso.log",
    }
