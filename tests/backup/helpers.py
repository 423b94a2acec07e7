"""A small state directory with a live SQLite database, candles and a config file."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from virtuoso_daemon.backup.kinds import Layout


def make_state(root: Path, *, candle_bytes: int = 200_000) -> Layout:
    state = root / "state"
    series = state / "candles" / "sim" / "1h"
    series.mkdir(parents=True)
    (series / "BTC-USDT.npz").write_bytes(os.urandom(candle_bytes))
    (series / "ETH-USDT.npz").write_bytes(os.urandom(candle_bytes // 2))
    db = sqlite3.connect(state / "beta_history.sqlite3")
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("CREATE TABLE t (x INTEGER, y TEXT)")
    db.executemany("INSERT INTO t VALUES (?, ?)", [(i, f"row {i}") for i in range(2000)])
    db.commit()
    db.close()
    (state / "logs").mkdir()
    (state / "logs" / "virtuoso.log").write_text("started\n")
    config = root / "virtuoso.toml"
    config.write_text("[daemon]\nport = 8003\n")
    return Layout(state, state / "backups", config, state / "logs", 3.0)


def rows(db: Path) -> list[tuple[int, str]]:
    conn = sqlite3.connect(db)
    try:
        return list(conn.execute("SELECT x, y FROM t ORDER BY x"))
    finally:
        conn.close()


def flip_byte(path: Path, offset: int) -> None:
    with open(path, "r+b") as f:
        f.seek(offset)
        b = f.read(1)
        f.seek(offset)
        f.write(bytes([b[0] ^ 0x40]))
