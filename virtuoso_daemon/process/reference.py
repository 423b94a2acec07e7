"""The generated reference pages and how each is rendered (``scripts/gen_reference.py``
writes them, ``tests/foundation/test_reference.py`` fails when one is stale)."""

from __future__ import annotations

from pathlib import Path

from virtuoso_daemon.process import api_reference, config_reference

EXAMPLE_CONFIG = "config/virtuoso.toml"
PAGES = ("docs/config-reference.md", "docs/api-reference.md")


def render_page(name: str, repo: Path) -> str:
    """The text of page ``name`` (one of :data:`PAGES`) for the checkout at ``repo``."""
    if name == "docs/config-reference.md":
        notes = config_reference.parse_toml_notes((repo / EXAMPLE_CONFIG).read_text())
        return config_reference.render(notes)
    if name == "docs/api-reference.md":
        return api_reference.render()
    raise ValueError(f"not a generated page: {name}")
