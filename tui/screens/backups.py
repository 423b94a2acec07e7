"""Backups: the catalogue, the run in progress, the schedule; run and verify from here.

The pane polls ``backup.list`` (a read of the daemon's published view, cheap) every
second while it is visible, so the progress of a run shows without a subscription of
its own. ``b`` runs an auto backup, ``c`` a critical one, ``f`` a full one (each asks
first), ``v`` verifies the selected backup; the answer shows below the table, a
damaged backup with the name of the damaged file.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding
from textual.widgets import DataTable, Static

from virtuoso_daemon.core.messages import BackupInfo

from .. import format as fmt
from ..answers import each
from ..widgets.live_text import LiveText
from .base import LivePane
from .dialogs import ConfirmDialog

POLL = 1.0
KINDS = ("auto", "critical", "full", "config", "data", "remote")
STATUS_STYLES = {"completed": "green", "failed": "red", "damaged": "bold red"}

#: the catalogue rows of a ``backup.list`` answer, as the daemon's own struct
backup_rows = each("backups", BackupInfo)


def size_text(n: Any) -> str:
    if not isinstance(n, (int, float)):
        return fmt.DASH
    value = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TB"


def progress_text(running: Mapping[str, Any] | None, width: int = 30) -> Text:
    t = Text()
    if not running:
        t.append("no backup running", style="dim")
        return t
    total = running.get("bytes_total") or 0
    done = min(running.get("bytes_done") or 0, total) if total else 0
    frac = done / total if total else 0.0
    filled = int(frac * width)
    t.append(f"{running.get('id')} ", style="bold")
    t.append(f"{running.get('phase')} ")
    t.append("#" * filled, style="green")
    t.append("." * (width - filled), style="dim")
    t.append(f" {frac * 100:5.1f}%  {size_text(done)} of {size_text(total)}")
    t.append(f"  files {running.get('files_done')}/{running.get('files_total')}")
    return t


class BackupsPane(LivePane):
    """The backups screen (see the module docstring)."""

    BINDINGS = [
        Binding("b", "run('auto')", "Back up (auto)"),
        Binding("c", "run('critical')", "Critical"),
        Binding("f", "run('full')", "Full"),
        Binding("v", "verify", "Verify"),
    ]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.listing: dict[str, Any] = {}
        self._polled = 0.0
        self._shown: object = None
        self._answer = Text("last action none yet", style="dim")

    def compose(self) -> ComposeResult:
        yield LiveText(id="backup-progress")
        yield DataTable(id="backup-table", cursor_type="row", zebra_stripes=True)
        yield Static(id="backup-answer")

    def on_mount(self) -> None:
        table = self.query_one("#backup-table", DataTable)
        for key, label, width in (
            ("id", "Backup", 30),
            ("kind", "Kind", 8),
            ("status", "Status", 10),
            ("created", "Created", 19),
            ("size", "Size", 10),
            ("files", "Files", 6),
            ("enc", "Enc", 4),
            ("note", "Error / damaged file", 40),
        ):
            table.add_column(label, key=key, width=width)
        self.query_one("#backup-answer", Static).update(self._answer)

    # --- data ----------------------------------------------------------------------

    def refresh_live(self, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self._polled >= POLL:
            self._polled = now
            self.run_worker(self.poll(), group="backup-poll", exclusive=True)

    async def poll(self) -> None:
        listing = await self.vapp.ask("backup.list", optional=True)
        if isinstance(listing, Mapping):
            self.show(dict(listing))

    def show(self, listing: dict[str, Any]) -> None:
        self.listing = listing
        self._show_progress()
        rows = backup_rows(listing)
        key = tuple((b.id, b.status, b.damaged) for b in rows)
        if key == self._shown:
            return
        self._shown = key
        table = self.query_one("#backup-table", DataTable)
        keep = table.cursor_row
        table.clear()
        for b in rows:
            note = b.damaged or b.error or ""
            table.add_row(
                b.id,
                b.kind,
                Text(b.status, style=STATUS_STYLES.get(b.status, "")),
                time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(b.created)),
                Text(size_text(b.size), justify="right"),
                Text(str(b.files), justify="right"),
                "yes" if b.encrypted else "",
                Text(note, style="red" if note else ""),
                key=b.id,
            )
        if rows:
            table.move_cursor(row=min(max(keep, 0), len(rows) - 1), animate=False)

    def _show_progress(self) -> None:
        t = progress_text(self.listing.get("running"))
        schedule = self.listing.get("schedule") or {}
        for kind, when in sorted(schedule.items()):
            at = when.get("next")
            stamp = time.strftime("%a %H:%M", time.localtime(at)) if at else fmt.DASH
            t.append(f"\nnext {kind}: {stamp}  ({when.get('cron')})", style="dim")
        if self.listing.get("dir"):
            t.append(f"\ndirectory {self.listing['dir']}", style="dim")
        self.query_one("#backup-progress", LiveText).show(t)

    def selected(self) -> str | None:
        table = self.query_one("#backup-table", DataTable)
        if not table.row_count:
            return None
        value = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return str(value) if value is not None else None

    def answer(self, text: Text) -> None:
        self._answer = text
        self.query_one("#backup-answer", Static).update(text)

    # --- actions -------------------------------------------------------------------

    def action_run(self, kind: str) -> None:
        self.run_backup(kind)

    @work(group="backup-actions")
    async def run_backup(self, kind: str) -> None:
        ok = await self.app.push_screen_wait(
            ConfirmDialog(f"Run a {kind} backup now?", "One backup runs at a time.", action="Run")
        )
        if not ok:
            return
        if await self.vapp.perform("backup.run", {"kind": kind}):
            self.answer(Text(f"{kind} backup started", style="green"))
        self.refresh_live(force=True)

    def action_verify(self) -> None:
        self.verify_selected()

    @work(group="backup-actions")
    async def verify_selected(self) -> None:
        backup_id = self.selected()
        if backup_id is None:
            self.vapp.notify("no backup selected", severity="warning")
            return
        self.answer(Text(f"verifying {backup_id} …", style="dim"))
        result = await self.vapp.ask("backup.verify", {"id": backup_id})
        if isinstance(result, Mapping):
            if result.get("ok"):
                self.answer(
                    Text(f"{backup_id} is intact: {result.get('files')} files", style="green")
                )
            else:
                self.answer(Text(f"{backup_id} is DAMAGED: {result.get('error')}", style="red"))
        self.refresh_live(force=True)

    def on_shown(self) -> None:
        self.query_one("#backup-table", DataTable).focus()
        self.refresh_live(force=True)

    def commands(self) -> Iterator[SystemCommand]:
        for kind in KINDS:
            yield SystemCommand(
                f"Backups: run {kind}",
                f"Start a {kind} backup now (asks first)",
                lambda k=kind: self.run_backup(k),
            )
        backup_id = self.selected()
        if backup_id:
            yield SystemCommand(
                f"Backups: verify {backup_id}",
                "Check every file of the selected backup",
                self.verify_selected,
            )
