"""The supervisor: starts actors in dependency order and keeps them running.

* Each actor is an object with ``async def run(self, *, task_status)`` that calls
  ``task_status.started()`` when it is ready to serve.
* One-for-one restarts: an actor that raises is rebuilt from its factory and started
  again after an exponential backoff with jitter; the others are untouched.
* Restart intensity: more than ``intensity`` crashes within ``period`` seconds marks
  the actor ``failed`` (published on the lifecycle topic) and it stays down while the
  rest keeps running.
* Cancellation always propagates: only ``Exception`` restarts, never a cancel.
* Start timeout: an actor that has not reported started within
  ``supervisor.start_timeout`` is logged with its stack (where it is stuck) and the
  start fails with :class:`StartTimeout` instead of hanging before READY.
* ``READY=1`` goes to systemd once every actor has started the first time; a watchdog
  task pings at half of ``WATCHDOG_USEC`` while no actor has failed and the health
  monitor's gate agrees (:meth:`Supervisor.watchdog_withheld`); :meth:`Supervisor.reload_config`
  (SIGHUP, ``config reload``) applies a new config all or nothing (core/reload.py);
  signals themselves are the process's (process/unix_signals.py).
"""

from __future__ import annotations

import asyncio
import io
import logging
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import anyio
import anyio.abc

from virtuoso_daemon.core.bus import Topics
from virtuoso_daemon.core.logs import current_actor
from virtuoso_daemon.core.messages import ActorEvent, ActorState
from virtuoso_daemon.core.reload import Reconfigurable, Reloader, ReloadResult
from virtuoso_daemon.core.runtime import Runtime

__all__ = ["Actor", "ActorSpec", "Reconfigurable", "StartTimeout", "Supervisor"]

log = logging.getLogger("virtuoso.supervisor")


@runtime_checkable
class Actor(Protocol):
    """What the supervisor runs."""

    name: str

    async def run(self, *, task_status: anyio.abc.TaskStatus[None] = ...) -> None: ...


@dataclass(frozen=True)
class ActorSpec:
    """How to build one actor, and which actors must be running before it starts."""

    name: str
    factory: Callable[[Runtime], Any]
    depends_on: tuple[str, ...] = ()


class _Status:
    """The ``task_status`` handed to an actor: marks it running when it is ready."""

    def __init__(self, runner: _Runner) -> None:
        self.runner = runner

    def started(self, value: object = None) -> None:
        self.runner._set_state("running")
        self.runner.ready.set()


class _Runner:
    """Owns one actor slot: its current instance, state, crash history."""

    def __init__(self, sup: Supervisor, spec: ActorSpec) -> None:
        self.sup = sup
        self.spec = spec
        self.name = spec.name
        self.instance: Any = None
        self.state: ActorState = "pending"
        self.restarts = 0
        self.last_error: str | None = None
        self.crashes: deque[float] = deque()
        self.ready = anyio.Event()  # first start done (or given up)
        self.started_at: float | None = None

    def _set_state(self, state: ActorState, error: str | None = None) -> None:
        self.state = state
        if state == "running":
            self.started_at = time.time()
        event = ActorEvent(
            actor=self.name, state=state, restarts=self.restarts, error=error, ts=time.time()
        )
        self.sup._lifecycle_send(event)

    def backoff(self) -> float:
        """Exponential in consecutive crashes, capped, with +-50 % jitter."""
        cfg = self.sup.runtime.config.supervisor
        base = min(cfg.backoff_max, cfg.backoff_initial * 2 ** max(0, len(self.crashes) - 1))
        return base * random.uniform(0.5, 1.5)  # jitter, not crypto

    async def loop(self) -> None:
        current_actor.set(self.name)
        while True:
            self.instance = self.spec.factory(self.sup.runtime)
            self._set_state("starting")
            try:
                await self.instance.run(task_status=_Status(self))
            except anyio.get_cancelled_exc_class():
                self._set_state("stopped")
                raise
            except Exception as exc:
                cfg = self.sup.runtime.config.supervisor  # a reload applies to the next crash
                now = time.monotonic()
                self.crashes.append(now)
                while self.crashes and now - self.crashes[0] > cfg.period:
                    self.crashes.popleft()
                self.last_error = f"{type(exc).__name__}: {exc}"
                if len(self.crashes) > cfg.intensity:
                    log.error(
                        "actor %s crashed %d times in %.0fs, marking it failed: %s",
                        self.name,
                        len(self.crashes),
                        cfg.period,
                        self.last_error,
                    )
                    self._set_state("failed", self.last_error)
                    self.ready.set()
                    return
                delay = self.backoff()
                log.warning(
                    "actor %s crashed (%s); restart %d in %.2fs",
                    self.name,
                    self.last_error,
                    self.restarts + 1,
                    delay,
                    exc_info=exc,
                )
                self._set_state("restarting", self.last_error)
                await anyio.sleep(delay)
                self.restarts += 1
                continue
            # a normal return means the actor decided it is done
            self._set_state("stopped")
            self.ready.set()
            return


