"""A config reload of ``[alerts]`` (``config.reload``, what ``virtuoso-ctl config
reload`` sends): destinations added, removed and changed take effect at once, and a
bad value is refused all or nothing, naming the key. Messages still owed to a
destination that a reload removed are marked ``dropped`` with the reason, visible in
the alert's deliveries and on ``/metrics`` (they used to stay pending forever)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, ClassVar

import aiohttp
import anyio
import anyio.abc
import msgspec
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.alerts.helpers import (
    Receiver,
    alert_specs,
    condition,
    manager,
    publish,
    receivers,
    running_daemon,
    wait_until,
    webhook,
)
from tests.harness import DaemonHandle, short_tmpdir, test_config
from virtuoso_daemon.core.config import Config
from virtuoso_daemon.core.supervisor import ActorSpec
from virtuoso_daemon.protocol import CommandError, ControlClient

FAST = {"group_wait": 0.0, "group_interval": 0.0, "tick": 0.02}
STUCK = {"backoff_initial": 600.0, "backoff_max": 600.0}  # one failed attempt, then waits


def _toml_value(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return msgspec.json.encode(value).decode()  # strings, numbers, booleans: valid TOML


def write_alerts(path: Path, destinations: Sequence[dict[str, Any]], **settings: Any) -> None:
    """The config file, with an ``[alerts]`` section only (the rest stays overridden)."""
    lines = ["[alerts]"]
    for key, value in {**FAST, **settings, "destinations": list(destinations)}.items():
        lines.append(f"{key} = {_toml_value(value)}")
    path.write_text("\n".join(lines) + "\n")


@asynccontextmanager
async def daemon(
    destinations: Sequence[dict[str, Any]], *, http: bool = False, **settings: Any
) -> AsyncIterator[tuple[DaemonHandle, ControlClient, Path]]:
    """A daemon with the alert manager and the socket whose config file says
    ``destinations``; every other section is fixed by overrides (as the CLI's are)."""
    tmp = short_tmpdir()
    path = tmp / "virtuoso.toml"
    write_alerts(path, destinations, **settings)
    cfg = test_config(tmp, alerts={**FAST, **settings, "destinations": list(destinations)})
    async with running_daemon(cfg, alert_specs(control=True, http=http)) as d:
        d.runtime.config_path = path
        d.runtime.overrides = {k: v for k, v in msgspec.to_builtins(cfg).items() if k != "alerts"}
        async with ControlClient.connect(d.runtime.socket_path) as ctl:
            yield d, ctl, path


async def deliveries(ctl: ControlClient, alert_id: str) -> dict[str, dict[str, Any]]:
    """The newest delivery state of one alert, by destination."""
    doc = await ctl.call("alerts.get", id=alert_id)
    return {row["destination"]: row for row in doc["deliveries"]}


def alert_id(d: DaemonHandle, symbol: str) -> str:
    return next(a.id for a in manager(d).lifecycle.open.values() if a.symbol == symbol)


async def test_a_reload_starts_an_added_destination_and_stops_a_removed_one() -> None:
    old, new = Receiver(), Receiver()
    async with receivers(old, new), daemon([webhook("old", old)]) as (d, ctl, path):
        await publish(d, condition("BTC/USDT"))
        await wait_until(lambda: len(old.received) == 1)

        write_alerts(path, [webhook("new", new)])
        result = await ctl.call("config.reload")
        assert result == {"changed": ["alerts"], "restart_required": []}

        await publish(d, condition("ETH/USDT"))
        await wait_until(lambda: len(new.received) == 1)
        assert set(manager(d).couriers) == {"new"}
        assert set(await deliveries(ctl, alert_id(d, "ETH/USDT"))) == {"new"}
    assert [a["symbol"] for r in old.received for a in r.body["alerts"]] == ["BTC/USDT"]
    assert [a["symbol"] for r in new.received for a in r.body["alerts"]] == ["ETH/USDT"]


async def test_a_changed_destination_sends_its_pending_messages_to_the_new_url() -> None:
    broken, fixed = Receiver(default=500), Receiver()
    async with (
        receivers(broken, fixed),
        daemon([webhook("hook", broken, **STUCK)]) as (d, ctl, path),
    ):
        await publish(d, condition("BTC/USDT"))
        await wait_until(lambda: manager(d).couriers["hook"].retries == 1)

        write_alerts(path, [webhook("hook", fixed, **STUCK)])
        await ctl.call("config.reload")
        # the backoff still has ten minutes to run: a changed destination is a reason to
        # try again at once, as a restart is
        await wait_until(lambda: len(fixed.received) == 1)
        state = (await deliveries(ctl, alert_id(d, "BTC/USDT")))["hook"]
    assert state["state"] == "delivered" and state["attempts"] == 2


async def test_one_reload_adds_removes_and_reroutes_destinations_together() -> None:
    """One reload that adds a destination, removes one and changes the route (the
    ``kinds`` filter) of a third: every part applies to the next alert."""
    old, new, moves = Receiver(), Receiver(), Receiver()
    before = [webhook("old", old), webhook("moves", moves, kinds=["price_move"])]
    async with receivers(old, new, moves), daemon(before) as (d, ctl, path):
        write_alerts(path, [webhook("new", new), webhook("moves", moves, kinds=["volume_spike"])])
        assert (await ctl.call("config.reload"))["changed"] == ["alerts"]

        await publish(d, condition("BTC/USDT", kind="price_move"))
        await publish(d, condition("ETH/USDT", kind="volume_spike"))
        await wait_until(lambda: len(new.received) == 2 and len(moves.received) == 1)
        routed = {
            symbol: set(await deliveries(ctl, alert_id(d, symbol)))
            for symbol in ("BTC/USDT", "ETH/USDT")
        }
    assert routed == {"BTC/USDT": {"new"}, "ETH/USDT": {"new", "moves"}}
    assert [a["kind"] for r in moves.received for a in r.body["alerts"]] == ["volume_spike"]
    assert old.attempts == 0


@pytest.mark.parametrize(
    ("bad", "key"),
    [
        ({"repeat_interval": 0}, "alerts.repeat_interval"),
        ({"webhook_url": "ftp://example.com/hook"}, "alerts.destinations[1].webhook_url"),
        ({"rate_limit": -1}, "alerts.destinations[1].rate_limit"),
    ],
)
async def test_a_bad_alerts_value_is_refused_naming_the_key_and_nothing_changes(
    bad: dict[str, Any], key: str
) -> None:
    old, new = Receiver(), Receiver()
    async with receivers(old, new), daemon([webhook("old", old)]) as (d, ctl, path):
        running: Config | None = d.runtime.config
        added = webhook("new", new)
        settings = {}
        if "repeat_interval" in bad:
            settings = bad
        else:
            added.update(bad)
        write_alerts(path, [webhook("old", old), added], **settings)
        with pytest.raises(CommandError) as err:
            await ctl.call("config.reload")
        assert err.value.code == "config_error"
        assert key in err.value.message

        assert d.runtime.config is running
        assert set(manager(d).couriers) == {"old"}  # the valid new destination did not start
        await publish(d, condition("BTC/USDT"))
        await wait_until(lambda: len(old.received) == 1)
        assert set(await deliveries(ctl, alert_id(d, "BTC/USDT"))) == {"old"}
    assert new.attempts == 0


async def test_messages_owed_to_a_removed_destination_are_dropped_with_the_reason() -> None:
    down, up = Receiver(default=500), Receiver()
    async with (
        receivers(down, up),
        daemon([webhook("down", down, **STUCK), webhook("up", up)], http=True) as (d, ctl, path),
    ):
        await publish(d, condition("BTC/USDT"))
        await wait_until(lambda: manager(d).couriers["down"].retries == 1)
        assert len(up.received) == 1

        write_alerts(path, [webhook("up", up)])
        await ctl.call("config.reload")
        await wait_until(lambda: manager(d).dropped == {"down": 1})  # once the reload is done
        state = await deliveries(ctl, alert_id(d, "BTC/USDT"))
        async with aiohttp.ClientSession() as http, http.get(d.base_url + "/metrics") as resp:
            text = await resp.text()
        status = await ctl.call("status")
    assert state["up"]["state"] == "delivered"
    assert state["down"]["state"] == "dropped"
    assert "removed" in state["down"]["last_error"]
    assert down.attempts == 1  # never tried again
    assert status["stats"]["alerts"]["dropped"] == {"down": 1}
    samples = {
        (s.labels["destination"], s.labels["outcome"]): s.value
        for family in text_string_to_metric_families(text)
        if family.name == "virtuoso_alert_deliveries"
        for s in family.samples
        if s.name.endswith("_total")
    }
    assert samples[("down", "dropped")] == 1
    assert samples[("up", "delivered")] == 1


async def test_a_notification_still_grouping_for_a_removed_destination_is_dropped() -> None:
    gone, kept = Receiver(), Receiver()
    wait = {"group_wait": 3600.0}  # nothing leaves its group during the test
    async with (
        receivers(gone, kept),
        daemon([webhook("gone", gone), webhook("kept", kept)], **wait) as (d, ctl, path),
    ):
        await publish(d, condition("BTC/USDT"))
        await wait_until(lambda: manager(d).grouper.pending() == 2)

        write_alerts(path, [webhook("kept", kept)], **wait)
        await ctl.call("config.reload")
        await wait_until(lambda: manager(d).dropped == {"gone": 1})
        state = await deliveries(ctl, alert_id(d, "BTC/USDT"))
        grouping = manager(d).grouper.pending()
    assert state["gone"]["state"] == "dropped"
    assert state["kept"]["state"] == "grouping"
    assert grouping == 1
    assert gone.attempts == 0


async def test_messages_owed_to_a_destination_gone_from_the_config_are_dropped_on_start() -> None:
    tmp = short_tmpdir()
    down = Receiver(default=500)

    def config(*dests: dict[str, Any]) -> Config:
        return test_config(tmp, alerts={**FAST, "destinations": list(dests)})

    async with receivers(down):
        async with running_daemon(config(webhook("down", down, **STUCK)), alert_specs()) as d:
            await publish(d, condition("BTC/USDT"))
            await wait_until(lambda: manager(d).couriers["down"].retries == 1)
            aid = alert_id(d, "BTC/USDT")
        async with running_daemon(config(), alert_specs()) as d:
            store = manager(d).store
            assert store is not None
            state = {row["destination"]: row for row in store.deliveries(aid)}
            stats = manager(d).stats()
    assert state["down"]["state"] == "dropped"
    assert "not configured" in state["down"]["last_error"]
    assert stats["dropped"] == {"down": 1}
    assert down.attempts == 1


class FailsToApplyStore:
    """Owns [store] and fails to apply it: the reload is rolled back after the alert
    manager already took its part."""

    name = "store_owner"
    config_sections: ClassVar[tuple[str, ...]] = ("store",)

    def __init__(self, runtime: Any) -> None:
        pass

    async def run(self, *, task_status: anyio.abc.TaskStatus[None]) -> None:
        task_status.started()
        await anyio.sleep_forever()

    async def reconfigure(self, config: Config) -> None:
        if config.store.trades == 9:
            raise RuntimeError("ran out of something")


async def test_a_reload_rolled_back_drops_nothing_and_keeps_the_destination() -> None:
    tmp = short_tmpdir()
    path = tmp / "virtuoso.toml"
    down = Receiver(script=[(500, {})])  # the first attempt fails, the next is taken

    def specs(rt: Any) -> list[ActorSpec]:
        return [*alert_specs(control=True)(rt), ActorSpec("store_owner", FailsToApplyStore)]

    async with receivers(down):
        cfg = test_config(tmp, alerts={**FAST, "destinations": [webhook("down", down, **STUCK)]})
        async with (
            running_daemon(cfg, specs) as d,
            ControlClient.connect(d.runtime.socket_path) as ctl,
        ):
            d.runtime.config_path = path
            d.runtime.overrides = {
                k: v for k, v in msgspec.to_builtins(cfg).items() if k not in ("alerts", "store")
            }
            await publish(d, condition("BTC/USDT"))
            await wait_until(lambda: manager(d).couriers["down"].retries == 1)

            write_alerts(path, [])  # "down" removed ...
            path.write_text(path.read_text() + "[store]\ntrades = 9\n")  # ... a failing apply
            with pytest.raises(CommandError) as err:
                await ctl.call("config.reload")
            assert err.value.code == "config_error"
            # the running config is back, with its courier, which retries at once
            await wait_until(lambda: len(down.received) == 1)
            state = (await deliveries(ctl, alert_id(d, "BTC/USDT")))["down"]
            dropped = dict(manager(d).dropped)
    assert state["state"] == "delivered" and state["attempts"] == 2
    assert dropped == {}
