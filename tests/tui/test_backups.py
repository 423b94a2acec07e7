"""The Backups screen (key 7) against the fake daemon: catalogue, progress, run, verify."""

from __future__ import annotations

from typing import Any

from textual.widgets import DataTable

from tests.tui.fakes import NOW, FakeClient, steady_backoff
from tests.tui.helpers import press, settle, until
from tui.app import VirtuosoApp, create_app
from tui.screens.backups import BackupsPane
from tui.screens.dialogs import ConfirmDialog
from tui.widgets.live_text import LiveText


def catalogue() -> dict[str, Any]:
    row = {"kind": "critical", "files": 3, "encrypted": False, "size": 2048, "bytes": 4096}
    return {
        "dir": "/var/lib/virtuoso/backups",
        "backups": [
            {**row, "id": "full-2", "kind": "full", "status": "completed", "created": NOW - 60},
            {**row, "id": "critical-1", "status": "completed", "created": NOW - 3600},
        ],
        "running": {
            "id": "full-3",
            "kind": "full",
            "phase": "copying",
            "files_done": 2,
            "files_total": 8,
            "bytes_done": 512 << 20,
            "bytes_total": 1024 << 20,
        },
        "schedule": {"auto": {"cron": "0 3 * * *", "next": NOW + 3600}},
    }


def fake_daemon() -> FakeClient:
    fake = FakeClient()
    fake.handlers["backup.list"] = lambda a: catalogue()
    fake.handlers["backup.run"] = lambda a: {"id": "x", "kind": a["kind"], "started": True}
    fake.handlers["backup.verify"] = lambda a: {
        "id": a["id"],
        "ok": False,
        "error": "state/beta_history.sqlite3: SHA-256 does not match the manifest (damaged)",
        "damaged": "state/beta_history.sqlite3",
    }
    return fake


def _app(fake: FakeClient) -> VirtuosoApp:
    return create_app(fake, clock=lambda: NOW, backoff=steady_backoff())


async def test_key_7_shows_the_catalogue_and_the_progress_of_a_run() -> None:
    fake = fake_daemon()
    app = _app(fake)
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot, fake)
        await press(pilot, "7")
        table = app.query_one("#backup-table", DataTable)
        await until(lambda: table.row_count == 2)
        assert [str(k.value) for k in table.rows] == ["full-2", "critical-1"]
        progress = app.query_one("#backup-progress", LiveText).visual_text
        assert "full-3" in progress and "50.0%" in progress and "512.0 MB of 1.0 GB" in progress
        assert "next auto" in progress


async def test_run_asks_first_and_verify_names_the_damaged_file() -> None:
    fake = fake_daemon()
    app = _app(fake)
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot, fake)
        await press(pilot, "7")
        pane = app.query_one(BackupsPane)
        await until(lambda: app.query_one("#backup-table", DataTable).row_count == 2)
        await press(pilot, "c")
        await until(lambda: isinstance(app.screen, ConfirmDialog))
        await press(pilot, "n")
        await pilot.pause()
        assert not [r for r in fake.requests if r[0] == "backup.run"]
        await press(pilot, "c")
        await until(lambda: isinstance(app.screen, ConfirmDialog))
        await press(pilot, "y")
        await until(lambda: ("backup.run", {"kind": "critical"}) in fake.requests)
        await press(pilot, "down", "v")
        await until(lambda: ("backup.verify", {"id": "critical-1"}) in fake.requests)
        await until(lambda: "DAMAGED" in str(pane._answer))
        assert "state/beta_history.sqlite3" in str(pane._answer)
