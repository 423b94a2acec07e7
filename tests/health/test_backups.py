"""A missed scheduled backup is noticed: the ``backups`` check reads the backup actor's
real catalogue (a backup made by a first life of the daemon, then backdated past two
scheduled runs rather than waiting days), shows critical on ``/health``, the socket's
``health`` and ``/metrics``, raises one Condition, and recovers when a backup runs."""

from __future__ import annotations

import sqlite3
import time
from datetime import datetime
from pathlib import Path

import aiohttp
from croniter import croniter  # type: ignore[import-untyped]

from tests.harness import running_daemon, short_tmpdir, test_config
from tests.health.env import health_env
from tests.health.test_monitor import FAST
from tests.health.test_surfaces import samples
from virtuoso_daemon.backup.actor import BackupActor
from virtuoso_daemon.backup.catalogue import FILENAME
from virtuoso_daemon.control import ControlActor
from virtuoso_daemon.core.supervisor import ActorSpec
from virtuoso_daemon.protocol import ControlClient

DAILY = "0 3 * * *"
SPECS = [ActorSpec("backup", BackupActor), ActorSpec("control", ControlActor)]


def backdate(catalogue: Path, to: float) -> None:
    """Every completed backup in the catalogue made at ``to`` instead."""
    db = sqlite3.connect(catalogue)
    try:
        db.execute(
            "UPDATE backups SET created = ?, finished = ? WHERE status = 'completed'", (to, to)
        )
        db.commit()
    finally:
        db.close()


async def test_a_missed_scheduled_backup_is_critical_until_a_backup_runs() -> None:
    tmp = short_tmpdir()
    cfg = test_config(
        tmp,
        health={**FAST, "backup_grace": 0.0},
        backup={"dir": str(tmp / "backups"), "schedule": {"critical": DAILY}},
    )
    async with running_daemon(cfg, SPECS) as d:
        async with ControlClient.connect(d.runtime.socket_path) as ctl:
            made = await ctl.call("backup.run", kind="critical", wait=True, timeout=30)
        catalogue = d.runtime.state_dir / FILENAME
    assert made["status"] == "completed"
    # just before the second-newest 03:00: the newest two scheduled runs never happened
    fires = croniter(DAILY, datetime.fromtimestamp(time.time()).astimezone())
    fires.get_prev(float)
    backdate(catalogue, float(fires.get_prev(float)) - 60)

    async with health_env(cfg, SPECS) as env:
        check = await env.wait_status("backups", "critical", 10)
        assert check.value == 2 and check.category == "backup"
        assert check.message.startswith("critical: newest ")
        assert "missed 2+ scheduled run(s)" in check.message
        async with aiohttp.ClientSession(env.daemon.base_url) as http:
            async with http.get("/health", params={"check": "backups"}) as resp:
                assert resp.status == 503
                [served] = (await resp.json())["checks"]
            async with http.get("/metrics") as resp:
                metrics = samples(await resp.text())
        async with ControlClient.connect(env.runtime.socket_path) as ctl:
            [answered] = (await ctl.call("health", check="backups"))["checks"]
            assert served == answered and served["status"] == "critical"
            labels = (("category", "backup"), ("check", "backups"))
            assert metrics[("virtuoso_health_check_status", labels)] == 2.0
            assert metrics[("virtuoso_health_check_value", (("check", "backups"),))] == 2.0

            await ctl.call("backup.run", kind="critical", wait=True, timeout=30)
        recovered = await env.wait_status("backups", "ok", 10)
        assert recovered.value == 0
        raised = [(c.severity, c.active) for c in env.health_conditions("health:backups")]
    assert raised == [("critical", True), ("critical", False)]
