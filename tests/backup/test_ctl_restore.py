"""``virtuoso-ctl backup restore`` on its own (no daemon): damage and keys."""

from __future__ import annotations

from pathlib import Path

import anyio

from tests.backup.helpers import flip_byte, make_state
from tests.control.helpers import run_ctl
from virtuoso_daemon.backup.archive import Options, write_backup
from virtuoso_daemon.backup.kinds import sources

KEY = bytes(range(32))


async def test_a_damaged_archive_restores_nothing_and_exits_1(tmp_path: Path) -> None:
    layout = make_state(tmp_path)
    s = write_backup(
        layout.backup_dir, "d", "full", "0.1", sources("full", layout), Options("zstd", 3, None)
    )
    archive = layout.backup_dir / s.archive
    flip_byte(archive, archive.stat().st_size // 2)
    target = tmp_path / "target"
    code, _, err = await run_ctl("backup", "restore", str(archive), "--to", str(target))
    assert code == 1
    assert "damaged, nothing restored" in err
    assert not [p async for p in anyio.Path(target).iterdir()]


async def test_a_wrong_key_file_is_named_as_the_wrong_key(tmp_path: Path) -> None:
    layout = make_state(tmp_path)
    s = write_backup(
        layout.backup_dir,
        "k",
        "critical",
        "0.1",
        sources("critical", layout),
        Options("none", 3, KEY),
    )
    wrong = tmp_path / "wrong.key"
    wrong.write_text("33" * 32)
    right = tmp_path / "right.key"
    right.write_text(KEY.hex())
    archive = str(layout.backup_dir / s.archive)
    target = str(tmp_path / "target")
    code, _, err = await run_ctl(
        "backup", "restore", archive, "--to", target, "--key-file", str(wrong)
    )
    assert code == 1 and "wrong key" in err
    code, out, err = await run_ctl(
        "backup", "restore", archive, "--to", target, "--key-file", str(right)
    )
    assert code == 0 and "restored 2 files" in out, err
