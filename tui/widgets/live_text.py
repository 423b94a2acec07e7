"""Text that changes every frame without re-laying out the screen.

``Static.update`` asks for a layout refresh (its size may change), which makes the
compositor re-render every widget on screen, charts included. A status line or a
fixed-height panel that changes a few times a second needs only its own repaint:
:class:`LiveText` has its size fixed by CSS and repaints itself alone, and only when
the text really changed.
"""

from __future__ import annotations

from rich.console import RenderableType
from rich.text import Text
from textual.widget import Widget


class LiveText(Widget):
    """A renderable with a CSS-fixed size; :meth:`show` repaints only this widget."""

    DEFAULT_CSS = """
    LiveText { height: 1; }
    """

    def __init__(
        self, renderable: RenderableType = "", *, id: str | None = None, classes: str | None = None
    ) -> None:
        super().__init__(id=id, classes=classes)
        self._renderable: RenderableType = renderable
        self._key: object = None

    def show(self, renderable: RenderableType, key: object = None) -> None:
        """Show ``renderable``; ``key`` (default: its plain text) decides if it changed."""
        if key is None:
            key = renderable.plain if isinstance(renderable, Text) else renderable
        if key == self._key:
            return
        self._key = key
        self._renderable = renderable
        self.refresh()

    @property
    def visual_text(self) -> str:
        """The plain text shown (for tests)."""
        r = self._renderable
        return r.plain if isinstance(r, Text) else str(r)

    def render(self) -> RenderableType:
        return self._renderable
