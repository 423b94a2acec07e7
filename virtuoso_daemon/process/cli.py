"""``virtuoso-daemon``: parse flags, load config, check, run until signalled.

Kept light on purpose: signal handlers go in before anything heavy is imported
(:mod:`.unix_signals`), then config (:mod:`..core.config`), start-up checks
(:mod:`.preflight`) and the run itself (:mod:`.run`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from virtuoso_daemon import __version__
from virtuoso_daemon.process import unix_signals

DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "config" / "virtuoso.toml"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="virtuoso-daemon",
        description="Virtuoso crypto market intelligence daemon. Serves the HTTP API "
        "(default http://127.0.0.1:8003) and a Unix control socket.",
        epilog="Environment overrides: VIRTUOSO_<SECTION>__<KEY>=value, e.g. "
        "VIRTUOSO_DAEMON__PORT=9000. Flags override both the file and the environment.",
    )
    p.add_argument(
        "--config",
        metavar="PATH",
        help="TOML config file (default: config/virtuoso.toml "
        "next to the package if present, else built-in defaults)",
    )
    p.add_argument(
        "--demo",
        action="store_true",
        default=None,
        help="run against the built-in simulated exchange",
    )
    p.add_argument("--host", help="HTTP bind address (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="HTTP port (default 8003; 0 = any free port)")
    p.add_argument("--socket", metavar="PATH", help="control socket path")
    p.add_argument("--state-dir", metavar="PATH", help="where state and backups live")
    p.add_argument("--log-level", choices=["debug", "info", "warning", "error"])
    p.add_argument("--log-format", choices=["json", "text"])
    p.add_argument(
        "--check-config",
        action="store_true",
        help="validate the configuration, print it (secrets redacted) and exit",
    )
    p.add_argument("--version", action="version", version=f"virtuoso {__version__}")
    return p


def flag_overrides(ns: argparse.Namespace) -> dict[str, Any]:
    daemon: dict[str, Any] = {}
    for flag, key in [
        ("demo", "demo"),
        ("host", "host"),
        ("port", "port"),
        ("socket", "socket"),
        ("state_dir", "state_dir"),
        ("log_level", "log_level"),
        ("log_format", "log_format"),
    ]:
        value = getattr(ns, flag)
        if value is not None:
            daemon[key] = value
    return {"daemon": daemon} if daemon else {}


def daemon_main(argv: list[str] | None = None) -> int:
    # first, before the heavy imports: a signal now is remembered, not fatal
    unix_signals.install_early()
    ns = build_parser().parse_args(argv)
    path = Path(ns.config) if ns.config else (DEFAULT_CONFIG if DEFAULT_CONFIG.exists() else None)
    overrides = flag_overrides(ns)

    from virtuoso_daemon.core.config import ConfigError, load_config

    try:
        config = load_config(path, overrides=overrides)
    except ConfigError as exc:
        print(f"virtuoso-daemon: config error: {exc}", file=sys.stderr)
        return 2
    if ns.check_config:
        import msgspec

        from virtuoso_daemon.core.config import resolved

        print(msgspec.json.format(msgspec.json.encode(resolved(config))).decode())
        return 0

    from virtuoso_daemon.core.logs import setup_logging
    from virtuoso_daemon.process.preflight import PreflightError, preflight

    # before the checks: what they log (a stale socket replaced) is in the daemon's format
    setup_logging(config.daemon.log_level, config.daemon.log_format)
    try:
        lock = preflight(config)  # held until the process ends
    except PreflightError as exc:
        print(f"virtuoso-daemon: cannot start: {exc}", file=sys.stderr)
        return 1
    try:
        from virtuoso_daemon.process.run import run_daemon

        return run_daemon(config, path, overrides)
    finally:
        lock.release()
        unix_signals.install_early()  # a late signal, after the loop let go, is not fatal either


def not_built(name: str, issue: str) -> int:
    print(f"{name}: not built yet (see {issue})", file=sys.stderr)
    return 1
