"""The daemon never imports the TUI; the TUI imports only the protocol (and messages)."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.harness import REPO

# the package itself only defines __version__, so importing it pulls in nothing else
ALLOWED_FOR_TUI = {
    "virtuoso_daemon",
    "virtuoso_daemon.__version__",
    "virtuoso_daemon.protocol",
    "virtuoso_daemon.messages",
}


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(
                f"{node.module}.{a.name}" for a in node.names if node.module == "virtuoso_daemon"
            )
    return names


def test_daemon_never_imports_textual_or_tui() -> None:
    offenders = {
        str(p.relative_to(REPO)): sorted(
            n for n in _imports(p) if n.split(".")[0] in {"textual", "tui", "textual_plotext"}
        )
        for p in (REPO / "virtuoso_daemon").rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_tui_imports_only_the_protocol_from_the_daemon() -> None:
    offenders = {
        str(p.relative_to(REPO)): sorted(
            n for n in _imports(p) if n.startswith("virtuoso_daemon") and n not in ALLOWED_FOR_TUI
        )
        for p in (REPO / "tui").rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}
