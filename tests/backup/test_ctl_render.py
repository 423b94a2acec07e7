"""virtuoso-ctl's rendering of backups: the progress bar and the catalogue table."""

from __future__ import annotations

import argparse

from virtuoso_daemon.core.messages import BackupEvent
from virtuoso_daemon.ctl.backup import _bar, render_list


def test_the_progress_bar_shows_bytes_files_and_phase() -> None:
    event = BackupEvent(
        event="progress",
        backup_id="full-1",
        phase="copying",
        files_done=3,
        files_total=12,
        bytes_done=256 << 20,
        bytes_total=1024 << 20,
        ts=0.0,
    )
    bar = _bar(event, width=20)
    assert "[#####...............]" in bar
    assert "25.0%" in bar and "256.0 MB/1.0 GB" in bar and "files 3/12" in bar
    assert "copying" in bar


def test_the_list_names_damaged_files_and_the_schedule() -> None:
    listing = {
        "dir": "/b",
        "running": None,
        "schedule": {"auto": {"cron": "0 3 * * *", "next": 0.0}},
        "backups": [
            {
                "id": "c-1",
                "kind": "critical",
                "status": "damaged",
                "damaged": "state/a.sqlite3",
                "created": 0.0,
                "size": 10,
                "files": 2,
                "encrypted": True,
                "error": None,
            },
        ],
    }
    text = render_list(listing, argparse.Namespace())
    assert "damaged (state/a.sqlite3)" in text
    assert "next auto" in text and "0 3 * * *" in text
