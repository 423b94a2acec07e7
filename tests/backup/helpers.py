"""A small state directory with a live SQLite database, candles and a config file."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any

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


KEY_HEX = "11" * 32


def backup_specs(*, beta: bool = True, control: bool = True, alerts: bool = False) -> list[Any]:
    """The store, beta, backup, HTTP and (optionally) the control socket, the alert manager."""
    from virtuoso_daemon.alerts.actor import AlertManagerActor
    from virtuoso_daemon.backup.actor import BackupActor
    from virtuoso_daemon.beta.actor import BetaActor
    from virtuoso_daemon.control import ControlActor
    from virtuoso_daemon.core.supervisor import ActorSpec
    from virtuoso_daemon.http.server import HttpApiActor
    from virtuoso_daemon.market.actor import MarketStoreActor

    specs = [ActorSpec("market_store", MarketStoreActor)]
    if alerts:
        specs.append(ActorSpec("alerts", AlertManagerActor))
    if beta:
        specs.append(ActorSpec("beta", BetaActor, depends_on=("market_store",)))
    specs.append(ActorSpec("backup", BackupActor, depends_on=("market_store",)))
    specs.append(ActorSpec("http_api", HttpApiActor))
    if control:
        specs.append(ActorSpec("control", ControlActor))
    return specs


def backup_config(tmp: Path, *, encrypt: bool = False, **backup: Any) -> Any:
    """A daemon config whose backups go to ``tmp/backups`` (outside the state dir)."""
    from tests.beta.helpers import beta_config

    key = tmp / "backup.key"
    key.write_text(KEY_HEX)
    settings = {
        "dir": str(tmp / "backups"),
        "schedule": {},
        "encrypt": encrypt,
        "key_file": str(key),
        **backup,
    }
    return beta_config(tmp, backup=settings, alerts={"group_wait": 0.0, "tick": 0.02})


class RsyncDaemon:
    """A real rsync daemon on a free loopback port serving ``root`` as module ``backups``."""

    def __init__(self, root: Path) -> None:
        import shutil

        from tests.harness import free_port

        exe = shutil.which("rsync")
        if exe is None:
            raise RuntimeError("rsync is not installed; run scripts/setup.sh --test")
        self.exe = exe
        self.root = root
        self.port = free_port()
        self.proc: Any = None

    @property
    def url(self) -> str:
        return f"rsync://127.0.0.1:{self.port}/backups/virtuoso"

    def start(self) -> None:
        import socket
        import subprocess
        import time

        self.root.mkdir(parents=True, exist_ok=True)
        conf = self.root.parent / "rsyncd.conf"
        conf.write_text(
            "use chroot = no\n"
            f"pid file = {self.root.parent / 'rsyncd.pid'}\n"
            f"[backups]\n  path = {self.root}\n  read only = no\n"
            f"  uid = {os.getuid()}\n  gid = {os.getgid()}\n"
        )
        self.proc = subprocess.Popen(
            [
                self.exe,
                "--daemon",
                "--no-detach",
                f"--config={conf}",
                f"--port={self.port}",
                "--address=127.0.0.1",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError(f"rsync daemon did not start on port {self.port}")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(5)
            self.proc = None
