#!/usr/bin/env python3
"""Write the generated reference pages: docs/config-reference.md (from the config
structs and the comments of config/virtuoso.toml) and docs/api-reference.md (from the
OpenAPI description the daemon serves). ``--check`` writes nothing and exits 1 naming
the stale pages (tests/foundation/test_reference.py does the same)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from virtuoso_daemon.process.reference import PAGES, render_page  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="only report stale pages")
    ns = parser.parse_args()
    stale = []
    for name in PAGES:
        path = REPO / name
        text = render_page(name, REPO)
        if path.exists() and path.read_text() == text:
            continue
        stale.append(name)
        if not ns.check:
            path.write_text(text)
            print(f"wrote {name}")
    if ns.check and stale:
        print("stale: " + ", ".join(stale) + " (run scripts/gen_reference.py)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
