"""The backup actor in a running daemon: HTTP and socket surfaces, catalogue, alerts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import anyio

from tests.backup.helpers import backup_config, backup_specs, flip_byte
from tests.harness import running_daemon, short_tmpdir
from virtuoso_daemon.core.bus import Topics
from virtuoso_daemon.core.messages import BackupEvent, Condition


async def post(
    http: aiohttp.ClientSession, url: str, body: Any = None, token: str | None = None
) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with http.post(url, json=body, headers=headers) as resp:
        return resp.status, await resp.json()


async def test_a_run_is_listed_verified_and_its_events_published() -> None:
    tmp = short_tmpdir()
    async with running_daemon(backup_config(tmp), backup_specs(control=False)) as d:
        events = d.runtime.bus.subscribe(Topics.BACKUPS, name="test", lossy=True)
        async with aiohttp.ClientSession() as http:
            status, info = await post(
                http, f"{d.base_url}/api/system/backups", {"kind": "critical", "wait": True}
            )
            assert status == 200, info
            assert info["status"] == "completed" and info["kind"] == "critical"
            async with http.get(f"{d.base_url}/api/system/backups") as resp:
                listed = await resp.json()
            assert [b["id"] for b in listed["backups"]] == [info["id"]]
            assert (tmp / "backups" / info["archive"]).is_file()
            status, verdict = await post(
                http, f"{d.base_url}/api/system/backups/{info['id']}/verify"
            )
            assert status == 200 and verdict["ok"] is True, verdict
        seen = []
        with events, anyio.fail_after(5):
            while not seen or seen[-1].event != "verified":
                seen.append(await events.receive())
        assert [e.event for e in seen if e.event != "progress"] == [
            "started",
            "completed",
            "verified",
        ]


async def test_a_damaged_backup_is_named_marked_and_raises_a_condition() -> None:
    tmp = short_tmpdir()
    async with running_daemon(backup_config(tmp), backup_specs(control=False)) as d:
        conditions = d.runtime.bus.subscribe(Topics.CONDITIONS, name="test", lossy=True)
        async with aiohttp.ClientSession() as http:
            _, info = await post(
                http, f"{d.base_url}/api/system/backups", {"kind": "critical", "wait": True}
            )
            archive = tmp / "backups" / info["archive"]
            flip_byte(archive, archive.stat().st_size // 2)
            status, verdict = await post(
                http, f"{d.base_url}/api/system/backups/{info['id']}/verify"
            )
            assert status == 200 and verdict["ok"] is False
            assert verdict["damaged"].startswith("state/")
            async with http.get(f"{d.base_url}/api/system/backups") as resp:
                row = (await resp.json())["backups"][0]
            assert row["status"] == "damaged" and row["damaged"] == verdict["damaged"]
        with conditions, anyio.fail_after(5):
            cond: Condition = await conditions.receive()
        assert cond.kind == "backup" and cond.key == f"backup:damaged:{info['id']}"
        assert cond.severity == "critical" and cond.active


async def test_a_failed_run_is_recorded_and_raises_backup_kind_condition() -> None:
    tmp = short_tmpdir()
    cfg = backup_config(tmp, remote="rsync://127.0.0.1:1/nowhere")
    async with running_daemon(cfg, backup_specs(control=False, beta=False)) as d:
        conditions = d.runtime.bus.subscribe(Topics.CONDITIONS, name="test", lossy=True)
        events = d.runtime.bus.subscribe(Topics.BACKUPS, name="test", lossy=True)
        async with aiohttp.ClientSession() as http:
            status, info = await post(
                http, f"{d.base_url}/api/system/backups", {"kind": "remote", "wait": True}
            )
        assert status == 200 and info["status"] == "failed"
        assert "rsync" in info["error"]
        with conditions, events, anyio.fail_after(5):
            cond = await conditions.receive()
            failed: BackupEvent = await events.receive()
            while failed.event != "failed":
                failed = await events.receive()
        assert cond.key == "backup:remote" and cond.kind == "backup" and cond.active
        assert failed.backup_id == info["id"] and "rsync" in (failed.error or "")


async def test_encrypting_without_a_key_is_a_clear_400() -> None:
    tmp = short_tmpdir()
    cfg = backup_config(tmp, key_file="", key_env="VIRTUOSO_TEST_NO_SUCH_KEY")
    async with running_daemon(cfg, backup_specs(control=False, beta=False)) as d:
        async with aiohttp.ClientSession() as http:
            status, body = await post(
                http, f"{d.base_url}/api/system/backups", {"kind": "config", "encrypt": True}
            )
    assert status == 400
    assert body["error"]["code"] == "no_key"
    assert "VIRTUOSO_TEST_NO_SUCH_KEY" in body["error"]["message"]


async def test_writes_need_the_token_when_one_is_set() -> None:
    tmp = short_tmpdir()
    cfg = backup_config(tmp)
    import msgspec

    cfg = msgspec.structs.replace(cfg, api=msgspec.structs.replace(cfg.api, token="s3cret"))
    async with running_daemon(cfg, backup_specs(control=False, beta=False)) as d:
        url = f"{d.base_url}/api/system/backups"
        async with aiohttp.ClientSession() as http:
            status, body = await post(http, url, {"kind": "config"})
            assert status == 401 and body["error"]["code"] == "unauthorized"
            status, body = await post(http, url, {"kind": "config"}, token="wrong")
            assert status == 403 and body["error"]["code"] == "forbidden"
            status, body = await post(http, url, {"kind": "nope"}, token="s3cret")
            assert status == 400 and body["error"]["code"] == "invalid_parameter"
            status, body = await post(http, url, {"kind": "config", "wait": True}, token="s3cret")
            assert status == 200 and body["status"] == "completed"
            status, body = await post(http, f"{url}/nope/verify", token="s3cret")
            assert status == 404 and body["error"]["code"] == "not_found"


async def test_one_run_at_a_time() -> None:
    tmp = short_tmpdir()
    async with running_daemon(backup_config(tmp), backup_specs(control=False, beta=False)) as d:
        actor = d.supervisor.actor("backup")
        async with aiohttp.ClientSession() as http:
            async with actor._lock:  # a run in progress holds this
                status, body = await post(http, f"{d.base_url}/api/system/backups")
            assert status == 409 and body["error"]["code"] == "busy"


async def test_retention_deletes_old_archives_but_keeps_the_newest_verified() -> None:
    tmp = short_tmpdir()
    cfg = backup_config(tmp, keep_last=1, keep_days=0.0)
    async with running_daemon(cfg, backup_specs(control=False, beta=False)) as d:
        url = f"{d.base_url}/api/system/backups"
        async with aiohttp.ClientSession() as http:
            _, first = await post(http, url, {"kind": "config", "wait": True, "cleanup": False})
            _, second = await post(http, url, {"kind": "config", "wait": True, "cleanup": False})
            archive = tmp / "backups" / second["archive"]
            flip_byte(archive, archive.stat().st_size // 2)
            _, verdict = await post(http, f"{url}/{second['id']}/verify")
            assert verdict["ok"] is False
            status, pruned = await post(http, f"{url}/prune")
            assert status == 200
            # keep_last=1 keeps the damaged newest; the older one is the newest verified
            assert pruned == {"deleted": []}
            _, third = await post(http, url, {"kind": "config", "wait": True})  # cleanup on
            async with http.get(url) as resp:
                listed = [b["id"] for b in (await resp.json())["backups"]]
    assert listed == [third["id"]]
    left = sorted(p.name for p in (tmp / "backups").iterdir())
    assert left == sorted([third["archive"], third["archive"] + ".json"])
    assert first["id"] not in listed and second["id"] not in listed


async def test_the_socket_answers_as_http_does() -> None:
    from virtuoso_daemon.protocol import CommandError, ControlClient

    tmp = short_tmpdir()
    cfg = backup_config(tmp)
    async with running_daemon(cfg, backup_specs(beta=False)) as d:
        async with ControlClient.connect(Path(cfg.daemon.socket), timeout=5) as client:
            row = await client.call("backup.run", {"kind": "config", "wait": True}, timeout=30)
            listing = await client.call("backup.list", {"kind": "config"}, timeout=5)
            try:
                await client.call("backup.verify", {"id": "nope"}, timeout=5)
            except CommandError as exc:
                socket_code = exc.code
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{d.base_url}/api/system/backups?kind=config") as resp:
                http_listing = await resp.json()
            status, body = await post(http, f"{d.base_url}/api/system/backups/nope/verify")
    assert row["status"] == "completed"
    assert listing["backups"] == http_listing["backups"]
    assert socket_code == body["error"]["code"] == "not_found" and status == 404


async def test_verifying_with_another_key_says_wrong_key() -> None:
    tmp = short_tmpdir()
    cfg = backup_config(tmp, encrypt=True)
    async with running_daemon(cfg, backup_specs(control=False, beta=False)) as d:
        url = f"{d.base_url}/api/system/backups"
        async with aiohttp.ClientSession() as http:
            _, row = await post(http, url, {"kind": "config", "wait": True})
            assert row["encrypted"] is True
            (tmp / "backup.key").write_text("22" * 32)  # the key file now holds another key
            status, body = await post(http, f"{url}/{row['id']}/verify")
    assert status == 400 and body["error"]["code"] == "wrong_key"
    assert "wrong key" in body["error"]["message"]
