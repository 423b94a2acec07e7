"""Each check's rule: a measurement and its thresholds in, a status out."""

from __future__ import annotations

from pathlib import Path

import msgspec

from virtuoso_daemon.core.config import ExchangeConfig, HealthConfig
from virtuoso_daemon.core.messages import FeedStatus
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
