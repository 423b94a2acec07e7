"""The health monitor actor: eight kinds of check, counted with a hold-down, published
as a :class:`HealthReport` and, on every counted transition, as a :class:`Condition`.

What it reads (never a separate ping that could disagree with what the daemon sees):

* feeds: the ``feeds.status`` view and ``Topics.FEED_STATUS`` (state, errors, REST
  fallback, newest message per data kind); the cache: the ``cache.state`` view;
* backups: the backup actor's ``backups`` view (catalogue and schedule: missed
  scheduled runs) and ``Topics.BACKUPS`` (a run that ended is looked at at once);
* actors: the supervisor's table and ``Topics.LIFECYCLE``; the bus's drop counters;
* itself: CPU (psutil, non-blocking), memory, disk (state and backup directories,
  in a worker thread), the event loop's timer lateness, errors logged (a handler on
  the root logger) and failed requests (``runtime.metrics``), and one timed GET of
  its own ``/health/quick``.

When it evaluates:

* a full sweep every ``health.interval`` seconds (every check);
* at once when a feed's state or an actor's state changes (the checks that read them);
* exactly when a pending change would count (``confirm``/``recover``, see
  :mod:`.hold`), and when a data kind's age or memcached's downtime crosses a
  threshold: so an outage is reported ``silent_timeout + confirm`` after the last
  message, not a sweep later.

Outputs (built by :mod:`.report`): the ``health.report`` view (what ``/health`` and
the socket's ``health`` serve), ``Topics.HEALTH`` on every sweep and every change, one
Condition (``kind="health"``, key ``health:<check>``) per counted transition,
``STATUS=`` to systemd when the one-line summary changes, and the watchdog gate (``WATCHDOG=1`` is
withheld while the loop lags past ``loop_lag_critical_ms``).
"""

from __future__ import annotations

import logging
import time
from collections import deque
from pathlib import Path
from typing import Any, ClassVar

import aiohttp
import anyio
import anyio.abc
import msgspec

from virtuoso_daemon.backup.announce import VIEW as BACKUPS_VIEW
from virtuoso_daemon.core.bus import Topics
from virtuoso_daemon.core.config import Config, ExchangeConfig, HealthConfig
from virtuoso_daemon.core.messages import (
    FeedStatus,
    HealthCheck,
    HealthReport,
    HealthStatus,
    HealthTransition,
)
from virtuoso_daemon.core.runtime import Runtime
from virtuoso_daemon.feeds.actor import STATUS_VIEW
from virtuoso_daemon.health import checks
from virtuoso_daemon.health.hold import Change, HoldDown
from virtuoso_daemon.health.report import build_report, counted_checks, health_condition
from virtuoso_daemon.health.sources import (
    ApiProbe,
    CpuSampler,
    ErrorCounter,
    LoopLag,
    RateWindow,
    memory,
    probe_api,
    probe_dirs,
)

log = logging.getLogger("virtuoso.health")

REPORT_VIEW = "health.report"
TRANSITIONS_VIEW = "health.transitions"
CACHE_VIEW = "cache.state"
DISK_TIMEOUT = 5.0  # s: a directory that does not answer in this long is "not writable"
#: subscribers whose drops are not the daemon's problem (socket clients, tests)
CLIENT_PREFIXES = ("control#", "test")


