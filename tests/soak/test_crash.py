"""``kill -9`` at varied moments on one state directory (issue 16): during start-up and
backfill, right after a persist run, during a config reload. Every restart must come
up clean (no unreadable or discarded candle file, SQLite files intact, no ERROR in its
log) and hold everything that was reported persisted before the kill: the candles in
the files a completed persist run left, the beta points in the history database.

The daemon runs the demo (the simulator inside it, real feeds, real store, real
SQLite) as a child process. The kill moments are chosen by a seeded random generator
and triggered by what the daemon shows (log lines, persist runs in its status), not by
sleeps. ``-m slow`` runs it 20 times in a row; the default run does it twice.
"""

from __future__ import annotations

import contextlib
import json
import random
import signal
import sqlite3
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.foundation.daemon_process import DaemonProcess
from tests.harness import free_port, short_tmpdir
from virtuoso_daemon.core.symbols import key_form
from virtuoso_daemon.market import persistence as disk

CONFIG = """
[daemon]
demo = true
[demo]
n_alts = 2
speed = 1.0
seed = 3
[memcached]
enabled = false
[store]
persist_interval = 0.3
"""

SeriesKey = tuple[str, str, str]


def _get(port: int, path: str, **query: Any) -> Any:
    url = f"http://127.0.0.1:{port}{path}"
    if query:
        url += "?" + urllib.parse.urlencode(query)
    with urllib.request.urlopen(url, timeout=10) as resp:
        return json.loads(resp.read())


def _store_stats(port: int) -> dict[str, Any]:
    stats: dict[str, Any] = _get(port, "/api/system/status")["stats"]["market_store"]
    return stats


def held_candles(port: int, exchange: str, symbol: str, tf: str, since: int) -> set[int]:
    """Open times the running daemon holds for one series from ``since`` on (paged)."""
    held: set[int] = set()
    while True:
        page = _get(
            port,
            f"/api/market/ohlcv/{key_form(symbol)}",
            exchange=exchange,
            timeframe=tf,
            since=since,
            limit=500,
        )["candles"]
        held |= {c[0] for c in page}
        if len(page) < 500:
            return held
        since = page[-1][0] + 1


def candles_on_disk(state: Path) -> dict[SeriesKey, set[int]]:
    """Closed candle open times per series, as the files hold them now."""
    out: dict[SeriesKey, set[int]] = {}
    for path in disk.candles_dir(state).rglob("*.npz"):
        data = disk.load_series(path)  # a torn or unreadable file fails the test here
        m = data.meta
        out[(m.exchange, m.symbol, m.timeframe)] = set(data.times[data.closed].tolist())
    return out


def beta_points(state: Path) -> set[tuple[Any, ...]]:
    path = state / "beta_history.sqlite3"
    if not path.exists():
        return set()
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    try:
        rows = db.execute("SELECT exchange, symbol, timeframe, win, ts FROM beta_history")
        return set(rows.fetchall())
    finally:
        db.close()


def check_sqlite_files(state: Path) -> None:
    for path in state.glob("*.sqlite3"):
        db = sqlite3.connect(path, timeout=10)
        try:
            assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",), path
        finally:
            db.close()