class StartTimeout(Exception):
    """An actor did not report started within ``supervisor.start_timeout``."""


def _task_stack(task_name: str) -> str:
    """Where the asyncio task named ``task_name`` is suspended (empty if not found)."""
    try:
        tasks = asyncio.all_tasks()
    except RuntimeError:  # not on an asyncio loop
        return ""
    for task in tasks:
        if task.get_name() == task_name:
            return _await_chain(task.get_coro())
    return ""


def _await_chain(coro: object) -> str:
    """The suspended coroutine's awaits, outermost first (what asyncio's own
    ``print_stack`` leaves out: it shows only the task's top frame)."""
    out = io.StringIO()
    seen = 0
    while coro is not None and seen < 64:
        frame = getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None)
        if frame is not None:
            code = frame.f_code
            out.write(f'  File "{code.co_filename}", line {frame.f_lineno}, in {code.co_name}\n')
        coro = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None)
        seen += 1
    return out.getvalue()


class Supervisor:
    """Runs a tree of actors under one task group; see the module docstring."""

    def __init__(self, runtime: Runtime, specs: Sequence[ActorSpec]) -> None:
        self.runtime = runtime
        runtime.supervisor = self
        self.specs = self._order(specs)
        self.runners = {s.name: _Runner(self, s) for s in self.specs}
        self.ready = anyio.Event()
        self._cancel: anyio.CancelScope | None = None
        self._lifecycle_waiters: list[Callable[[ActorEvent], None]] = []
        self._reloader = Reloader(runtime)
        self._stop_requested = False

    @staticmethod
    def _order(specs: Sequence[ActorSpec]) -> list[ActorSpec]:
        """Topological order; a cycle or unknown dependency is a programming error."""
        by_name = {s.name: s for s in specs}
        out: list[ActorSpec] = []
        seen: dict[str, bool] = {}

        def visit(spec: ActorSpec) -> None:
            if seen.get(spec.name) is False:
                raise ValueError(f"dependency cycle through actor {spec.name!r}")
            if spec.name in seen:
                return
            seen[spec.name] = False
            for dep in spec.depends_on:
                if dep not in by_name:
                    raise ValueError(f"actor {spec.name!r} depends on unknown {dep!r}")
                visit(by_name[dep])
            seen[spec.name] = True
            out.append(spec)

        for s in specs:
            visit(s)
        return out

    def _lifecycle_send(self, event: ActorEvent) -> None:
        # lifecycle is lossless; publish from a sync context via a buffered subscriber
        for cb in tuple(self._lifecycle_waiters):
            cb(event)
        try:
            self.runtime.bus.publish_nowait(Topics.LIFECYCLE, event)
        except anyio.WouldBlock:
            log.warning("a lifecycle subscriber is full; event for %s delayed", event.actor)

    def on_lifecycle(self, callback: Callable[[ActorEvent], None]) -> None:
        self._lifecycle_waiters.append(callback)

    def status(self) -> list[dict[str, Any]]:
        return [
            {
                "name": r.name,
                "state": r.state,
                "restarts": r.restarts,
                "last_error": r.last_error,
                "since": r.started_at,
            }
            for r in self.runners.values()
        ]

    def actor(self, name: str) -> Any:
        return self.runners[name].instance

    def request_shutdown(self) -> None:
        self._stop_requested = True
        if self._cancel is not None:
            self.runtime.notifier.stopping()
            self._cancel.cancel()

    async def reload_config(self) -> ReloadResult:
        """Re-read the config file and apply it all or not at all (core/reload.py);
        raises :class:`ConfigError` saying why when the running config is kept."""
        return await self._reloader.reload([(r.name, r.instance) for r in self.runners.values()])

    def watchdog_withheld(self) -> str | None:
        """Why ``WATCHDOG=1`` is not sent now, or None: an actor failed for good, or
        the health monitor's gate (``runtime.watchdog_gate``: the loop lags) says no.
        A wedged daemon then stops pinging and systemd restarts it; a loop blocked
        outright stops pinging by itself (this task runs on it)."""
        failed = [r.name for r in self.runners.values() if r.state == "failed"]
        if failed:
            return f"actor(s) failed: {', '.join(failed)}"
        gate = self.runtime.watchdog_gate
        return gate() if gate is not None else None

    async def _watchdog(self, interval: float) -> None:
        withheld: str | None = None
        while True:
            reason = self.watchdog_withheld()
            if reason is None:
                self.runtime.notifier.watchdog()
            elif reason != withheld:
                log.error("withholding WATCHDOG=1 from systemd: %s", reason)
            withheld = reason
            await anyio.sleep(interval)

    async def run(
        self,
        *,
        task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        """Start everything, serve until cancelled or shut down, then stop everything."""
        notifier = self.runtime.notifier
        stuck: str | None = None
        with anyio.CancelScope() as scope:
            self._cancel = scope
            if self._stop_requested:  # asked to stop before it started
                scope.cancel()
            async with anyio.create_task_group() as tg:
                for spec in self.specs:
                    runner = self.runners[spec.name]
                    for dep in spec.depends_on:
                        await self.runners[dep].ready.wait()
                    tg.start_soon(runner.loop, name=f"actor:{spec.name}")
                    if not await self._started_in_time(runner):
                        stuck = spec.name
                        scope.cancel()
                        break
                else:
                    await self._serve(tg, task_status)
        notifier.stopping()
        log.info("all actors stopped")
        if stuck is not None:
            limit = self.runtime.config.supervisor.start_timeout
            raise StartTimeout(f"actor {stuck} did not start within {limit:g}s")

    async def _started_in_time(self, runner: _Runner) -> bool:
        limit = self.runtime.config.supervisor.start_timeout
        with anyio.move_on_after(limit):
            await runner.ready.wait()
            return True
        log.error(
            "actor %s did not report started within %gs (supervisor.start_timeout); "
            "failing the start. It is stuck here:\n%s",
            runner.name,
            limit,
            _task_stack(f"actor:{runner.name}") or "  (stack not available)",
        )
        return False

    async def _serve(
        self, tg: anyio.abc.TaskGroup, task_status: anyio.abc.TaskStatus[None]
    ) -> None:
        """Everything started: tell systemd and the caller, then keep the watchdog."""
        notifier = self.runtime.notifier
        self.ready.set()
        failed = [r.name for r in self.runners.values() if r.state == "failed"]
        summary = f"{len(self.runners)} actors running" + (
            f", failed: {', '.join(failed)}" if failed else ""
        )
        notifier.ready(summary)
        log.info("ready: %s", summary)
        interval = notifier.watchdog_interval
        if interval:
            tg.start_soon(self._watchdog, interval)
        task_status.started()


async def run_with_deadline(main: Callable[[], Awaitable[None]], seconds: float) -> None:
    """Helper for actors' shutdown paths: run ``main`` shielded, at most ``seconds``."""
    with anyio.move_on_after(seconds, shield=True):
        await main()
