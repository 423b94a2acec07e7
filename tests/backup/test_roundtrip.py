"""Round trip through the real daemon and ``virtuoso-ctl``: back up, wipe the state
directory, restore, and the daemon comes back with the same alerts, betas and candles."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import aiohttp
import anyio
import pytest

from tests.alerts.helpers import condition
from tests.backup.helpers import backup_config, backup_specs
from tests.beta.helpers import SPOT, publish_market
from tests.control.helpers import run_ctl
from tests.harness import DaemonHandle, running_daemon, short_tmpdir
from tests.market.helpers import wait_until
from virtuoso_daemon.alerts.requests import ListAlerts
from virtuoso_daemon.core.bus import Topics
from virtuoso_daemon.market.requests import ohlcv


async def snapshot(d: DaemonHandle) -> dict[str, Any]:
    """What the daemon serves: every spot series' candles, beta with its history, alerts."""
    candles = {}
    for sym in SPOT:
        got = await ohlcv(d.runtime, "spot", sym, "1h", 1000, None)
        candles[sym] = (got["times"].tolist(), got["values"].tolist(), got["closed"].tolist())
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{d.base_url}/api/market/beta/ETH-USDT?exchange=spot") as resp:
            assert resp.status == 200, await resp.text()
            beta = await resp.json()
    alerts = await d.runtime.bus.request(Topics.ALERT_COMMANDS, ListAlerts(), timeout=5)
    return {"candles": candles, "beta": beta, "alerts": alerts["alerts"]}


def beta_rows(beta: dict[str, Any]) -> list[Any]:
    return [w["row"] for w in beta["windows"]]


@pytest.mark.parametrize("encrypt", [False, True], ids=["plain", "encrypted"])
async def test_back_up_wipe_restore_and_the_daemon_serves_the_same(encrypt: bool) -> None:
    tmp = short_tmpdir()
    cfg = backup_config(tmp, encrypt=encrypt)
    sock = cfg.daemon.socket
    state = Path(cfg.daemon.state_dir)
    async with running_daemon(cfg, backup_specs(alerts=True)) as d:
        publish_market(d.runtime.bus, n=120)
        for sym in ("BTC/USDT", "ETH/USDT", "SOL/USDT"):
            await d.runtime.bus.publish(Topics.CONDITIONS, condition(sym))
        beta = d.supervisor.actor("beta")
        alerts = d.supervisor.actor("alerts")
        await wait_until(lambda: beta.counters["history_writes"] > 0, timeout=20)
        await wait_until(lambda: alerts.counts["fired"] == 3, timeout=20)
        before = await snapshot(d)
        code, out, err = await run_ctl("--socket", sock, "backup", "run", "full", timeout=60)
        assert code == 0, err
        assert "completed" in out
        backup_id = out.split()[1]
        code, out, err = await run_ctl("--socket", sock, "backup", "list")
        assert code == 0 and backup_id in out, err
        code, out, err = await run_ctl("--socket", sock, "backup", "verify", backup_id)
        assert code == 0 and "intact" in out, out + err
    shutil.rmtree(state)
    restore = ["backup", "restore", backup_id, "--backup-dir", str(tmp / "backups")]
    restore += ["--to", str(state), "--key-file", str(tmp / "backup.key")]
    code, out, err = await run_ctl(*restore, "--dry-run")
    assert code == 0 and "nothing written" in out, err
    assert not await anyio.Path(state).exists()
    code, out, err = await run_ctl(*restore)
    assert code == 0, err
    async with running_daemon(cfg, backup_specs(alerts=True)) as d:
        beta = d.supervisor.actor("beta")
        await wait_until(lambda: beta.last_computed_at is not None, timeout=20)
        after = await snapshot(d)
    assert len(before["alerts"]) == 3
    assert after["alerts"] == before["alerts"]
    assert after["candles"] == before["candles"]
    assert beta_rows(after["beta"]) == beta_rows(before["beta"])
    old, new = before["beta"]["history"]["series"], after["beta"]["history"]["series"]
    assert old and new[: len(old)] == old  # the history is back (and may have grown)