class HealthMonitorActor:
    """The health monitor (see the module docstring)."""

    name = "health"
    config_sections: ClassVar[tuple[str, ...]] = ("health", "exchanges")

    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime
        self.cfg: HealthConfig = runtime.config.health
        self.hold = HoldDown(self.cfg.confirm, self.cfg.recover)
        self.raw: dict[str, HealthCheck] = {}
        self.history: deque[HealthTransition] = deque(maxlen=self.cfg.history)
        self.lag = LoopLag(self.cfg.loop_lag_window)
        self.errors = ErrorCounter()
        self.cpu: CpuSampler | None = None
        self.error_window = RateWindow()
        self.failed_window = RateWindow()
        self.drops_window = RateWindow()
        self.restarts_window = RateWindow()
        self.first_seen: dict[str, dict[str, float]] = {}  # exchange -> kind -> ts
        self.feed_sig: dict[str, tuple[object, ...]] = {}
        self.started = time.time()
        self.report: HealthReport | None = None
        self.summary = ""
        self._status_sent: tuple[str, bool] = ("", False)
        self.session: aiohttp.ClientSession | None = None
        self._wake = anyio.Event()
        self._backups_changed = False  # a backup run ended: look at the catalogue now
        self._revisit: float | None = None  # wall time a threshold is crossed next
        self._ended: list[tuple[str, HealthStatus]] = []  # raised checks that stopped running
        self.counters: dict[str, float] = {
            "sweeps": 0,
            "evaluations": 0,
            "conditions": 0,
            "sweep_cpu_seconds": 0.0,
        }

    # --- lifecycle ---------------------------------------------------------------------

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        rt = self.rt
        root = logging.getLogger()
        root.addHandler(self.errors)
        rt.stats[self.name] = self.stats
        if self.cfg.watchdog_gate:
            rt.watchdog_gate = self.watchdog_reason
        try:
            self.cpu = CpuSampler()
            timeout = aiohttp.ClientTimeout(total=self.cfg.api_timeout)
            async with aiohttp.ClientSession(timeout=timeout) as session:
                self.session = session
                async with anyio.create_task_group() as tg:
                    tg.start_soon(self.lag.run)
                    tg.start_soon(self._feed_events)
                    tg.start_soon(self._lifecycle_events)
                    tg.start_soon(self._backup_events)
                    await self.evaluate(full=True)
                    task_status.started()
                    await self._loop()
        finally:
            root.removeHandler(self.errors)
            if rt.watchdog_gate == self.watchdog_reason:
                rt.watchdog_gate = None

    async def reconfigure(self, config: Config) -> None:
        self.cfg = config.health
        self.hold.confirm, self.hold.recover = self.cfg.confirm, self.cfg.recover
        self.lag.window = self.cfg.loop_lag_window
        self._backups_changed = True
        self.rt.watchdog_gate = self.watchdog_reason if self.cfg.watchdog_gate else None
        self._wake.set()

    async def _loop(self) -> None:
        next_sweep = time.monotonic() + self.cfg.interval
        while True:
            wait = next_sweep - time.monotonic()
            due = self._next_due()
            if due is not None:
                wait = min(wait, due - time.time())
            with anyio.move_on_after(max(0.0, wait)):
                await self._wake.wait()
            self._wake = anyio.Event()
            full = time.monotonic() >= next_sweep
            if full:
                next_sweep = time.monotonic() + self.cfg.interval
            await self.evaluate(full=full)

    def _next_due(self) -> float | None:
        times = [t for t in (self.hold.due(), self._revisit) if t is not None]
        return min(times) if times else None

    # --- events ------------------------------------------------------------------------

    async def _feed_events(self) -> None:
        """Re-evaluate at once when a feed's state, modes or kinds change."""
        with self.rt.bus.subscribe(Topics.FEED_STATUS, name=self.name, maxsize=256) as sub:
            async for status in sub:
                sig = (
                    status.state,
                    tuple(sorted(status.modes)),
                    tuple(sorted(status.last_by_kind)),
                )
                if self.feed_sig.get(status.exchange) != sig:
                    self.feed_sig[status.exchange] = sig
                    self._wake.set()

    async def _lifecycle_events(self) -> None:
        # lossy on our side: the supervisor must never wait for us (its table is the
        # truth, read at every evaluation; an event is only the cue to look now)
        sub = self.rt.bus.subscribe(Topics.LIFECYCLE, name=self.name, maxsize=256, lossy=True)
        with sub:
            async for _event in sub:
                self._wake.set()

    async def _backup_events(self) -> None:
        """Look at the backups at once when a run ends (the backup actor publishes its
        view before the event)."""
        sub = self.rt.bus.subscribe(Topics.BACKUPS, name=self.name, maxsize=64, lossy=True)
        with sub:
            async for event in sub:
                if event.event in ("completed", "failed", "verified", "pruned"):
                    self._backups_changed = True
                    self._wake.set()

    # --- evaluation ----------------------------------------------------------------------

    async def evaluate(self, *, full: bool) -> None:
        """Recompute the checks (all of them on a full sweep), count transitions,
        publish. The probes (API, disk, CPU, memory) run on full sweeps only; their
        newest result is re-counted in between."""
        cpu0 = time.process_time()
        now = time.time()
        if full:
            for check in await self._probe_checks():
                self.raw[check.name] = check
        if full or self._backups_changed:  # cron arithmetic: not on every feed event
            self._backups_changed = False
            backups = self.rt.views.value(BACKUPS_VIEW)
            self.raw["backups"] = checks.backups_check(backups, self.cfg, now, self.started)
        for check in self._state_checks(now):
            self.raw[check.name] = check
        updates = [self.hold.update(name, check.status, now) for name, check in self.raw.items()]
        changes = [c for c in updates if c is not None]
        for change in changes:
            await self._transition(change)
        ended, self._ended = self._ended, []
        for name, old in ended:
            await self._condition(name, "ok", old, None, now)
        self._publish(now, publish_bus=full or bool(changes))
        self.counters["evaluations"] += 1
        if full:
            self.counters["sweeps"] += 1
            # CPU of this thread's share; the HTTP thread's answer to the probe is in the
            # benchmark (scripts/bench_health.py), not here
            self.counters["sweep_cpu_seconds"] += time.process_time() - cpu0

    async def _probe_checks(self) -> list[HealthCheck]:
        cfg = self.cfg
        api = await self._probe_api()
        disks = await probe_dirs(self._disk_dirs(), DISK_TIMEOUT)
        assert self.cpu is not None
        return [
            checks.api_check(api, cfg),
            checks.memory_check(memory(self.cpu.proc), cfg),
            checks.cpu_check(self.cpu.sample(), cfg),
            checks.disk_check(disks, cfg),
        ]

    def _state_checks(self, now: float) -> list[HealthCheck]:
        cfg, rt = self.cfg, self.rt
        out = [checks.cache_check(rt.views.value(CACHE_VIEW), cfg, now)]
        revisit: list[float] = []
        statuses: dict[str, FeedStatus] = rt.views.value(STATUS_VIEW) or {}
        names: set[str] = set()
        for ex in rt.config.exchanges:
            status = self._fresh(statuses.get(ex.name))
            seen = self._first_seen(ex.name, status, now)
            out.append(checks.exchange_check(status, ex, now, self.started))
            data = checks.data_checks(status, ex, cfg, now, seen)
            out.extend(data)
            names.update(c.name for c in data)
            revisit.extend(self._crossings(status, ex, seen, now))
        self._drop_gone(names)
        cache = rt.views.value(CACHE_VIEW)
        if cache and cache.get("state") in ("down", "connecting"):
            revisit.append(float(cache.get("since") or now) + cfg.cache_down_critical)
        self._revisit = min((t for t in revisit if t > now), default=None)
        mono = time.monotonic()
        logged = self.error_window.add(self.errors.count, mono)
        failed = self.failed_window.add(rt.metrics.failed, mono)
        out.append(checks.error_rate_check(logged, failed, cfg))
        actors = rt.supervisor.status() if rt.supervisor else []
        restarts = self.restarts_window.add(sum(int(a["restarts"] or 0) for a in actors), mono)
        out.append(checks.actors_check(actors, int(restarts)))
        out.append(checks.loop_check(self.lag.worst(), self.lag.last, cfg))
        drops, worst_sub = self._actor_drops()
        out.append(checks.bus_check(self.drops_window.add(drops, mono), worst_sub, cfg))
        return out

    def _fresh(self, status: FeedStatus | None) -> FeedStatus | None:
        """The feed's published status with its newest message times as of now (the
        status goes out on change and every heartbeat; the times move in between)."""
        if status is None:
            return None
        stats = self.rt.stats.get(f"feeds:{status.exchange}")
        try:
            last = stats().get("last_by_kind") if stats is not None else None
        except Exception:  # a feed between two lives: its published status will do
            last = None
        if not isinstance(last, dict) or not last or last == status.last_by_kind:
            return status
        return msgspec.structs.replace(status, last_by_kind=dict(last))

    def _first_seen(self, exchange: str, status: FeedStatus | None, now: float) -> dict[str, float]:
        seen = self.first_seen.setdefault(exchange, {})
        if status is not None:
            for kind in status.modes:
                seen.setdefault(kind, now)
        return seen

    def _crossings(
        self, status: FeedStatus | None, ex: ExchangeConfig, seen: dict[str, float], now: float
    ) -> list[float]:
        """When each data kind's age will cross its next threshold (if no data comes)."""
        if status is None or status.state == "paused":
            return []
        cfg = self.cfg
        out = []
        for kind in checks.watched_kinds(status, ex, cfg, seen):
            since = status.last_by_kind.get(kind) or seen.get(kind, now)
            for factor in (cfg.data_age_warning, cfg.data_age_critical):
                out.append(since + factor * ex.silent_timeout + 1e-3)
        return out

    def _drop_gone(self, data_names: set[str]) -> None:
        """Forget data/exchange checks of kinds or feeds that no longer run (a raised
        one is resolved: its Condition ends)."""
        feeds = {f"exchange:{ex.name}" for ex in self.rt.config.exchanges}
        for name in list(self.raw):
            gone = (name.startswith("data:") and name not in data_names) or (
                name.startswith("exchange:") and name not in feeds
            )
            if gone:
                del self.raw[name]
                held = self.hold.forget(name)
                if held is not None and held.status != "ok":
                    self._ended.append((name, held.status))

    def _actor_drops(self) -> tuple[int, str | None]:
        total, by_sub = 0, {}
        for sub, topics in self.rt.bus.drops().items():
            if sub.startswith(CLIENT_PREFIXES):
                continue
            n = sum(topics.values())
            total += n
            by_sub[sub] = n
        return total, (max(by_sub, key=by_sub.__getitem__) if by_sub else None)

    async def _probe_api(self) -> ApiProbe | None:
        http = self.rt.stats.get("http")
        if http is None or self.session is None:
            return None
        info = http()
        host = str(info.get("host") or "127.0.0.1")
        host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
        if ":" in host:
            host = f"[{host}]"
        return await probe_api(
            self.session, f"http://{host}:{info.get('port')}/health/quick", self.cfg.api_timeout
        )

    def _disk_dirs(self) -> list[Path]:
        state = self.rt.state_dir
        if not state.exists():  # the daemon's own directory: actors create it lazily
            state.mkdir(parents=True, exist_ok=True)
        dirs = [state]
        backup = backup_dir(self.rt.config)
        if backup is not None and backup.exists():
            dirs.append(backup)
        dirs.extend(Path(p).expanduser() for p in self.cfg.disk_paths)
        return list(dict.fromkeys(dirs))

    # --- outputs -------------------------------------------------------------------------

    async def _transition(self, change: Change) -> None:
        check = self.raw[change.name]
        self.history.append(
            HealthTransition(
                check=change.name,
                old=change.old,
                new=change.new,
                value=check.value,
                message=check.message,
                ts=change.ts,
            )
        )
        level = logging.INFO if change.new == "ok" else logging.WARNING
        log.log(
            level, "health %s: %s -> %s (%s)", change.name, change.old, change.new, check.message
        )
        await self._condition(change.name, change.new, change.old, check, change.ts)

    async def _condition(
        self,
        name: str,
        new: HealthStatus,
        old: HealthStatus,
        check: HealthCheck | None,
        ts: float,
    ) -> None:
        await self.rt.bus.publish(Topics.CONDITIONS, health_condition(name, new, old, check, ts))
        self.counters["conditions"] += 1

    def _publish(self, now: float, *, publish_bus: bool) -> None:
        report = build_report(counted_checks(self.raw, self.hold.held), self.history, now)
        summary = report.summary
        self.report = report
        rt = self.rt
        rt.views.publish(REPORT_VIEW, report)
        rt.views.publish(TRANSITIONS_VIEW, list(self.history))
        if publish_bus:
            rt.bus.publish_nowait(Topics.HEALTH, report)
        # again once the supervisor is ready: its READY=1 came with a STATUS of its own
        ready = rt.supervisor is not None and rt.supervisor.ready.is_set()
        if (summary, ready) != self._status_sent:
            self._status_sent = (summary, ready)
            self.summary = summary
            rt.notifier.status(summary)

    # --- the watchdog gate and stats ---------------------------------------------------

    def watchdog_reason(self) -> str | None:
        """Why ``WATCHDOG=1`` should be withheld now (None: send it)."""
        lag_ms = self.lag.last * 1000
        if lag_ms >= self.cfg.loop_lag_critical_ms:
            return f"event loop lag {lag_ms:.0f} ms >= {self.cfg.loop_lag_critical_ms:g} ms"
        return None

    def stats(self) -> dict[str, Any]:
        report = self.report
        sweeps = self.counters["sweeps"]
        return {
            "status": report.status if report else None,
            "summary": self.summary,
            "checks": len(self.raw),
            "sweeps": int(sweeps),
            "evaluations": int(self.counters["evaluations"]),
            "conditions": int(self.counters["conditions"]),
            "transitions": len(self.history),
            "sweep_cpu_ms": round(1000 * self.counters["sweep_cpu_seconds"] / sweeps, 3)
            if sweeps
            else None,
            "errors_logged": self.errors.count,
            "loop_lag_ms": round(self.lag.last * 1000, 3),
            "loop_lag_worst_ms": round(self.lag.worst() * 1000, 3),
        }


def backup_dir(config: Config) -> Path | None:
    """The backup directory, if the config names one (the backups section's owner
    decides its key; the usual spellings are tried) or ``<state_dir>/backups``."""
    for section_name in ("backup", "backups"):
        section = getattr(config, section_name, None)
        for key in ("dir", "directory", "path", "local_dir"):
            value = getattr(section, key, None) if section is not None else None
            if isinstance(value, str) and value:
                return Path(value).expanduser()
    from virtuoso_daemon.core.config import state_dir

    return state_dir(config) / "backups"
