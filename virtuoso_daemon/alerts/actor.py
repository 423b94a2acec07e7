"""The alert manager actor: Conditions in, alerts stored, published, grouped, delivered.

It alone turns the :class:`~virtuoso_daemon.core.messages.Condition` s that detectors
and the health monitor publish on ``Topics.CONDITIONS`` into alerts
(:mod:`.lifecycle`). For every change, in this order:

1. the alert and a notification per matching destination are committed to SQLite
   (:mod:`.store`);
2. the alert is published on ``Topics.ALERTS`` (socket subscribers, the SSE stream);
3. the notifications join their delivery groups (:mod:`.grouping`); a due group
   becomes one outbox message and its destination's courier (:mod:`.delivery`) is
   poked.

Delivery never runs in this task: a hung receiver delays only its own courier. On
start it reloads the firing alerts and silences (a condition still true after a
restart does not fire again), regroups notifications that were not in a message yet,
and the couriers resume the pending messages.

Feed state (``Topics.FEED_STATUS``) drives the inhibition rule; a tick every
``alerts.tick`` seconds sends repeats, ends silences, flushes groups and, hourly,
applies retention. ``clock`` is the manager's time (a test may pass a fake one);
delivery retries use the wall clock.

A config reload (:meth:`AlertManagerActor.reconfigure`) takes ``[alerts]`` live,
destinations included; what is owed to a destination no longer configured is marked
``dropped`` (docs/alerts.md), at start and once a reload is done (``Topics.CONFIG``).

Requests on ``Topics.ALERT_COMMANDS`` (:mod:`.requests`): list, get (with delivery
state per destination), ack, silence, silences, unsilence. ``runtime.stats["alerts"]``
counts conditions, fired, resolved, muted, delivered and failed per destination.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections import Counter
from collections.abc import Callable
from typing import Any, ClassVar

import aiohttp
import anyio
import anyio.abc
import msgspec

from virtuoso_daemon.alerts.delivery import Courier
from virtuoso_daemon.alerts.grouping import Grouper
from virtuoso_daemon.alerts.lifecycle import Change, Lifecycle, Silence, severity_at_least
from virtuoso_daemon.alerts.requests import (
    AckAlert,
    AddSilence,
    GetAlert,
    ListAlerts,
    ListSilences,
    RemoveSilence,
)
from virtuoso_daemon.alerts.store import FILENAME, AlertFilter, AlertStore
from virtuoso_daemon.core.bus import Request, Subscription, Topics
from virtuoso_daemon.core.config import AlertDestination, Config
from virtuoso_daemon.core.messages import Alert, Condition, ConfigReloaded, FeedStatus
from virtuoso_daemon.core.runtime import Runtime

log = logging.getLogger("virtuoso.alerts")

CONDITION_QUEUE = 4096  # lossless: a burst of conditions waits here, never dropped
PRUNE_EVERY = 3600.0  # s between retention passes


class AlertManagerActor:
    """See the module docstring."""

    name = "alerts"
    config_sections: ClassVar[tuple[str, ...]] = ("alerts",)

    def __init__(self, runtime: Runtime, *, clock: Callable[[], float] = time.time) -> None:
        self.runtime = runtime
        self.clock = clock
        cfg = runtime.config.alerts
        self.cfg = cfg
        self.lifecycle = Lifecycle(
            repeat_interval=cfg.repeat_interval,
            group_by=cfg.group_by,
            inhibit_feed_down=cfg.inhibit_feed_down,
        )
        self.grouper = Grouper(cfg.group_wait, cfg.group_interval)
        self.store: AlertStore | None = None
        self.couriers: dict[str, Courier] = {}
        self.counts: Counter[str] = Counter()
        self.last_tick: float | None = None
        self.latency_ms: float | None = None  # condition ts -> alert published, newest
        self.latency_max_ms = 0.0
        self._last_prune = 0.0
        self.dropped: Counter[str] = Counter()  # messages dropped, per destination
        # set while running: where couriers run, and how to stop one
        self._tg: anyio.abc.TaskGroup | None = None
        self._session: aiohttp.ClientSession | None = None
        self._stops: dict[str, tuple[anyio.CancelScope, anyio.Event]] = {}

    async def reconfigure(self, config: Config) -> None:
        cfg = config.alerts
        self.cfg = cfg
        self.lifecycle.repeat_interval = cfg.repeat_interval
        self.lifecycle.group_by = tuple(cfg.group_by)
        self.lifecycle.inhibit_feed_down = cfg.inhibit_feed_down
        self.grouper.group_wait = cfg.group_wait
        self.grouper.group_interval = cfg.group_interval
        if self._tg is not None:
            await self._reconcile_destinations()
        log.info("alerts reconfigured; destinations: %s", ", ".join(self.couriers) or "none")

    async def _reconcile_destinations(self) -> None:
        """Make the running couriers match ``self.cfg.destinations``: stop the removed
        or disabled ones, start the added ones, hand a changed one its new settings (and
        retry its pending messages at once). What the stopped ones were owed is dropped
        only once the reload is done (:meth:`_reloads`): a reload rolled back because
        another actor could not apply it hands the old config back, and the courier
        restarted then still finds its messages pending."""
        assert self.store is not None
        configured = {d.name: d for d in self.cfg.destinations}
        for name in list(self.couriers):
            dest = configured.get(name)
            if dest is None or not dest.enabled:
                await self._stop_courier(name)
        for name, dest in configured.items():
            courier = self.couriers.get(name)
            if not dest.enabled:
                continue
            if courier is None:
                self._start_courier(dest)
            elif courier.dest != dest:
                courier.dest = dest
                self.store.retry_now(name, time.time())
                courier.poke()

    def _start_courier(self, dest: AlertDestination) -> None:
        assert self._tg is not None and self._session is not None and self.store is not None
        courier = Courier(dest, self.store, self._session)
        scope, done = anyio.CancelScope(), anyio.Event()
        self.couriers[dest.name] = courier
        self._stops[dest.name] = (scope, done)
        self._tg.start_soon(self._run_courier, courier, scope, done, name=f"alerts:{dest.name}")

    @staticmethod
    async def _run_courier(courier: Courier, scope: anyio.CancelScope, done: anyio.Event) -> None:
        try:
            with scope:
                await courier.run()
        finally:
            done.set()

    async def _stop_courier(self, name: str) -> None:
        """Cancel one courier and wait for it to end (a message in flight is
        abandoned: the receiver may have it, at least once allows that)."""
        del self.couriers[name]
        scope, done = self._stops.pop(name)
        scope.cancel()
        with anyio.move_on_after(5.0):
            await done.wait()

    def _drop_unconfigured(self, when: str) -> None:
        """Drop what is owed to destinations that are not configured and enabled now."""
        assert self.store is not None
        configured = {d.name: d for d in self.cfg.destinations}
        owed = self.store.owed_destinations() | self.grouper.destinations()
        for name in sorted(owed - {n for n, d in configured.items() if d.enabled}):
            why = "disabled" if name in configured else "removed"
            self._drop(name, f"destination {why} {when}")

    async def _reloads(self, sub: Subscription[ConfigReloaded]) -> None:
        async for event in sub:
            if "alerts" in event.sections:
                self._drop_unconfigured("by a config reload")

    def _drop(self, name: str, reason: str) -> None:
        """Everything owed to a destination that is no longer configured is marked
        dropped with ``reason`` (docs/alerts.md): no courier will ever send it."""
        assert self.store is not None
        self.grouper.forget(name)
        n = self.store.drop_destination(name, reason, time.time())
        if n:
            self.dropped[name] += n
            log.warning("alerts: %d message(s) for %s dropped: %s", n, name, reason)

    def stats(self) -> dict[str, Any]:
        outbox = self.store.outbox_counts() if self.store is not None else {}
        return {
            **dict(self.counts),
            "open": len(self.lifecycle.open),
            "silences": len(self.lifecycle.silences),
            # gauges that are not counters go in a table (/metrics counts the top level)
            "now": {
                "grouping": self.grouper.pending(),
                "feeds_down": sorted(self.lifecycle.feeds_down),
            },
            "last_tick": self.last_tick,
            "latency_ms": self.latency_ms,
            "latency_max_ms": self.latency_max_ms,
            "destinations": {
                name: {**c.stats(), "outbox": outbox.get(name, {})}
                for name, c in self.couriers.items()
            },
            # messages given up because their destination is no longer configured
            "dropped": dict(self.dropped),
        }

    # -- running -----------------------------------------------------------------------

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        rt = self.runtime
        store = self.store = AlertStore(rt.state_dir / FILENAME)
        now = self.clock()
        self.lifecycle.restore(store.open_alerts(), store.silences(now))
        self._drop_unconfigured("(not configured at start)")
        for dest_name, group, nid in store.ungrouped():
            self.grouper.add(dest_name, group, nid, now)
        conditions = rt.bus.subscribe(Topics.CONDITIONS, name=self.name, maxsize=CONDITION_QUEUE)
        feeds = rt.bus.subscribe(Topics.FEED_STATUS, name=self.name)
        commands = rt.bus.subscribe(Topics.ALERT_COMMANDS, name=self.name)
        reloads = rt.bus.subscribe(Topics.CONFIG, name=self.name)
        try:
            async with aiohttp.ClientSession() as session, anyio.create_task_group() as tg:
                self._tg, self._session = tg, session
                for dest in self.cfg.destinations:
                    if dest.enabled:
                        self._start_courier(dest)
                tg.start_soon(self._conditions, conditions)
                tg.start_soon(self._feeds, feeds)
                tg.start_soon(self._commands, commands)
                tg.start_soon(self._reloads, reloads)
                tg.start_soon(self._ticks)
                rt.stats["alerts"] = self.stats
                log.info(
                    "alert manager: %d open alerts, %d silences, destinations: %s",
                    len(self.lifecycle.open),
                    len(self.lifecycle.silences),
                    ", ".join(self.couriers) or "none",
                )
                task_status.started()
        finally:
            self._tg = self._session = None
            self.couriers.clear()
            self._stops.clear()
            for sub in (conditions, feeds, commands, reloads):
                sub.close()
            store.close()
            self.store = None

    async def _conditions(self, sub: Subscription[Condition]) -> None:
        async for cond in sub:
            now = self.clock()
            change = self.lifecycle.on_condition(cond, now)
            if change is not None:
                await self._apply(change, now)
                self._observe_latency(cond)
            self._flush(now)
            self.counts["conditions"] += 1  # handled

    def _observe_latency(self, cond: Condition) -> None:
        ms = (time.time() - cond.ts) * 1000.0
        if 0 <= ms < 86_400_000:  # a condition stamped in another clock tells nothing
            self.latency_ms = ms
            self.latency_max_ms = max(self.latency_max_ms, ms)

    async def _feeds(self, sub: Subscription[FeedStatus]) -> None:
        async for status in sub:
            self.lifecycle.set_feed(status.exchange, status.state == "down")

    async def _ticks(self) -> None:
        while True:
            await anyio.sleep(self.cfg.tick)
            await self.tick()

    async def tick(self) -> None:
        """Repeats, ended mutes, ended silences, due groups, retention."""
        now = self.clock()
        for change in self.lifecycle.tick(now):
            await self._apply(change, now)
        self.lifecycle.expire_silences(now)
        self._flush(now)
        if self.store is not None and now - self._last_prune >= PRUNE_EVERY:
            self._last_prune = now
            pruned = self.store.prune(now - self.cfg.retention_days * 86400.0)
            if pruned:
                log.info("alerts: retention removed %d resolved alerts", pruned)
        self.last_tick = now

    def _destinations(self, alert: Alert) -> list[str]:
        return [
            d.name
            for d in self.cfg.destinations
            if d.enabled
            and d.name in self.couriers
            and severity_at_least(alert.severity, d.min_severity)
            and (not d.kinds or alert.kind in d.kinds)
        ]

    async def _apply(self, change: Change, now: float) -> None:
        """Store, then publish, then group (the module docstring's order)."""
        assert self.store is not None
        alert = change.alert
        owed = self._destinations(alert) if change.notify else []
        notifications = self.store.record(alert, owed)
        if change.notify:
            self.counts["resolved" if alert.status == "resolved" else "fired"] += 1
        elif alert.muted is not None and alert.event in ("firing", "escalated"):
            self.counts["muted"] += 1
        await self.runtime.bus.publish(Topics.ALERTS, alert)
        for dest, nid in notifications:
            self.grouper.add(dest, alert.group_key, nid, now)

    def _flush(self, now: float) -> None:
        if self.store is None:
            return
        for dest, group, ids in self.grouper.due(now):
            self.store.make_message(dest, group, ids, time.time())
            self.counts["messages"] += 1
            courier = self.couriers.get(dest)
            if courier is not None:
                courier.poke()

    # -- requests ----------------------------------------------------------------------

    async def _commands(self, sub: Subscription[Request]) -> None:
        async for req in sub:
            try:
                await self._answer(req)
            except Exception as exc:
                log.exception("alerts: request %s failed", req.command)
                req.fail("internal", f"{req.command}: {exc}")

    async def _answer(self, req: Request) -> None:
        store = self.store
        assert store is not None
        now = self.clock()
        match req.body:
            case ListAlerts() as q:
                f = AlertFilter(q.kind, q.severity, q.symbol, q.exchange, q.status, q.since)
                total, page = store.query(f, q.limit, q.offset)
                nxt = q.offset + len(page)
                req.reply(
                    {
                        "total": total,
                        "offset": q.offset,
                        "limit": q.limit,
                        "next_offset": nxt if nxt < total else None,
                        "alerts": msgspec.to_builtins(page),
                    }
                )
            case GetAlert(id=alert_id):
                alert = store.get(alert_id)
                if alert is None:
                    req.fail("unknown_alert", f"no alert with id {alert_id!r}")
                    return
                req.reply(
                    {"alert": msgspec.to_builtins(alert), "deliveries": store.deliveries(alert_id)}
                )
            case AckAlert(id=alert_id, by=by):
                alert = store.get(alert_id)
                if alert is None:
                    req.fail("unknown_alert", f"no alert with id {alert_id!r}")
                    return
                if alert.acked_ts is None:
                    current = self.lifecycle.open.get(alert.key)
                    if current is not None and current.id == alert.id:
                        alert = current  # the in-memory state is the newest
                    alert = self.lifecycle.acknowledge(alert, now, by or "operator")
                    await self._apply(Change(alert, notify=False), now)
                    self.counts["acknowledged"] += 1
                req.reply({"alert": msgspec.to_builtins(alert)})
            case AddSilence() as s:
                silence = Silence(
                    id=secrets.token_hex(6),
                    kind=s.kind,
                    symbol=s.symbol,
                    exchange=s.exchange,
                    starts=now,
                    ends=now + s.duration,
                    comment=s.comment,
                    created_by=s.by or "operator",
                )
                store.save_silence(silence)
                self.lifecycle.add_silence(silence)
                req.reply({"silence": msgspec.to_builtins(silence)})
            case ListSilences(all=everything):
                found = store.silences(None if everything else now)
                req.reply({"silences": msgspec.to_builtins(found)})
            case RemoveSilence(id=silence_id):
                known = {s.id: s for s in store.silences(now)}
                if silence_id not in known:
                    req.fail("unknown_silence", f"no active silence with id {silence_id!r}")
                    return
                ended = msgspec.structs.replace(known[silence_id], ends=now)
                store.save_silence(ended)
                self.lifecycle.remove_silence(silence_id)
                req.reply({"silence": msgspec.to_builtins(ended)})
            case _:
                req.fail("bad_request", f"alerts cannot answer {req.command!r}")