def wait_for(predicate: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise TimeoutError(what)


class CrashRun:
    """One state directory, killed and restarted again and again."""

    def __init__(self, seed: int, moments: list[str] | None = None) -> None:
        self.rng = random.Random(seed)
        self.planned = list(moments or [])  # else random
        self.tmp = short_tmpdir()
        self.state = self.tmp / "state"
        self.config = self.tmp / "v.toml"
        self.config.write_text(CONFIG)
        self.candles: dict[SeriesKey, set[int]] = {}  # reported persisted, accumulated
        self.points: set[tuple[Any, ...]] = set()
        self.moments: list[str] = []

    def start(self, n: int) -> tuple[DaemonProcess, int]:
        port = free_port()
        run_dir = self.tmp / f"run{n}"
        run_dir.mkdir()
        d = DaemonProcess(
            run_dir,
            "--config",
            str(self.config),
            "--port",
            str(port),
            "--socket",
            str(self.tmp / "c.sock"),
            "--state-dir",
            str(self.state),
        )
        d.wait_log("ready:", timeout=60)
        return d, port

    def check_restart(self, d: DaemonProcess, port: int) -> None:
        """Came up clean, and holds everything reported persisted before the kill."""
        loaded = _store_stats(port)["loaded"]
        assert (loaded["corrupt"], loaded["discarded"]) == (0, 0), loaded
        check_sqlite_files(self.state)
        for (exchange, symbol, tf), times in self.candles.items():
            if not times:
                continue
            held = held_candles(port, exchange, symbol, tf, since=min(times))
            lost = times - held
            assert not lost, f"{exchange} {symbol} {tf}: lost {len(lost)} persisted candles"
        lost_points = self.points - beta_points(self.state)
        assert not lost_points, f"lost {len(lost_points)} persisted beta points"
        errors = [r for r in d.records() if r.get("level") in ("error", "critical", "raw")]
        assert not errors, errors[:3]

    def remember_persisted(self, port: int, runs_before: int) -> None:
        """What the files and the history database hold, once the next persist run has
        completed (the status counts it; none comes within a few seconds when nothing
        changed, and then the files already hold it all), is persisted: a kill must not
        lose or tear any of it."""
        with contextlib.suppress(TimeoutError):
            wait_for(lambda: _store_stats(port)["persist"]["runs"] > runs_before, 5, "a run")
        # on a loaded machine the first pages may not be stored yet: kill once something
        # is on disk, so the run checks a real state, not an empty one
        wait_for(lambda: bool(candles_on_disk(self.state)), 60, "candles on disk")
        for key, times in candles_on_disk(self.state).items():
            self.candles.setdefault(key, set()).update(times)
        self.points |= beta_points(self.state)

    def kill_at_a_varied_moment(self, d: DaemonProcess, port: int) -> None:
        moment = (
            self.planned.pop(0)
            if self.planned
            else self.rng.choice(["start-up", "backfill", "persist", "reload"])
        )
        self.moments.append(moment)
        if moment == "start-up":
            pass  # right after READY: the feeds are connecting, the first pages arrive
        elif moment == "backfill":
            # a few more log lines (pages, computes); a restarted daemon with little
            # left to fetch may log none: then a moment a little later
            lines = len(d.log_text().splitlines()) + self.rng.randint(1, 15)
            with contextlib.suppress(TimeoutError):
                wait_for(lambda: len(d.log_text().splitlines()) >= lines, 3, "log lines")
        else:
            runs = _store_stats(port)["persist"]["runs"]
            self.remember_persisted(port, runs + self.rng.randint(0, 2))
            if moment == "reload":
                d.signal(signal.SIGHUP)
                if self.rng.random() < 0.5:
                    d.wait_log("config reloaded")
        d.proc.kill()
        d.wait(10)

    def run(self, kills: int) -> None:
        for n in range(kills):
            d, port = self.start(n)
            try:
                if n:
                    self.check_restart(d, port)
                self.kill_at_a_varied_moment(d, port)
            finally:
                d.stop()
        d, port = self.start(kills)
        try:
            self.check_restart(d, port)
        finally:
            d.stop()
        assert sum(len(t) for t in self.candles.values()) > 0, self.moments  # not vacuous


def test_kill_9_during_backfill_and_during_a_reload_loses_nothing_reported_persisted() -> None:
    CrashRun(seed=16, moments=["reload", "backfill"]).run(kills=2)


@pytest.mark.slow
def test_kill_9_twenty_times_in_a_row_loses_nothing_reported_persisted() -> None:
    run = CrashRun(seed=1616)
    started = time.monotonic()
    run.run(kills=20)
    print(f"20 kills in {time.monotonic() - started:.0f}s, moments: {run.moments}")
    assert set(run.moments) == {"start-up", "backfill", "persist", "reload"}
