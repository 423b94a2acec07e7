"""``virtuoso-daemon``: parse flags, load config, run the supervisor until signalled."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

import anyio

from virtuoso_daemon import __version__
from virtuoso_daemon.core import malloc
from virtuoso_daemon.core.config import ConfigError, load_config
from virtuoso_daemon.core.event_loop import anyio_backend_options
from virtuoso_daemon.core.logs import setup_logging
from virtuoso_daemon.core.runtime import Runtime
from virtuoso_daemon.core.supervisor import ActorSpec, StartTimeout, Supervisor
from virtuoso_daemon.process.assembly import build_specs
from virtuoso_daemon.process.demo import simulated_exchanges
from virtuoso_daemon.process.gc_policy import QuietCollector

log = logging.getLogger("virtuoso")

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


async def serve(runtime: Runtime, specs: list[ActorSpec] | None = None) -> None:
    """Run the supervisor tree (``specs``, default: the configured actors) until it
    stops, with the daemon's GC policy; ``scripts/bench_api.py`` serves its own tree
    through this too, so it measures the daemon's process, not a variant of it."""
    async with simulated_exchanges(runtime.config) as resolution:
        resolution.attach(runtime)
        await _supervise(runtime, specs)


async def _supervise(runtime: Runtime, specs: list[ActorSpec] | None) -> None:
    sup = Supervisor(runtime, build_specs(runtime) if specs is None else specs)
    bus = runtime.bus
    # full GC passes between bursts, and start-up objects frozen (gc_policy.py)
    collector = QuietCollector(
        lambda: sum(bus.published.values()), every=runtime.config.daemon.gc_every
    )
    runtime.stats["gc"] = collector.stats.as_dict

    async with anyio.create_task_group() as tg:
        tg.start_soon(collector.run, sup.ready)
        # a SIGTERM during start-up ends run() before ready: that is a clean stop too
        await sup.run(handle_signals=True)
        tg.cancel_scope.cancel()


def daemon_main(argv: list[str] | None = None) -> int:
    ns = build_parser().parse_args(argv)
    path = Path(ns.config) if ns.config else (DEFAULT_CONFIG if DEFAULT_CONFIG.exists() else None)
    overrides = flag_overrides(ns)
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
    setup_logging(config.daemon.log_level, config.daemon.log_format)
    malloc.tune()  # before any thread exists: arenas are per thread
    runtime = Runtime(config=config, config_path=path, overrides=overrides)
    log.info(
        "virtuoso %s starting (config: %s, demo: %s)",
        __version__,
        path or "built-in defaults",
        config.daemon.demo,
    )
    try:
        anyio.run(serve, runtime, backend_options=anyio_backend_options(config.daemon.event_loop))
    except KeyboardInterrupt:
        pass
    except (StartTimeout, BaseExceptionGroup) as exc:
        stuck = _find(exc, StartTimeout)
        if stuck is None:
            raise
        print(f"virtuoso-daemon: start failed: {stuck}", file=sys.stderr)
        return 1
    log.info("virtuoso stopped")
    return 0


def _find(exc: BaseException, kind: type[Exception]) -> Exception | None:
    """``exc`` itself or the first ``kind`` inside (task groups wrap what they raise)."""
    if isinstance(exc, kind):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        for sub in exc.exceptions:
            found = _find(sub, kind)
            if found is not None:
                return found
    return None


def not_built(name: str, issue: str) -> int:
    print(f"{name}: not built yet (see {issue})", file=sys.stderr)
    return 1
