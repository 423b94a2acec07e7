"""Beta history on disk: a bounded series per (exchange, symbol, timeframe, window).

Why SQLite: the history must survive a crash or restart (an operator charting how a
coin's beta drifted should not lose the chart to a deploy), it is small, and it is
written a few hundred rows at a time after each recompute. SQLite from the stdlib in
WAL mode gives atomic transactions without a server, readers never block the writer,
and ``synchronous=NORMAL`` in WAL mode loses at most the last transactions on power
loss (never corrupts the file).

Layout: one table, one row per point, unique on
``(exchange, symbol, timeframe, win, ts)``. ``ts`` is the open time (ms) of the newest
closed candle the point was computed from, so recomputing the same candle close
(a late candle, a backfill page) *replaces* that point instead of adding one: the
series has at most one point per candle.

Bounding: the caller keeps the newest ``limit`` points per key in memory and passes,
with each write, the oldest timestamp it still keeps for every key it touched; rows
older than that are deleted in the same transaction (an indexed range delete, so a
write costs the same however long the table is). :meth:`BetaHistoryStore.load` keeps
only the newest ``limit`` per key and trims the file to match, so lowering
``beta.history`` shrinks the file at the next start.

The class is synchronous and not thread-safe by itself; the beta actor calls it from a
worker thread (``anyio.to_thread.run_sync``), one call at a time.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import NamedTuple

FILENAME = "beta_history.sqlite3"
SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS beta_history (
    exchange    TEXT    NOT NULL,
    symbol      TEXT    NOT NULL,
    timeframe   TEXT    NOT NULL,
    win         TEXT    NOT NULL,
    ts          INTEGER NOT NULL,
    beta        REAL,
    beta_se     REAL,
    correlation REAL,
    r_squared   REAL,
    volatility  REAL,
    n_obs       INTEGER NOT NULL,
    PRIMARY KEY (exchange, symbol, timeframe, win, ts)
) WITHOUT ROWID;
"""

_UPSERT = """
INSERT INTO beta_history
    (exchange, symbol, timeframe, win, ts, beta, beta_se, correlation, r_squared,
     volatility, n_obs)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (exchange, symbol, timeframe, win, ts) DO UPDATE SET
    beta = excluded.beta, beta_se = excluded.beta_se, correlation = excluded.correlation,
    r_squared = excluded.r_squared, volatility = excluded.volatility, n_obs = excluded.n_obs
"""

_TRIM = """
DELETE FROM beta_history
WHERE exchange = ? AND symbol = ? AND timeframe = ? AND win = ? AND ts < ?
"""

_TRIM_ALL = """
DELETE FROM beta_history WHERE (exchange, symbol, timeframe, win, ts) IN (
    SELECT exchange, symbol, timeframe, win, ts FROM (
        SELECT exchange, symbol, timeframe, win, ts, ROW_NUMBER() OVER (
            PARTITION BY exchange, symbol, timeframe, win ORDER BY ts DESC
        ) AS rn FROM beta_history
    ) WHERE rn > ?
)
"""


class HistoryKey(NamedTuple):
    """Which series a point belongs to."""

    exchange: str
    symbol: str
    timeframe: str
    window: str


class HistoryPoint(NamedTuple):
    """One computed beta. ``ts``: open time (ms) of the newest candle it used."""

    ts: int
    beta: float | None
    beta_se: float | None
    correlation: float | None
    r_squared: float | None
    volatility: float | None
    n_obs: int


HISTORY_COLUMNS: tuple[str, ...] = HistoryPoint._fields


class HistoryError(Exception):
    """The history file cannot be opened or written (message says which and why)."""


def _finite(v: float | None) -> float | None:
    return v if v is not None and math.isfinite(v) else None


class BetaHistoryStore:
    """The ``beta_history`` table in ``<state_dir>/beta_history.sqlite3`` (see module doc)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db: sqlite3.Connection | None = None

    @classmethod
    def in_state_dir(cls, state_dir: Path) -> BetaHistoryStore:
        return cls(state_dir / FILENAME)

    def open(self) -> None:
        """Create or open the file, switch it to WAL, create the table."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # the actor hands calls to worker threads one at a time (never two at once)
            db = sqlite3.connect(self.path, timeout=5.0, check_same_thread=False)
        except (OSError, sqlite3.Error) as exc:
            raise HistoryError(f"cannot open {self.path}: {exc}") from exc
        try:
            mode = db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise HistoryError(f"{self.path}: SQLite refused WAL mode (got {mode!r})")
            db.execute("PRAGMA synchronous=NORMAL")
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version not in (0, SCHEMA_VERSION):
                raise HistoryError(
                    f"{self.path}: schema version {version} is newer than this daemon's "
                    f"({SCHEMA_VERSION}); move the file away or upgrade"
                )
            with db:
                db.executescript(_SCHEMA)
                db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        except sqlite3.Error as exc:
            db.close()
            raise HistoryError(f"cannot use {self.path}: {exc}") from exc
        except HistoryError:
            db.close()
            raise
        self._db = db

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    @property
    def is_open(self) -> bool:
        return self._db is not None

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise HistoryError(f"{self.path} is not open")
        return self._db

    def journal_mode(self) -> str:
        return str(self._conn().execute("PRAGMA journal_mode").fetchone()[0])

    def load(self, limit: int) -> dict[HistoryKey, list[HistoryPoint]]:
        """Every series, oldest point first, at most the newest ``limit`` points each.

        Also deletes what is beyond ``limit`` from the file (``beta.history`` lowered).
        """
        db = self._conn()
        try:
            with db:
                db.execute(_TRIM_ALL, (max(0, limit),))
            cursor = db.execute(
                "SELECT exchange, symbol, timeframe, win, ts, beta, beta_se, correlation, "
                "r_squared, volatility, n_obs FROM beta_history "
                "ORDER BY exchange, symbol, timeframe, win, ts"
            )
            out: dict[HistoryKey, list[HistoryPoint]] = {}
            for row in cursor:
                key = HistoryKey(*row[:4])
                out.setdefault(key, []).append(HistoryPoint(*row[4:]))
        except sqlite3.Error as exc:
            raise HistoryError(f"cannot read {self.path}: {exc}") from exc
        return out

    def write(
        self,
        points: Iterable[tuple[HistoryKey, HistoryPoint]],
        keep_from: Mapping[HistoryKey, int] | None = None,
    ) -> int:
        """Upsert ``points`` and drop, per key in ``keep_from``, rows older than its ts.

        One transaction. Returns the number of points written.
        """
        rows = [
            (
                *key,
                int(p.ts),
                _finite(p.beta),
                _finite(p.beta_se),
                _finite(p.correlation),
                _finite(p.r_squared),
                _finite(p.volatility),
                int(p.n_obs),
            )
            for key, p in points
        ]
        trims = [(*key, int(ts)) for key, ts in (keep_from or {}).items()]
        db = self._conn()
        try:
            with db:
                db.executemany(_UPSERT, rows)
                if trims:
                    db.executemany(_TRIM, trims)
        except sqlite3.Error as exc:
            raise HistoryError(f"cannot write {self.path}: {exc}") from exc
        return len(rows)

    def count(self) -> int:
        return int(self._conn().execute("SELECT COUNT(*) FROM beta_history").fetchone()[0])


__all__ = [
    "FILENAME",
    "HISTORY_COLUMNS",
    "BetaHistoryStore",
    "HistoryError",
    "HistoryKey",
    "HistoryPoint",
]
