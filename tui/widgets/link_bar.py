"""The top bar: where the TUI is attached, whether the daemon is there, how fresh data is."""

from __future__ import annotations

from rich.text import Text

from .. import format as fmt
from .live_text import LiveText


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
