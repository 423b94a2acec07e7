"""Alerts, notifications, the delivery outbox and silences in SQLite (WAL).

Why SQLite and in this order: an alert reported by the API must survive ``kill -9``,
and a notification owed to a destination must be delivered after a restart. So every
change is committed here *before* the actor publishes it or hands it to delivery:

* ``alerts``: one row per alert (the newest state of the episode, as JSON, plus the
  columns the API filters on);
* ``notifications``: one row per (alert event, destination) that is owed, with the
  alert as it was; ``msg_id`` is empty until the grouper puts it into a message, so
  a restart regroups what was not yet grouped;
* ``outbox``: one row per message to one destination (a group of notifications),
  keyed by its idempotency key, with its delivery state (pending, delivered,
  failed, dropped), attempts, next attempt time and last error. A message
  interrupted by a crash after the receiver took it is sent again with the same key;
  what is owed to a destination that is no longer configured (removed or disabled,
  by a reload or while the daemon was down) is ``dropped`` with the reason, so
  nothing stays pending for a courier that will never run;
* ``silences``.

WAL with ``synchronous=NORMAL``: a committed transaction survives the process being
killed (it is in the WAL, in the OS's cache); only a power loss may take the last
ones. Retention deletes resolved alerts, their notifications and finished messages
older than ``alerts.retention_days``.

Synchronous and used from the actor's event loop only (each call is a few indexed
statements, well under a millisecond).
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from virtuoso_daemon.alerts.lifecycle import Silence
from virtuoso_daemon.core.messages import Alert

FILENAME = "alerts.sqlite3"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS alerts (
    id        TEXT PRIMARY KEY,
    key       TEXT NOT NULL,
    kind      TEXT NOT NULL,
    severity  TEXT NOT NULL,
    exchange  TEXT,
    symbol    TEXT,
    status    TEXT NOT NULL,
    ts        REAL NOT NULL,
    first_ts  REAL NOT NULL,
    doc       BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS alerts_ts ON alerts (ts);
CREATE INDEX IF NOT EXISTS alerts_status ON alerts (status);
CREATE TABLE IF NOT EXISTS notifications (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    alert_id    TEXT NOT NULL,
    destination TEXT NOT NULL,
    event       TEXT NOT NULL,
    group_key   TEXT NOT NULL,
    ts          REAL NOT NULL,
    msg_id      TEXT,
    doc         BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS notifications_alert ON notifications (alert_id);
CREATE INDEX IF NOT EXISTS notifications_msg ON notifications (msg_id);
CREATE TABLE IF NOT EXISTS outbox (
    msg_id       TEXT PRIMARY KEY,
    destination  TEXT NOT NULL,
    group_key    TEXT NOT NULL,
    created      REAL NOT NULL,
    body         BLOB NOT NULL,
    alerts       INTEGER NOT NULL,
    state        TEXT NOT NULL DEFAULT 'pending',
    attempts     INTEGER NOT NULL DEFAULT 0,
    next_at      REAL NOT NULL,
    last_status  INTEGER,
    last_error   TEXT,
    done_ts      REAL
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (destination, state, next_at);
CREATE TABLE IF NOT EXISTS silences (
    id   TEXT PRIMARY KEY,
    ends REAL NOT NULL,
    doc  BLOB NOT NULL
);
"""

_encode = msgspec.json.Encoder().encode
_alert = msgspec.json.Decoder(Alert)
_alerts = msgspec.json.Decoder(list[Alert])
_silence = msgspec.json.Decoder(Silence)


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    """One message owed to one destination."""

    msg_id: str
    destination: str
    group_key: str
    created: float
    alerts: list[Alert]
    attempts: int


@dataclass(frozen=True, slots=True)
class AlertFilter:
    kind: str | None = None
    severity: str | None = None
    symbol: str | None = None
    exchange: str | None = None
    status: str | None = None
    since: float | None = None


def message_id(destination: str, notifications: Sequence[int]) -> str:
    """The idempotency key of the message carrying ``notifications`` to ``destination``."""
    text = destination + ":" + ",".join(map(str, sorted(notifications)))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


