"""``virtuoso-tui``: the Textual operator console."""

from __future__ import annotations

import sys


def main() -> int:
    print("virtuoso-tui: not built yet (see issue #7)", file=sys.stderr)
    return 1
