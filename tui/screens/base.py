"""What every screen of the main window is: a pane that renders from the models.

A pane never talks to the socket directly for live data; it reads the app's models
(:mod:`tui.model`) when the app's render timer calls :meth:`LivePane.refresh_live`
(only for the visible pane, a few times a second). For one-off requests (a chart, an
action) it uses the app's helpers, which handle errors and the daemon being away.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, ClassVar, cast

from textual.app import SystemCommand
from textual.containers import Vertical

if TYPE_CHECKING:
    from ..app import VirtuosoApp


class LivePane(Vertical):
    """Base class of the screens listed in :data:`tui.screens.SCREENS`.

    ``KEYS_HELP`` lists keys the pane handles outside ``BINDINGS`` (e.g. typing to filter),
    so the help screen can show them.
    """

    KEYS_HELP: ClassVar[tuple[tuple[str, str], ...]] = ()

    @property
    def vapp(self) -> VirtuosoApp:
        return cast("VirtuosoApp", self.app)

    def refresh_live(self, force: bool = False) -> None:
        """Bring the widgets up to date with the models (``force`` after a tab switch)."""

    def commands(self) -> Iterator[SystemCommand]:
        """Command palette entries for this pane's actions."""
        return iter(())

    def on_shown(self) -> None:
        """The pane just became the visible one."""