class AlertStore:
    """The alert manager's SQLite file (see the module docstring)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("PRAGMA busy_timeout=5000")
        self.db.executescript(_SCHEMA)

    def close(self) -> None:
        self.db.close()

    # -- writes --------------------------------------------------------------------------

    def record(self, alert: Alert, destinations: Iterable[str] = ()) -> list[tuple[str, int]]:
        """Store ``alert``'s new state and a notification owed to each destination, in
        one transaction; the ``(destination, notification id)`` pairs."""
        doc = _encode(alert)
        out = []
        with self._tx():
            self.db.execute(
                "INSERT OR REPLACE INTO alerts"
                " (id, key, kind, severity, exchange, symbol, status, ts, first_ts, doc)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    alert.id,
                    alert.key,
                    alert.kind,
                    alert.severity,
                    alert.exchange,
                    alert.symbol,
                    alert.status,
                    alert.ts,
                    alert.first_ts if alert.first_ts is not None else alert.ts,
                    doc,
                ),
            )
            for dest in destinations:
                cur = self.db.execute(
                    "INSERT INTO notifications"
                    " (alert_id, destination, event, group_key, ts, doc)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (alert.id, dest, alert.event, alert.group_key, alert.ts, doc),
                )
                out.append((dest, int(cur.lastrowid or 0)))
        return out

    def make_message(
        self, destination: str, group_key: str, notifications: Sequence[int], now: float
    ) -> str:
        """Put ``notifications`` into one outbox message (one transaction); its key."""
        msg_id = message_id(destination, notifications)
        marks = ",".join("?" * len(notifications))
        with self._tx():
            docs = [
                row[0]
                for row in self.db.execute(
                    f"SELECT doc FROM notifications WHERE id IN ({marks}) ORDER BY id",
                    list(notifications),
                )
            ]
            body = b"[" + b",".join(docs) + b"]"
            self.db.execute(
                "INSERT OR IGNORE INTO outbox"
                " (msg_id, destination, group_key, created, body, alerts, next_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (msg_id, destination, group_key, now, body, len(docs), now),
            )
            self.db.execute(
                f"UPDATE notifications SET msg_id = ? WHERE id IN ({marks})",
                [msg_id, *notifications],
            )
        return msg_id

    def mark_delivered(self, msg_id: str, status: int, now: float) -> None:
        self.db.execute(
            "UPDATE outbox SET state = 'delivered', attempts = attempts + 1, last_status = ?,"
            " last_error = NULL, done_ts = ? WHERE msg_id = ?",
            (status, now, msg_id),
        )

    def mark_retry(
        self, msg_id: str, next_at: float, status: int | None, error: str, *, count: bool = True
    ) -> None:
        self.db.execute(
            "UPDATE outbox SET attempts = attempts + ?, next_at = ?, last_status = ?,"
            " last_error = ? WHERE msg_id = ?",
            (1 if count else 0, next_at, status, error, msg_id),
        )

    def mark_failed(self, msg_id: str, status: int | None, error: str, now: float) -> None:
        self.db.execute(
            "UPDATE outbox SET state = 'failed', attempts = attempts + 1, last_status = ?,"
            " last_error = ?, done_ts = ? WHERE msg_id = ?",
            (status, error, now, msg_id),
        )

    def drop_destination(self, destination: str, reason: str, now: float) -> int:
        """Give up on everything owed to ``destination`` (no longer configured): the
        notifications not yet in a message become messages, and every pending message
        is marked ``dropped`` with ``reason``; how many messages were dropped."""
        groups: dict[str, list[int]] = {}
        for group, nid in self.db.execute(
            "SELECT group_key, id FROM notifications WHERE destination = ? AND msg_id IS NULL"
            " ORDER BY id",
            (destination,),
        ):
            groups.setdefault(str(group), []).append(int(nid))
        for group, ids in groups.items():
            self.make_message(destination, group, ids, now)
        return int(
            self.db.execute(
                "UPDATE outbox SET state = 'dropped', last_error = ?, done_ts = ?"
                " WHERE destination = ? AND state = 'pending'",
                (reason, now, destination),
            ).rowcount
        )

    def owed_destinations(self) -> set[str]:
        """Destinations with pending messages or notifications not yet in a message."""
        rows = self.db.execute(
            "SELECT destination FROM outbox WHERE state = 'pending'"
            " UNION SELECT destination FROM notifications WHERE msg_id IS NULL"
        )
        return {str(r[0]) for r in rows}

    def retry_now(self, destination: str, now: float) -> int:
        """Make every pending message of ``destination`` due now (after a restart: the
        receiver may be back); how many there are."""
        return int(
            self.db.execute(
                "UPDATE outbox SET next_at = ? WHERE destination = ? AND state = 'pending'"
                " AND next_at > ?",
                (now, destination, now),
            ).rowcount
        )

    def save_silence(self, silence: Silence) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO silences (id, ends, doc) VALUES (?, ?, ?)",
            (silence.id, silence.ends, _encode(silence)),
        )

    def prune(self, before: float) -> int:
        """Delete resolved alerts, finished messages and ended silences older than
        ``before``; the number of alerts deleted."""
        with self._tx():
            n = self.db.execute(
                "DELETE FROM alerts WHERE status = 'resolved' AND ts < ?", (before,)
            ).rowcount
            self.db.execute(
                "DELETE FROM notifications WHERE alert_id NOT IN (SELECT id FROM alerts)"
                " AND (msg_id IS NULL OR msg_id NOT IN"
                " (SELECT msg_id FROM outbox WHERE state = 'pending'))"
            )
            self.db.execute(
                "DELETE FROM outbox WHERE state != 'pending' AND done_ts < ?", (before,)
            )
            self.db.execute("DELETE FROM silences WHERE ends < ?", (before,))
        return int(n)

    # -- reads ---------------------------------------------------------------------------

    def open_alerts(self) -> list[Alert]:
        rows = self.db.execute("SELECT doc FROM alerts WHERE status = 'firing'")
        return [_alert.decode(r[0]) for r in rows]

    def silences(self, now: float | None = None) -> list[Silence]:
        if now is None:
            rows = self.db.execute("SELECT doc FROM silences ORDER BY ends DESC")
        else:
            rows = self.db.execute("SELECT doc FROM silences WHERE ends > ? ORDER BY ends", (now,))
        return [_silence.decode(r[0]) for r in rows]

    def ungrouped(self) -> list[tuple[str, str, int]]:
        """Notifications not in a message yet: ``(destination, group_key, id)``."""
        rows = self.db.execute(
            "SELECT destination, group_key, id FROM notifications WHERE msg_id IS NULL ORDER BY id"
        )
        return [(str(d), str(g), int(i)) for d, g, i in rows]

    def due_messages(self, destination: str, now: float, limit: int = 16) -> list[OutboxMessage]:
        rows = self.db.execute(
            "SELECT msg_id, group_key, created, body, attempts FROM outbox"
            " WHERE destination = ? AND state = 'pending' AND next_at <= ?"
            " ORDER BY next_at, created LIMIT ?",
            (destination, now, limit),
        )
        return [OutboxMessage(m, destination, g, c, _alerts.decode(b), a) for m, g, c, b, a in rows]

    def next_attempt(self, destination: str) -> float | None:
        row = self.db.execute(
            "SELECT MIN(next_at) FROM outbox WHERE destination = ? AND state = 'pending'",
            (destination,),
        ).fetchone()
        return None if row is None or row[0] is None else float(row[0])

    def get(self, alert_id: str) -> Alert | None:
        row = self.db.execute("SELECT doc FROM alerts WHERE id = ?", (alert_id,)).fetchone()
        return None if row is None else _alert.decode(row[0])

    def query(self, f: AlertFilter, limit: int, offset: int) -> tuple[int, list[Alert]]:
        """Alerts matching ``f``, newest change first: the total and one page."""
        where, params = [], []
        for column in ("kind", "severity", "symbol", "exchange", "status"):
            value = getattr(f, column)
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        if f.since is not None:
            where.append("ts >= ?")
            params.append(f.since)
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        total = self.db.execute(f"SELECT COUNT(*) FROM alerts{clause}", params).fetchone()[0]
        rows = self.db.execute(
            f"SELECT doc FROM alerts{clause} ORDER BY ts DESC, id LIMIT ? OFFSET ?",
            [*params, limit, offset],
        )
        return int(total), [_alert.decode(r[0]) for r in rows]

    def deliveries(self, alert_id: str) -> list[dict[str, Any]]:
        """Delivery state of every notification of one alert, per destination."""
        rows = self.db.execute(
            "SELECT n.destination, n.event, n.ts, n.msg_id, o.state, o.attempts,"
            " o.last_status, o.last_error, o.done_ts FROM notifications n"
            " LEFT JOIN outbox o ON o.msg_id = n.msg_id WHERE n.alert_id = ? ORDER BY n.id",
            (alert_id,),
        )
        return [
            {
                "destination": d,
                "event": e,
                "ts": ts,
                "idempotency_key": m,
                "state": "grouping" if m is None else (s or "unknown"),
                "attempts": a or 0,
                "last_status": st,
                "last_error": err,
                "done_ts": done,
            }
            for d, e, ts, m, s, a, st, err, done in rows
        ]

    def outbox_counts(self) -> dict[str, dict[str, int]]:
        """``{destination: {pending, delivered, failed, dropped}}`` messages."""
        out: dict[str, dict[str, int]] = {}
        for dest, state, n in self.db.execute(
            "SELECT destination, state, COUNT(*) FROM outbox GROUP BY destination, state"
        ):
            counts = {"pending": 0, "delivered": 0, "failed": 0, "dropped": 0}
            out.setdefault(dest, counts)[state] = int(n)
        return out

    # -- helpers -------------------------------------------------------------------------

    def _tx(self) -> _Transaction:
        return _Transaction(self.db)


class _Transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` (``ROLLBACK`` on error) on an autocommit
    connection, so each logical write is one atomic transaction."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *rest: object) -> None:
        self.db.execute("ROLLBACK" if exc_type is not None else "COMMIT")
