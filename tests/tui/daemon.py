"""A real daemon for the TUI tests: in-process (pilot tests) or as a process (tmux tests).

The TUI needs the control socket, the demo simulator, the feeds and the market actors.
While ``virtuoso_daemon/assembly.py`` does not list them all yet (they are being
wired), :func:`live_specs` adds the missing ones from their modules, in the order the
assembly will use; once the assembly has them it is used as it is. Run as
``python -m tests.tui.daemon --demo --socket PATH`` it is ``virtuoso-daemon`` with
those specs (same flags, same config loading), for the tests that need a process.
"""

from __future__ import annotations

import importlib
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import anyio

from tests.harness import REPO, test_config
from virtuoso_daemon.assembly import build_specs
from virtuoso_daemon.config import Config
from virtuoso_daemon.runtime import Runtime
from virtuoso_daemon.supervisor import ActorSpec, Supervisor

NEEDED = ("control", "demo", "feeds", "market_store", "ticker_cache")


def _optional(module: str, attr: str) -> Any | None:
    """An actor class that another engineer may not have landed yet."""
    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError):
        return None


def live_specs(runtime: Runtime) -> list[ActorSpec]:
    specs = build_specs(runtime)
    names = {s.name for s in specs}
    if all(n in names for n in NEEDED):
        return specs
    from virtuoso_daemon.actors.control import ControlActor
    from virtuoso_daemon.actors.demo import DemoActor
    from virtuoso_daemon.actors.feeds import feed_specs
    from virtuoso_daemon.actors.market_store import MarketStoreActor
    from virtuoso_daemon.actors.ticker_cache import TickerCacheActor

    extra = [
        ActorSpec("market_store", MarketStoreActor),
        ActorSpec("ticker_cache", TickerCacheActor),
        ActorSpec("demo", DemoActor),
        *feed_specs(runtime),
    ]
    beta = _optional("virtuoso_daemon.actors.beta", "BetaActor")
    if beta is not None:
        extra.append(ActorSpec("beta", beta, depends_on=("market_store",)))
    extra.append(ActorSpec("control", ControlActor))
    return [*specs, *(s for s in extra if s.name not in names)]


def assembly_is_complete() -> bool:
    cfg = test_config(daemon={"demo": True})
    return all(n in {s.name for s in build_specs(Runtime(config=cfg))} for n in NEEDED)


def demo_config(n_alts: int = 8, **sections: dict[str, Any]) -> Config:
    """A small demo daemon on free ports with a short socket path."""
    daemon = {"demo": True, "log_level": "info", **sections.pop("daemon", {})}
    demo = {"n_alts": n_alts, **sections.pop("demo", {})}
    return test_config(daemon=daemon, demo=demo, **sections)


def daemon_argv(socket: Path, state_dir: Path, n_alts: int = 8) -> tuple[list[str], dict[str, str]]:
    """Command line and environment of a demo daemon process on ``socket``."""
    env = {
        **os.environ,
        "VIRTUOSO_DEMO__N_ALTS": str(n_alts),
        "VIRTUOSO_MEMCACHED__ENABLED": "false",
    }
    flags = ["--demo", "--port", "0", "--socket", str(socket), "--state-dir", str(state_dir)]
    exe = shutil.which("virtuoso-daemon", path=str(Path(sys.executable).parent))
    if exe and assembly_is_complete():
        return [exe, *flags], env
    return [sys.executable, "-m", "tests.tui.daemon", *flags], {**env, "PYTHONPATH": str(REPO)}


def main(argv: list[str] | None = None) -> int:
    """``virtuoso-daemon`` with :func:`live_specs` (see the module docstring)."""
    from virtuoso_daemon.cli import build_parser, flag_overrides
    from virtuoso_daemon.config import load_config
    from virtuoso_daemon.logs import setup_logging

    ns = build_parser().parse_args(argv)
    config = load_config(ns.config, overrides=flag_overrides(ns))
    setup_logging(config.daemon.log_level, config.daemon.log_format)
    runtime = Runtime(config=config, overrides=flag_overrides(ns))

    async def serve() -> None:
        await Supervisor(runtime, live_specs(runtime)).run(handle_signals=True)

    anyio.run(serve)
    return 0


if __name__ == "__main__":
    sys.exit(main())
