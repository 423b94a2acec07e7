"""The screens of the main window, in tab order.

Adding a screen is one step: write a :class:`~tui.screens.base.LivePane` subclass in
its own module (compose its widgets, render from the app's models in
``refresh_live``, optionally yield palette entries from ``commands``) and append a
:class:`ScreenSpec` for it below. Its tab, its number key, its entry in the command
palette and its section of the help screen follow from that line.
"""

from __future__ import annotations

from dataclasses import dataclass

from .alerts import AlertsPane
from .backups import BackupsPane
from .base import LivePane
from .beta import BetaPane
from .health import HealthPane
from .market import MarketPane
from .signals import SignalsPane
from .system import SystemPane


@dataclass(frozen=True)
class ScreenSpec:
    id: str
    title: str
    key: str
    pane: type[LivePane]
    description: str


SCREENS: tuple[ScreenSpec, ...] = (
    ScreenSpec("market", "Market", "1", MarketPane, "live tickers of the whole universe"),
    ScreenSpec("beta", "Beta", "2", BetaPane, "beta, correlation, regime and sentiment"),
    ScreenSpec("system", "Feeds & system", "3", SystemPane, "feeds, actors, bus, uptime"),
    ScreenSpec("alerts", "Alerts", "4", AlertsPane, "live alerts: filter, acknowledge, silence"),
    ScreenSpec("signals", "Signals", "5", SignalsPane, "whale trades, walls, manipulation scores"),
    ScreenSpec("health", "Health", "6", HealthPane, "every health check, transitions"),
    ScreenSpec("backups", "Backups", "7", BackupsPane, "backup catalogue, progress, run, verify"),
)

__all__ = ["SCREENS", "LivePane", "ScreenSpec"]
