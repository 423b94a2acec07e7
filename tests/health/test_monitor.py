"""The monitor in a real daemon: causes applied and removed move checks, each counted
transition is exactly one Condition, and the watchdog stops when it should."""

from __future__ import annotations

import logging
import time

import anyio
import anyio.abc
import msgspec

from tests.harness import MemcachedProcess, short_tmpdir, test_config
from tests.health.env import NotifyListener, health_env
from virtuoso_daemon.alerts.actor import AlertManagerActor
from virtuoso_daemon.core.bus import Topics
from virtuoso_daemon.core.messages import Alert
from virtuoso_daemon.core.runtime import Runtime
from virtuoso_daemon.core.supervisor import ActorSpec
from virtuoso_daemon.tickers.actor import TickerCacheActor

FAST = {"interval": 0.3, "confirm": 0.2, "recover": 0.5}


class AlwaysCrashes:
    name = "crasher"

    def __init__(self, runtime: Runtime) -> None:
        pass

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        task_status.started()
        await anyio.sleep(0.05)
        raise RuntimeError("boom")


async def test_an_actor_crashing_past_its_limit_is_one_critical_condition() -> None:
    cfg = test_config(health=FAST, supervisor={"intensity": 2, "backoff_initial": 0.01})
    specs = [ActorSpec("crasher", AlwaysCrashes)]
    async with health_env(cfg, specs) as env:
        check = await env.wait_status("actors", "critical", 10)
        assert "crasher: RuntimeError: boom" in check.message
        report = env.report()
        assert report is not None and report.status == "critical"
        await env.wait_for(lambda: env.health_conditions("health:actors"), 5, "the condition")
        seen = env.health_conditions("health:actors")
        [raised] = [c for c in seen if c.severity == "critical"]
        assert raised.active and raised.kind == "health"
        # more sweeps do not repeat it (repeating is the alert manager's job)
        sweeps = env.runtime.stats["health"]()["sweeps"]
        await env.wait_for(
            lambda: env.runtime.stats["health"]()["sweeps"] >= sweeps + 3, 5, "3 more sweeps"
        )
        assert len(env.health_conditions("health:actors")) == len(seen)


async def test_errors_logged_raise_the_error_rate_and_it_recovers() -> None:
    cfg = test_config(health={**FAST, "error_rate_warning": 3, "error_rate_critical": 1000})
    async with health_env(cfg) as env:
        await env.wait_status("error_rate", "ok", 5)
        for i in range(4):
            logging.getLogger("virtuoso.test").error("failure %d", i)
        check = await env.wait_status("error_rate", "warning", 5)
        assert check.value == 4 and "4 errors logged" in check.message
        [raised] = env.health_conditions("health:error_rate")
        assert raised.active and raised.severity == "warning"
        assert raised.values["value"] == 4 and raised.values["threshold"] == 3


async def test_a_tight_disk_threshold_is_a_warning_naming_the_state_dir() -> None:
    cfg = test_config(health={**FAST, "disk_free_warning_pct": 100.0})
    async with health_env(cfg) as env:
        check = await env.wait_status("disk", "warning", 5)
        assert str(env.runtime.state_dir) in check.message
        assert [c.severity for c in env.health_conditions("health:disk")] == ["warning"]


async def test_disk_thresholds_reloaded_move_the_disk_check_to_critical_and_back() -> None:
    tmp = short_tmpdir()
    cfg = test_config(tmp, health={**FAST, "disk_free_warning_pct": 100.0})
    path = tmp / "virtuoso.toml"

    async def reload(**disk: float) -> None:
        fast = "".join(f"{k} = {v}\n" for k, v in {**FAST, **disk}.items())
        path.write_text("[health]\n" + fast)
        await env.daemon.supervisor.reload_config()

    async with health_env(cfg) as env:
        env.runtime.config_path = path
        env.runtime.overrides = {k: v for k, v in msgspec.to_builtins(cfg).items() if k != "health"}
        await env.wait_status("disk", "warning", 5)
        await reload(disk_free_warning_pct=100.0, disk_free_critical_pct=100.0)
        await env.wait_status("disk", "critical", 5)
        await reload(disk_free_warning_pct=0.0, disk_free_critical_pct=0.0)  # only a full disk
        await env.wait_status("disk", "ok", 5)
        raised = [(c.severity, c.active) for c in env.health_conditions("health:disk")]
    assert raised == [("warning", True), ("critical", True), ("critical", False)]


async def test_memcached_stopped_goes_warning_then_critical_and_back(
    own_memcached: MemcachedProcess,
) -> None:
    cfg = test_config(memcached=own_memcached, health={**FAST, "cache_down_critical": 1.0})
    fast_reconnect = msgspec.structs.replace(
        cfg.memcached, reconnect_initial=0.05, reconnect_max=0.2
    )
    cfg = msgspec.structs.replace(cfg, memcached=fast_reconnect)
    async with health_env(cfg, [ActorSpec("ticker_cache", TickerCacheActor)]) as env:
        await env.wait_for(
            lambda: (env.runtime.views.value("cache.state") or {}).get("state") == "up", 10, "up"
        )
        own_memcached.stop()
        await env.wait_status("cache", "warning", 10)
        await env.wait_status("cache", "critical", 10)
        own_memcached.start()
        await env.wait_status("cache", "ok", 15)
        severities = [(c.severity, c.active) for c in env.health_conditions("health:cache")]
        assert severities == [("warning", True), ("critical", True), ("critical", False)]


