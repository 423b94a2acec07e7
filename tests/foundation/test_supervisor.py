"""Supervisor: dependency order, one-for-one restarts with backoff, restart intensity."""

from __future__ import annotations

import time

import aiohttp
import anyio
import anyio.abc
import pytest

from tests.harness import running_daemon, test_config
from virtuoso_daemon.core.bus import Topics
from virtuoso_daemon.core.messages import ActorEvent
from virtuoso_daemon.core.runtime import Runtime
from virtuoso_daemon.core.supervisor import ActorSpec, StartTimeout, Supervisor
from virtuoso_daemon.core.systemd import Notifier
from virtuoso_daemon.http.server import HttpApiActor


class Crashy:
    """Raises during its first ``crashes`` runs, then serves forever."""

    name = "crashy"
    runs = 0
    run_times: list[float] = []

    def __init__(self, runtime: Runtime, crashes: int) -> None:
        self.crashes = crashes

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        Crashy.runs += 1
        Crashy.run_times.append(time.monotonic())
        task_status.started()
        if Crashy.runs <= self.crashes:
            raise RuntimeError(f"boom {Crashy.runs}")
        await anyio.sleep_forever()


class Recorder:
    """Records the order in which actors become ready."""

    order: list[str] = []

    def __init__(self, name: str) -> None:
        self.name = name

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        await anyio.sleep(0.01)
        Recorder.order.append(self.name)
        task_status.started()
        await anyio.sleep_forever()


async def test_actors_start_in_dependency_order() -> None:
    Recorder.order = []
    specs = [
        ActorSpec("api", lambda rt: Recorder("api"), depends_on=("store", "cache")),
        ActorSpec("cache", lambda rt: Recorder("cache"), depends_on=("store",)),
        ActorSpec("store", lambda rt: Recorder("store")),
    ]
    async with running_daemon(test_config(), specs):
        assert Recorder.order == ["store", "cache", "api"]


async def test_crashing_actor_is_restarted_with_backoff_and_counted() -> None:
    Crashy.runs, Crashy.run_times = 0, []
    cfg = test_config(supervisor={"backoff_initial": 0.1, "backoff_max": 1.0, "intensity": 5})
    async with running_daemon(cfg, [ActorSpec("crashy", lambda rt: Crashy(rt, crashes=3))]) as d:
        with anyio.fail_after(10):
            while d.supervisor.runners["crashy"].state != "running" or Crashy.runs < 4:
                await anyio.sleep(0.01)
        runner = d.supervisor.runners["crashy"]
        assert runner.restarts == 3
        assert runner.last_error == "RuntimeError: boom 3"
        gaps = [b - a for a, b in zip(Crashy.run_times, Crashy.run_times[1:], strict=False)]
        # backoff doubles per consecutive crash: 0.1, 0.2, 0.4 s, each with +-50 % jitter
        for gap, base in zip(gaps, [0.1, 0.2, 0.4], strict=True):
            assert 0.5 * base <= gap <= 1.5 * base + 0.1


async def test_actor_past_restart_intensity_is_failed_while_others_keep_serving() -> None:
    Crashy.runs, Crashy.run_times = 0, []
    cfg = test_config(
        supervisor={"backoff_initial": 0.01, "backoff_max": 0.02, "intensity": 3, "period": 60}
    )
    events: list[ActorEvent] = []
    specs = [
        ActorSpec("http_api", HttpApiActor),
        ActorSpec("crashy", lambda rt: Crashy(rt, crashes=10**6)),
    ]
    async with running_daemon(cfg, specs) as d:
        with d.runtime.bus.subscribe(Topics.LIFECYCLE, name="test", maxsize=1000) as sub:
            with anyio.fail_after(10):
                while d.supervisor.runners["crashy"].state != "failed":
                    await anyio.sleep(0.01)
            while sub.pending():
                events.append(sub.receive_nowait())
        assert Crashy.runs == 4  # intensity 3: the 4th crash inside the period is fatal
        assert ActorEvent is type(events[-1]) and events[-1].state == "failed"
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{d.base_url}/health/quick") as resp:
                assert resp.status == 200
            async with http.get(f"{d.base_url}/api/system/status") as resp:
                actors = {a["name"]: a for a in (await resp.json())["actors"]}
        assert actors["crashy"]["state"] == "failed"
        assert actors["crashy"]["restarts"] == 3
        assert actors["http_api"]["state"] == "running"


async def test_cancellation_is_not_treated_as_a_crash() -> None:
    Recorder.order = []
    async with running_daemon(test_config(), [ActorSpec("a", lambda rt: Recorder("a"))]) as d:
        d.supervisor.request_shutdown()
        with anyio.fail_after(2):
            while d.supervisor.runners["a"].state == "running":
                await anyio.sleep(0.01)
    assert d.supervisor.runners["a"].restarts == 0


class NeverStarts:
    """Waits forever before it would report started (a stuck connect, say)."""

    name = "stuck"

    def __init__(self, runtime: Runtime) -> None:
        pass

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        await self.wait_for_something_that_never_comes()
        task_status.started()

    async def wait_for_something_that_never_comes(self) -> None:
        await anyio.sleep_forever()


def _flatten(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [e for sub in exc.exceptions for e in _flatten(sub)]
    return [exc]


async def test_an_actor_that_never_starts_fails_the_start_with_its_stack_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    cfg = test_config(supervisor={"start_timeout": 0.3})
    runtime = Runtime(config=cfg, notifier=Notifier(environ={}))
    sup = Supervisor(runtime, [ActorSpec("stuck", NeverStarts)])
    with anyio.fail_after(5), pytest.raises(BaseException) as raised:
        await sup.run()
    errors = [e for e in _flatten(raised.value) if isinstance(e, StartTimeout)]
    assert [str(e) for e in errors] == ["actor stuck did not start within 0.3s"]
    logged = "\n".join(r.getMessage() for r in caplog.records if r.levelname == "ERROR")
    assert "actor stuck did not report started within 0.3s" in logged
    assert "wait_for_something_that_never_comes" in logged  # where it is stuck
    assert not sup.ready.is_set()
