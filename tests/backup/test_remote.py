"""Remote backups: a critical backup copied with rsync to a real rsync daemon."""

from __future__ import annotations

from collections.abc import Iterator

import aiohttp
import anyio
import pytest

from tests.backup.helpers import RsyncDaemon, backup_config, backup_specs
from tests.harness import running_daemon, short_tmpdir
from virtuoso_daemon.backup.verify import verify_archive


@pytest.fixture
def rsyncd() -> Iterator[RsyncDaemon]:
    server = RsyncDaemon(short_tmpdir() / "remote")
    server.start()
    yield server
    server.stop()


async def test_a_remote_backup_lands_on_the_rsync_daemon_intact(rsyncd: RsyncDaemon) -> None:
    tmp = short_tmpdir()
    cfg = backup_config(tmp, remote=rsyncd.url + "/")
    (rsyncd.root / "virtuoso").mkdir()
    async with running_daemon(cfg, backup_specs(beta=False, control=False)) as d:
        async with aiohttp.ClientSession() as http:
            async with http.post(
                f"{d.base_url}/api/system/backups", json={"kind": "remote", "wait": True}
            ) as resp:
                info = await resp.json()
    assert resp.status == 200 and info["status"] == "completed", info
    assert info["remote"] == rsyncd.url + "/"
    copied = rsyncd.root / "virtuoso" / info["archive"]
    local = tmp / "backups" / info["archive"]
    assert copied.read_bytes() == local.read_bytes()
    assert await anyio.Path(str(copied) + ".json").is_file()
    assert verify_archive(copied, None).ok
    names = {e.name for e in verify_archive(copied, None).manifest.files}  # type: ignore[union-attr]
    assert "state/backup_catalogue.sqlite3" in names  # a critical backup: the databases
