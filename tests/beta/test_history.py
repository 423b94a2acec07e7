"""Beta history in SQLite: survives a restart, stays bounded, replaces recomputed points."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import aiohttp
import pytest

from tests.beta.helpers import (
    HOUR,
    beta_config,
    beta_specs,
    beta_stats,
    get,
    last_closed_hour,
    publish_market,
)
from tests.harness import running_daemon, short_tmpdir
from tests.market.helpers import wait_until
from virtuoso_daemon.beta.history import (
    FILENAME,
    BetaHistoryStore,
    HistoryError,
    HistoryKey,
    HistoryPoint,
)

KEY = HistoryKey("spot", "ETH/USDT", "1h", "30d")
OTHER = HistoryKey("perp", "ETH/USDT:USDT", "1h", "30d")


def point(ts: int, beta: float = 1.0) -> HistoryPoint:
    return HistoryPoint(ts, beta, 0.05, 0.8, 0.64, 0.9, 720)


def test_points_survive_closing_and_reopening(tmp_path: Path) -> None:
    store = BetaHistoryStore.in_state_dir(tmp_path / "state")
    store.open()
    assert store.journal_mode() == "wal"
    store.write([(KEY, point(1)), (KEY, point(2)), (OTHER, point(1, 1.5))])
    store.write([(KEY, point(2, 1.2))])  # the same candle recomputed: replaced
    store.close()

    again = BetaHistoryStore.in_state_dir(tmp_path / "state")
    again.open()
    loaded = again.load(limit=10)
    again.close()
    assert loaded == {KEY: [point(1), point(2, 1.2)], OTHER: [point(1, 1.5)]}
    assert (tmp_path / "state" / FILENAME).exists()


def test_nan_and_none_are_stored_as_null(tmp_path: Path) -> None:
    store = BetaHistoryStore(tmp_path / "h.sqlite3")
    store.open()
    store.write([(KEY, HistoryPoint(5, float("nan"), None, 0.1, 0.01, None, 12))])
    assert store.load(10)[KEY] == [HistoryPoint(5, None, None, 0.1, 0.01, None, 12)]
    store.close()


def test_keep_from_trims_each_series_in_the_same_write(tmp_path: Path) -> None:
    store = BetaHistoryStore(tmp_path / "h.sqlite3")
    store.open()
    store.write([(KEY, point(t)) for t in range(10)] + [(OTHER, point(t)) for t in range(10)])
    store.write([(KEY, point(10))], keep_from={KEY: 7})
    loaded = store.load(limit=100)
    assert [p.ts for p in loaded[KEY]] == [7, 8, 9, 10]
    assert len(loaded[OTHER]) == 10  # untouched
    store.close()


def test_load_keeps_the_newest_limit_points_and_shrinks_the_file(tmp_path: Path) -> None:
    store = BetaHistoryStore(tmp_path / "h.sqlite3")
    store.open()
    store.write([(KEY, point(t)) for t in range(50)])
    assert [p.ts for p in store.load(limit=3)[KEY]] == [47, 48, 49]
    assert store.count() == 3
    store.close()


def test_an_unreadable_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite3"
    path.write_bytes(b"this is not a database" * 100)
    store = BetaHistoryStore(path)
    with pytest.raises(HistoryError, match=r"h\.sqlite3"):
        store.open()
    assert not store.is_open


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA user_version=99")
    db.close()
    with pytest.raises(HistoryError, match="schema version 99"):
        BetaHistoryStore(path).open()


async def test_the_actor_reloads_its_history_after_a_restart() -> None:
    """Two daemon runs on one state dir: the second holds the first one's history
    (one point per candle close, bounded by ``beta.history``) before computing anything."""
    cfg = beta_config(short_tmpdir(), beta={"history": 3})
    base = last_closed_hour()
    async with running_daemon(cfg, beta_specs()) as d:
        for k in range(5):  # five candle closes, one history page each
            before = beta_stats(d)["computes"]
            publish_market(d.runtime.bus, n=200, seed=1, end_open=base - (4 - k) * HOUR)
            # one recompute per exchange (spot and perp) and close
            await wait_until(lambda b=before: beta_stats(d)["computes"] >= b + 2, timeout=10)
        await wait_until(lambda: beta_stats(d)["history_writes"] >= 10, timeout=10)
        first_run = beta_stats(d)["history"]
        async with aiohttp.ClientSession() as http:
            status, body = await get(http, d, "/api/market/beta/ETH-USDT?exchange=spot")
        assert status == 200
        series = {(s["timeframe"], s["window"]): s["rows"] for s in body["history"]["series"]}
        assert [r[0] for r in series[("1h", "7d")]] == [base - 2 * HOUR, base - HOUR, base]

    assert first_run["state"] == "ok" and first_run["points"] > 0
    async with running_daemon(cfg, beta_specs()) as d:
        reloaded = beta_stats(d)["history"]
        assert reloaded["points"] == first_run["points"]
        actor = d.supervisor.actor("beta")
        eth = actor.history.rings[HistoryKey("spot", "ETH/USDT", "1h", "7d")].points()
        assert [p.ts for p in eth] == [base - 2 * HOUR, base - HOUR, base]
        assert all(p.beta is not None and 1.2 < p.beta < 1.6 for p in eth)