async def test_a_blocked_event_loop_stops_the_watchdog_and_turns_the_loop_check_critical() -> None:
    notify = NotifyListener()
    try:
        cfg = test_config(health={**FAST, "loop_lag_critical_ms": 1000.0})
        async with health_env(cfg, notify=notify, watchdog_usec=200_000) as env:
            await env.wait_for(lambda: len(notify.times("WATCHDOG=1")) >= 3, 5, "pings")
            blocked_at = time.monotonic()
            time.sleep(1.5)  # the whole loop blocked, as a wedged actor would
            unblocked_at = time.monotonic()
            check = await env.wait_status("event_loop", "critical", 5)
            assert check.value is not None and float(check.value) >= 1400
            pings = notify.times("WATCHDOG=1", since=blocked_at + 0.05)
            assert not [t for t in pings if t < unblocked_at]
            await env.wait_for(lambda: notify.times("WATCHDOG=1", since=unblocked_at), 5, "again")
            statuses = [line for _, line in notify.lines if line.startswith("STATUS=critical")]
            assert any("event_loop" in line for line in statuses)
    finally:
        notify.close()


async def test_the_event_loop_check_returns_to_ok_once_the_lag_is_out_of_its_window() -> None:
    window = 1.0  # the lag is remembered this long (30 s by default)
    cfg = test_config(health={**FAST, "loop_lag_critical_ms": 1000.0, "loop_lag_window": window})
    async with health_env(cfg) as env:
        await env.wait_status("event_loop", "ok", 5)
        time.sleep(1.5)  # the whole loop blocked, as a wedged actor would
        unblocked_at = time.monotonic()
        await env.wait_status("event_loop", "critical", 5)
        check = await env.wait_status("event_loop", "ok", 10)
        assert time.monotonic() - unblocked_at >= window  # not before the lag left the window
        assert check.value is not None and float(check.value) < 250
        raised = [(c.severity, c.active) for c in env.health_conditions("health:event_loop")]
        assert raised == [("critical", True), ("critical", False)]


async def test_a_failed_actor_withholds_the_watchdog() -> None:
    notify = NotifyListener()
    try:
        cfg = test_config(health=FAST, supervisor={"intensity": 1, "backoff_initial": 0.01})
        async with health_env(cfg, [ActorSpec("crasher", AlwaysCrashes)], notify=notify) as env:
            await env.wait_for(
                lambda: env.daemon.supervisor.runners["crasher"].state == "failed", 10, "failed"
            )
            failed_at = time.monotonic()
            await env.wait_status("actors", "critical", 5)
            assert not notify.times("WATCHDOG=1", since=failed_at + 0.15)
            assert env.daemon.supervisor.watchdog_withheld() == "actor(s) failed: crasher"
    finally:
        notify.close()


async def test_health_transitions_become_alerts_through_the_alert_manager(
    own_memcached: MemcachedProcess,
) -> None:
    """The whole path: memcached stopped and started again is one alert firing, then
    escalated, then resolved (the alert manager's lifecycle, not the monitor's)."""
    cfg = test_config(memcached=own_memcached, health={**FAST, "cache_down_critical": 1.0})
    fast = msgspec.structs.replace(cfg.memcached, reconnect_initial=0.05, reconnect_max=0.2)
    cfg = msgspec.structs.replace(cfg, memcached=fast)
    specs = [ActorSpec("alerts", AlertManagerActor), ActorSpec("ticker_cache", TickerCacheActor)]
    async with health_env(cfg, specs) as env:
        with env.runtime.bus.subscribe(Topics.ALERTS, name="test", maxsize=1000) as alerts:
            await env.wait_for(
                lambda: (env.runtime.views.value("cache.state") or {}).get("state") == "up",
                10,
                "up",
            )
            own_memcached.stop()
            await env.wait_status("cache", "critical", 10)
            own_memcached.start()
            await env.wait_status("cache", "ok", 15)
            seen: list[Alert] = []

            def resolved() -> bool:
                while True:
                    try:
                        seen.append(alerts.receive_nowait())
                    except anyio.WouldBlock:
                        break
                return any(a.key == "health:cache" and a.event == "resolved" for a in seen)

            await env.wait_for(resolved, 5, "the resolution")
        events = [(a.event, a.severity) for a in seen if a.key == "health:cache"]
        assert events == [
            ("firing", "warning"),
            ("escalated", "critical"),
            ("resolved", "critical"),
        ]
        assert all(a.kind == "health" for a in seen if a.key == "health:cache")
