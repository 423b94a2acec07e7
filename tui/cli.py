"""``virtuoso-tui``: the Textual operator console, attached over the control socket."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from virtuoso_daemon import __version__, protocol

from .app import create_app
from .client import SocketClient
from .themes import resolve_theme


def default_socket() -> Path:
    """Where the daemon listens by default (``VIRTUOSO_DAEMON__SOCKET`` wins, as for it)."""
    env = os.environ.get("VIRTUOSO_DAEMON__SOCKET")
    return Path(env).expanduser() if env else protocol.default_socket_path()


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="virtuoso-tui",
        description="Live console for the Virtuoso daemon: market, beta, feeds and system. "
        "Attaches over the control socket (locally or through an ssh-forwarded socket) "
        "and reconnects by itself when the daemon restarts. Press ? for keys, "
        "ctrl+p for every action.",
    )
    p.add_argument(
        "--socket",
        metavar="PATH",
        type=Path,
        default=None,
        help=f"control socket of the daemon (default: {default_socket()})",
    )
    p.add_argument(
        "--theme",
        default="dark",
        help="dark (default), light, or any Textual theme name (nord, gruvbox ...)",
    )
    p.add_argument(
        "--fps",
        type=float,
        default=5.0,
        metavar="N",
        help="screen refreshes per second at most (default 5; 1..30)",
    )
    p.add_argument(
        "--throttle-ms",
        type=int,
        default=200,
        metavar="MS",
        help="ask the daemon for at most one ticker per symbol every MS ms "
        "(default 200; 0 = every update)",
    )
    p.add_argument("--version", action="version", version=f"virtuoso-tui {__version__}")
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    ns = parser.parse_args(argv)
    try:
        theme = resolve_theme(ns.theme)
    except ValueError as exc:
        parser.error(str(exc))
    if not 1 <= ns.fps <= 30:
        parser.error("--fps must be between 1 and 30")
    if ns.throttle_ms < 0 or 0 < ns.throttle_ms < 10:
        parser.error("--throttle-ms must be 0 or at least 10")
    client = SocketClient(ns.socket or default_socket())
    app = create_app(client, theme=theme, refresh_hz=ns.fps, throttle_ms=ns.throttle_ms or None)
    app.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
