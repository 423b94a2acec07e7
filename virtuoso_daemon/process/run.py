"""Running the daemon once the command line is parsed and the checks have passed:
logging, the event loop, signals, the simulator in demo mode, the supervisor tree."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import anyio

from virtuoso_daemon import __version__
from virtuoso_daemon.core import malloc
from virtuoso_daemon.core.config import Config
from virtuoso_daemon.core.event_loop import anyio_backend_options
from virtuoso_daemon.core.runtime import Runtime
from virtuoso_daemon.core.supervisor import ActorSpec, StartTimeout, Supervisor
from virtuoso_daemon.process.assembly import build_specs
from virtuoso_daemon.process.demo import simulated_exchanges
from virtuoso_daemon.process.gc_policy import QuietCollector
from virtuoso_daemon.process.unix_signals import SignalHandler

log = logging.getLogger("virtuoso")


def run_daemon(config: Config, path: Path | None, overrides: dict[str, Any]) -> int:
    """Serve until stopped (logging already set up); the process's exit code."""
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


async def serve(runtime: Runtime, specs: list[ActorSpec] | None = None) -> None:
    """Run the supervisor tree (``specs``, default: the configured actors) until it
    stops, with the daemon's signal handling and GC policy; ``scripts/bench_api.py``
    serves its own tree through this too, so it measures the daemon's process, not a
    variant of it."""
    async with anyio.create_task_group() as tg:
        with anyio.CancelScope() as body:
            signals = SignalHandler(runtime, stop_startup=body.cancel)
            await tg.start(signals.run)  # first: a signal is never left to its default
            async with simulated_exchanges(runtime.config) as resolution:
                resolution.attach(runtime)
                await _supervise(runtime, specs, signals)
        tg.cancel_scope.cancel()


async def _supervise(
    runtime: Runtime, specs: list[ActorSpec] | None, signals: SignalHandler
) -> None:
    sup = Supervisor(runtime, build_specs(runtime) if specs is None else specs)
    signals.attach(sup)
    bus = runtime.bus
    # full GC passes between bursts, and start-up objects frozen (gc_policy.py)
    collector = QuietCollector(
        lambda: sum(bus.published.values()), every=runtime.config.daemon.gc_every
    )
    runtime.stats["gc"] = collector.stats.as_dict

    async with anyio.create_task_group() as tg:
        tg.start_soon(collector.run, sup.ready)
        # a SIGTERM during start-up ends run() before ready: that is a clean stop too
        await sup.run()
        tg.cancel_scope.cancel()


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
