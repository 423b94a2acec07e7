"""``virtuoso-ctl``: the operator's command line over the control socket."""

from __future__ import annotations

from .cli import not_built


def main() -> int:
    return not_built("virtuoso-ctl", "issue #6, control socket")
