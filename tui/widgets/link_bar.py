"""The top bar: where the TUI is attached, whether the daemon is there, how fresh data is,
and what the daemon's health monitor says (visible from every screen)."""

from __future__ import annotations

from rich.text import Text

from .. import format as fmt
from .live_text import LiveText

HEALTH_STYLES = {"ok": "green", "warning": "bold yellow", "critical": "bold red"}


class LinkBar(LiveText):
    """One line. Green when connected; red with the retry countdown when not.

    The app calls :meth:`show_link` on every render tick; the bar only repaints when its
    text actually changed.
    """

    def show_link(
        self,
        *,
        state: str,
        address: str,
        version: str | None,
        uptime: float | None,
        symbols: int,
        data_age: float | None,
        detail: str = "",
        retry_in: float | None = None,
        attempt: int = 0,
        alerts: tuple[int, int] = (0, 0),
        health: tuple[str, str] | None = None,
    ) -> None:
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(" VIRTUOSO ", style="bold reverse")
        firing, critical = alerts
        if firing:  # the alert badge, first so a narrow screen keeps it (key 4: the list)
            style = "bold white on red" if critical else "bold black on yellow"
            text.append(f" ▲ {firing} alert{'s' * (firing > 1)} ", style=style)
        if state == "connected":
            text.append(" ● connected ", style="bold green")
            if version:
                text.append(f" daemon {version}")
            if uptime is not None:
                text.append(f" · up {fmt.duration(uptime)}")
            if health is not None:  # (status, summary) of the daemon's health monitor
                status, summary = health
                text.append(" · ")
                text.append(f"health {status}", style=HEALTH_STYLES.get(status, "dim"))
                if status != "ok" and ": " in summary:
                    text.append(f" ({summary.split(': ', 1)[1]})")
            text.append(f" · {symbols} symbols")
            text.append(" · data age ")
            text.append(fmt.age(data_age), style="bold")
            text.append(f" · {address}", style="dim")
        elif state == "connecting":
            text.append(" ◌ connecting ", style="bold yellow")
            text.append(f" {address}", style="dim")
        else:
            text.append(" ✕ daemon unreachable ", style="bold red")
            if detail:
                text.append(f" {detail}")
            if retry_in is not None:
                text.append(f" · retry #{attempt} in {retry_in:.1f}s (ctrl+r now)")
            text.append(" · showing last data", style="dim")
        self.set_class(state != "connected", "-down")
        self.show(text)
