"""The schedule fires when cron says, on a clock the test moves (no waiting for 03:00)."""

from __future__ import annotations

from datetime import datetime

import pytest

from tests.backup.helpers import backup_config
from tests.harness import running_daemon, short_tmpdir
from tests.market.helpers import wait_until
from virtuoso_daemon.backup.actor import BackupActor
from virtuoso_daemon.backup.schedule import ManualClock, next_fire
from virtuoso_daemon.core.config import ConfigError, load_config
from virtuoso_daemon.core.supervisor import ActorSpec
from virtuoso_daemon.market.actor import MarketStoreActor


def local(*args: int) -> float:
    return datetime(*args).timestamp()  # naive = local time, as cron reads it


def test_next_fire_follows_cron_in_local_time() -> None:
    assert next_fire("0 3 * * *", local(2026, 1, 5, 2, 59)) == local(2026, 1, 5, 3, 0)
    assert next_fire("0 3 * * *", local(2026, 1, 5, 3, 0)) == local(2026, 1, 6, 3, 0)
    # Sunday 03:30 (the default critical schedule); 2026-01-05 is a Monday
    assert next_fire("30 3 * * 0", local(2026, 1, 5, 12, 0)) == local(2026, 1, 11, 3, 30)


async def test_a_scheduled_backup_runs_when_cron_says_and_not_before() -> None:
    tmp = short_tmpdir()
    cfg = backup_config(tmp, schedule={"config": "0 3 * * *"})
    clock = ManualClock(local(2026, 1, 5, 2, 59))
    specs = [
        ActorSpec("market_store", MarketStoreActor),
        ActorSpec("backup", lambda rt: BackupActor(rt, clock=clock)),
    ]
    async with running_daemon(cfg, specs) as d:
        actor = d.supervisor.actor("backup")
        await wait_until(lambda: clock.sleepers > 0)
        assert actor.next_runs == {"config": local(2026, 1, 5, 3, 0)}
        waits = clock.waits
        clock.advance(59)
        await wait_until(lambda: clock.waits > waits)  # looked at 02:59:59 and slept again
        assert actor.catalogue.list() == []
        clock.advance(1)
        await wait_until(lambda: len(actor.catalogue.list()) == 1, timeout=10)
        row = actor.catalogue.list()[0]
        assert row.kind == "config" and row.trigger == "schedule" and row.status == "completed"
        await wait_until(lambda: actor.next_runs == {"config": local(2026, 1, 6, 3, 0)})


@pytest.mark.parametrize(
    ("backup", "message"),
    [
        ({"schedule": {"weekly": "0 3 * * *"}}, "backup.schedule.weekly: unknown backup kind"),
        ({"schedule": {"auto": "0 25 * * *"}}, "backup.schedule.auto: '0 25 * * *' is not a cron"),
        ({"keep_last": 0}, "backup.keep_last"),
        ({"compression": "gzip"}, "backup.compression"),
        ({"key_file": "/k", "key_env": "K"}, "backup.key_env"),
    ],
)
def test_bad_backup_settings_name_the_key(backup: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("*", r"\*")):
        load_config(None, environ={}, overrides={"backup": backup})


async def test_a_reload_with_a_new_schedule_takes_effect_at_once() -> None:
    import msgspec

    tmp = short_tmpdir()
    cfg = backup_config(tmp, schedule={"config": "0 3 * * *"})
    clock = ManualClock(local(2026, 1, 5, 2, 0))
    specs = [
        ActorSpec("market_store", MarketStoreActor),
        ActorSpec("backup", lambda rt: BackupActor(rt, clock=clock)),
    ]
    async with running_daemon(cfg, specs) as d:
        actor = d.supervisor.actor("backup")
        await wait_until(lambda: actor.next_runs == {"config": local(2026, 1, 5, 3, 0)})
        new = msgspec.structs.replace(
            cfg, backup=msgspec.structs.replace(cfg.backup, schedule={"critical": "15 2 * * *"})
        )
        d.runtime.config = new
        await actor.reconfigure(new)
        await wait_until(lambda: actor.next_runs == {"critical": local(2026, 1, 5, 2, 15)})
        clock.advance(15 * 60)
        await wait_until(lambda: len(actor.catalogue.list()) == 1, timeout=10)
        assert actor.catalogue.list()[0].kind == "critical"
