"""Each check's rule: a measurement and its thresholds in, a status out."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import msgspec

from virtuoso_daemon.core.config import ExchangeConfig, HealthConfig
from virtuoso_daemon.core.messages import BackupInfo, FeedStatus
from virtuoso_daemon.health import checks
from virtuoso_daemon.health.sources import ApiProbe, probe_dir

CFG = HealthConfig()
EX = msgspec.convert(
    {"name": "ex", "symbols": ["BTC/USDT"], "silent_timeout": 10.0}, ExchangeConfig
)
NOW = 1_000.0


def feed(state: str = "connected", **kw: object) -> FeedStatus:
    fields: dict[str, object] = {"exchange": "ex", "state": state, "ts": NOW}
    fields.update(kw)
    return msgspec.convert(fields, FeedStatus)


def test_exchange_down_is_critical_and_rest_fallback_a_warning() -> None:
    assert checks.exchange_check(feed("down"), EX, NOW, 0).status == "critical"
    fallback = checks.exchange_check(feed(modes={"tickers": "rest"}), EX, NOW, 0)
    assert fallback.status == "warning"
    assert "REST fallback for tickers" in fallback.message
    assert checks.exchange_check(feed(modes={"tickers": "stream"}), EX, NOW, 0).status == "ok"
    rest_only = feed(modes={"tickers": "stream", "funding": "rest", "open_interest": "rest"})
    assert checks.exchange_check(rest_only, EX, NOW, 0).status == "ok"  # they have no stream


def test_a_feed_whose_status_stopped_coming_is_critical() -> None:
    stale = feed(ts=NOW - 30)
    check = checks.exchange_check(stale, EX, NOW, 0)
    assert check.status == "critical"
    assert "no status from the feed" in check.message


def test_data_age_per_kind_against_the_feeds_silent_timeout() -> None:
    status = feed(
        modes={"tickers": "stream", "trades": "stream", "orderbook": "stream"},
        last_by_kind={"tickers": NOW - 1, "trades": NOW - 6, "orderbook": NOW - 11},
    )
    by_name = {c.name: c for c in checks.data_checks(status, EX, CFG, NOW, {})}
    assert by_name["data:ex:tickers"].status == "ok"
    assert by_name["data:ex:trades"].status == "warning"  # > 0.5 x 10 s
    assert by_name["data:ex:orderbook"].status == "critical"  # > 1.0 x 10 s
    assert by_name["data:ex:orderbook"].threshold == 10.0


def test_a_kind_that_never_delivered_ages_from_when_it_started() -> None:
    status = feed(modes={"tickers": "stream"})
    [check] = checks.data_checks(status, EX, CFG, NOW, {"tickers": NOW - 12})
    assert check.status == "critical"
    assert "no tickers yet" in check.message


def test_a_kind_seen_running_keeps_its_check_while_the_feed_runs_none() -> None:
    seen = {"tickers": NOW - 60, "ohlcv": NOW - 60}
    between = feed("starting", last_by_kind={"tickers": NOW - 6})  # a reconnect: no modes
    tickers, candles = checks.data_checks(between, EX, CFG, NOW, seen)
    assert (tickers.name, tickers.status) == ("data:ex:tickers", "warning")
    assert "not running: feed starting" in tickers.message
    assert (candles.name, candles.status) == ("data:ex:ohlcv", "critical")  # none for 60 s
    paused = checks.data_checks(feed("paused"), EX, CFG, NOW, seen)
    assert [(c.name, c.status) for c in paused] == [
        ("data:ex:tickers", "ok"),
        ("data:ex:ohlcv", "ok"),
    ]
    # kinds the config no longer asks for go: ohlcv without a timeframe, a dropped kind
    no_candles = msgspec.structs.replace(EX, kinds=["tickers", "ohlcv"], timeframes=[])
    assert [c.name for c in checks.data_checks(between, no_candles, CFG, NOW, seen)] == [
        "data:ex:tickers"
    ]
    only_trades = msgspec.structs.replace(EX, kinds=["trades"])
    assert checks.data_checks(between, only_trades, CFG, NOW, seen) == []


def test_api_probe_failure_is_critical_and_slow_answer_a_warning() -> None:
    assert checks.api_check(ApiProbe(None, None, "refused"), CFG).status == "critical"
    assert checks.api_check(ApiProbe(300.0, 200, None), CFG).status == "warning"
    assert checks.api_check(ApiProbe(3.0, 200, None), CFG).status == "ok"


def test_cache_down_is_a_warning_then_critical_after_cache_down_critical() -> None:
    down = {"state": "down", "since": NOW - 5, "last_error": "refused", "errors": 3}
    assert checks.cache_check(down, CFG, NOW).status == "warning"
    assert checks.cache_check({**down, "since": NOW - 61}, CFG, NOW).status == "critical"
    assert checks.cache_check({"state": "up"}, CFG, NOW).status == "ok"
    assert checks.cache_check({"state": "disabled"}, CFG, NOW).status == "ok"


def test_an_unwritable_directory_is_critical(tmp_path: Path) -> None:
    ok = probe_dir(tmp_path)
    assert ok.writable and ok.free_pct is not None
    missing = probe_dir(tmp_path / "nope")
    assert not missing.writable
    assert checks.disk_check([ok], CFG).status == "ok"
    assert checks.disk_check([ok, missing], CFG).status == "critical"
    tight = HealthConfig(disk_free_warning_pct=100.0, disk_free_critical_pct=0.0)
    assert checks.disk_check([ok], tight).status == "warning"


def test_actors_failed_critical_restarting_warning() -> None:
    running = {"name": "a", "state": "running", "restarts": 0}
    assert checks.actors_check([running], 0).status == "ok"
    assert checks.actors_check([running], 2).status == "warning"
    failed = {"name": "b", "state": "failed", "restarts": 5, "last_error": "boom"}
    check = checks.actors_check([running, failed], 0)
    assert check.status == "critical" and "b: boom" in check.message


def test_error_rate_counts_logged_errors_and_failed_requests() -> None:
    assert checks.error_rate_check(2, 2, CFG).status == "ok"
    assert checks.error_rate_check(3, 2, CFG).status == "warning"
    assert checks.error_rate_check(0, 30, CFG).status == "critical"


def backup_row(kind: str, created: float, status: str = "completed") -> BackupInfo:
    return BackupInfo(id=f"{kind}-{created:.0f}", kind=kind, status=status, created=created)  # type: ignore[arg-type]


# 1 Dec 2026 is a Tuesday; daily runs at 03:00 local time
DAY = 86_400.0
TUESDAY_0300 = datetime(2026, 12, 1, 3, 0).timestamp()
DAILY = {"critical": {"cron": "0 3 * * *", "next": None}}


def backups(rows: list[BackupInfo], schedule: dict[str, object] = DAILY) -> dict[str, object]:
    return {"backups": rows, "schedule": schedule}


def test_a_scheduled_run_missed_past_the_grace_is_a_warning_two_are_critical() -> None:
    cfg = HealthConfig(backup_grace=3600.0)
    now = TUESDAY_0300 + 1.5 * 3600  # 04:30, 1.5 h after Tuesday's run was due
    made_monday = [backup_row("critical", TUESDAY_0300 - DAY + 60)]
    made_sunday = [backup_row("critical", TUESDAY_0300 - 2 * DAY + 60)]
    assert checks.backups_check(backups(made_monday), cfg, now, 0).status == "warning"
    two = checks.backups_check(backups(made_sunday), cfg, now, 0)
    assert (two.status, two.value, two.threshold) == ("critical", 2, 2)
    assert "missed 2+ scheduled run(s) since 2026-11-30 03:00" in two.message  # Monday's
    # within the grace Tuesday's run is not missed yet
    early = checks.backups_check(backups(made_monday), cfg, TUESDAY_0300 + 1800, 0)
    assert (early.status, early.value) == ("ok", 0)


def test_a_full_backup_covers_a_scheduled_critical_one_a_failed_one_covers_nothing() -> None:
    cfg = HealthConfig(backup_grace=0.0)
    now = TUESDAY_0300 + 600
    full = [backup_row("full", TUESDAY_0300 + 30)]
    assert checks.backups_check(backups(full), cfg, now, 0).status == "ok"
    failed = [backup_row("critical", TUESDAY_0300 + 30, "failed")]
    assert checks.backups_check(backups(failed), cfg, now, 0).status != "ok"
    remote = {"remote": {"cron": "0 3 * * *", "next": None}}
    assert checks.backups_check(backups(full, remote), cfg, now, 0).status != "ok"


def test_with_no_backup_yet_the_missed_runs_count_from_the_monitors_start() -> None:
    cfg = HealthConfig(backup_grace=0.0)
    now = TUESDAY_0300 + 600
    fresh = checks.backups_check(backups([]), cfg, now, started=now - 1200)
    assert fresh.status == "warning" and "no critical backup yet" in fresh.message
    assert checks.backups_check(backups([]), cfg, now, started=now - 300).status == "ok"


def test_no_schedule_or_no_backup_actor_is_ok() -> None:
    assert checks.backups_check(None, CFG, NOW, 0).status == "ok"
    assert checks.backups_check(backups([], {}), CFG, NOW, 0).status == "ok"
